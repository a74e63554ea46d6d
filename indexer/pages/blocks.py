"""Pages as a flat list of text blocks, the way a browser would lay them out.

HTML and plain-text dumps both become `Block`s, so one label-driven reader
(.extract) handles every layout. HTML loses its chrome here: scripts,
styles, hidden elements, navigation, asides, footers and anything whose class
or id names a widget (cookie banner, menu, reviews, related posts, ...).
"""

from __future__ import annotations

import json
import re
import warnings
from collections.abc import Iterator
from dataclasses import dataclass, field

from bs4 import BeautifulSoup, CData, NavigableString, Tag
from bs4.element import PageElement, PreformattedString
from bs4 import MarkupResemblesLocatorWarning, XMLParsedAsHTMLWarning

from indexer.pages.text import clean

HEADING = "heading"  # h1-h6 or an element whose class/id says it is a title
TEXT = "text"


@dataclass
class Block:
    """One visual line or paragraph of a page."""

    text: str
    kind: str = TEXT
    hrefs: list[str] = field(default_factory=list)
    after_br: bool = False  # a <br> line: same paragraph as the block before


@dataclass
class Page:
    """A page as blocks, plus the titles it announces outside the body."""

    blocks: list[Block]
    announced_titles: list[str]


_HTML_SNIFF = re.compile(
    r"<(?:!doctype|html|head|body|meta|title|div|p|h[1-6]|table|tr|td|span|br|dl|font|a|ul|section|article)[\s>/]",
    re.IGNORECASE,
)

# Never content, whatever they contain.
_DROP_ALWAYS = frozenset(
    "head script style noscript template svg math iframe object embed canvas "
    "button select option textarea input audio video map".split()
)
# Site chrome unless it wraps the article's labelled fields (e.g. an
# ASP.NET page that puts the whole body inside one <form>).
_CHROME_TAGS = frozenset("nav aside footer form dialog menu".split())
_CHROME_WORDS = re.compile(
    r"(?:^|[-_\s])(?:nav|navbar|navigation|menu|breadcrumbs?|cookies?|consent|gdpr|"
    r"related|recommended|popular|share|sharing|social|sidebar|widget|reviews?|testimonials?|"
    r"rating|trustpilot|doctify|appointment|booking|cta|popup|modal|newsletter|advert|ads|"
    r"footer|masthead|topbar|skip)(?:$|[-_\s])",
    re.IGNORECASE,
)
_TITLE_WORDS = re.compile(r"(?:^|[-_\s])(?:title|headline|heading)(?:$|[-_\s])", re.IGNORECASE)
_HIDDEN_STYLE = re.compile(r"display\s*:\s*none|visibility\s*:\s*hidden", re.IGNORECASE)
_BLOCK_TAGS = frozenset(
    "address article aside blockquote body caption center dd details dialog div dl dt "
    "fieldset figcaption figure footer form h1 h2 h3 h4 h5 h6 header hgroup hr html li "
    "main nav ol p pre section summary table tbody td tfoot th thead tr ul".split()
)
_ARTICLE_TAGS = frozenset(("article", "main"))
_HEADINGS = frozenset("h1 h2 h3 h4 h5 h6".split())


def looks_like_html(text: str) -> bool:
    """True when the text carries HTML tags rather than being a text dump."""
    return _HTML_SNIFF.search(text, 0, 65_536) is not None


def text_page(text: str) -> Page:
    """A text dump: one block per non-blank line."""
    blocks = [Block(line) for line in map(clean, text.splitlines()) if line]
    return Page(blocks, [])


def html_page(text: str, protect: re.Pattern[str]) -> Page:
    """Parse HTML once and lay it out as blocks.

    `protect` matches the start of a field label: chrome-looking containers
    holding such a label are kept, because they hold the article.
    """
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", MarkupResemblesLocatorWarning)
        warnings.simplefilter("ignore", XMLParsedAsHTMLWarning)
        soup = BeautifulSoup(text, "lxml")
    keep = _ancestors_of_labels(soup, protect)
    return Page(_layout(soup, keep), _announced_titles(soup))


def _ancestors_of_labels(soup: BeautifulSoup, protect: re.Pattern[str]) -> set[int]:
    keep: set[int] = set()
    for string in soup.find_all(string=lambda s: protect.match(clean(s)) is not None):
        for parent in string.parents:
            if id(parent) in keep:
                break  # the rest of the chain is already marked
            keep.add(id(parent))
    return keep


def _is_chrome(tag: Tag, keep: set[int], in_article: bool) -> bool:
    if tag.name in _DROP_ALWAYS:
        return True
    attrs = tag.attrs
    if "hidden" in attrs or attrs.get("aria-hidden") == "true" or _HIDDEN_STYLE.search(attrs.get("style") or ""):
        return True
    if id(tag) in keep:
        return False
    if tag.name == "header" and not in_article:
        return True  # the site's masthead; an article's own <header> holds its title
    if tag.name in _CHROME_TAGS or attrs.get("role") in ("navigation", "banner", "contentinfo", "complementary"):
        return True
    return _CHROME_WORDS.search(_class_and_id(tag)) is not None


def _class_and_id(tag: Tag) -> str:
    classes = tag.attrs.get("class") or []
    if isinstance(classes, str):
        classes = [classes]
    return " ".join([*classes, str(tag.attrs.get("id") or "")])


def _own_kind(tag: Tag) -> str | None:
    if tag.name in _HEADINGS or _TITLE_WORDS.search(_class_and_id(tag)):
        return HEADING
    return None


def _layout(soup: BeautifulSoup, keep: set[int]) -> list[Block]:
    """Walk the tree iteratively (pages nest 100k deep) and emit blocks."""
    blocks: list[Block] = []
    parts: list[str] = []
    hrefs: list[str] = []

    after_br = False

    def flush(kind: str, *, at_br: bool = False) -> None:
        nonlocal after_br
        text = clean("".join(parts))
        if text:
            blocks.append(Block(text, kind, hrefs.copy(), after_br))
        parts.clear()
        hrefs.clear()
        after_br = at_br

    stack: list[tuple[Tag, Iterator[PageElement], str, bool]] = [(soup, iter(soup.contents), TEXT, False)]
    while stack:
        tag, children, kind, in_article = stack[-1]
        child = next(children, None)
        if child is None:
            stack.pop()
            if tag.name in _BLOCK_TAGS:
                flush(kind)
            continue
        if isinstance(child, NavigableString):
            # CDATA shows as text; comments, doctypes and declarations do not.
            if not isinstance(child, PreformattedString) or isinstance(child, CData):
                parts.append(str(child))
            continue
        if _is_chrome(child, keep, in_article):
            continue
        name = child.name
        if name == "br":
            flush(kind, at_br=True)
            continue
        if name == "a" and child.get("href"):
            hrefs.append(str(child["href"]))
        if name in _BLOCK_TAGS:
            flush(kind)
            child_kind = _own_kind(child) or TEXT
        else:
            # Inline markup inside a heading is part of the heading.
            child_kind = _own_kind(child) or kind
        stack.append((child, iter(child.contents), child_kind, in_article or name in _ARTICLE_TAGS))
    flush(TEXT)
    return blocks


def _announced_titles(soup: BeautifulSoup) -> list[str]:
    """<title>, og:title/twitter:title and JSON-LD headlines: hints, never content."""
    titles: list[str] = []
    if soup.title is not None:
        titles.append(clean(soup.title.get_text()))
    for meta in soup.find_all("meta"):
        key = str(meta.get("property") or meta.get("name") or "").lower()
        if key in ("og:title", "twitter:title", "citation_title", "dc.title"):
            titles.append(clean(str(meta.get("content") or "")))
    for script in soup.find_all("script", type="application/ld+json"):
        try:
            titles.extend(_json_headlines(json.loads(script.string or "")))
        except (ValueError, RecursionError):
            continue  # broken JSON-LD is common and only ever a hint
    return [title for title in titles if title]


def _json_headlines(data: object) -> list[str]:
    found: list[str] = []
    pending = [data]
    while pending:
        item = pending.pop()
        if isinstance(item, dict):
            for key, value in item.items():
                if key in ("headline", "name") and isinstance(value, str):
                    found.append(clean(value))
                elif isinstance(value, (dict, list)):
                    pending.append(value)
        elif isinstance(item, list):
            pending.extend(item)
    return found
