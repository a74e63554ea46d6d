"""Suggest as you type: Index.suggest over the literal corpus, and /api/suggest."""

from __future__ import annotations

import json
from pathlib import Path
from xml.etree import ElementTree

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from conftest import ARTICLES, clinic_page
from indexer import open_index
from indexer.whoosh_engine.build import build
from indexer.whoosh_engine.generations import current_generation
from indexer.query.suggest import Vocabulary
from indexer.whoosh_engine.vocabulary import VOCABULARY_FILE, read_counts
from webui import create_app


# --- the core ------------------------------------------------------------------------

def test_completes_a_word_most_frequent_first(idx):
    # "vertebral" is in three abstracts, "vertebroplasty" in two articles.
    assert idx.suggest("vert") == ["vertebral", "vertebroplasty"]
    assert idx.suggest("Vert") == ["vertebral", "vertebroplasty"]  # case folded
    assert idx.suggest("v") == ["vertebral", "vertebroplasty", "versus"]


def test_words_are_as_written_not_stems(idx):
    assert idx.suggest("runn") == ["running"]  # the stem is "run"
    assert idx.suggest("patc") == ["patch", "patching"]


def test_completes_the_last_word_and_keeps_the_words_before_it(idx):
    assert idx.suggest("cement lea") == ["cement leakage", "cement leak"]
    assert idx.suggest("title:kypho") == ["title:kyphoplasty"]
    assert idx.suggest("CT-gu") == ["CT-guided"]


def test_offers_whole_mesh_keywords(idx):
    assert idx.suggest("covid") == ["covid", "COVID-19"]
    assert idx.suggest("ost") == ["osteoporotic", "Osteoporotic Fractures"]
    # After two words a MeSH keyword the text begins comes first.
    assert idx.suggest("spinal f") == ["Spinal Fusion", "Spinal Fractures"]
    assert idx.suggest("intracranial h")[0] == "Intracranial Hypotension"


def test_mesh_descriptor_with_a_comma_is_one_completion():
    vocabulary = Vocabulary({"tuberculosis": 9, "spinal": 9, "spine": 4},
                            {"Tuberculosis, Spinal": 3, "Tuberculosis": 5})
    assert vocabulary.suggest("tuberculosis, sp") == ["Tuberculosis, Spinal", "tuberculosis, spine"]
    assert vocabulary.suggest("tub") == ["tuberculosis", "Tuberculosis, Spinal"]


def test_limit_and_nothing_to_complete(idx):
    assert len(idx.suggest("s", limit=2)) == 2
    assert idx.suggest("s", limit=0) == []
    for text in ("", "   ", "zzqx", "müll", "2011", "\x00", "(", '"', "title:", "a" * 5000):
        assert idx.suggest(text) == []


@settings(max_examples=80, deadline=None,
          suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(text=st.text(max_size=40))
def test_any_input_gives_a_short_list_of_strings(idx, text):
    out = idx.suggest(text)
    assert isinstance(out, list) and len(out) <= 8
    assert all(isinstance(s, str) and s for s in out)


def test_follows_a_rebuild(tmp_path, monkeypatch):
    # A vocabulary that knows "Tuberculosis, Spinal", which the page splits at its comma.
    monkeypatch.setenv("MEDSEARCH_MESH", str(Path(__file__).parent / "mesh" / "desc-test.xml"))
    seeds = tmp_path / "seeds"
    seeds.mkdir()
    (seeds / "a.html").write_text(clinic_page(*ARTICLES[3]), encoding="utf-8")
    build(seeds, tmp_path / "index")
    index = open_index(tmp_path / "index")
    try:
        assert index.suggest("kyph") == ["kyphoplasty"]
        assert index.suggest("tuberc") == []
        (seeds / "b.html").write_text(clinic_page(*ARTICLES[2]), encoding="utf-8")
        build(seeds, tmp_path / "index")
        assert index.suggest("tuberc") == ["tuberculosis", "Tuberculosis, Spinal"]
    finally:
        index.close()


def test_the_build_saves_the_vocabulary_beside_the_index(index_dir, idx):
    saved = json.loads((current_generation(index_dir) / VOCABULARY_FILE).read_text("utf-8"))
    assert saved["words"]["vertebroplasty"] == 2 and saved["words"]["vertebral"] == 3
    assert saved["mesh"]["COVID-19"] == 1 and "2011" not in saved["words"]
    reader = idx.engine._searcher().reader()  # the slow path gives the same counts
    assert read_counts(reader) == (saved["words"], saved["mesh"])


def test_suggest_reads_the_index_when_the_saved_vocabulary_is_missing(tmp_path):
    seeds = tmp_path / "seeds"
    seeds.mkdir()
    for article in ARTICLES:
        (seeds / f"{article[0]}.html").write_text(clinic_page(*article), encoding="utf-8")
    build(seeds, tmp_path / "index")
    # A generation published before checksums (with them, this is damage: test_integrity).
    (current_generation(tmp_path / "index") / "files.json").unlink()
    (current_generation(tmp_path / "index") / VOCABULARY_FILE).write_text("{not json")
    index = open_index(tmp_path / "index")
    try:
        assert index.suggest("vert") == ["vertebral", "vertebroplasty"]
    finally:
        index.close()


# --- the route ----------------------------------------------------------------------

@pytest.fixture
def client(index_dir):
    return create_app({"TESTING": True, "INDEX": str(index_dir)}).test_client()


def test_api_suggest_speaks_opensearch_suggestions(client):
    response = client.get("/api/suggest?q=vert")
    assert response.status_code == 200
    assert response.headers["Content-Type"] == "application/x-suggestions+json; charset=utf-8"
    assert json.loads(response.get_data()) == ["vert", ["vertebral", "vertebroplasty"]]


@pytest.mark.parametrize("query", [
    "", "?q=", "?q=%20%20", "?q=zzqx", "?q=%00", "?q=%ff%fe", "?q=" + "a" * 3000,
    "?q=%22", "?q=NOT", "?q=year:20", "?q=<script>", "?q=q&q=other",
])
def test_api_suggest_odd_input_is_an_empty_list(client, query):
    response = client.get("/api/suggest" + query)
    assert response.status_code == 200
    body = json.loads(response.get_data())
    assert isinstance(body[0], str) and body[1] == []


def test_opensearch_advertises_suggestions(client):
    root = ElementTree.fromstring(client.get("/opensearch.xml").get_data())
    ns = {"os": "http://a9.com/-/spec/opensearch/1.1/"}
    urls = {u.get("type"): u.get("template") for u in root.findall("os:Url", ns)}
    assert urls["application/x-suggestions+json"] == "/api/suggest?q={searchTerms}"


def test_search_form_names_the_suggestion_endpoint_and_the_script(client):
    html = client.get("/").get_data(as_text=True)
    assert 'data-suggest="/api/suggest"' in html
    assert '<script src="/static/suggest.js" defer></script>' in html
    # The combobox roles come from the script: without it the box is a plain search field.
    assert 'role="combobox"' not in html
