"""The routes: thin shells that parse the request, call the core, render."""

from __future__ import annotations

import re
from functools import lru_cache
from urllib.parse import quote_plus

from flask import Blueprint, Response, current_app, g, jsonify, render_template, request, url_for

from indexer.errors import ArticleNotFound
from indexer.query.settings import DEFAULT, Ranking

from . import downloads, get_index, present
from .params import SearchParams

bp = Blueprint("web", __name__)

_PMID = re.compile(r"\d{1,9}")
# The search page runs a search when any of these is in the URL; else it is
# the front page with just the search box.
_SEARCH_ARGS = {"q", "page", "per_page", "sort", "year_from", "year_to", "journal", "mesh"}


bp.add_app_template_global(present, "present")
bp.add_app_template_global(downloads.EXPORT_LIMIT, "export_limit")


@bp.app_template_global()
def search_url(params: SearchParams, **changes) -> str:
    """The URL of `params` with `changes` (page 1 unless `page` is one of them)."""
    return url_with_query("web.search", params.args(**changes))


def mesh_url(params: SearchParams, keyword: str) -> str:
    """search_url(params, mesh=keyword): a page's MeSH chips, about 80, share
    all but the keyword, the last of the URL's parameters (SearchParams' last
    field), so the part before it is built once per page."""
    if not keyword:
        return search_url(params, mesh=keyword)
    prefixes = g.setdefault("medsearch_mesh_prefixes", {})
    prefix = prefixes.get(params)
    if prefix is None:
        prefix = prefixes[params] = search_url(params, mesh=None)
    return f"{prefix}&mesh={_quoted(keyword)}"


@bp.app_template_global()
def mesh_links(params: SearchParams | None, keywords: list[str]) -> list[tuple[str, str, bool]]:
    """(keyword, URL, whether it is this search's filter) for a hit's MeSH
    chips; without `params` (an article page), searches of the keyword alone.
    One call per hit rather than per chip: the template's own calls and
    attribute lookups cost more than building the links."""
    if params is None:
        return [(k, url_for("web.search", q="", mesh=k), False) for k in keywords]
    return [(k, mesh_url(params, k), params.mesh == k) for k in keywords]


@bp.app_template_global()
def facet_links(params: SearchParams, name: str, counts) -> list[tuple[object, int, str, bool]]:
    """(value, count, URL, whether it is this search's filter) for a facet's
    list; a filter's link removes it, any other value's sets it. A year sets
    both ends of the range; a filter is one year when both ends are it."""
    links = []
    for value, count in counts:
        if name == "year":
            active = params.year_from == value and params.year_to == value
            year = None if active else value
            href = search_url(params, year_from=year, year_to=year)
        else:
            active = getattr(params, name) == value
            href = search_url(params, **{name: None if active else value})
        links.append((value, count, href, active))
    return links


@bp.app_template_global()
def article_url(pmid: str) -> str:
    """url_for("web.article", pmid=pmid), the path built once per request for
    PMIDs (digits, which the URL keeps as they are): ten a results page."""
    if not pmid.isascii() or not pmid.isdigit():
        return url_for("web.article", pmid=pmid)
    prefix = g.get("medsearch_article_path")
    if prefix is None:
        prefix = g.medsearch_article_path = url_for("web.article", pmid="0")[:-1]
    return prefix + pmid


@bp.app_template_global()
def export_url(params: SearchParams, format: str, scope: str = "page") -> str:
    """The download of this search's results (`scope` "page" or "all")."""
    args = params.args()
    if scope == "all":
        args.pop("page", None)
    return url_with_query("web.api_export", {"format": format, "scope": scope, **args})


# What Werkzeug leaves unquoted in a URL's query string (werkzeug.urls._urlencode).
_QUERY_SAFE = "!$'()*,/:;?@"
# Parameter values quoted, remembered: every link of a page repeats its
# search's words, and its facet and MeSH values come back on other pages.
QUOTED_KEPT = 4096


def url_with_query(endpoint: str, args: dict) -> str:
    """url_for(endpoint, **args), byte for byte, for an endpoint whose URL
    takes no arguments and args without None: its path is built once per
    request and the query string appended. A results page has about 130
    such links, and url_for was half of what rendering it cost."""
    paths = g.setdefault("medsearch_paths", {})
    path = paths.get(endpoint)
    if path is None:
        path = paths[endpoint] = url_for(endpoint)
    if not args:
        return path
    return path + "?" + "&".join(f"{_quoted(name)}={_quoted(str(value))}"
                                 for name, value in args.items())


@lru_cache(maxsize=QUOTED_KEPT)
def _quoted(text: str) -> str:
    """`text` as urllib.parse.urlencode quotes it, with Werkzeug's safe characters."""
    return quote_plus(text, safe=_QUERY_SAFE)


def _ranking() -> Ranking | None:
    """The product's ranking, or without the semantic rerank (`serve --no-semantic`)."""
    return None if current_app.config.get("SEMANTIC", True) else DEFAULT.without_semantic()


@bp.route("/")
def search():
    """The front page, or results when the URL holds a search."""
    index = get_index()
    if not _SEARCH_ARGS & set(request.args):
        return render_template("home.html", count=len(index))
    params = SearchParams.from_args(request.args)
    with index.deadline():  # one time limit for the page, broader searches included
        results = index.search(params.q, ranking=_ranking(), **params.search_kwargs())
        broader = _broader_searches(index, params) if not results.total else []
    return render_template("results.html", params=params, results=results, broader=broader)


def _broader_searches(index, params: SearchParams) -> list[tuple[str, SearchParams, int]]:
    """Searches that do find something when this one found nothing: fewer
    constraints first (the plain words OR-ed, then without filters).

    Only counted, within what is left of the page's time limit, and only
    when the search itself left at least half of it: after a costly search
    the page goes without them rather than keep its visitor waiting.
    """
    words = present.plain_words(params.q)
    candidates = [
        ("Any of the words", params.but(q=words)),
        ("Without filters", params.but(year_from=None, year_to=None, journal=None, mesh=None)),
        ("Any of the words, without filters",
         params.but(q=words, year_from=None, year_to=None, journal=None, mesh=None)),
    ]
    seen, found = {params}, []
    for label, candidate in candidates:
        if candidate in seen or (params.q and not candidate.q):
            continue
        seen.add(candidate)
        if (index.time_left() or 0) < index.time_limit / 2:
            break
        total = index.count(candidate.q, **candidate.filters)
        if total:
            found.append((label, candidate, total))
    return found[:2]


@bp.route("/article/<pmid>")
def article(pmid: str):
    """One article in full, with similar articles."""
    if not _PMID.fullmatch(pmid):
        raise ArticleNotFound(f"no article with PMID {pmid}")
    index = get_index()
    record = index.article(pmid)
    return render_template("article.html", record=record, similar=index.similar(pmid),
                           sections=present.abstract_sections(record.abstract))


@bp.route("/api/search")
def api_search():
    """Results.to_dict() as JSON; a bad parameter is a 400 with {"error": ...}."""
    params = SearchParams.from_args(request.args)
    return jsonify(get_index().search(params.q, ranking=_ranking(), **params.search_kwargs()).to_dict())


@bp.route("/api/article/<pmid>")
def api_article(pmid: str):
    """One record as JSON (without `source`, a path on this server)."""
    if not _PMID.fullmatch(pmid):
        raise ArticleNotFound(f"no article with PMID {pmid}")
    record = get_index().article(pmid).to_dict()
    record.pop("source", None)
    return jsonify(record)


@bp.route("/api/export")
def api_export():
    """This page of results, or all up to EXPORT_LIMIT, as RIS, MEDLINE (.nbib) or CSV."""
    params = SearchParams.from_args(request.args)
    export_format = downloads.export_format(request.args)
    filters = params.search_kwargs()
    del filters["page"], filters["per_page"]
    if downloads.export_scope(request.args) == "all":
        records = get_index().records(params.q, limit=downloads.EXPORT_LIMIT, **filters)
    else:
        first = (params.page - 1) * params.per_page
        records = get_index().records(params.q, limit=first + params.per_page, **filters)[first:]
    return downloads.download(records, export_format, params.q)


@bp.route("/api/article/<pmid>/export")
def api_article_export(pmid: str):
    """One article as RIS, MEDLINE (.nbib) or CSV."""
    if not _PMID.fullmatch(pmid):
        raise ArticleNotFound(f"no article with PMID {pmid}")
    export_format = downloads.export_format(request.args)
    return downloads.download([get_index().article(pmid)], export_format, pmid)


@bp.route("/api/suggest")
def api_suggest():
    """Completions of what is typed, in the OpenSearch suggestions format; [] when none."""
    text = request.args.get("q", "")
    return downloads.suggestions(text, get_index().suggest(text, downloads.SUGGEST_LIMIT))


@bp.route("/opensearch.xml")
def opensearch():
    """Lets browsers add the site as a search engine.

    Its URLs start with the configured PUBLIC_URL, never the client's Host
    header (a forged Host would otherwise be echoed into a cacheable answer).
    """
    base = current_app.config["PUBLIC_URL"] or ""
    xml = render_template("opensearch.xml", search=base + url_for("web.search"),
                          api=base + url_for("web.api_search"),
                          suggest=base + url_for("web.api_suggest"),
                          icon=base + url_for("static", filename="favicon.svg"))
    return Response(xml, mimetype="application/opensearchdescription+xml")
