"""Any query string gives results or a clear QueryError: API, CLI and web."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from conftest import REPO
from indexer import QueryError, open_index
from indexer.whoosh_engine import limits
from indexer.whoosh_engine import parse as q

BAD = {
    '"unbalanced quote': 0, 'blood "patch': 1, "((vertebroplasty": 2, "spine))": 1,
    "AND": 0, "NOT": 0, "OR OR": 0, "AND OR NOT": 0, "*itis": 0, "?": 6, "*:*": 6,
    "x" * 10_000: 0, "blood " * 2000: 1, "\x00\x07\x1b[31mblood\x7f patch": 1,
    "foo:bar": 0, "http://example.com": 0, "title:": 0, ":": 0, "year:abc": 0,
    "year:[1 TO": 0, "\\": 0, "[": 0, "}": 0, "^": 0, "blood^1e400": 1, "blood^" + "9" * 400: 1,
    "\udcff\udcfe": 6, "\ufffd": 0, "title:(a OR)": 0,
}


@pytest.mark.parametrize("text", list(BAD), ids=[repr(t[:20]) for t in BAD])
def test_odd_queries_give_results(idx, text):
    results = idx.search(text)
    assert results.total == BAD[text]
    json.dumps(results.to_dict(), allow_nan=False)


@pytest.mark.parametrize("text, message", [
    ("a*", "'a*' is too broad: give a wildcard at least 2 letters besides * and ? "
           "(e.g. spin* or *itis)"),
    ("*a?", "'*a?' is too broad: give a wildcard at least 2 letters besides * and ? "
            "(e.g. spin* or *itis)"),
    ("(" * 30 + "spine", "parentheses are nested 30 deep; at most 20 are allowed"),
    (None, "the query must be text, not None"),
])
def test_queries_refused_with_a_clear_message(idx, text, message):
    with pytest.raises(QueryError) as error:
        idx.search(text)
    assert str(error.value) == message


def test_wildcards_expand_to_a_bounded_number_of_terms(idx, monkeypatch):
    monkeypatch.setattr(limits, "MAX_EXPANSION", 1)
    query = q.parse("title:*in*")
    reader = idx.engine._searcher().reader()
    terms = list(query.expanded_terms(reader))
    assert len(terms) == 1  # of spinal, spine
    # The one kept is the most frequent of those matching.
    kept = {reader.doc_frequency("title", t) for _, t in terms}
    others = [reader.doc_frequency("title", t) for t in reader.lexicon("title")
              if b"in" in t and t not in {t for _, t in terms}]
    assert min(kept) >= max(others)


def test_a_search_past_its_time_limit_stops_with_a_message(index_dir):
    index = open_index(index_dir)
    index.time_limit = 0
    with pytest.raises(QueryError) as error:
        index.search("spine")
    assert str(error.value) == ("the search took longer than 0 s and was stopped: "
                                "try more specific words or fewer wildcards")
    index.time_limit = 5
    assert index.search("spine").total == 1
    index.close()


def cli(*args) -> tuple[int, str, str]:
    env = dict(os.environ, PYTHONPATH=str(REPO))
    # A strict UTF-8 stdout, as under an en_US.UTF-8 locale: nothing unprintable may reach it.
    env["PYTHONIOENCODING"] = "utf-8:strict"
    proc = subprocess.run([sys.executable, "-m", "indexer", *args], cwd=REPO, env=env,
                          capture_output=True, timeout=60)
    return proc.returncode, proc.stdout.decode(), proc.stderr.decode()


def test_cli_bad_queries(index_dir):
    assert cli("search", "a*", "--index", str(index_dir)) == (
        1, "", "medsearch: 'a*' is too broad: give a wildcard at least 2 letters besides "
               "* and ? (e.g. spin* or *itis)\n")
    status, out, err = cli("search", "((blood \"patch", "--index", str(index_dir))
    assert (status, err) == (0, "") and "CT-guided epidural blood patching" in out
    # Bytes that are not UTF-8 on the command line, in text and JSON output.
    for extra in ([], ["--json"]):
        status, out, err = cli("search", os.fsdecode(b"blood \xff\xfe"), "--index",
                               str(index_dir), *extra)
        assert (status, err) == (0, ""), err
        assert "CT-guided" in out
    status, out, err = cli("search", "x" * 10_000, "--index", str(index_dir))
    assert (status, out, err) == (0, f"no results for {'x' * 10_000!r}\n", "")


# --- property tests --------------------------------------------------------------------

INVISIBLES = ["\u00ad", "\u200b", "\u200c", "\u200d", "\u200e", "\u2060", "\ufeff", "\u034f",
              "\ufe0f", "\u180e", "\U000e0001", "\u0600", "\ufff9"]
WORDS = ["blood", "patch", "spine", "cement", "Smith", "2011", "L4-L5", "COVID-19", "x", ""]
TOKENS = st.one_of(
    st.sampled_from(WORDS),
    st.sampled_from(["AND", "OR", "NOT", "ANDNOT", "(", ")", '"', "'", "*", "?", "~", "^2",
                     "[", "]", "{", "}", "TO", ":", "\\", "-", "+", "/"]),
    st.builds(lambda p, w: f"{p}:{w}", st.sampled_from(
        ["title", "abstract", "mesh", "keywords", "author", "journal", "year", "pmid", "foo",
         "http", "TITLE"]), st.sampled_from(WORDS + ["2010-2015", ">2012", "[2010 TO]"])),
    st.builds(lambda w, s: w + s, st.sampled_from(WORDS), st.sampled_from(["*", "?", "~2", "^9"])),
    # ~ and ^ with odd numbers after them, on words, phrases and groups.
    st.builds(lambda w, op, n: w + op + n,
              st.sampled_from(WORDS + ['"blood patch"', "(spine)", "title:spine", ")"]),
              st.sampled_from(["~", "^", "~~", "^^", "~^", "^~"]),
              st.one_of(st.sampled_from(["", "-5", "1e308", "1e400", "-0", "0", ".5", "5.",
                                         "inf", "nan", "1_0", "0x10", "99999999999999999999",
                                         "2/3", "1e-400", "١"]),
                        st.floats(allow_nan=True).map(str), st.integers().map(str))),
    # Invisible and format characters inside and around words.
    st.builds(lambda w, c, i: w[:i] + c + w[i:], st.sampled_from(WORDS),
              st.text(alphabet=st.sampled_from(INVISIBLES), min_size=1, max_size=3),
              st.integers(0, 8)),
    st.builds(lambda w: "*" + w, st.sampled_from(WORDS)),
    st.text(max_size=6),
)
GRAMMAR = st.lists(TOKENS, max_size=12).map(" ".join)
QUERIES = st.one_of(st.text(max_size=80), GRAMMAR)
FUZZ = settings(max_examples=120, deadline=None,
                suppress_health_check=[HealthCheck.function_scoped_fixture])


@FUZZ
@given(text=QUERIES)
def test_any_query_gives_results_or_query_error(idx, text):
    try:
        results = idx.search(text)
    except QueryError as exc:
        assert str(exc)
        return
    json.dumps(results.to_dict(), allow_nan=False)


@pytest.fixture(scope="module")
def client(index_dir):
    from webui import create_app

    return create_app({"TESTING": True, "INDEX": str(index_dir)}).test_client()


@FUZZ
@given(text=QUERIES)
def test_any_query_on_the_web_gives_no_server_error(client, text):
    for route in ("/", "/api/search"):
        response = client.get(route, query_string={"q": text})
        assert response.status_code in (200, 400), (route, response.status_code)
        if route == "/api/search":
            data = json.loads(response.get_data(as_text=True))  # strict JSON: no NaN
            assert ("error" in data) == (response.status_code == 400)


def test_invalid_utf8_in_the_url(client):
    for route in ("/?q=%ff%fe%C3", "/api/search?q=blood%ff%fe"):
        assert client.get(route).status_code == 200


@FUZZ
@given(word=st.sampled_from(["vertebroplasty", "kyphoplasty", "CT-guided", "tuberculosis"]),
       chars=st.text(alphabet=st.sampled_from(INVISIBLES[:10]), min_size=1, max_size=3),
       at=st.integers(1, 8))
def test_invisible_characters_inside_a_word_change_nothing(idx, word, chars, at):
    plain = idx.search(word)
    hidden = idx.search(word[:at] + chars + word[at:])
    assert [h.pmid for h in hidden.hits] == [h.pmid for h in plain.hits]


PLAIN_WORDS = ["spine", "Spine", "SPINE", "the", "a", "and", "or", "not", "AND", "OR", "NOT",
               "TO", "ANDNOT", "covid19", "L4", "l5", "T12", "2019", "studies", "study", "pain",
               "back", "Pott", "MRI", "mri", "x", "of", "lumbar", "spondylodiscitis", "ct",
               "abc123def", "vertebroplasty", "is"]


def _parser_query(text, parser):
    # What parse() gives plain words through Whoosh's parser (the reference).
    return q.limits.check_cost(q.limits.bound(q._not_excludes(parser.parse(text))))


@settings(max_examples=300, deadline=None)
@given(st.lists(st.sampled_from(PLAIN_WORDS), min_size=1, max_size=6),
       st.sampled_from([(None, None), ({"title": 2.0, "abstract": 1.0, "keywords": 0.5}, 0.5)]))
def test_plain_words_are_parsed_as_the_parser_would(words, tuning):
    # Plain words skip Whoosh's parser (its tagging was 5% of a first
    # search): the same query, term for term, boost for boost, the same
    # coordination; anything else is left to the parser.
    boosts, coordination = tuning
    parser = q._parser if boosts is None else q.parser_for(boosts, coordination)
    text = " ".join(words)
    try:
        expected = _parser_query(text, parser)
    except Exception:  # operators out of place ("ANDNOT ANDNOT"): refused, as by parse()
        with pytest.raises(QueryError):
            q.parse(text, parser)
        return
    got = q.parse(text, parser)
    assert type(got) is type(expected) and repr(got) == repr(expected)
    assert getattr(got, "scale", None) == getattr(expected, "scale", None)


def test_most_searches_are_plain_words():
    # The shortcut is taken for most of the benchmark's queries (and the
    # test above holds it to the parser on such words).
    texts = [query["q"] for query in json.loads((REPO / "bench" / "queries.json").read_text())]
    plain = [t for t in texts if q._plain_query(q.rewrite(q.clean(t).strip()), q._parser)]
    assert len(plain) > len(texts) / 2
    for text in plain:
        got, expected = q.parse(text), _parser_query(q.rewrite(q.clean(text).strip()), q._parser)
        assert repr(got) == repr(expected) and got.scale == expected.scale
