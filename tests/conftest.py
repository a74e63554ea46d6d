"""Shared fixtures: a tiny literal corpus of clinic pages, built into an index in tmp_path."""

from __future__ import annotations

import atexit
import html
import os
import shutil
import tempfile
from pathlib import Path

import pytest

# Every build embeds its records for the semantic rerank: one vector cache
# for the whole session (subprocesses inherit it), so that the demo pages,
# built by several test files, are run through the model once.
if "MEDSEARCH_VECTOR_CACHE" not in os.environ:
    os.environ["MEDSEARCH_VECTOR_CACHE"] = tempfile.mkdtemp(prefix="medsearch-vectors-")
    atexit.register(shutil.rmtree, os.environ["MEDSEARCH_VECTOR_CACHE"], True)

# One real 2-node SolrCloud per test session, shared by every file that asks for it.
from solr_fixtures import solr_cluster  # noqa: F401 (a fixture)

REPO = Path(__file__).resolve().parent.parent
SHARED = Path(__import__("os").environ.get("MEDSEARCH_SHARED", REPO.parent / "shared"))

# (pmid, title, abstract, keywords, authors, journal, published)
ARTICLES = [
    ("21349964",
     "CT-guided epidural blood patching of directly observed or potential leak sites",
     "BACKGROUND: Spontaneous intracranial hypotension (SIH) causes orthostatic headache. "
     "METHODS: Eight patients had CT-guided epidural blood patching of leak sites. "
     "RESULTS: Headache improved in all patients. CONCLUSIONS: Blood patching works.",
     "Blood Patch,Epidural,Headache,Humans,Intracranial Hypotension,therapy",
     "Kranz PG;Gray L;Taylor JN;", "AJNR Am J Neuroradiol", "2011 May"),
    ("30000001",
     "Cement leakage after percutaneous vertebroplasty for osteoporotic fractures",
     "Percutaneous vertebroplasty (PVP) relieves pain from osteoporotic vertebral compression "
     "fractures, but cement leakage into the spinal canal is a known complication.",
     "Vertebroplasty,adverse effects,Bone Cements,Spinal Fractures,Osteoporotic Fractures",
     "Smith AB;Jones C;", "Spine", "2015 Jan"),
    ("30000002",
     "Spinal tuberculosis treated with anterior debridement",
     "Spinal tuberculosis (Pott disease) destroys vertebral bodies. We treated 40 patients "
     "with anterior debridement and fusion at the L4-L5 level; 38 healed.",
     "Tuberculosis, Spinal,surgery,Spinal Fusion,Humans",
     "Müller K;Öztürk S;", "Eur Spine J", "2008"),
    ("30000003",
     "Kyphoplasty versus vertebroplasty: a randomized trial",
     "Balloon kyphoplasty (PKP) and vertebroplasty were compared in 120 patients. "
     "Kyphoplasty restored more vertebral height; cement leakage was rarer.",
     "Kyphoplasty,Vertebroplasty,Randomized Controlled Trial",
     "Smith AB;Lee D;", "Spine", "2019 Mar 4"),
    ("30000004",
     "Lumbar disc herniation in young athletes",
     "Intervertebral disc displacement at L5-S1 was seen on T2-weighted MRI in athletes with "
     "low back pain. Running did not worsen symptoms. <script>alert('x')</script> "
     "\"><img src=x onerror=alert(1)>",
     "Intervertebral Disc Displacement,Low Back Pain,Magnetic Resonance Imaging,Athletes",
     "Garcia M;", "Br J Sports Med", "2020 Jun"),
    ("30000005",
     "Spine surgery during the COVID-19 pandemic",
     None,
     "COVID-19,Pandemics,Spine,surgery",
     "Chen W;Kranz PG;", "Global Spine J", "2021 Feb"),
]


def clinic_page(pmid, title, abstract, keywords, authors, journal, published) -> str:
    """A clinic page in the site's layout, with chrome around the article."""
    e = html.escape
    abstract_html = f"<p>{e(abstract)}</p>" if abstract else ""
    return f"""<!DOCTYPE html>
<html><head><meta charset="utf-8"><title>{e(title)} | Neck facet joint injections</title>
<script>var phone = "+44 844 589 2020";</script></head>
<body>
<header><p>19 Harley St, London, W1G 9QJ, UK</p>
<nav><a href="/">Home</a> <a href="/treatments">Treatments</a></nav>
<a class="btn" href="/book">Make an Appointment</a></header>
<main>
<h1>{e(title)}</h1>
{abstract_html}
<p><strong>Keywords :</strong> {e(keywords)}</p>
<p><strong>Date of Publication :</strong> {e(published)}</p>
<p><strong>Authors :</strong> {e(authors)}</p>
<p><strong>Organisation :</strong> Department of Spine Surgery, Example Hospital</p>
<p><strong>Journal of Publication :</strong> {e(journal)}</p>
<p><strong>Pubmed Link :</strong> <a href="https://www.ncbi.nlm.nih.gov/pubmed/{pmid}">https://www.ncbi.nlm.nih.gov/pubmed/{pmid}</a></p>
</main>
<aside><h3>What our patients say ...</h3><p>Trustpilot Reviews: wonderful laser treatment</p></aside>
<footer>Call Now +44 203 973 8810</footer>
</body></html>
"""


@pytest.fixture(scope="session")
def corpus_dir(tmp_path_factory) -> Path:
    """A seeds folder holding the literal corpus, one page per article."""
    folder = tmp_path_factory.mktemp("seeds")
    for article in ARTICLES:
        (folder / f"{article[0]}.html").write_text(clinic_page(*article), encoding="utf-8")
    return folder


@pytest.fixture(scope="session")
def index_dir(corpus_dir, tmp_path_factory) -> Path:
    """The literal corpus built into an index (built once: tests only read it)."""
    from indexer.whoosh_engine.build import build

    root = tmp_path_factory.mktemp("index")
    build(corpus_dir, root)
    return root


@pytest.fixture(scope="session")
def idx(index_dir):
    from indexer import open_index

    index = open_index(index_dir)
    yield index
    index.close()


@pytest.fixture
def forgetting(monkeypatch):
    """This process's searches forgotten, as bench.searching.forget_queries
    forgets them (a test may call it again), and remembered again after the
    test: monkeypatch puts back what it changed."""
    from bench.searching import forget_queries

    forget_queries(monkeypatch.setattr)
