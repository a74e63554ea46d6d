"""The benchmark's site figures: set beside the in-process search measured in
the same minutes (the figures themselves live in bench/RESULTS.md)."""

from pathlib import Path

import pytest

from bench.run import NEVER_ASKED, web_rows
from bench.web import bracket, in_process
from test_query_memory import ARTICLES, build

REPO = Path(__file__).resolve().parent.parent

LOAD = {"rps": 100.0, "p99_ms": 250.0, "requests": 2000, "non2xx": 0, "socket_errors": 0,
        "cpu_ms_per_request": 18.0, "cores_busy": [0.98, 0.97]}
SEARCH_STEP = {NEVER_ASKED: {"mean": 50.0, "p99": 90.0, "cpu": {"mean": 40.0}}}


def row(rows, figure):
    return next(r for r in rows if r[0] == figure)


def test_the_site_is_set_beside_the_in_process_search_of_the_same_minutes():
    site = {"workers": 2, "connections": 20, "page:never asked": LOAD, "api:never asked": LOAD,
            "in_process:never asked": bracket({"mean": 10.0, "p99": 20.0, "cpu_mean": 9.0},
                                              {"mean": 14.0, "p99": 30.0, "cpu_mean": 11.0})}
    rows = web_rows(site, SEARCH_STEP)
    assert row(rows, "web /api/search, never asked: requests/s (20 connections, 2 workers)") == (
        "web /api/search, never asked: requests/s (20 connections, 2 workers)", "100.0",
        "1000 / in-process mean (one core), same minutes", "83.3", "1.20×")
    assert row(rows, "web /?q=, never asked: p99 (ms)")[2:] == (
        "in-process p99, same minutes", "25.0", "10.00×")
    assert row(rows, "web /?q=, never asked: workers' CPU per request (ms)")[2:] == (
        "in-process CPU per query, mean, same minutes", "10.0", "1.80×")
    assert row(rows, "web, never asked: in-process mean just before / after the site's load (ms)"
               )[1] == "10.0 / 14.0"


def test_without_same_minutes_figures_the_search_step_is_the_baseline():
    site = {"workers": 2, "connections": 20, "page:never asked": LOAD, "api:never asked": LOAD}
    rows = web_rows(site, SEARCH_STEP)
    assert row(rows, "web /?q=, never asked: requests/s (20 connections, 2 workers)")[2:] == (
        "1000 / in-process mean (one core)", "20.0", "5.00×")
    assert not any("just before" in r[0] for r in rows)


def test_the_in_process_ceiling_is_timed_in_a_fresh_process(tmp_path):
    build(tmp_path, ARTICLES)
    found = in_process(REPO, str(tmp_path / "index"), remember=False)
    assert set(found) == {"mean", "p99", "cpu_mean"}
    assert 0 < found["mean"] <= found["p99"] and found["cpu_mean"] > 0


def test_a_failed_in_process_run_says_why(tmp_path):
    failed = r"(?s)in-process search beside the site failed: .*IndexMissing: no index at"
    with pytest.raises(SystemExit, match=failed):
        in_process(REPO, str(tmp_path / "nothing here"), remember=True)
