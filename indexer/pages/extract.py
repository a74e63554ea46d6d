"""Extract the article from a clinic page that reposts a PubMed abstract.

Pages differ in markup but agree on labelled fields ("Keywords :",
"Authors :", "Pubmed Link :", ...). We lay the page out as text blocks
(.blocks), find the cluster of labelled fields, and read backwards
from it: the blocks just before the first label are the abstract, and the
block before those is the title. Titles are located by agreement with what
the page announces (<title>, og:title, breadcrumbs), else by heading markup,
else by shape (the title is the short line above the prose).
"""

from __future__ import annotations

import os
import re
from dataclasses import dataclass

from indexer.pages import headings
from indexer.pages.blocks import HEADING, Block, Page, html_page, looks_like_html, text_page
from indexer.pages.budget import time_limit
from indexer.pages.text import clean, decode_page, printable
from indexer.errors import ExtractionError, NotAnArticle
from indexer.pages.records import Record, pubmed_url

MAX_PAGE_BYTES = 20 * 1024 * 1024
# Extraction budgets per page. Parsing costs about 20 us and 1.2 KB per tag
# (a 15 MB page of 1.1 million tags took 24 s and 1.3 GB), so a page of more
# tags is refused unparsed: at most about 4 s and 250 MB a page. The largest
# demo page has 252 tags; an article nested 100,000 <div>s deep still
# extracts. The time budget catches what the tag count cannot see (demo
# pages take at most 20 ms).
MAX_PAGE_TAGS = 200_000
PAGE_SECONDS = 15.0

_FIELD_LABELS = {
    "keywords": r"key ?words|mesh terms?",
    "published": r"date of publication|publication date|date published|published(?: on)?",
    "authors": r"authors?",
    "organisation": r"organi[sz]ations?|affiliations?",
    "journal": r"journal of publication|journal",
    "pubmed": r"pubmed links?|pubmed url|pubmed|pmid",
}
_NAMED_LABEL = "|".join(f"(?P<{name}>{pattern})" for name, pattern in _FIELD_LABELS.items())
_ANY_LABEL = "|".join(_FIELD_LABELS.values())
# A label opens its line and is followed by a colon, or stands alone (<dt>, <th>).
_LABEL_LINE = re.compile(rf"^(?:{_NAMED_LABEL})\s*(?::\s*(?P<value>.*)|$)", re.IGNORECASE | re.DOTALL)
_LABEL_START = re.compile(rf"^(?:{_ANY_LABEL})\s*(?::|$)", re.IGNORECASE)
# Several fields run together on one line when the markup has no breaks. Only
# unmistakable labels split a line: values say "European spine journal : ...".
_NEXT_LABEL = re.compile(
    r"(?:\s+|(?<=;))(?=(?:keywords|date of publication|authors|organi[sz]ation|journal of publication|pubmed link)\s*:)",
    re.IGNORECASE,
)
_CLUSTER_GAP = 3  # blocks allowed between two labels of one field list

_PMID_IN_URL = re.compile(r"(?:ncbi\.nlm\.nih\.gov/pubmed/|pubmed\.ncbi\.nlm\.nih\.gov/)(\d{1,9})\b")
_BARE_PMID = re.compile(r"^\d{1,9}$")
_YEAR = re.compile(r"(?<!\d)(\d{4})(?!\d)")

# Title hints may carry a site suffix ("Title | Neck facet joint injections").
_SUFFIX_SEPARATOR = re.compile(r"\s+[|–—·»-]\s")
_ELLIPSIS = ("…", "...")
_CRUMB_SEPARATOR = re.compile(r"\s+[>›»/]\s+")
_MIN_HINT_CHARS = 12
_SECTION_NAMES = frozenset("abstract summary article full text research publication details".split())
_SENTENCE_END = re.compile(r"[.!?](?:\s|$)")
_SECTION_HEADING = re.compile(
    r"^(?:\w+ ){0,4}(?:background|objectives?|purpose|aims?|introduction|methods?|design|settings?|patients|"
    r"participants|interventions?|measures|measurements|results|findings|conclusions?|interpretation|"
    r"evidence|data|context|discussion|importance|report|presentation)(?: \w+){0,3}\s*:?$",
    re.IGNORECASE,
)
_SECTION_LEAD = re.compile(r"^[A-Z][A-Z ,&/()-]{2,40}:\s")
_PHONE_ONLY = re.compile(r"^[+()\d\s./-]{7,}$")
_CHROME_PHRASES = re.compile(
    r"\b(?:make an appointment|book an appointment|call now|call us|what our patients say|"
    r"accept (?:all )?cookies|uses cookies|cookie policy|read more|related articles)\b",
    re.IGNORECASE,
)


@dataclass
class _Field:
    name: str
    value: str
    block: int
    hrefs: list[str]


def extract_file(path: str | os.PathLike[str]) -> Record:
    """Read one page from disk and extract its article."""
    try:
        with open(path, "rb") as handle:
            data = handle.read(MAX_PAGE_BYTES + 1)
    except OSError as exc:
        raise ExtractionError(f"cannot read {printable(str(path))}: {exc.strerror or exc}") from exc
    return extract_page(data, source=printable(str(path)))


def extract_page(data: bytes, source: str | None = None) -> Record:
    """Turn page bytes (HTML or a text dump) into one Record.

    Raises NotAnArticle for pages without an article (no labelled fields, no
    title, or no PubMed ID: a record without one has no identity),
    ExtractionError for anything unreadable or over the budgets, and nothing
    else.
    """
    try:
        with time_limit(PAGE_SECONDS, f"page too large or complex to extract within "
                                      f"{PAGE_SECONDS:g} s; not extracted"):
            return _extract(data, source)
    except ExtractionError:
        raise
    except Exception as exc:  # noqa: BLE001 - callers index thousands of pages; one bad page must not stop them
        raise ExtractionError(f"could not parse page: {type(exc).__name__}: {exc}"[:300]) from exc


def _extract(data: bytes, source: str | None) -> Record:
    if isinstance(data, str):
        text = data
    else:
        if len(data) > MAX_PAGE_BYTES:
            raise ExtractionError(f"page too large: over {MAX_PAGE_BYTES // (1024 * 1024)} MB")
        text = decode_page(bytes(data))
    # Start tags and stray "<"s: a cheap upper bound on the elements to parse.
    if text.count("<") - text.count("</") > MAX_PAGE_TAGS:
        raise ExtractionError(f"page too complex: over {MAX_PAGE_TAGS:,} tags; not extracted")
    page = html_page(text, _LABEL_START) if looks_like_html(text) else text_page(text)
    return _read_article(page, source)


def _read_article(page: Page, source: str | None) -> Record:
    blocks = page.blocks
    fields = _field_cluster(blocks)
    if not fields:
        raise NotAnArticle("no labelled article fields (Keywords :, Authors :, Pubmed Link : ...)")
    first_label = min(field.block for field in fields.values())
    title_at = _title_index(blocks, first_label, _title_hints(page))
    if title_at is None:
        raise NotAnArticle("no article title above the labelled fields")
    pmid = _pmid(fields)
    if pmid is None:
        raise NotAnArticle("no PubMed ID or link: a page without one has no identity; not indexed")
    # A title with its PubMed ID is an article even without abstract or
    # keywords: PubMed lists title-only records, and their titles are searched.
    abstract = " ".join(_abstract_paragraphs(blocks[title_at + 1 : first_label])) or None
    keywords = _split_keywords(fields["keywords"].value) if "keywords" in fields else []
    published = _value(fields, "published")
    return Record(
        pmid=pmid,
        title=blocks[title_at].text,
        abstract=abstract,
        keywords=keywords,
        authors=[a for a in map(clean, _value(fields, "authors", "").split(";")) if a],
        journal=_value(fields, "journal"),
        published=published,
        year=_year(published),
        organisation=_value(fields, "organisation"),
        url=pubmed_url(pmid),
        source=source,
    )


def _abstract_paragraphs(blocks: list[Block]) -> list[str]:
    """The abstract's paragraphs among the blocks between title and fields.

    Lines that a <br> split are rejoined first, so a paragraph is judged as a
    whole. Headings there are sub-titles or teasers' titles, not abstract
    text, unless they are a structured abstract's "METHODS"-style labels.
    """
    paragraphs: list[list] = []
    for block in blocks:
        if block.after_br and paragraphs:
            paragraphs[-1][0] += " " + block.text
        else:
            paragraphs.append([block.text, block.kind])
    return [text for text, kind in paragraphs if _is_abstract_text(text, kind)]


def _is_abstract_text(text: str, kind: str) -> bool:
    if _SECTION_HEADING.match(text):
        return True  # "MATERIALS AND METHODS" set apart as a heading or line
    return kind != HEADING and not _is_chrome_line(text)


def _labels(blocks: list[Block]) -> list[_Field]:
    """Every labelled field in the page, in order."""
    found: list[_Field] = []
    for index, block in enumerate(blocks):
        if not _LABEL_START.match(block.text):
            continue
        for piece in _NEXT_LABEL.split(block.text):
            match = _LABEL_LINE.match(piece)
            if not match:
                continue
            name = next(key for key in _FIELD_LABELS if match.group(key))
            value, hrefs = clean(match.group("value") or ""), block.hrefs
            if not value and index + 1 < len(blocks) and not _LABEL_START.match(blocks[index + 1].text):
                value, hrefs = blocks[index + 1].text, hrefs + blocks[index + 1].hrefs
            found.append(_Field(name, value, index, hrefs))
    return found


def _field_cluster(blocks: list[Block]) -> dict[str, _Field]:
    """The field list with the most distinct labels (the first on a tie)."""
    clusters: list[list[_Field]] = []
    for field in _labels(blocks):
        if clusters and field.block - clusters[-1][-1].block <= _CLUSTER_GAP:
            clusters[-1].append(field)
        else:
            clusters.append([field])
    best: dict[str, _Field] = {}
    for cluster in clusters:
        fields: dict[str, _Field] = {}
        for field in cluster:
            fields.setdefault(field.name, field)
        if len(fields) > len(best):
            best = fields
    return best


def _title_hints(page: Page) -> list[tuple[str, bool]]:
    """Titles the page announces (<title>, og:title, breadcrumbs), comparable.

    Each comes with whether it was cut short with an ellipsis.
    """
    hints = list(page.announced_titles)
    for block in page.blocks:
        if " | " in block.text or _CRUMB_SEPARATOR.search(block.text):
            hints.append(_CRUMB_SEPARATOR.split(block.text)[-1])  # "Home » Title | Section"
    return [
        (_comparable(hint), hint.endswith(_ELLIPSIS))
        for hint in hints
        if len(_comparable(hint)) >= _MIN_HINT_CHARS
    ]


def _comparable(text: str) -> str:
    return clean(text).casefold().rstrip(" .…")


def _title_index(blocks: list[Block], first_label: int, hints: list[tuple[str, bool]]) -> int | None:
    """Where the title is: announced, else the nearest heading, else by shape."""
    above = range(first_label - 1, -1, -1)
    for index in above:
        text = _comparable(blocks[index].text)
        if len(text) >= _MIN_HINT_CHARS and any(_agrees(text, *hint) for hint in hints):
            return index
    for index in above:
        block = blocks[index]
        if block.kind == HEADING and _comparable(block.text) not in _SECTION_NAMES and not _is_widget_text(block.text):
            return index
    for index in above:
        text = blocks[index].text
        if not _is_chrome_line(text) and not _is_prose(text):
            return index
    return None


def _agrees(text: str, hint: str, truncated: bool) -> bool:
    """The hint is this title, maybe with a site suffix or cut short with "…"."""
    if hint.startswith(text):
        return len(hint) == len(text) or _SUFFIX_SEPARATOR.match(hint, len(text)) is not None
    return truncated and text.startswith(hint)


def _is_prose(text: str) -> bool:
    """Abstract-like: long, a structured-abstract section, or several sentences."""
    return (
        len(text) >= 300
        or _SECTION_LEAD.match(text) is not None
        or (len(_SENTENCE_END.findall(text)) >= 2 and len(text.split()) >= 12)
    )


def _is_chrome_line(text: str) -> bool:
    """Buttons, phone numbers, widget captions: short and unpunctuated, or known phrases."""
    if len(text.split()) < 6 and not text.endswith((".", "!", "?", ")", "]")):
        return True
    return _is_widget_text(text)


def _is_widget_text(text: str) -> bool:
    """A phone number or a call to action, cookie notice or widget caption."""
    return _PHONE_ONLY.match(text) is not None or (len(text.split()) < 40 and _CHROME_PHRASES.search(text) is not None)


def _value(fields: dict[str, _Field], name: str, default: str | None = None) -> str | None:
    field = fields.get(name)
    return field.value if field and field.value else default


def _split_keywords(value: str) -> list[str]:
    """The keywords of a page, as whole MeSH headings where the fixed lists tell (headings)."""
    return headings.from_page(map(clean, value.split(",")))


def _pmid(fields: dict[str, _Field]) -> str | None:
    """The PMID from the Pubmed Link field: its text, else its link target."""
    field = fields.get("pubmed")
    if field is None:
        return None
    if _BARE_PMID.match(field.value):
        return field.value
    for candidate in (field.value, *field.hrefs):
        match = _PMID_IN_URL.search(candidate)
        if match:
            return match.group(1)
    return None


def _year(published: str | None) -> int | None:
    for match in _YEAR.finditer(published or ""):
        if 1800 <= int(match.group(1)) <= 2100:
            return int(match.group(1))
    return None
