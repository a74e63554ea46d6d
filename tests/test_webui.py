"""The web UI through Flask's test client: every route, parameter and error path."""

from __future__ import annotations

import importlib
import json
import re
import shutil
from pathlib import Path
from urllib.parse import urlsplit
from xml.etree import ElementTree

import pytest
from bs4 import BeautifulSoup
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from conftest import ARTICLES
from webui import SECURITY_HEADERS, create_app, present
from webui.params import SearchParams

WEBUI = Path(__file__).resolve().parent.parent / "webui"
CSP = ("default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
       "object-src 'none'; base-uri 'none'; form-action 'self'; frame-ancestors 'none'")
XSS_PMID = "30000004"
XSS_ABSTRACT = next(a[2] for a in ARTICLES if a[0] == XSS_PMID)


@pytest.fixture
def app(index_dir):
    return create_app({"TESTING": True, "INDEX": str(index_dir)})


@pytest.fixture
def client(app):
    return app.test_client()


def soup(response) -> BeautifulSoup:
    return BeautifulSoup(response.get_data(as_text=True), "html.parser")


def page(client, url: str, status: int = 200) -> BeautifulSoup:
    response = client.get(url)
    assert response.status_code == status, response.get_data(as_text=True)[:500]
    assert response.mimetype == "text/html"
    return soup(response)


def hit_pmids(doc: BeautifulSoup) -> list[str]:
    return [h["id"].removeprefix("hit-") for h in doc.select("ol.hits h2.hit-title")]


def text(tag) -> str:
    return " ".join(tag.get_text(" ").split())


# --- the app factory ---------------------------------------------------------

def test_index_folder_comes_from_config_then_env_then_default(monkeypatch, index_dir):
    monkeypatch.delenv("MEDSEARCH_INDEX", raising=False)
    assert create_app().config["INDEX"] == "index"
    monkeypatch.setenv("MEDSEARCH_INDEX", "/srv/medsearch")
    assert create_app().config["INDEX"] == "/srv/medsearch"
    assert create_app({"INDEX": str(index_dir)}).config["INDEX"] == str(index_dir)


def test_one_index_per_app(app):
    from webui import get_index

    with app.app_context():
        first = get_index()
        assert get_index() is first
        assert len(first) == len(ARTICLES)


def test_wsgi_module_builds_the_app_from_the_environment(monkeypatch, index_dir):
    monkeypatch.setenv("MEDSEARCH_INDEX", str(index_dir))
    import webui.wsgi

    module = importlib.reload(webui.wsgi)
    assert module.app.config["INDEX"] == str(index_dir)
    assert module.app.test_client().get("/?q=spine").status_code == 200


# --- the front page ------------------------------------------------------------

def test_front_page_has_a_labelled_focused_search_box(client):
    doc = page(client, "/")
    form = doc.select_one("main form[role=search]")
    assert form["action"] == "/" and form["method"] == "get"
    box = form.select_one("input#q")
    assert box["name"] == "q" and box["type"] == "search" and box.has_attr("autofocus")
    assert text(doc.select_one("label[for=q]")) == "Search medical abstracts"
    assert text(doc.h1) == f"Search {len(ARTICLES)} medical abstracts"
    # The header has no second search box on the front page.
    assert len(doc.select("form[role=search]")) == 1


def test_landmarks_and_skip_link(client):
    for url in ("/", "/?q=spine", "/article/21349964", "/article/1"):
        doc = BeautifulSoup(client.get(url).get_data(as_text=True), "html.parser")
        assert doc.html["lang"] == "en"
        skip = doc.body.find("a")
        assert skip["href"] == "#main" and text(skip) == "Skip to main content"
        assert doc.select_one("main#main") is not None
        assert doc.select_one("header.site-header") is not None
        assert doc.select_one("footer") is not None
        assert doc.select_one('meta[name=viewport]')["content"] == "width=device-width, initial-scale=1"


# --- results ---------------------------------------------------------------------

def test_results_are_the_core_ranking(client, idx):
    doc = page(client, "/?q=vertebroplasty")
    expected = idx.search("vertebroplasty")
    assert hit_pmids(doc) == [h.pmid for h in expected.hits]
    assert set(hit_pmids(doc)) == {"30000001", "30000003"}
    summary = text(doc.select_one("p.summary"))
    assert re.fullmatch(r"1–2 of 2 articles in \d+ ms", summary)
    assert text(doc.h1) == "Results for vertebroplasty"
    assert doc.title.string == "vertebroplasty – medsearch"
    # The header search box keeps the query; no autofocus away from the front page.
    box = doc.select_one("header form[role=search] input#q")
    assert box["value"] == "vertebroplasty" and not box.has_attr("autofocus")


def test_a_hit_shows_title_journal_year_authors_snippet_keywords_and_pubmed(client):
    doc = page(client, "/?q=percutaneous")
    hit = doc.select_one("li.hit")
    link = hit.select_one("h2 a")
    assert link["href"] == "/article/30000001"
    assert text(link) == "Cement leakage after percutaneous vertebroplasty for osteoporotic fractures"
    assert text(hit.select_one(".journal")) == "Spine"
    assert text(hit.select_one(".year")) == "2015"
    assert text(hit.select_one(".authors")) == "Smith AB, Jones C"
    assert [text(m) for m in hit.select(".snippet mark")] == ["Percutaneous"]
    tags = hit.select("ul.tags a")
    # Descriptors only: the page's "Vertebroplasty,adverse effects" is one
    # heading, Vertebroplasty/adverse effects, shown as its descriptor.
    assert [text(a) for a in tags] == [
        "Vertebroplasty", "Bone Cements", "Spinal Fractures", "Osteoporotic Fractures"]
    assert tags[0]["href"] == "/?q=percutaneous&mesh=Vertebroplasty"
    assert tags[1]["href"] == "/?q=percutaneous&mesh=Bone+Cements"
    pubmed = hit.select_one("a.pubmed")
    assert pubmed["href"] == "https://www.ncbi.nlm.nih.gov/pubmed/30000001"
    assert text(pubmed) == "PubMed 30000001"


def test_long_keyword_lists_are_cut_short_in_hits(client):
    doc = page(client, "/?q=headache")
    hit = doc.select_one("li.hit")
    assert len(hit.select("ul.tags a")) == 5  # five descriptors: all shown, no "more"
    assert hit.select_one("ul.tags .more") is None


def test_blank_query_browses_everything(client, idx):
    doc = page(client, "/?q=")
    assert text(doc.h1) == "All articles"
    assert hit_pmids(doc) == [h.pmid for h in idx.search("").hits]
    assert len(hit_pmids(doc)) == len(ARTICLES)


# --- pagination ----------------------------------------------------------------------

def pager(doc) -> list[tuple[str, str | None, bool]]:
    """(text, href, current) for each entry of the page navigation."""
    nav = doc.select_one("nav.pagination[aria-label=Pages]")
    out = []
    for item in nav.select("li"):
        link = item.find("a")
        out.append((text(item), link["href"] if link else None,
                    bool(link and link.get("aria-current") == "page")))
    return out


def test_pagination_first_page(client):
    doc = page(client, "/?q=&per_page=2")
    assert pager(doc) == [
        ("‹ Previous", None, False),
        ("Page 1", "/?q=&per_page=2", True),
        ("Page 2", "/?q=&page=2&per_page=2", False),
        ("Page 3", "/?q=&page=3&per_page=2", False),
        ("Next ›", "/?q=&page=2&per_page=2", False),
    ]
    assert doc.select_one("ol.hits")["start"] == "1"
    assert re.fullmatch(r"1–2 of 6 articles in \d+ ms", text(doc.select_one(".summary")))
    # A new search from the box keeps the page size.
    assert doc.select_one('header form input[name=per_page]')["value"] == "2"


def test_pagination_middle_and_last_pages(client, idx):
    doc = page(client, "/?q=&page=2&per_page=2")
    assert pager(doc)[0] == ("‹ Previous", "/?q=&per_page=2", False)
    assert pager(doc)[2] == ("Page 2", "/?q=&page=2&per_page=2", True)
    assert pager(doc)[-1] == ("Next ›", "/?q=&page=3&per_page=2", False)
    assert doc.select_one("ol.hits")["start"] == "3"
    assert hit_pmids(doc) == [h.pmid for h in idx.search("", page=2, per_page=2).hits]
    assert re.fullmatch(r"3–4 of 6 articles in \d+ ms", text(doc.select_one(".summary")))
    last = page(client, "/?q=&page=3&per_page=2")
    assert pager(last)[-1] == ("Next ›", None, False)
    assert len(hit_pmids(last)) == 2


def test_a_page_past_the_end_says_so(client):
    doc = page(client, "/?q=&page=9&per_page=2")
    assert text(doc.select_one(".summary")) == "6 articles; page 9 is past the last page."
    assert doc.select_one("ol.hits") is None
    link = doc.find("a", string="Go to the first page")
    assert link["href"] == "/?q=&per_page=2"


def test_one_page_has_no_pagination(client):
    assert page(client, "/?q=vertebroplasty").select_one("nav.pagination") is None


def test_page_window():
    assert present.page_window(1, 1) == [1]
    assert present.page_window(1, 3) == [1, 2, 3]
    assert present.page_window(6, 20) == [1, None, 4, 5, 6, 7, 8, None, 20]
    assert present.page_window(20, 20) == [1, None, 18, 19, 20]
    assert present.page_window(3, 20) == [1, 2, 3, 4, 5, None, 20]


# --- sorting -----------------------------------------------------------------------------

@pytest.mark.parametrize("sort, years", [
    ("newest", ["2021", "2020", "2019", "2015", "2011", "2008"]),
    ("oldest", ["2008", "2011", "2015", "2019", "2020", "2021"]),
])
def test_sort_by_date(client, sort, years):
    doc = page(client, f"/?q=&sort={sort}")
    assert [text(y) for y in doc.select("li.hit .year")] == years
    current = doc.select_one("nav.sort a[aria-current]")
    assert text(current) == sort.capitalize()
    links = {text(a): a["href"] for a in doc.select("nav.sort a")}
    assert links == {"Relevance": "/?q=", "Newest": "/?q=&sort=newest", "Oldest": "/?q=&sort=oldest"}
    # The sort survives a new search from the box.
    assert doc.select_one('header form input[name=sort]')["value"] == sort


def test_relevance_is_the_default_sort(client):
    doc = page(client, "/?q=spinal")
    assert text(doc.select_one("nav.sort a[aria-current]")) == "Relevance"
    assert doc.select_one('header form input[name=sort]') is None


# --- facets and filters -----------------------------------------------------------------------

def facet(doc, heading: str) -> list[tuple[str, str, str]]:
    """(value, count, href) for each entry of one facet."""
    section = doc.find("h3", string=heading).parent
    return [(text(li.select_one(".value")), li.select_one(".count").contents[0].strip(),
             li.a["href"]) for li in section.select("ul.facet-list li")]


def test_facets_count_the_whole_result_set(client):
    doc = page(client, "/?q=")
    assert facet(doc, "Year") == [
        (str(y), "1", f"/?q=&year_from={y}&year_to={y}")
        for y in (2021, 2020, 2019, 2015, 2011, 2008)]
    journals = facet(doc, "Journal")
    assert journals[0] == ("Spine", "2", "/?q=&journal=Spine")
    assert sorted(j[0] for j in journals) == [
        "AJNR Am J Neuroradiol", "Br J Sports Med", "Eur Spine J", "Global Spine J", "Spine"]
    mesh = facet(doc, "MeSH keyword")
    assert mesh[:3] == [("Humans", "2", "/?q=&mesh=Humans"),
                        ("Vertebroplasty", "2", "/?q=&mesh=Vertebroplasty"),
                        ("Athletes", "1", "/?q=&mesh=Athletes")]  # no qualifier is a value
    assert len(mesh) == 10


def test_facets_follow_the_query(client):
    doc = page(client, "/?q=vertebroplasty")
    assert facet(doc, "Journal") == [("Spine", "2", "/?q=vertebroplasty&journal=Spine")]
    assert facet(doc, "Year") == [
        ("2019", "1", "/?q=vertebroplasty&year_from=2019&year_to=2019"),
        ("2015", "1", "/?q=vertebroplasty&year_from=2015&year_to=2015")]


def chips(doc) -> list[tuple[str, str]]:
    return [(text(a).removesuffix(" × (remove filter)"), a["href"])
            for a in doc.select(".active-filters a")]


def test_journal_filter(client):
    doc = page(client, "/?q=&journal=Spine")
    assert sorted(hit_pmids(doc)) == ["30000001", "30000003"]
    assert re.fullmatch(r"1–2 of 2 articles in \d+ ms", text(doc.select_one(".summary")))
    assert chips(doc) == [("Journal: Spine", "/?q=")]
    active = doc.select_one("ul.facet-list li.active a")
    assert active["aria-current"] == "true" and active["href"] == "/?q="


def test_mesh_filter_from_a_keyword_link(client):
    doc = page(client, "/?q=kyphoplasty&mesh=Vertebroplasty")
    assert hit_pmids(doc) == ["30000003"]
    assert chips(doc) == [("MeSH: Vertebroplasty", "/?q=kyphoplasty")]
    current = doc.select_one("li.hit ul.tags a[aria-current]")
    assert text(current) == "Vertebroplasty"


@pytest.mark.parametrize("query, chip, pmids", [
    ("year_from=2015&year_to=2019", "Years 2015–2019", ["30000001", "30000003"]),
    ("year_from=2019", "From 2019", ["30000003", "30000004", "30000005"]),
    ("year_to=2011", "Up to 2011", ["21349964", "30000002"]),
    ("year_from=2020&year_to=2020", "Year 2020", ["30000004"]),
])
def test_year_filters(client, query, chip, pmids):
    doc = page(client, f"/?q=&{query}")
    assert sorted(hit_pmids(doc)) == pmids
    assert chips(doc) == [(chip, "/?q=")]
    form = doc.select_one("form.year-range")
    assert [(i["name"], i["value"]) for i in form.select("input[type=hidden]")] == [("q", "")]
    assert form.select_one("label[for=year_from]") and form.select_one("label[for=year_to]")


def test_several_filters_each_removable_and_all_at_once(client):
    doc = page(client, "/?q=&sort=newest&year_from=2010&journal=Spine&mesh=Vertebroplasty")
    assert hit_pmids(doc) == ["30000003", "30000001"]
    base = "/?q=&sort=newest"
    assert chips(doc) == [
        ("From 2010", f"{base}&journal=Spine&mesh=Vertebroplasty"),
        ("Journal: Spine", f"{base}&year_from=2010&mesh=Vertebroplasty"),
        ("MeSH: Vertebroplasty", f"{base}&year_from=2010&journal=Spine"),
        ("Clear all filters", base),
    ]
    hidden = [(i["name"], i["value"]) for i in doc.select("form.year-range input[type=hidden]")]
    assert hidden == [("q", ""), ("sort", "newest"), ("journal", "Spine"), ("mesh", "Vertebroplasty")]


# --- did you mean, no results -----------------------------------------------------------

def test_did_you_mean(client):
    doc = page(client, "/?q=vertebroplasy")
    suggestion = doc.select_one("p.suggestion a")
    assert text(suggestion) == "vertebroplasty"
    assert suggestion["href"] == "/?q=vertebroplasty"
    followed = page(client, suggestion["href"])
    assert sorted(hit_pmids(followed)) == ["30000001", "30000003"]
    assert followed.select_one("p.suggestion") is None


def test_did_you_mean_keeps_sort_and_filters(client):
    doc = page(client, "/?q=tuberclosis&sort=oldest&year_to=2010")
    assert doc.select_one("p.suggestion a")["href"] == "/?q=tuberculosis&sort=oldest&year_to=2010"


def test_correction_from_a_spelling_expansion():
    class Results:
        query, suggestion = "vertebroplasy cement", None
        expansions = [{"type": "spelling", "from": "vertebroplasy", "to": ["vertebroplasty"]},
                      {"type": "synonym", "from": "cement", "to": ["pmma"]}]

    assert present.correction(Results) == "vertebroplasty cement"
    assert present.expansions(Results, "synonym") == [Results.expansions[1]]


def test_zero_results_says_so(client):
    doc = page(client, "/?q=zzzyqx")
    assert text(doc.select_one(".summary")).startswith("No articles found in ")
    assert text(doc.select_one(".no-results p")) == "Nothing matches zzzyqx ."
    assert doc.select_one("ul.broader") is None
    assert doc.find("a", string="browse all articles")["href"] == "/?q=&sort=newest"
    assert doc.select_one("ol.hits") is None and doc.select_one("aside.facets") is None


def test_zero_results_offers_the_words_alone(client):
    doc = page(client, '/?q="cement leakage spinal"')
    offers = [(text(li.a), li.a["href"], text(li.select_one(".count")))
              for li in doc.select("ul.broader li")]
    assert offers == [("Any of the words: cement leakage spinal",
                       "/?q=cement+leakage+spinal", "3 articles")]


def test_zero_results_offers_dropping_the_filters(client):
    doc = page(client, "/?q=tuberculosis&journal=Spine")
    offers = [(text(li.a), li.a["href"], text(li.select_one(".count")))
              for li in doc.select("ul.broader li")]
    assert offers == [("Without filters: tuberculosis", "/?q=tuberculosis", "1 article")]
    assert text(doc.select_one(".no-results p")) == "Nothing matches tuberculosis with these filters."


def test_plain_words():
    assert present.plain_words('title:"cement leakage" AND NOT journal:Spine') == "cement leakage Spine"
    assert present.plain_words("(kyphoplasty OR vertebroplasty)") == "kyphoplasty vertebroplasty"
    assert present.plain_words("year:2010-2015 L4-L5") == "2010-2015 L4-L5"


# --- the article page ---------------------------------------------------------------------------

def test_article_page_shows_the_full_record(client, idx):
    doc = page(client, "/article/21349964")
    assert text(doc.h1) == "CT-guided epidural blood patching of directly observed or potential leak sites"
    assert doc.title.string == f"{text(doc.h1)} – medsearch"
    parts = [(text(p.strong) if p.strong else None, text(p).removeprefix(text(p.strong) + " ") if p.strong else text(p))
             for p in doc.select("section.abstract p")]
    assert parts == [
        ("Background", "Spontaneous intracranial hypotension (SIH) causes orthostatic headache."),
        ("Methods", "Eight patients had CT-guided epidural blood patching of leak sites."),
        ("Results", "Headache improved in all patients."),
        ("Conclusions", "Blood patching works."),
    ]
    authors = [(text(a), a["href"]) for a in doc.select("ul.author-list a")]
    assert authors == [("Kranz PG", "/?q=author:%22Kranz+PG%22"),
                       ("Gray L", "/?q=author:%22Gray+L%22"),
                       ("Taylor JN", "/?q=author:%22Taylor+JN%22")]
    details = {text(dt): dd for dt, dd in zip(doc.select("dl.details dt"), doc.select("dl.details dd"))}
    assert [text(a) for a in details["MeSH keywords"].select("a")] == [
        "Blood Patch", "Epidural", "Headache", "Humans", "Intracranial Hypotension"]
    # The qualifier is shown after its descriptor, not as a heading of its own.
    assert details["MeSH keywords"].select("li")[-1].get_text() == "Intracranial Hypotension/therapy"
    assert details["MeSH keywords"].a["href"] == "/?q=&mesh=Blood+Patch"
    assert text(details["Journal"]) == "AJNR Am J Neuroradiol"
    assert text(details["Published"]) == "2011 May"
    assert text(details["Organisation"]) == "Department of Spine Surgery, Example Hospital"
    assert details["PubMed"].a["href"] == "https://www.ncbi.nlm.nih.gov/pubmed/21349964"
    similar = doc.select_one("section.similar")
    assert text(similar.h2) == "Similar articles"
    assert hit_pmids(similar) == [h.pmid for h in idx.similar("21349964")]


def test_author_links_search_by_author(client):
    doc = page(client, "/?q=author:%22Kranz+PG%22")
    assert sorted(hit_pmids(doc)) == ["21349964", "30000005"]


def test_article_without_abstract(client):
    doc = page(client, "/article/30000005")
    assert text(doc.select_one("section.abstract p")) == "The page this article came from has no abstract."


@pytest.mark.parametrize("url", ["/article/99999999", "/article/abc", "/article/%FF%FE",
                                 "/article/1234567890123", "/article/-1"])
def test_unknown_article_is_a_404_page(client, url):
    doc = page(client, url, 404)
    assert text(doc.h1) == "Not found"
    assert doc.select_one("header form[role=search]") is not None


def test_abstract_sections():
    assert present.abstract_sections(None) == []
    assert present.abstract_sections("Plain text. No labels.") == [(None, "Plain text. No labels.")]
    assert present.abstract_sections(
        "Intro words. MATERIALS AND METHODS: We did. RESULTS: It worked (p<0.05)."
    ) == [(None, "Intro words."), ("Materials and methods", "We did."),
          ("Results", "It worked (p<0.05).")]
    # Capitals inside a sentence are not a label.
    assert present.abstract_sections("Patients with PKP: few.") == [(None, "Patients with PKP: few.")]


# --- escaping ---------------------------------------------------------------------------------

def assert_no_injected_markup(doc: BeautifulSoup):
    assert [s.get("src") for s in doc.find_all("script")] == ["/static/app.js", "/static/suggest.js"]
    assert doc.find_all("img") == []
    assert not any(attr.startswith("on") for tag in doc.find_all(True) for attr in tag.attrs)


def test_snippet_escapes_the_abstract(client):
    response = client.get("/?q=running")
    body = response.get_data(as_text=True)
    assert "<script>alert" not in body and "<img src=x" not in body
    doc = soup(response)
    snippet = doc.select_one("li.hit .snippet")
    assert "<script>alert('x')</script>" in snippet.get_text()
    assert [text(m) for m in snippet.select("mark")] == ["Running"]
    assert_no_injected_markup(doc)


def test_article_page_escapes_the_abstract(client):
    response = client.get(f"/article/{XSS_PMID}")
    doc = soup(response)
    assert text(doc.select_one("section.abstract p")) == " ".join(XSS_ABSTRACT.split())
    assert_no_injected_markup(doc)


@pytest.mark.parametrize("url", [
    '/?q=<script>alert(1)</script>',
    '/?q="><img src=x onerror=alert(1)>&journal="><img src=x onerror=alert(1)>',
    '/?q=&mesh=<b onmouseover=alert(1)>x</b>',
])
def test_query_and_filters_are_escaped(client, url):
    doc = page(client, url)
    assert_no_injected_markup(doc)
    assert doc.find("b") is None


def test_only_the_snippet_is_marked_safe():
    uses = [(p.name, line.strip()) for p in (WEBUI / "templates").iterdir()
            for line in p.read_text().splitlines() if "|safe" in line.replace(" ", "")]
    assert uses == [("_macros.html", '{% if hit.snippet %}<p class="snippet">{{ hit.snippet|safe }}</p>{% endif %}')]


def test_no_inline_script_or_style():
    for template in (WEBUI / "templates").iterdir():
        source = template.read_text()
        assert not re.search(r"<script(?![^>]*\ssrc=)", source), template.name
        assert "<style" not in source and " style=" not in source and " on" + "click" not in source


def test_link_url_only_allows_http():
    assert present.link_url("https://example.org/x", "1") == "https://example.org/x"
    assert present.link_url("javascript:alert(1)", "12") == "https://www.ncbi.nlm.nih.gov/pubmed/12"
    assert present.link_url(None, "12") == "https://www.ncbi.nlm.nih.gov/pubmed/12"
    # Taken at once when it starts http(s)://, else as urlsplit reads its scheme.
    for url in ("HTTPS://example.org/x", " https://example.org", "http://a", "https:x",
                "\thttp://a", "ftp://a", "", "http//a", "javascript:http://a"):
        expected = url if urlsplit(url).scheme in ("http", "https") else present.pubmed_url("7")
        assert present.link_url(url, "7") == (expected if url else present.pubmed_url("7"))


def test_short_authors():
    assert present.short_authors([]) == ""
    assert present.short_authors(["A", "B", "C"]) == "A, B, C"
    assert present.short_authors(["A", "B", "C", "D"]) == "A, B, C et al."


# --- the JSON API ----------------------------------------------------------------------------------

def api(client, url: str, status: int = 200):
    response = client.get(url)
    assert response.status_code == status
    assert response.mimetype == "application/json"
    return response.get_json()


def without_took(data: dict) -> dict:
    return {k: v for k, v in data.items() if k != "took"}


@pytest.mark.parametrize("url, kwargs", [
    ("/api/search?q=vertebroplasty", {}),
    ("/api/search?q=&page=2&per_page=2", {"page": 2, "per_page": 2}),
    ("/api/search?q=&sort=newest", {"sort": "newest"}),
    ("/api/search?q=&year_from=2011&year_to=2019", {"year_from": 2011, "year_to": 2019}),
    ("/api/search?q=&journal=Spine", {"journal": "Spine"}),
    ("/api/search?q=&mesh=Vertebroplasty", {"mesh": "Vertebroplasty"}),
    ("/api/search?q=vertebroplasy", {}),
    ("/api/search", {}),
])
def test_api_search_is_results_to_dict(client, idx, url, kwargs):
    data = api(client, url)
    query = url.partition("q=")[2].partition("&")[0]
    assert without_took(data) == without_took(json.loads(json.dumps(idx.search(query, **kwargs).to_dict())))
    assert isinstance(data["took"], float)


def test_api_search_fields(client):
    data = api(client, "/api/search?q=percutaneous")
    assert {k: data[k] for k in ("query", "total", "page", "per_page", "pages", "sort", "suggestion")} == {
        "query": "percutaneous", "total": 1, "page": 1, "per_page": 10, "pages": 1,
        "sort": "relevance", "suggestion": None}
    hit = data["hits"][0]
    assert {k: hit[k] for k in ("pmid", "title", "year", "journal", "authors", "url", "published")} == {
        "pmid": "30000001",
        "title": "Cement leakage after percutaneous vertebroplasty for osteoporotic fractures",
        "year": 2015, "journal": "Spine", "authors": ["Smith AB", "Jones C"],
        "url": "https://www.ncbi.nlm.nih.gov/pubmed/30000001", "published": "2015 Jan"}
    assert data["facets"]["journal"] == [{"value": "Spine", "count": 1}]


@pytest.mark.parametrize("query, message", [
    ("page=0", "page must be a whole number from 1 to 1000"),
    ("page=-1", "page must be a whole number from 1 to 1000"),
    ("page=abc", "page must be a whole number from 1 to 1000"),
    ("page=1.5", "page must be a whole number from 1 to 1000"),
    ("page=1001", "page must be a whole number from 1 to 1000"),
    ("page=99999999999999999999", "page must be a whole number from 1 to 1000"),
    ("per_page=0", "per_page must be a whole number from 1 to 100"),
    ("per_page=101", "per_page must be a whole number from 1 to 100"),
    ("sort=best", "sort must be one of relevance, newest, oldest"),
    ("year_from=20x5", "year_from must be a year such as 2015"),
    ("year_to=15", "year_to must be a year such as 2015"),
    ("year_from=2020&year_to=2010", "year_from (2020) is after year_to (2010)"),
    ("journal=" + "x" * 301, "journal is too long"),
])
def test_api_bad_parameters_are_400_json(client, query, message):
    assert api(client, f"/api/search?q=spine&{query}", 400) == {"error": message}


def test_api_article(client):
    data = api(client, "/api/article/21349964")
    assert data == {
        "pmid": "21349964",
        "title": "CT-guided epidural blood patching of directly observed or potential leak sites",
        "abstract": ARTICLES[0][2],
        "keywords": ["Blood Patch", "Epidural", "Headache", "Humans", "Intracranial Hypotension/therapy"],
        "authors": ["Kranz PG", "Gray L", "Taylor JN"],
        "journal": "AJNR Am J Neuroradiol",
        "published": "2011 May",
        "year": 2011,
        "organisation": "Department of Spine Surgery, Example Hospital",
        "url": "https://www.ncbi.nlm.nih.gov/pubmed/21349964",
    }


@pytest.mark.parametrize("pmid", ["99999999", "abc", "%FF"])
def test_api_unknown_article_is_404_json(client, pmid):
    data = api(client, f"/api/article/{pmid}", 404)
    assert data["error"].startswith("no article with PMID ")


def test_api_unknown_route_is_404_json(client):
    assert "error" in api(client, "/api/nothing", 404)


# --- OpenSearch ---------------------------------------------------------------------------------------

def test_opensearch_description(client):
    response = client.get("/opensearch.xml")
    assert response.status_code == 200
    assert response.mimetype == "application/opensearchdescription+xml"
    ns = {"os": "http://a9.com/-/spec/opensearch/1.1/"}
    root = ElementTree.fromstring(response.data)
    assert root.find("os:ShortName", ns).text == "medsearch"
    urls = {u.get("type"): u.get("template") for u in root.findall("os:Url", ns)}
    # No PUBLIC_URL configured: root-relative (tests/test_server.py has the rest).
    assert urls == {"text/html": "/?q={searchTerms}",
                    "application/json": "/api/search?q={searchTerms}&page={startPage?}",
                    "application/x-suggestions+json": "/api/suggest?q={searchTerms}"}


@pytest.mark.parametrize("url", ["/", "/?q=spine", "/?q=zzzyqx", "/article/21349964",
                                 "/article/1", "/?page=0", "/missing"])
def test_every_page_advertises_opensearch(client, url):
    link = soup(client.get(url)).select_one('link[rel=search]')
    assert link["type"] == "application/opensearchdescription+xml"
    assert link["href"] == "/opensearch.xml"


# --- headers, errors, robustness -------------------------------------------------------------------

@pytest.mark.parametrize("url", [
    "/", "/?q=spine", "/?page=0", "/article/21349964", "/article/1", "/api/search?q=x",
    "/api/search?page=x", "/api/article/1", "/opensearch.xml", "/static/style.css",
    "/static/app.js", "/static/favicon.svg", "/static/missing.css", "/missing",
])
def test_security_headers_on_every_response(client, url):
    with client.get(url) as response:
        headers = response.headers
    assert headers["Content-Security-Policy"] == CSP
    assert headers["X-Content-Type-Options"] == "nosniff"
    assert headers["Referrer-Policy"] == "same-origin"
    assert headers["X-Frame-Options"] == "DENY"
    assert SECURITY_HEADERS["Content-Security-Policy"] == CSP


def test_static_assets(client):
    with client.get("/static/style.css") as response:
        assert response.mimetype == "text/css"
    with client.get("/static/app.js") as response:
        assert response.mimetype in ("text/javascript", "application/javascript")
    css = (WEBUI / "static" / "style.css").read_text()
    assert "http" not in css and "@import" not in css and ":focus-visible" in css


@pytest.mark.parametrize("url, status, heading", [
    ("/?page=0", 400, "Bad request"),
    ("/?q=x&sort=random", 400, "Bad request"),
    ("/?q=x&year_from=2020&year_to=2000", 400, "Bad request"),
    ("/missing", 404, "Not found"),
])
def test_error_pages(client, url, status, heading):
    doc = page(client, url, status)
    assert text(doc.h1) == heading
    assert text(doc.select_one(".status")) == f"Error {status}"


def test_bad_parameter_page_says_what_is_wrong(client):
    doc = page(client, "/?q=x&page=-3", 400)
    assert text(doc.select_one(".error-page h1 + p")) == "page must be a whole number from 1 to 1000"


def test_post_is_405(client):
    assert client.post("/").status_code == 405
    assert client.post("/api/search").get_json()["error"]


def test_missing_index_is_a_503_page_until_built(tmp_path, corpus_dir):
    from indexer.whoosh_engine.build import build

    root = tmp_path / "index"
    client = create_app({"TESTING": True, "INDEX": str(root)}).test_client()
    doc = page(client, "/", 503)
    assert text(doc.h1) == "Search unavailable"
    assert "Run `medsearch build`" in text(doc.select_one(".error-page"))
    assert api(client, "/api/search?q=spine", 503)["error"].startswith("The search index has not been built")
    assert client.get("/article/21349964").status_code == 503
    build(corpus_dir, root)
    assert page(client, "/").h1 is not None  # the same app finds the new index


@pytest.mark.parametrize("url", [
    "/?q=%FF%FE%FD", "/?q=%C3%28", "/?journal=%FF", "/?mesh=%ED%A0%80",
    "/?q=%00%01%02%1B%7F", "/?q=a%00b&journal=x%00", "/?q=" + "vertebroplasty%20" * 5000,
    "/?q=" + "(" * 3000, "/?q=%22" * 999, "/?q=*", "/?q=year:[", "/?q=title:", "/?q=AND%20OR%20NOT",
    "/?page=-5", "/?page=0", "/?page=1e3", "/?page=%20", "/?page=%EF%BC%92", "/?page=99999999999999999999",
    "/?per_page=100000", "/?per_page=-1", "/?sort=%00", "/?year_from=-2000", "/?year_from=%D9%A2%D9%A0%D9%A2%D9%A0",
    "/article/%00", "/api/search?q=%FF&page=%FF", "/api/article/%FF%FE",
])
def test_odd_input_never_gives_a_500(client, url):
    # TESTING propagates exceptions: an unexpected one fails here loudly.
    assert client.get(url).status_code in (200, 400, 404)


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(q=st.text(max_size=60), page=st.text(max_size=6), journal=st.text(max_size=10),
       mesh=st.text(max_size=10), sort=st.sampled_from(["relevance", "newest", "oldest", "", "x"]),
       year=st.text(alphabet="0123456789-x", max_size=5))
def test_any_parameters_give_a_page_or_a_400(client, q, page, journal, mesh, sort, year):
    params = {"q": q, "page": page, "journal": journal, "mesh": mesh, "sort": sort, "year_from": year}
    for url in ("/", "/api/search"):
        response = client.get(url, query_string=params)
        assert response.status_code in (200, 400)


def test_unexpected_errors_render_a_plain_500_page(index_dir):
    app = create_app({"INDEX": str(index_dir)})  # not TESTING: errors are handled

    def boom():
        raise RuntimeError("secret detail")

    app.add_url_rule("/boom", view_func=boom)
    app.add_url_rule("/api/boom", "api_boom", view_func=boom)
    client = app.test_client()
    response = client.get("/boom")
    assert response.status_code == 500
    body = response.get_data(as_text=True)
    assert "Something went wrong" in body
    assert "secret detail" not in body and "Traceback" not in body and "RuntimeError" not in body
    assert response.headers["Content-Security-Policy"] == CSP
    api_response = client.get("/api/boom")
    assert api_response.status_code == 500
    assert api_response.get_json() == {"error": "The server could not answer this request."}


# --- serving -------------------------------------------------------------------------------------------

def test_server_settings(index_dir, monkeypatch):
    from webui import server

    monkeypatch.setenv("FLASK_DEBUG", "1")
    app_server = server.MedsearchServer(index_dir, {
        "bind": "127.0.0.1:9", "workers": 3, "worker_class": "gthread", "preload_app": False})
    assert app_server.cfg.workers == 3
    assert app_server.cfg.preload_app is False
    assert app_server.cfg.worker_class_str == "gthread"
    app = app_server.load()
    assert app.debug is False and app.config["INDEX"] == str(index_dir)
    assert "GIL" in server.__doc__
    with pytest.raises(ValueError):
        server.serve(index_dir, workers=0)


def test_a_served_worker_reads_the_index_before_its_first_request(index_dir, tmp_path):
    from webui import get_index, server

    app = server.MedsearchServer(index_dir, {}, semantic=False).load()
    with app.app_context():
        tables = get_index().engine._memory._tables
        # The searcher and the facet values, read as the worker started.
        assert "facets" in tables and get_index().engine._shared is not None
    # No index yet: the worker starts all the same, and its pages say so.
    app = server.MedsearchServer(tmp_path / "none", {}, semantic=False).load()
    answer = app.test_client().get("/api/search?q=spine")
    assert answer.status_code == 503 and "medsearch build" in answer.get_json()["error"]


def test_serve_passes_its_options_to_gunicorn(index_dir, monkeypatch):
    from webui import server

    seen = {}
    monkeypatch.setattr(server.MedsearchServer, "run", lambda self: seen.update(self.options))
    server.serve(index_dir, host="0.0.0.0", port=8123, workers=4)
    assert {k: seen[k] for k in ("bind", "workers", "worker_class", "preload_app")} == {
        "bind": "0.0.0.0:8123", "workers": 4, "worker_class": "webui.worker.MedsearchWorker",
        "preload_app": False}


def test_webui_never_imports_whoosh():
    for source in WEBUI.rglob("*.py"):
        assert not re.search(r"^\s*(import|from)\s+whoosh", source.read_text(), re.M), source


def test_search_params_round_trip():
    params = SearchParams(q="a b", page=3, per_page=20, sort="newest", year_from=2010, mesh="X")
    assert params.args() == {"q": "a b", "page": 3, "per_page": 20, "sort": "newest",
                             "year_from": 2010, "mesh": "X"}
    assert params.args(mesh=None) == {"q": "a b", "per_page": 20, "sort": "newest", "year_from": 2010}
    assert SearchParams().args() == {"q": ""}
