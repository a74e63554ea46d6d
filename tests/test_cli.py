"""The medsearch command: output and exit codes of build, search and extract."""

import json
import os
import subprocess
import sys

import pytest

from indexer.cli import main

from conftest import REPO


def test_search_prints_ranked_results(index_dir, capsys):
    assert main(["search", "blood patch", "--index", str(index_dir)]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert lines[0].startswith("  1. [")
    assert lines[0].endswith("2011  CT-guided epidural blood patching of directly observed "
                             "or potential leak sites")
    assert lines[1] == "     https://www.ncbi.nlm.nih.gov/pubmed/21349964"
    assert lines[-1].startswith("1 results (1-1 shown) in ")


def test_search_json_has_the_api_fields(index_dir, capsys):
    assert main(["search", "vertebroplasty", "--index", str(index_dir), "--json",
                 "--limit", "1", "--sort", "newest"]) == 0
    data = json.loads(capsys.readouterr().out)
    assert (data["total"], data["per_page"], data["sort"]) == (2, 1, "newest")
    assert data["hits"][0]["pmid"] == "30000003"
    assert set(data["hits"][0]) >= {"pmid", "title", "score", "year", "journal", "authors",
                                    "keywords", "url", "snippet"}
    assert data["facets"]["journal"] == [{"value": "Spine", "count": 2}]


def test_search_filters_and_suggestion(index_dir, capsys):
    assert main(["search", "vertebroplasy", "--index", str(index_dir), "--no-expand"]) == 0
    out = capsys.readouterr().out.splitlines()
    assert out == ["no results for 'vertebroplasy'", "did you mean: vertebroplasty"]
    # By default a query that finds nothing searches its correction, and says so.
    assert main(["search", "vertebroplasy", "--index", str(index_dir)]) == 0
    out = capsys.readouterr().out.splitlines()
    assert out[0] == "no results for 'vertebroplasy': searched 'vertebroplasty' instead"
    assert "Vertebroplasty" in out[1] or "vertebroplasty" in out[1]
    assert main(["search", "vertebroplasty", "--index", str(index_dir),
                 "--year-from", "2016", "--json"]) == 0
    assert [h["pmid"] for h in json.loads(capsys.readouterr().out)["hits"]] == ["30000003"]


def test_search_without_index_says_to_build(tmp_path, capsys):
    assert main(["search", "spine", "--index", str(tmp_path / "none")]) == 1
    err = capsys.readouterr().err
    assert err == f"medsearch: no index at {tmp_path / 'none'}: run `medsearch build`\n"


def test_bad_search_parameter_is_a_message_not_a_traceback(index_dir, capsys):
    assert main(["search", "spine", "--index", str(index_dir), "--limit", "0"]) == 1
    assert capsys.readouterr().err == "medsearch: per_page must be a whole number from 1 to 100, not 0\n"


def test_build_prints_a_summary(corpus_dir, tmp_path, capsys):
    seeds = tmp_path / "seeds"
    seeds.mkdir()
    for page in corpus_dir.iterdir():
        (seeds / page.name).write_bytes(page.read_bytes())
    (seeds / "contact.html").write_text("<html><body><h1>Contact us</h1>"
                                        "<p>Call +44 844 589 2020</p></body></html>")
    (seeds / "copy-of-21349964.html").write_bytes((seeds / "21349964.html").read_bytes())
    assert main(["build", "--seeds", str(seeds), "--index", str(tmp_path / "ix"),
                 "--procs", "1"]) == 0
    out = capsys.readouterr().out.splitlines()
    assert out[:4] == ["pages read:      8", "records indexed: 6", "duplicates:      1",
                       "pages skipped:   1"]
    assert out[4].startswith(f"  {seeds / 'contact.html'}: ")
    assert out[5].startswith("time:")


def test_extract_prints_one_json_line_per_page_and_fails_on_bad_ones(corpus_dir, tmp_path, capsys):
    bad = tmp_path / "empty.html"
    bad.write_bytes(b"")
    page = corpus_dir / "30000002.html"
    assert main(["extract", str(page), str(bad), "--json"]) == 1
    captured = capsys.readouterr()
    lines = captured.out.splitlines()
    assert len(lines) == 1
    record = json.loads(lines[0])
    assert list(record) == ["pmid", "title", "abstract", "keywords", "authors", "journal",
                            "published", "year", "organisation", "url", "source"]
    assert (record["pmid"], record["year"], record["authors"]) == (
        "30000002", 2008, ["Müller K", "Öztürk S"])
    assert captured.err.startswith(f"{bad}: ")
    assert main(["extract", str(page), "--json"]) == 0


def test_python_dash_m_runs_the_same_command(index_dir):
    done = subprocess.run([sys.executable, "-m", "indexer", "search", "kyphoplasty",
                           "--index", str(index_dir), "--json"],
                          capture_output=True, text=True, cwd=REPO, check=False)
    assert done.returncode == 0, done.stderr
    assert json.loads(done.stdout)["hits"][0]["pmid"] == "30000003"


def test_usage_error_exits_2(capsys):
    try:
        main(["search"])
    except SystemExit as exc:
        assert exc.code == 2
    else:
        raise AssertionError("argparse should have exited")
    assert "the following arguments are required: query" in capsys.readouterr().err



@pytest.mark.parametrize("command", [
    ["search", "spine"], ["search", "spine", "--json"], ["stats"], ["stats", "--json"],
    ["extract", "PAGE"], ["extract", "PAGE", "--json"],
], ids=" ".join)
def test_a_reader_that_goes_away_ends_the_command_quietly(index_dir, corpus_dir, command):
    """`medsearch search ... --json | head`: no BrokenPipeError traceback, the status of SIGPIPE."""
    page = str(corpus_dir / "21349964.html")
    args = [page if arg == "PAGE" else arg for arg in command]
    if args[0] != "extract":
        args += ["--index", str(index_dir)]
    env = dict(os.environ, PYTHONPATH=str(REPO))
    proc = subprocess.Popen([sys.executable, "-m", "indexer", *args], cwd=REPO, env=env,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    proc.stdout.close()  # a real pipe whose reader leaves before the first line is written
    err = proc.stderr.read().decode()
    proc.stderr.close()
    assert (proc.wait(timeout=60), err) == (141, "")
