"""Synthetic clinic-page corpora for the benchmark, generated on the fly.

Records are recombined from the real ones: titles, abstract sentences, MeSH
headings, authors, journals, organisations and dates of the PubMed exports in
<data>/pubmed-spine-ortho, plus titles and sentences of the MED collection
(<data>/med-medline/MED.ALL). Each record is rendered as a clinic page by
tools/render_demo_pages.py's own layouts and chrome, so the build reads the
same kind of page as the demo corpus. A fixed seed makes a corpus byte-identical
from run to run; it is written under bench/work/ (git-ignored), never committed.
"""

from __future__ import annotations

import hashlib
import importlib.util
import random
import re
import sys
from dataclasses import replace
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
SEED = "medsearch-bench-corpus-v1"
PAGES_PER_FOLDER = 1000
FIRST_PMID = 50_000_000


def _renderer():
    """tools/render_demo_pages.py as a module (the demo pages' layouts and chrome)."""
    spec = importlib.util.spec_from_file_location(
        "render_demo_pages", REPO / "tools" / "render_demo_pages.py")
    module = importlib.util.module_from_spec(spec)
    sys.modules.setdefault("render_demo_pages", module)
    spec.loader.exec_module(module)
    return module


_SENTENCE = re.compile(r"(?<=[.?!]) (?=[A-Z(])")


def _med_documents(path: Path) -> list[tuple[str, list[str]]]:
    """(title, sentences) of each MED abstract, re-capitalised."""
    text = path.read_text(encoding="latin-1")
    docs = []
    for body in re.findall(r"<body>(.*?)</body>", text, re.DOTALL):
        parts = [" ".join(p.split()) for p in re.split(r"\s\.(?:\s|$)", body)]
        parts = [p.rstrip(" .") for p in parts if len(p.split()) >= 4]
        if len(parts) < 2:
            continue
        title, sentences = parts[0], parts[1:]
        docs.append((title[0].upper() + title[1:],
                     [s[0].upper() + s[1:] + "." for s in sentences]))
    return docs


class Vocabulary:
    """The pools synthetic records draw from (with their real frequencies)."""

    def __init__(self, data: Path):
        self.render = _renderer()
        entries = self.render.load_entries(data / "pubmed-spine-ortho")
        self.entries = entries
        self.with_abstract = [e for e in entries if e.record.abstract]
        self.titles = [e.record.title.rstrip(".") for e in entries]
        self.sentences = [s for e in self.with_abstract for s in _SENTENCE.split(e.record.abstract)]
        self.headings = [h for e in entries for h in e.mesh]  # repeated: real frequencies
        self.headings_per_record = [len(e.mesh) for e in entries if e.mesh]
        self.author_keywords = [k for e in entries for k in e.record.keywords
                                if k.casefold() not in {w.casefold() for d, qs in e.mesh
                                                        for w in [d, *qs]}]
        self.authors = [a for e in entries for a in e.record.authors]
        self.journals = [e.record.journal for e in entries if e.record.journal]
        self.organisations = [e.record.organisation for e in entries if e.record.organisation]
        self.years = [e.record.year for e in entries if e.record.year]
        med = _med_documents(data / "med-medline" / "MED.ALL")
        self.med_titles = [t for t, _ in med]
        self.med_sentences = [s for _, ss in med for s in ss]


MONTHS = ("Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec")
_TITLE_JOINS = re.compile(r" (?=(?:in|of|for|after|with|versus|and|using|by) )")


def _title(rng: random.Random, v: Vocabulary) -> str:
    roll = rng.random()
    if roll < 0.3:
        return rng.choice(v.titles)
    if roll < 0.55:
        return rng.choice(v.med_titles)
    # The head of one real title joined to the tail of another.
    a, b = _TITLE_JOINS.split(rng.choice(v.titles)), _TITLE_JOINS.split(rng.choice(v.titles))
    return " ".join(a[: max(1, len(a) - 1)] + b[1:] if len(b) > 1 else a + b[-1:])


def synthetic_entry(number: int, rng: random.Random, v: Vocabulary):
    """One recombined PubmedEntry; about 200-word abstracts, 9% without one."""
    pmid = str(FIRST_PMID + number)
    abstract = None
    if rng.random() >= 0.09:
        count = rng.randint(6, 12)
        med_share = rng.random() * 0.6
        abstract = " ".join(rng.choice(v.med_sentences) if rng.random() < med_share
                            else rng.choice(v.sentences) for _ in range(count))
    mesh, seen = [], set()
    for descriptor, qualifiers in rng.sample(v.headings, rng.choice(v.headings_per_record)):
        if descriptor not in seen:
            seen.add(descriptor)
            mesh.append((descriptor, list(qualifiers)))
    keywords = [d for d, _ in mesh] + [q for _, qs in mesh for q in qs]
    if rng.random() < 0.2:
        keywords += rng.sample(v.author_keywords, rng.randint(1, 4))
    keywords = list(dict.fromkeys(keywords))
    year = min(2024, max(1965, rng.choice(v.years) + rng.randint(-3, 3)))
    published = f"{year} {rng.choice(MONTHS)}" if rng.random() < 0.8 else str(year)
    base = rng.choice(v.entries).record
    record = replace(
        base, pmid=pmid, title=_title(rng, v), abstract=abstract, keywords=keywords,
        authors=list(dict.fromkeys(rng.sample(v.authors, rng.randint(1, 8)))),
        journal=rng.choice(v.journals), published=published, year=year,
        organisation=rng.choice(v.organisations) if rng.random() < 0.9 else None,
        url=f"https://www.ncbi.nlm.nih.gov/pubmed/{pmid}", source=None,
    )
    return v.render.PubmedEntry(record, mesh)


def generate(size: int, out: Path, data: Path, log=print) -> Path:
    """Write `size` pages under out/pages (reused when already complete)."""
    stamp = out / ".complete"
    version = hashlib.sha256(f"{SEED}:{size}:{Path(__file__).read_bytes()!r}".encode()).hexdigest()
    if stamp.exists() and stamp.read_text() == version:
        return out
    if out.exists():
        import shutil
        shutil.rmtree(out)
    v = Vocabulary(data)
    layouts = v.render.LAYOUTS
    pages = out / "pages"
    for number in range(size):
        rng = random.Random(f"{SEED}:{number}")
        entry = synthetic_entry(number, rng, v)
        related = rng.sample(v.with_abstract, rng.randint(3, 5))
        folder = pages / f"{number // PAGES_PER_FOLDER:04d}"
        if number % PAGES_PER_FOLDER == 0:
            folder.mkdir(parents=True, exist_ok=True)
        page = v.render.render_page(entry, layouts[number % len(layouts)], related, rng)
        (folder / f"{entry.record.pmid}.html").write_bytes(page)
        if number and number % 20000 == 0:
            log(f"  generated {number}/{size} pages")
    stamp.write_text(version)
    return out
