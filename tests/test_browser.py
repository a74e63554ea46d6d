"""End to end: `medsearch serve` in a subprocess, driven by Debian's headless chromium.

These never skip in CI (env CI set): a missing chromium is a failure there.
Elsewhere they skip, saying why.
"""

from __future__ import annotations

import json
import os
import re
import threading
import urllib.error
import urllib.request
from pathlib import Path
from urllib.parse import quote

import pytest

from conftest import ARTICLES, clinic_page
from webui_fixtures import CHROMIUM, launch_chromium, running_site

pytestmark = pytest.mark.browser

# Enough vertebroplasty articles for two pages of ten, in two journals.
FILLERS = [
    (str(31000000 + i),
     f"Vertebroplasty outcomes in cohort {i}",
     f"We followed {20 + i} patients after percutaneous vertebroplasty with bone cement "
     f"for osteoporotic compression fractures; pain scores fell in {10 + i} of them.",
     "Vertebroplasty,Humans,Osteoporotic Fractures",
     f"Author{i} A;Coauthor B;Third C;Fourth D;", "Spine" if i % 3 else "Pain Physician",
     f"{2000 + i} Jan")
    for i in range(24)
]


def require_chromium() -> None:
    problem = None
    try:
        import playwright.sync_api  # noqa: F401
    except ImportError:
        problem = "the playwright Python package is not installed"
    else:
        if not Path(CHROMIUM).exists():
            problem = f"{CHROMIUM} is missing (apt-get install chromium)"
    if problem:
        if os.environ.get("CI"):
            pytest.fail(f"{problem}: browser tests must run in CI")
        pytest.skip(problem)


def write_corpus(folder: Path, articles) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    for article in articles:
        (folder / f"{article[0]}.html").write_text(clinic_page(*article), encoding="utf-8")
    return folder


@pytest.fixture(scope="module")
def site(tmp_path_factory):
    """The real server over a fresh index; `serve` builds it first, as for a new user."""
    root = tmp_path_factory.mktemp("site")
    seeds = write_corpus(root / "seeds", ARTICLES + FILLERS)
    with running_site(root / "index", workers=2, seeds=seeds) as url:
        yield url


@pytest.fixture(scope="module")
def browser():
    require_chromium()
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        chromium = launch_chromium(p)
        yield chromium
        chromium.close()


@pytest.fixture
def page(browser):
    """A fresh page; fails the test on any script dialog or console error (CSP reports one)."""
    context = browser.new_context(viewport={"width": 1280, "height": 900})
    tab = context.new_page()
    tab.set_default_timeout(10_000)
    problems: list[str] = []
    tab.on("dialog", lambda d: (problems.append(f"dialog: {d.message}"), d.dismiss()))
    tab.on("console", lambda m: m.type == "error" and problems.append(f"console: {m.text}"))
    tab.on("pageerror", lambda e: problems.append(f"page error: {e}"))
    yield tab
    context.close()
    assert problems == []


def api(site: str, path: str) -> dict:
    with urllib.request.urlopen(site + path, timeout=10) as response:
        return json.load(response)


def titles(page) -> list[str]:
    return [t.strip() for t in page.locator("ol.hits h2.hit-title").all_inner_texts()]


# --- searching --------------------------------------------------------------------------

def test_type_a_query_and_see_ranked_marked_results(site, page):
    page.goto(site + "/")
    # Focused on load (Chrome applies autofocus at its next rendering step).
    page.wait_for_function("document.activeElement && document.activeElement.id === 'q'",
                           timeout=5000)
    page.keyboard.type("vertebroplasty cement")
    page.keyboard.press("Enter")
    page.wait_for_url(re.compile(r"/\?q=vertebroplasty\+cement$"))
    expected = api(site, "/api/search?q=vertebroplasty+cement")
    assert titles(page) == [h["title"] for h in expected["hits"]]
    assert len(titles(page)) == 10
    summary = page.locator("p.summary").inner_text()
    assert re.fullmatch(rf"1–10 of {expected['total']} articles in \d+ ms", summary.strip())
    marks = {m.lower() for m in page.locator("ol.hits .snippet mark").all_inner_texts()}
    assert marks and marks <= {"vertebroplasty", "cement"}
    assert page.locator("ol.hits li.hit").first.locator("mark").count() >= 1


def test_apply_a_facet_then_go_to_page_two(site, page):
    page.goto(site + "/?q=vertebroplasty")
    page.locator("section.facet", has_text="Journal").get_by_role("link", name=re.compile("^Spine")).click()
    page.wait_for_url(re.compile(r"journal=Spine"))
    assert page.locator(".active-filters .chip").inner_text().startswith("Journal: Spine")
    assert set(page.locator("ol.hits .journal").all_inner_texts()) == {"Spine"}
    first_page = titles(page)

    page.get_by_role("link", name="Next ›").click()
    page.wait_for_url(re.compile(r"page=2"))
    assert page.locator("nav.pagination a[aria-current=page]").text_content() == "Page 2"
    assert page.locator("ol.hits").get_attribute("start") == "11"
    second_page = titles(page)
    assert second_page and not set(second_page) & set(first_page)
    expected = api(site, "/api/search?q=vertebroplasty&journal=Spine&page=2")
    assert second_page == [h["title"] for h in expected["hits"]]

    page.locator(".active-filters .chip").click()  # remove the filter
    page.wait_for_url(re.compile(r"/\?q=vertebroplasty$"))
    assert page.locator(".active-filters").count() == 0


def test_sort_newest(site, page):
    page.goto(site + "/?q=vertebroplasty")
    page.locator("nav.sort").get_by_role("link", name="Newest").click()
    page.wait_for_url(re.compile(r"sort=newest"))
    years = [int(y) for y in page.locator("ol.hits .year").all_inner_texts()]
    assert years == sorted(years, reverse=True)


def test_open_an_article_and_its_author(site, page):
    page.goto(site + "/?q=epidural+blood+patch")
    page.locator("ol.hits h2.hit-title a").first.click()
    page.wait_for_url(re.compile(r"/article/21349964$"))
    assert page.locator("h1").inner_text() == ARTICLES[0][1]
    labels = page.locator("section.abstract .part-label").all_inner_texts()
    assert [label.lower() for label in labels] == ["background", "methods", "results", "conclusions"]
    page.locator("ul.author-list").get_by_role("link", name="Kranz PG").click()
    page.wait_for_url(re.compile(r"q=author:%22Kranz\+PG%22"))
    assert sorted(titles(page)) == sorted([ARTICLES[0][1], ARTICLES[5][1]])


def test_similar_articles(site, page):
    page.goto(site + "/article/30000001")
    similar = page.locator("section.similar")
    assert similar.get_by_role("heading", name="Similar articles").is_visible()
    expected = [h["title"] for h in api(site, "/api/search?q=pmid:30000001")["hits"]]
    assert expected == [ARTICLES[1][1]]
    first = similar.locator("h2.hit-title a").first
    title = first.inner_text()
    first.click()
    page.wait_for_url(re.compile(r"/article/\d+$"))
    assert page.locator("h1").inner_text() == title


def test_follow_did_you_mean(site, page):
    page.goto(site + "/?q=vertebroplasty")
    box = page.locator("header input#q")
    box.fill("vertebroplasy")
    box.press("Enter")
    page.wait_for_url(re.compile(r"q=vertebroplasy$"))
    page.locator("p.suggestion").get_by_role("link", name="vertebroplasty").click()
    page.wait_for_url(re.compile(r"/\?q=vertebroplasty$"))
    assert len(titles(page)) == 10


def test_zero_results_offer_a_broader_search(site, page):
    page.goto(site + "/?q=" + quote('"cement tuberculosis"'))
    assert page.locator(".no-results").is_visible()
    page.locator("ul.broader a").first.click()
    page.wait_for_url(re.compile(r"q=cement\+tuberculosis$"))
    assert titles(page)


# --- safety, access, layout ------------------------------------------------------------------------

def test_hostile_abstract_shows_as_text(site, page):
    page.goto(site + "/article/30000004")
    abstract = page.locator("section.abstract").inner_text()
    assert "<script>alert('x')</script>" in abstract and '"><img src=x onerror=alert(1)>' in abstract
    page.goto(site + "/?q=running")
    assert "<script>alert('x')</script>" in page.locator(".snippet").first.inner_text()
    assert page.locator("main img").count() == 0
    # The `page` fixture fails the test if any alert() ran.


def test_keyboard_focus_is_visible(site, page):
    page.goto(site + "/?q=vertebroplasty")
    page.keyboard.press("Tab")
    skip = page.locator("a.skip-link")
    assert page.evaluate("document.activeElement.className") == "skip-link"
    box = skip.bounding_box()
    assert box and box["y"] >= 0 and box["width"] > 0  # shown on focus
    style = page.evaluate("getComputedStyle(document.activeElement).outlineStyle")
    assert style == "solid"
    page.keyboard.press("Enter")
    assert page.evaluate("document.activeElement.id") == "main"
    # Tab on to the first result title: a visible 3px ring.
    for _ in range(30):
        page.keyboard.press("Tab")
        if page.evaluate("!!document.activeElement.closest('h2.hit-title')"):
            break
    else:
        pytest.fail("Tab never reached a result title")
    ring = page.evaluate("(() => { const s = getComputedStyle(document.activeElement);"
                         " return [s.outlineStyle, s.outlineWidth]; })()")
    assert ring == ["solid", "3px"]


def test_slash_focuses_the_search_box(site, page):
    page.goto(site + "/article/21349964")
    page.keyboard.press("/")
    assert page.evaluate("document.activeElement.id") == "q"


def open_suggestions(page, site: str, prefix: str) -> list[str]:
    """Type `prefix` in the front page's box; the completions the list shows."""
    page.goto(site + "/")
    box = page.locator("input#q")
    # Chrome applies autofocus at its next rendering step, which may come
    # after `goto` returns: focus the box as a person clicking into it would.
    box.focus()
    page.keyboard.type(prefix, delay=30)
    page.wait_for_selector("input#q[aria-expanded=true]")
    listbox = page.locator("#" + box.get_attribute("aria-controls"))
    # The list may still show the answer for the prefix's first letters (the
    # one for the whole prefix is on its way): wait until it completes it.
    page.wait_for_function(
        """([id, prefix]) => {
             const options = [...document.querySelectorAll(`#${id} [role=option]`)];
             return options.length > 0 && options.every(
               (o) => o.textContent.trim().toLowerCase().startsWith(prefix));
           }""", arg=[box.get_attribute("aria-controls"), prefix.lower()])
    assert box.get_attribute("role") == "combobox"
    assert listbox.get_attribute("role") == "listbox" and listbox.is_visible()
    return [o.strip() for o in listbox.get_by_role("option").all_inner_texts()]


def test_suggestions_from_the_keyboard(site, page):
    shown = open_suggestions(page, site, "vert")
    expected = api(site, "/api/suggest?q=vert")
    assert shown == expected[1] and len(shown) >= 2
    box = page.locator("input#q")
    page.keyboard.press("ArrowDown")
    page.keyboard.press("ArrowDown")
    page.keyboard.press("ArrowUp")
    active = box.get_attribute("aria-activedescendant")
    option = page.locator("#" + active)
    assert option.inner_text().strip() == shown[0]
    assert option.get_attribute("aria-selected") == "true"
    page.keyboard.press("Enter")
    page.wait_for_url(re.compile(r"/\?q=" + re.escape(quote(shown[0])) + "$"))
    assert titles(page) == [h["title"] for h in api(site, "/api/search?q=" + quote(shown[0]))["hits"]]


def test_escape_closes_the_suggestions(site, page):
    open_suggestions(page, site, "cement lea")
    page.keyboard.press("ArrowDown")
    page.keyboard.press("Escape")
    box = page.locator("input#q")
    assert box.get_attribute("aria-expanded") == "false"
    assert box.get_attribute("aria-activedescendant") is None
    assert not page.locator("#" + box.get_attribute("aria-controls")).is_visible()
    assert box.input_value() == "cement lea" and page.url == site + "/"
    page.keyboard.press("Enter")  # no option chosen: searches what is typed
    page.wait_for_url(re.compile(r"/\?q=cement\+lea$"))


def test_works_without_javascript(site, browser):
    context = browser.new_context(java_script_enabled=False)
    try:
        tab = context.new_page()
        tab.goto(site + "/")
        tab.fill("input#q", "kyphoplasty")
        tab.press("input#q", "Enter")
        tab.wait_for_url(re.compile(r"q=kyphoplasty"))
        assert "Kyphoplasty versus vertebroplasty: a randomized trial" in titles(tab)
        tab.locator("form.year-range input[name=year_from]").fill("2019")
        tab.locator("form.year-range button").click()
        tab.wait_for_url(re.compile(r"year_from=2019"))
        assert tab.locator(".active-filters .chip").first.inner_text().startswith("From 2019")
    finally:
        context.close()


@pytest.mark.parametrize("path", ["/?q=vertebroplasty+cement+leakage", "/article/30000004", "/"])
def test_mobile_layout_has_no_sideways_scroll(site, browser, path):
    context = browser.new_context(viewport={"width": 360, "height": 740}, is_mobile=True)
    try:
        tab = context.new_page()
        tab.goto(site + path)
        assert tab.evaluate("document.documentElement.scrollWidth") <= 360
    finally:
        context.close()


def test_screenshot_of_the_results_page(site, page, tmp_path):
    page.set_viewport_size({"width": 1280, "height": 1000})
    page.goto(site + "/?q=" + quote("vertebroplasty cement leakage"))
    page.wait_for_selector("ol.hits mark")
    shot = tmp_path / "screenshot-results.png"
    page.screenshot(path=str(shot))
    assert shot.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


# --- serving ---------------------------------------------------------------------------------------

def test_serve_follows_a_rebuild_without_a_failed_request(tmp_path):
    """`medsearch build` while the site runs: every request answers, then the new article shows."""
    from indexer.whoosh_engine.build import build

    seeds = write_corpus(tmp_path / "seeds", ARTICLES)
    index = tmp_path / "index"
    build(seeds, index)
    new = ("32000000", "Sacroiliac joint fusion for chronic pain", "Fusion helped 30 patients.",
           "Sacroiliac Joint,Arthrodesis", "Novak P;", "Pain Physician", "2022")
    with running_site(index, workers=2) as url:
        statuses: list[int] = []
        stop = threading.Event()

        def hammer():
            while not stop.is_set():
                try:
                    with urllib.request.urlopen(url + "/?q=spinal", timeout=10) as response:
                        statuses.append(response.status)
                except urllib.error.HTTPError as exc:
                    statuses.append(exc.code)

        threads = [threading.Thread(target=hammer) for _ in range(3)]
        for thread in threads:
            thread.start()
        try:
            write_corpus(seeds, [new])
            build(seeds, index)
        finally:
            stop.set()
            for thread in threads:
                thread.join()
        assert statuses and set(statuses) == {200}
        found = api(url, "/api/search?q=sacroiliac")
        assert [h["pmid"] for h in found["hits"]] == ["32000000"]
