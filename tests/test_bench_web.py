"""The benchmark's site figures: set beside the in-process search measured in
the same minutes (the figures themselves live in bench/RESULTS.md)."""

import json
import threading
import time
from pathlib import Path

import pytest

from bench import searching
from bench.run import NEVER_ASKED, report, web_rows
from bench.web import bracket, in_process
from indexer import open_index
from indexer.semantic.model import Embedder
from test_query_memory import ARTICLES, build

REPO = Path(__file__).resolve().parent.parent

LOAD = {"rps": 100.0, "p99_ms": 250.0, "requests": 2000, "non2xx": 0, "socket_errors": 0,
        "cpu_ms_per_request": 18.0, "cores_busy": [0.98, 0.97]}
SEARCH_STEP = {NEVER_ASKED: {"mean": 50.0, "p99": 90.0, "cpu": {"mean": 40.0}}}


def burn(seconds: float) -> None:
    """Use `seconds` of this thread's CPU."""
    until = time.thread_time() + seconds
    while time.thread_time() < until:
        pass


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


def test_the_site_is_also_set_beside_its_own_routes_answered_in_process():
    site = {"workers": 2, "connections": 20, "page:never asked": LOAD, "api:never asked": LOAD,
            "in_process:never asked": bracket({"mean": 10.0, "p99": 20.0, "cpu_mean": 9.0},
                                              {"mean": 14.0, "p99": 30.0, "cpu_mean": 11.0}),
            "app_in_process:never asked": {
                "page": bracket({"mean": 15.0, "p99": 30.0, "cpu_mean": 14.0},
                                {"mean": 17.0, "p99": 34.0, "cpu_mean": 16.0}),
                "api": bracket({"mean": 12.0, "p99": 24.0, "cpu_mean": 11.0},
                               {"mean": 13.0, "p99": 26.0, "cpu_mean": 12.0})}}
    rows = web_rows(site, SEARCH_STEP)
    assert row(rows, "web /?q=, never asked: requests/s beside the same route in process") == (
        "web /?q=, never asked: requests/s beside the same route in process", "100.0",
        "1000 / the app's in-process mean for /?q= (one core), same minutes", "62.5", "1.60×")
    assert row(rows, "web /api/search, never asked: workers' CPU per request beside the same "
               "route in process")[1:] == (
        "18.0", "the app's in-process CPU per /api/search request, mean, same minutes", "11.5",
        "1.57×")
    # The search alone stays the first baseline.
    assert row(rows, "web /?q=, never asked: requests/s (20 connections, 2 workers)")[3:] == (
        "83.3", "1.20×")


def test_without_same_minutes_figures_the_search_step_is_the_baseline():
    site = {"workers": 2, "connections": 20, "page:never asked": LOAD, "api:never asked": LOAD}
    rows = web_rows(site, SEARCH_STEP)
    assert row(rows, "web /?q=, never asked: requests/s (20 connections, 2 workers)")[2:] == (
        "1000 / in-process mean (one core)", "20.0", "5.00×")
    assert not any("just before" in r[0] for r in rows)


def test_the_in_process_ceiling_is_timed_in_a_fresh_process(tmp_path):
    build(tmp_path, ARTICLES)
    found = in_process(REPO, str(tmp_path / "index"), remember=False)
    assert set(found) == {"mean", "p99", "cpu_mean", "model_threads", "routes"}
    assert 0 < found["mean"] <= found["p99"] and found["cpu_mean"] > 0
    # Each route the site is loaded on, answered by the app in the same process.
    assert set(found["routes"]) == {"page", "api"}
    for figures in found["routes"].values():
        assert set(figures) == {"mean", "p99", "cpu_mean"}
        assert 0 < figures["mean"] <= figures["p99"] and figures["cpu_mean"] > 0
    # One core, as a web worker searches: the model's runs on one thread.
    assert found["model_threads"] == 1


def test_the_app_answers_as_the_site_does_beside_the_search(tmp_path, monkeypatch):
    build(tmp_path, ARTICLES)
    monkeypatch.setattr(searching, "ERRORS", [])
    runs = searching.app_runners(str(tmp_path / "index"))
    assert list(runs) == ["search", "/", "/api/search"]
    assert runs["search"]({"q": "vertebroplasty"})["hits"][0]["pmid"] == "50000002"
    page = runs["/"]({"q": "vertebroplasty"})
    assert b'<ol class="hits"' in page and b'id="hit-50000002"' in page
    answer = json.loads(runs["/api/search"]({"q": "vertebroplasty", "per_page": 1}))
    assert [hit["pmid"] for hit in answer["hits"]] == ["50000002"]
    assert searching.ERRORS == []
    runs["/api/search"]({"q": "vertebroplasty", "sort": "sideways"})  # a 400 is counted
    assert searching.ERRORS == ["/api/search: 400 BAD REQUEST"]


def test_runs_timed_in_turns_each_get_their_own_figures():
    calls = []

    def run_for(name, seconds):
        return lambda q: calls.append((name, q["q"])) or burn(seconds)

    queries = [{"q": "a"}, {"q": "b"}, {"q": "c"}]
    timed = searching._timed_in_turns(
        {"cheap": run_for("cheap", 0.002), "costly": run_for("costly", 0.02)}, queries, rounds=1)
    assert [len(timed[name][0]) for name in ("cheap", "costly")] == [3, 3]
    assert min(timed["costly"][1]) >= 20 > max(timed["cheap"][1])
    # After the warm pass, query by query, each run in turn, the first one changing.
    assert calls[6:] == [("cheap", "a"), ("costly", "a"), ("costly", "b"), ("cheap", "b"),
                         ("cheap", "c"), ("costly", "c")]


def test_cpu_per_query_counts_every_thread_of_the_process():
    def run(_query):
        # The embedding model's helper threads work while the calling one waits.
        helper = threading.Thread(target=burn, args=(0.05,))
        helper.start()
        helper.join()

    searching.CPU_TIMES.clear()
    searching._timed(run, [{"q": "x"}], rounds=2)
    assert len(searching.CPU_TIMES) == 2 and min(searching.CPU_TIMES) >= 50


def test_a_failed_in_process_run_says_why(tmp_path):
    failed = r"(?s)in-process search beside the site failed: .*IndexMissing: no index at"
    with pytest.raises(SystemExit, match=failed):
        in_process(REPO, str(tmp_path / "nothing here"), remember=True)


def test_a_never_asked_search_embeds_its_query_again(tmp_path, monkeypatch, forgetting):
    build(tmp_path, ARTICLES)
    embedded = []
    embed = Embedder.query
    monkeypatch.setattr(Embedder, "query", lambda self, text: embedded.append(text) or embed(self, text))
    searching.forget_queries()
    index = open_index(tmp_path / "index")
    first = index.search("lumbar disc surgery")
    again = index.search("lumbar disc surgery")
    assert first.semantic_note == "" and again.semantic_note == ""  # the rerank ran both times
    assert len(embedded) == 2 and embedded[0] == embedded[1]
    assert [h.pmid for h in again.hits] == [h.pmid for h in first.hits]


def test_a_ranking_variant_never_asked_is_set_beside_the_product_never_asked():
    def timed(p50):
        return {"p50": p50, "p95": 2 * p50, "p99": 3 * p50, "rss_mb": 600.0}

    search = {"api": timed(1.0), "whoosh": timed(200.0), "fts5": timed(30.0),
              NEVER_ASKED: timed(12.0), "api:reranker off": timed(0.8),
              "api:reranker off, never asked": timed(6.0)}
    meta = {"machine": {"cores": 2, "cpu": "x", "ram_gb": 8, "python": "3.11", "os": "Linux"},
            "date": "2026-12-02", "command": "python -m bench", "seconds": 60, "commit": "abc",
            "queries": 260}
    lines = report({"100000": {"search": search}}, meta).splitlines()
    assert "| 100,000 pages | search p50 (ms), reranker off, never asked | 6.0 " \
           "| product ranking, never asked | 12.0 | 0.50× |" in lines
    assert "| 100,000 pages | search p99 (ms), reranker off | 2.4 | product ranking | 3.0 " \
           "| 0.80× |" in lines
