"""Fair serving: one costly query cannot stall the others (indexer.turns, limits.check_cost).

A "search in progress" is a thread holding the index's search turn, as a
running search does; it lets go when the test says so (or after HOLD_AT_MOST
seconds, a safety net so that a regression fails instead of hanging).
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import threading
from contextlib import contextmanager

import pytest

from conftest import REPO
from webui import create_app, get_index

HOLD_AT_MOST = 20  # seconds; never reached when the code under test is right
BUSY = "the server is busy with other searches: try again in 1 s"


@pytest.fixture
def app(index_dir):
    return create_app({"TESTING": True, "INDEX": str(index_dir)})


@pytest.fixture
def index(app):
    with app.app_context():
        index = get_index()
    yield index
    index.time_limit = 3.0


@contextmanager
def search_in_progress(index):
    """Another thread holds the searches' turn for the whole block; yields an
    Event that is still set at the end if it never had to give up."""
    holding, done = threading.Event(), threading.Event()

    def hold():
        with index._lock:
            holding.set()
            if not done.wait(HOLD_AT_MOST):
                holding.clear()  # gave up: whatever waited for it got its turn late

    holder = threading.Thread(target=hold)
    holder.start()
    assert holding.wait(HOLD_AT_MOST)
    try:
        yield holding
    finally:
        done.set()
        holder.join()


def test_a_search_that_cannot_get_its_turn_in_time_is_told_the_server_is_busy(app, index):
    client = app.test_client()
    index.time_limit = 0.2  # the wait for a turn counts against it
    with search_in_progress(index) as holding:
        api = client.get("/api/search?q=spine")
        html = client.get("/?q=spine")
        assert holding.is_set()
    assert (api.status_code, api.headers["Retry-After"], api.get_json()) == (
        503, "1", {"error": BUSY})
    assert (html.status_code, html.headers["Retry-After"], html.mimetype) == (503, "1", "text/html")
    assert BUSY in html.get_data(as_text=True)
    assert client.get("/api/search?q=spine").status_code == 200  # its turn, once free


def test_suggestions_articles_and_the_front_page_do_not_wait_for_searches(app, index):
    client = app.test_client()
    index.time_limit = 0.5  # were they queued behind the search, they would be refused
    with search_in_progress(index) as holding:
        suggest = client.get("/api/suggest?q=verte")
        article = client.get("/article/30000001")
        api_article = client.get("/api/article/21349964")
        home = client.get("/")
        assert holding.is_set()
    assert (suggest.status_code, json.loads(suggest.data)) == (
        200, ["verte", ["vertebral", "vertebroplasty"]])
    assert article.status_code == 200
    assert "Cement leakage after percutaneous vertebroplasty" in article.get_data(as_text=True)
    assert (api_article.status_code, api_article.get_json()["pmid"]) == (200, "21349964")
    assert (home.status_code, "Search 6 medical abstracts" in home.get_data(as_text=True)) == (
        200, True)


def test_broader_searches_share_the_page_time_limit_and_are_skipped_when_it_runs_short(
        app, index):
    client = app.test_client()
    url = "/?q=tuberculosis&journal=Spine"  # nothing: "Without filters" finds 1
    assert 'class="broader"' in client.get(url).get_data(as_text=True)
    # The page's searches run inside a deadline already set in this thread (the
    # test client serves the request in it): 10 s of a 100 s limit is left,
    # less than half, as after a search that took most of the time.
    index.time_limit = 10
    with index.deadline():
        index.time_limit = 100
        page = client.get(url).get_data(as_text=True)
    assert "Nothing matches <q>tuberculosis</q> with these filters." in page
    assert 'class="broader"' not in page


def test_a_count_past_the_time_limit_is_none_not_an_error(index):
    index.time_limit = 0
    assert index.count("spine") is None
    index.time_limit = 3.0
    assert index.count("tuberculosis", journal="Spine") == 0
    assert index.count("tuberculosis") == index.search("tuberculosis").total == 1


def cli(*args) -> tuple[int, str, str]:
    env = dict(os.environ, PYTHONPATH=str(REPO))
    done = subprocess.run([sys.executable, "-m", "indexer", *args], capture_output=True,
                          text=True, env=env, cwd=REPO)
    return done.returncode, done.stdout, done.stderr


def test_a_query_with_two_leading_wildcards_is_refused_before_it_runs(index_dir):
    code, out, err = cli("search", "*an* *er* spine", "--index", str(index_dir))
    assert (code, out, err) == (1, "", (
        "medsearch: 2 terms start with a wildcard (*an*, *er*); at most 1 may: begin the "
        "others with letters (e.g. spin* rather than *pin*)\n"))


def test_a_query_with_many_wildcards_is_refused_with_what_to_change(app):
    query = " ".join(f"{stem}*" for stem in ("sp", "ve", "fr", "pa", "tr", "ce", "le", "os", "ca"))
    response = app.test_client().get("/api/search", query_string={"q": query})
    assert (response.status_code, response.get_json()) == (400, {"error": (
        "the query has 9 wildcard, fuzzy and range terms; at most 8 are searched at once: "
        "remove some or write the words out")})
    # Eight are searched; one leading wildcard is too.
    ok = app.test_client().get("/api/search", query_string={"q": " ".join(query.split()[:7])
                                                             + " *ine"})
    assert ok.status_code == 200 and ok.get_json()["total"] > 0


def test_fuzzy_words_count_against_the_same_budget(app):
    query = " ".join(f"{word}~1" for word in ("spine", "vertebra", "cement", "fracture", "pain",
                                               "tuberculosis", "lumbar", "disc", "blood"))
    response = app.test_client().get("/api/search", query_string={"q": query})
    assert (response.status_code, response.get_json()) == (400, {"error": (
        "the query has 9 wildcard, fuzzy and range terms; at most 8 are searched at once: "
        "remove some or write the words out")})
    ok = app.test_client().get("/api/search", query_string={"q": " ".join(query.split()[:8])})
    assert ok.status_code == 200 and ok.get_json()["total"] > 0


def test_a_web_search_keeps_the_searcher_no_longer_than_the_turn_limit(index_dir):
    app = create_app({"TESTING": True, "INDEX": str(index_dir), "TURN_LIMIT": 0})
    response = app.test_client().get("/api/search?q=spine")
    assert (response.status_code, response.get_json()) == (400, {"error": (
        "the search took longer than 0 s and was stopped: "
        "try more specific words or fewer wildcards")})
    with app.app_context():
        assert get_index().time_limit == 3.0  # the 0 s was the turn's limit


def test_the_python_api_has_no_turn_limit_by_default(index_dir):
    from indexer import open_index

    index = open_index(index_dir)
    assert (index.turn_limit, create_app().config["TURN_LIMIT"]) == (None, 0.5)
    index.close()
