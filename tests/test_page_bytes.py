"""A results page and a JSON answer are, byte for byte, what the straightforward
rendering gives: url_for for every link, dataclasses.asdict for every hit.

The web layer takes shortcuts there (webui.views.url_with_query,
SearchParams.args without a copy, Hit.to_dict written out) because a results
page builds about 130 links; these tests hold the shortcuts to the output of
the plain way.
"""

from __future__ import annotations

from dataclasses import asdict, fields, replace
from types import SimpleNamespace

import pytest
from flask import url_for
from hypothesis import given, settings
from hypothesis import strategies as st

from indexer.results import Hit
from indexer.whoosh_engine import engine as whoosh_engine
from webui import create_app
from webui.params import SearchParams
from webui.views import article_url, export_url, mesh_url, search_url

PAGES = [
    "/?q=vertebroplasty", "/?q=spine", "/?q=", "/?q=&sort=newest", "/?q=&sort=oldest&page=2",
    "/?q=&page=2&per_page=2", "/?q=&journal=Spine", "/?q=&mesh=Vertebroplasty",
    "/?q=spine&year_from=2011&year_to=2019", "/?q=&year_from=2015&year_to=2015", "/?q=&year_from=2015",
    "/?q=vertebroplasy", "/?q=tuberclosis+spine", "/?q=zzzqqq", "/?q=spine&journal=Nowhere",
    "/?q=cement+%26+leakage%2Fpain+%22a%2Bb%22+%C3%BCber", "/?q=mesh:Humans&page=9",
    "/?q=PVP", "/?q=title:spine&per_page=3&sort=newest",
]
# Article pages list similar articles with their MeSH chips (hit entries without a search).
ARTICLE_PAGES = ["/article/21349964", "/article/30000002"]


def reference_args(params: SearchParams, **changes) -> dict:
    """SearchParams.args the plain way: a changed copy, then its non-default fields."""
    params = replace(params, **{"page": 1, **changes}) if changes else params
    out = {"q": params.q}
    for f in fields(params):
        value = getattr(params, f.name)
        if f.name != "q" and value is not None and value != f.default:
            out[f.name] = value
    return out


def reference_search_url(params: SearchParams, **changes) -> str:
    return url_for("web.search", **reference_args(params, **changes))


def reference_export_url(params: SearchParams, format: str, scope: str = "page") -> str:
    args = reference_args(params)
    if scope == "all":
        args.pop("page", None)
    return url_for("web.api_export", format=format, scope=scope, **args)


texts = st.one_of(st.none(), st.text(min_size=1, max_size=12))
years = st.one_of(st.none(), st.integers(1900, 2100))
params_strategy = st.builds(
    SearchParams, q=st.text(max_size=20), page=st.integers(1, 1000),
    per_page=st.integers(1, 100), sort=st.sampled_from(["relevance", "newest", "oldest"]),
    year_from=years, year_to=years, journal=texts, mesh=texts)
changes_strategy = st.fixed_dictionaries({}, optional={
    "q": st.text(max_size=8), "page": st.integers(1, 50), "sort": st.just("newest"),
    "year_from": years, "year_to": years, "journal": texts, "mesh": texts})


@settings(max_examples=300, deadline=None)
@given(params=params_strategy, changes=changes_strategy)
def test_search_args_are_those_of_the_changed_copy(params, changes):
    assert params.args(**changes) == reference_args(params, **changes)
    assert list(params.args(**changes)) == list(reference_args(params, **changes))


def test_search_args_refuse_what_is_not_a_parameter():
    with pytest.raises(TypeError):
        SearchParams().args(colour="red")


LINKS_APP = create_app({"INDEX": "/nowhere"})  # links need no index


@pytest.mark.parametrize("script_root", ["", "/med"])
@settings(max_examples=150, deadline=None)
@given(params=params_strategy, changes=changes_strategy)
def test_links_are_url_for_byte_for_byte(script_root, params, changes):
    with LINKS_APP.test_request_context("/", base_url=f"http://localhost{script_root}/"):
        assert search_url(params, **changes) == reference_search_url(params, **changes)
        assert search_url(params, **changes).startswith(f"{script_root}/?q=")
        for keyword in ("Spine/surgery", "Humans", "a b&c=d", "", None):
            assert mesh_url(params, keyword) == reference_search_url(params, mesh=keyword)
        for scope in ("page", "all"):
            assert export_url(params, "ris", scope) == reference_export_url(params, "ris", scope)
        for pmid in ("31415926", "0", "12a", "١٢", "a/b c"):
            assert article_url(pmid) == url_for("web.article", pmid=pmid)


def test_hit_to_dict_is_asdict():
    hit = Hit(pmid="1", title="T", score=1.5, year=None, journal="J", authors=["A B", "C"],
              keywords=["Spine/surgery"], url=None, published="2011 May", snippet="<mark>x</mark>",
              mesh=["Spine"], ranked_with={"words": 1.2, "meaning": 0.3})
    assert hit.to_dict() == asdict(hit)
    assert list(hit.to_dict()) == list(asdict(hit))
    copied = hit.to_dict()
    copied["authors"].append("D")
    copied["ranked_with"]["words"] = 0
    assert hit.authors == ["A B", "C"] and hit.ranked_with["words"] == 1.2


def reference_mesh_links(params, keywords):
    """A hit's MeSH chips the plain way: each keyword's search, alone without params."""
    if params is None:
        return [(k, url_for("web.search", q="", mesh=k), False) for k in keywords]
    return [(k, reference_search_url(params, mesh=k), params.mesh == k) for k in keywords]


def reference_facet_links(params, name, counts):
    """A facet's links the plain way: a filter's link removes it, another sets it."""
    links = []
    for value, count in counts:
        if name == "year":
            active = params.year_from == value and params.year_to == value
            changes = {"year_from": None, "year_to": None} if active else {
                "year_from": value, "year_to": value}
        else:
            active = getattr(params, name) == value
            changes = {name: None if active else value}
        links.append((value, count, reference_search_url(params, **changes), active))
    return links


def straightforward_app(index_dir):
    """The app rendering every link with url_for and every hit with asdict."""
    app = create_app({"TESTING": True, "INDEX": str(index_dir)})
    app.jinja_env.globals.update(
        search_url=reference_search_url, export_url=reference_export_url,
        mesh_links=reference_mesh_links, facet_links=reference_facet_links,
        article_url=lambda pmid: url_for("web.article", pmid=pmid))
    return app


def test_pages_and_answers_are_the_straightforward_bytes(index_dir, monkeypatch):
    monkeypatch.setattr(whoosh_engine, "time", SimpleNamespace(perf_counter=lambda: 0.0))
    shortcut = create_app({"TESTING": True, "INDEX": str(index_dir)}).test_client()
    answers = {}
    for path in PAGES + [p.replace("/?", "/api/search?") for p in PAGES] + ARTICLE_PAGES:
        response = shortcut.get(path)
        answers[path] = (response.status_code, response.data)
    monkeypatch.setattr(Hit, "to_dict", asdict)
    plain = straightforward_app(index_dir).test_client()
    for path, (status, data) in answers.items():
        response = plain.get(path)
        assert (response.status_code, response.data) == (status, data), path
    assert any(b'class="facet-list"' in data for _, data in answers.values())
    assert any(b"Try a broader search" in data for _, data in answers.values())
    for path in ARTICLE_PAGES:  # similar articles, with their MeSH chips, are compared
        assert b"mesh=" in answers[path][1].partition(b'<section class="similar"')[2], path
