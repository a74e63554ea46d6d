"""bench.searching's in-process runs: what `python -m bench` times (the
figures themselves live in bench/RESULTS.md, never in tests)."""

import json
import subprocess
import sys
from pathlib import Path

from test_query_memory import ARTICLES, build

REPO = Path(__file__).resolve().parent.parent


def test_a_never_asked_run_with_phrases_forgotten_finds_them_again_every_time(tmp_path,
                                                                             forgetting):
    from bench.searching import api_runner

    build(tmp_path, ARTICLES)
    run = api_runner(str(tmp_path / "index"), remember=False, forget_phrases=True)
    run({"q": '"cement leakage"'})
    index = next(c.cell_contents for c in run.__closure__
                 if type(c.cell_contents).__name__ == "Index")
    phrases = index.engine._memory._tables["phrases"][1]
    assert len(phrases._docs) == 2  # found by this search: in titles, in abstracts
    run({"q": "spinal"})  # forgotten before the next search
    assert len(phrases._docs) == 0


def test_the_command_prints_latencies_and_no_errors(tmp_path):
    build(tmp_path, ARTICLES)
    out = subprocess.run([sys.executable, "-m", "bench.searching", "api", str(tmp_path / "index"),
                          "--rounds", "1", "--no-query-memory", "--forget-phrases"],
                         cwd=REPO, capture_output=True, text=True, check=True)
    found = json.loads(out.stdout)
    assert found["errors"] == 0 and found["n"] == found["queries"] > 200
    assert 0 < found["p50"] <= found["p99"] and found["cpu"]["n"] == found["n"]


def test_the_before_and_after_tool_times_a_checkouts_code(tmp_path):
    build(tmp_path, ARTICLES)
    out = subprocess.run([sys.executable, "tools/ab_search.py", str(REPO), str(tmp_path / "index"),
                          "--rounds", "1", "--forget-phrases"],
                         cwd=REPO, capture_output=True, text=True, check=True)
    line = out.stdout.strip()
    assert line.startswith(f"{REPO}: p50 ") and line.endswith(
        "ms of CPU (260 searches, phrases forgotten)"), line
    p50, p95, p99 = (float(line.split(f" {p} ")[1].split()[0]) for p in ("p50", "p95", "p99"))
    assert 0 < p50 <= p95 <= p99


def test_the_swap_tool_times_the_first_search_on_a_new_generation(tmp_path):
    build(tmp_path, ARTICLES)
    live = sorted(p.name for p in (tmp_path / "index").iterdir())
    out = subprocess.run([sys.executable, "tools/swap_latency.py", str(REPO),
                          str(tmp_path / "index"), "--query", "cement", "--then", "spinal"],
                         cwd=REPO, capture_output=True, text=True, check=True)
    line = out.stdout.strip()
    assert line.startswith(f"{REPO}: first search on the new generation "), line
    assert line.endswith(" ms") and ", the next one " in line
    assert sorted(p.name for p in (tmp_path / "index").iterdir()) == live  # left as it was
