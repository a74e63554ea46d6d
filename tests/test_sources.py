"""PubMed exports in the seeds folder (indexer.sources): read, deduplicated with pages, skipped when bad."""

from __future__ import annotations

import dataclasses
from functools import lru_cache
from pathlib import Path

import pytest

from conftest import ARTICLES, clinic_page
from indexer import open_index
from indexer.whoosh_engine.build import build, pick
from indexer.errors import NotAnArticle
from indexer.pages.extract import extract_file
from indexer.pages.pubmed import read_export
from indexer.pages.records import Record
from indexer.pages.sources import is_export, merge_copies, records_from_bytes, records_from_file
from indexer.whoosh_engine.update import update
from test_pubmed import medline_ascii

REPO = Path(__file__).resolve().parent.parent
CORPUS = REPO.parent / "shared" / "data" / "pubmed-spine-ortho"
PAGES = REPO / "seeds" / "pages"
needs_corpus = pytest.mark.skipif(
    not CORPUS.is_dir(), reason=f"real PubMed exports not present at {CORPUS}")

# The page 30000002 of the literal corpus, as PubMed exports it: MeSH whole,
# a longer author list and a structured abstract; no affiliation.
EXPORT_XML = b"""<?xml version="1.0" encoding="utf-8"?>
<!DOCTYPE PubmedArticleSet PUBLIC "-//NLM//DTD PubMedArticle, 1st January 2019//EN"
 "https://dtd.nlm.nih.gov/ncbi/pubmed/out/pubmed_190101.dtd">
<PubmedArticleSet>
<PubmedArticle><MedlineCitation><PMID>30000002</PMID><Article>
  <Journal><JournalIssue><PubDate><Year>2008</Year></PubDate></JournalIssue>
    <Title>Eur Spine J</Title></Journal>
  <ArticleTitle>Spinal tuberculosis treated with anterior debridement</ArticleTitle>
  <Abstract><AbstractText Label="BACKGROUND">Spinal tuberculosis (Pott disease) destroys
    vertebral bodies.</AbstractText><AbstractText Label="METHODS">We treated 40 patients with
    anterior debridement and fusion at the L4-L5 level; 38 healed.</AbstractText></Abstract>
  <AuthorList><Author><LastName>M\xc3\xbcller</LastName><Initials>K</Initials></Author>
    <Author><LastName>\xc3\x96zt\xc3\xbcrk</LastName><Initials>S</Initials></Author>
    <Author><LastName>Lee</LastName><Initials>D</Initials></Author></AuthorList>
</Article>
<MeshHeadingList><MeshHeading><DescriptorName>Tuberculosis, Spinal</DescriptorName>
  <QualifierName>surgery</QualifierName></MeshHeading>
  <MeshHeading><DescriptorName>Spinal Fusion</DescriptorName></MeshHeading>
  <MeshHeading><DescriptorName>Humans</DescriptorName></MeshHeading></MeshHeadingList>
</MedlineCitation></PubmedArticle>
<PubmedArticle><MedlineCitation><PMID>30000099</PMID><Article>
  <Journal><JournalIssue><PubDate><Year>2012</Year><Month>Mar</Month></PubDate></JournalIssue>
    <Title>Spine</Title></Journal>
  <ArticleTitle>Brucellar spondylitis mimicking spinal tuberculosis.</ArticleTitle>
  <AuthorList><Author><LastName>Novak</LastName><Initials>P</Initials>
    <AffiliationInfo><Affiliation>Spine Unit, Ljubljana.</Affiliation></AffiliationInfo>
  </Author></AuthorList>
</Article>
<MeshHeadingList><MeshHeading><DescriptorName>Brucellosis</DescriptorName></MeshHeading>
  <MeshHeading><DescriptorName>Tuberculosis, Spinal</DescriptorName></MeshHeading>
</MeshHeadingList>
</MedlineCitation></PubmedArticle>
</PubmedArticleSet>
"""

EXPORT_MEDLINE = """PMID- 30000098
DP  - 2016 Feb
TI  - Psoas abscess in spinal tuberculosis.
AB  - Psoas abscess drained under CT guidance in 12 patients.
AU  - Rossi M
JT  - Spine
MH  - Psoas Abscess/*surgery
MH  - Tuberculosis, Spinal
"""


def write_seeds(folder: Path, articles=ARTICLES) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    for article in articles:
        (folder / f"{article[0]}.html").write_text(clinic_page(*article), encoding="utf-8")
    return folder


def test_files_are_told_apart_by_their_first_bytes():
    assert is_export(EXPORT_XML) and is_export(EXPORT_MEDLINE.encode())
    assert is_export(b"\xef\xbb\xbf\n<?xml version='1.0'?>\n<!-- saved -->\n<PubmedArticleSet/>")
    assert not is_export(clinic_page(*ARTICLES[0]).encode())
    assert not is_export(b"<html><p>&lt;PubmedArticleSet&gt; explained</p></html>")
    assert not is_export(b"<?xml version='1.0'?><rss><PubmedArticleSet/></rss>")


def test_one_file_gives_one_record_or_many(tmp_path):
    page = tmp_path / "page.html"
    page.write_text(clinic_page(*ARTICLES[0]), encoding="utf-8")
    assert [r.pmid for r in records_from_file(page)] == ["21349964"]
    export = tmp_path / "export.xml"
    export.write_bytes(EXPORT_XML)
    records = records_from_file(export)
    assert [r.pmid for r in records] == ["30000002", "30000099"]
    assert records[0].keywords == ["Tuberculosis, Spinal/surgery", "Spinal Fusion", "Humans"]
    assert all(r.source == str(export) for r in records)
    assert [r.pmid for r in records_from_bytes(EXPORT_MEDLINE.encode(), "x.nbib")] == ["30000098"]


@pytest.mark.parametrize("data, reason", [
    (EXPORT_XML[:900], "malformed PubMed XML"),
    (b"<?xml version='1.0'?><PubmedArticleSet></PubmedArticleSet>", "holds no articles"),
    (b"PMID- 1\nTI  - A title\nthis line is not MEDLINE\n", "not a MEDLINE tag line"),
    (b"<?xml version='1.0'?><PubmedArticleSet><PubmedArticle/></PubmedArticleSet>",
     "without PMID"),
])
def test_a_malformed_export_is_skipped_with_its_reason(tmp_path, data, reason):
    seeds = write_seeds(tmp_path / "seeds", ARTICLES[:2])
    (seeds / "broken.xml").write_bytes(data)
    report = build(seeds, tmp_path / "index")
    assert report.indexed == 2
    [(source, why)] = report.skipped
    assert source == str(seeds / "broken.xml") and reason in why


# --- exports and pages together ---------------------------------------------------

def test_build_dedupes_an_export_and_a_page_by_pmid_keeping_the_richer_fields(tmp_path):
    seeds = write_seeds(tmp_path / "seeds")
    (seeds / "exports").mkdir()
    (seeds / "exports" / "pubmed_result.xml").write_bytes(EXPORT_XML)
    (seeds / "exports" / "citations.nbib").write_text(EXPORT_MEDLINE, encoding="utf-8")
    report = build(seeds, tmp_path / "index")
    assert (report.pages, report.indexed, report.duplicates, report.skipped) == (8, 8, 1, [])
    index = open_index(tmp_path / "index")
    try:
        record = index.article("30000002")
        # From the export: MeSH whole, the full author list, the structured abstract.
        assert record.keywords == ["Tuberculosis, Spinal/surgery", "Spinal Fusion", "Humans"]
        assert record.authors == ["Müller K", "Öztürk S", "Lee D"]
        assert record.abstract.startswith("BACKGROUND: Spinal tuberculosis")
        # From the page: the organisation the export lacks.
        assert record.organisation == "Department of Spine Surgery, Example Hospital"
        found = index.search("", mesh="Tuberculosis, Spinal", per_page=10)
        assert sorted(h.pmid for h in found.hits) == ["30000002", "30000098", "30000099"]
        assert index.search("pmid:30000099").hits[0].title.startswith("Brucellar spondylitis")
    finally:
        index.close()


def test_update_reads_added_changed_and_removed_exports_as_build_does(tmp_path):
    seeds = write_seeds(tmp_path / "seeds")
    root = tmp_path / "index"
    build(seeds, root)
    export = seeds / "pubmed_result.xml"

    def state(folder: Path) -> dict:
        index = open_index(folder)
        try:
            return {h.pmid: (h.keywords, h.authors) for h in index.search("", per_page=50).hits}
        finally:
            index.close()

    export.write_bytes(EXPORT_XML)
    report = update(seeds, root)
    assert (report.added, report.indexed, report.duplicates) == (1, 7, 1)
    assert state(root) == state(build_copy(seeds, tmp_path / "built-1"))
    assert state(root)["30000002"][0][0] == "Tuberculosis, Spinal/surgery"

    export.write_bytes(EXPORT_XML.replace(b"<PMID>30000099</PMID>", b"<PMID>30000097</PMID>"))
    report = update(seeds, root)
    assert (report.changed, report.indexed) == (1, 7)
    assert "30000099" not in state(root) and "30000097" in state(root)
    assert state(root) == state(build_copy(seeds, tmp_path / "built-2"))

    export.unlink()
    report = update(seeds, root)
    assert (report.removed, report.indexed) == (1, 6)
    assert state(root) == state(build_copy(seeds, tmp_path / "built-3"))
    assert state(root)["30000002"][1] == ["Müller K", "Öztürk S"]  # the page's again


def build_copy(seeds: Path, root: Path) -> Path:
    build(seeds, root)
    return root


def test_merge_prefers_whole_mesh_only_for_the_same_words():
    page = Record(pmid="1", title="T", abstract="A" * 50, keywords=["Tuberculosis", "Spinal", "x"],
                  authors=["A B"], organisation="Org")
    export = dataclasses.replace(page, abstract="A" * 40, keywords=["Tuberculosis, Spinal", "X"],
                                 authors=["A B", "C D"], organisation=None, journal="J")
    merged = pick([page, export])
    assert merged.abstract == page.abstract and merged.organisation == "Org"
    assert merged.keywords == ["Tuberculosis, Spinal", "X"]
    assert merged.authors == ["A B", "C D"] and merged.journal == "J"
    other = dataclasses.replace(export, keywords=["Spondylitis"])
    assert pick([page, other]).keywords == page.keywords  # different words: the richest copy's
    assert merge_copies(page, [page]) is page


# --- the real exports against the demo pages ------------------------------------------------

@lru_cache(maxsize=None)
def demo_page(pmid: str) -> Record | None:
    """The demo page's record; None when the page is not indexed (not an article)."""
    try:
        return extract_file(PAGES / f"{pmid}.html")
    except NotAnArticle:
        return None


def comparable(record: Record) -> dict:
    """The fields a page shows as the export has them (the site drops a title's closing period)."""
    return {"pmid": record.pmid, "title": record.title.removesuffix("."),
            "abstract": record.abstract, "authors": record.authors,
            "journal": record.journal, "year": record.year}


@needs_corpus
@pytest.mark.parametrize("name", sorted(p.relative_to(CORPUS).as_posix()
                                        for p in CORPUS.glob("*/*") if p.is_file())
                         if CORPUS.is_dir() else ["absent"])
def test_real_exports_give_the_demo_pages_fields_with_mesh_whole(name):
    path = CORPUS / name
    records = records_from_file(path)
    entries = read_export(path.read_bytes(), str(path))
    assert records and records == [e.record for e in entries]
    for record, entry in zip(records, entries):
        assert (PAGES / f"{record.pmid}.html").exists(), record.pmid
        page = demo_page(record.pmid)
        if page is None:  # the export has nothing to index either
            assert not record.abstract and not record.keywords, record.pmid
            continue
        got, shown = comparable(record), comparable(page)
        if got != shown:  # MEDLINE text is ASCII where the XML the page came from is not
            assert name.startswith("medline/"), (record.pmid, got, shown)
            assert medline_ascii(got) == medline_ascii(shown), record.pmid
        descriptors = [d for d, _ in entry.mesh]
        assert record.keywords[:len(descriptors)] == descriptors  # each descriptor one keyword


@needs_corpus
def test_real_mesh_descriptors_with_commas_stay_whole():
    path = CORPUS / "xml" / "qs-global-ortho_spinal-tuberculosis_pubmed_result.xml"
    keywords = [k for r in records_from_file(path) for k in r.keywords]
    assert keywords.count("Tuberculosis, Spinal") == 36
    assert "Spinal" not in keywords
