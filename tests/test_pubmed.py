"""PubMed export parsers (indexer.pubmed) and the demo-page renderer (tools/render_demo_pages.py)."""

from __future__ import annotations

import dataclasses
import importlib.util
import json
import re
import unicodedata
from pathlib import Path

import lxml.html
import pytest

from indexer.errors import ExtractionError
from indexer.pages.pubmed import (ExportFormatError, parse_export, parse_medline,
                            parse_pubmed_xml, read_export)
from indexer.pages.records import pubmed_url

REPO = Path(__file__).resolve().parent.parent
DATA = REPO.parent / "shared" / "data"
CORPUS = DATA / "pubmed-spine-ortho"
SEEDS = REPO / "seeds"
needs_corpus = pytest.mark.skipif(
    not CORPUS.is_dir(), reason=f"real PubMed exports not present at {CORPUS}")

XML_ARTICLE = b"""<?xml version="1.0"?>
<!DOCTYPE PubmedArticleSet PUBLIC "-//NLM//DTD PubMedArticle, 1st January 2019//EN"
 "https://dtd.nlm.nih.gov/ncbi/pubmed/out/pubmed_190101.dtd">
<PubmedArticleSet><PubmedArticle><MedlineCitation Status="MEDLINE" Owner="NLM">
  <PMID Version="1">29095408</PMID>
  <Article PubModel="Print">
    <Journal><JournalIssue><PubDate><Year>2018</Year><Month>Nov</Month><Day>05</Day></PubDate>
      </JournalIssue><Title>Spine</Title></Journal>
    <ArticleTitle>Spinal   tuberculosis in <i>Mycobacterium</i> infection.</ArticleTitle>
    <Abstract>
      <AbstractText Label="BACKGROUND" NlmCategory="BACKGROUND">Infection by
        <i>M. tuberculosis</i> at 10<sup>3</sup> CFU.</AbstractText>
      <AbstractText Label="RESULTS" NlmCategory="RESULTS">Healed.</AbstractText>
    </Abstract>
    <AuthorList>
      <Author ValidYN="Y"><LastName>Mart\xc3\xadn-Buitrago</LastName><ForeName>Maria P</ForeName>
        <Initials>MP</Initials>
        <AffiliationInfo><Affiliation>Hospital La Paz, Madrid.</Affiliation></AffiliationInfo>
        <AffiliationInfo><Affiliation>Second affiliation.</Affiliation></AffiliationInfo></Author>
      <Author ValidYN="N"><LastName>Misspelt</LastName><Initials>X</Initials></Author>
      <Author ValidYN="Y"><LastName>Pizones</LastName><Initials>J</Initials></Author>
      <Author ValidYN="Y"><CollectiveName>European Spine Study Group</CollectiveName></Author>
    </AuthorList>
  </Article>
  <MeshHeadingList>
    <MeshHeading><DescriptorName MajorTopicYN="Y">Tuberculosis, Spinal</DescriptorName>
      <QualifierName MajorTopicYN="N">diagnosis</QualifierName>
      <QualifierName MajorTopicYN="Y">surgery</QualifierName></MeshHeading>
    <MeshHeading><DescriptorName MajorTopicYN="N">Humans</DescriptorName></MeshHeading>
    <MeshHeading><DescriptorName MajorTopicYN="N">Abscess</DescriptorName>
      <QualifierName MajorTopicYN="N">Surgery</QualifierName></MeshHeading>
  </MeshHeadingList>
  <KeywordList Owner="NOTNLM"><Keyword MajorTopicYN="Y">Pott disease</Keyword>
    <Keyword MajorTopicYN="N">humans</Keyword></KeywordList>
</MedlineCitation></PubmedArticle></PubmedArticleSet>
"""

MEDLINE_ARTICLE = """PMID- 29095408
OWN - NLM
DP  - 2018 Nov 5
TI  - Spinal tuberculosis in Mycobacterium
      infection.
AB  - BACKGROUND: Infection by M. tuberculosis at 10(3) CFU. RESULTS: Healed.
FAU - Martin-Buitrago, Maria P
AU  - Martin-Buitrago MP
AD  - Hospital La Paz,
      Madrid.
AD  - Second affiliation.
FAU - Pizones, J
AU  - Pizones J
AD  - Not the first author's.
CN  - European Spine Study Group
JT  - Spine
MH  - *Tuberculosis, Spinal/diagnosis/*surgery
MH  - Humans
MH  - Abscess/surgery
OT  - *Pott disease
OT  - humans

PMID- 11111111
TI  - A letter without abstract.
DP  - 1994 Spring
"""


def article_xml(inner: bytes) -> bytes:
    """A one-article PubmedArticleSet around `inner` (the Article's children)."""
    return (b"<PubmedArticleSet><PubmedArticle><MedlineCitation><PMID>1</PMID><Article>"
            + inner + b"</Article></MedlineCitation></PubmedArticle></PubmedArticleSet>")


# --- literal XML -------------------------------------------------------------

def test_xml_maps_every_field():
    [record] = parse_pubmed_xml(XML_ARTICLE, source="x.xml")
    assert record.pmid == "29095408"
    assert record.title == "Spinal tuberculosis in Mycobacterium infection."
    assert record.abstract == ("BACKGROUND: Infection by M. tuberculosis at 103 CFU. "
                               "RESULTS: Healed.")
    assert record.authors == ["Martín-Buitrago MP", "Pizones J", "European Spine Study Group"]
    assert record.organisation == "Hospital La Paz, Madrid."
    assert record.journal == "Spine"
    assert (record.published, record.year) == ("2018 Nov 5", 2018)
    assert record.url == "https://www.ncbi.nlm.nih.gov/pubmed/29095408"
    assert record.source == "x.xml"


def test_xml_keywords_are_whole_headings_with_their_qualifiers_then_author_keywords():
    [record] = parse_pubmed_xml(XML_ARTICLE)
    # Qualifiers follow their descriptor, lower case as PubMed writes them;
    # author keyword "humans" repeats a heading, case aside.
    assert record.keywords == ["Tuberculosis, Spinal/diagnosis/surgery", "Humans",
                               "Abscess/surgery", "Pott disease"]


def test_xml_medline_date_and_missing_abstract():
    data = article_xml(b"<Journal><JournalIssue><PubDate><MedlineDate>2014 May-Jun</MedlineDate>"
                       b"</PubDate></JournalIssue></Journal><ArticleTitle>Letter.</ArticleTitle>")
    [record] = parse_pubmed_xml(data)
    assert (record.published, record.year) == ("2014 May-Jun", 2014)
    assert record.abstract is None
    assert (record.authors, record.keywords, record.organisation) == ([], [], None)


def test_xml_numeric_month_becomes_pubmed_abbreviation():
    data = article_xml(b"<Journal><JournalIssue><PubDate><Year>2001</Year><Month>06</Month>"
                       b"</PubDate></JournalIssue></Journal><ArticleTitle>T</ArticleTitle>")
    assert parse_pubmed_xml(data)[0].published == "2001 Jun"


@pytest.mark.parametrize("entity", ['"EXPANDED"', 'SYSTEM "{uri}"'])
def test_xml_expands_no_entities(tmp_path, entity):
    # Neither internal (entity bombs) nor external (file/network reads) entities expand.
    secret = tmp_path / "secret.txt"
    secret.write_text("TOP-SECRET")
    declaration = f'<!DOCTYPE PubmedArticleSet [<!ENTITY x {entity.format(uri=secret.as_uri())}>]>'
    data = declaration.encode() + article_xml(b"<ArticleTitle>Hello &x; world</ArticleTitle>")
    assert parse_pubmed_xml(data)[0].title == "Hello &x; world"


@pytest.mark.parametrize("data", [b"<PubmedArticleSet><PubmedArticle>", b"<html></html>",
                                  article_xml(b"").replace(b"<PMID>1</PMID>", b"")])
def test_malformed_xml_raises_extraction_error(data):
    with pytest.raises(ExportFormatError):
        parse_pubmed_xml(data)
    assert issubclass(ExportFormatError, ExtractionError)


# --- literal MEDLINE ---------------------------------------------------------

def test_medline_parses_records_and_continuation_lines():
    first, second = parse_medline(MEDLINE_ARTICLE, source="m.nbib")
    assert first.title == "Spinal tuberculosis in Mycobacterium infection."
    assert first.organisation == "Hospital La Paz, Madrid."
    assert first.authors == ["Martin-Buitrago MP", "Pizones J", "European Spine Study Group"]
    assert first.keywords == ["Tuberculosis, Spinal/diagnosis/surgery", "Humans",
                              "Abscess/surgery", "Pott disease"]
    assert (second.pmid, second.abstract, second.published, second.year) == (
        "11111111", None, "1994 Spring", 1994)


def test_medline_and_xml_agree_on_the_same_article():
    xml_record = parse_pubmed_xml(XML_ARTICLE)[0]
    medline_record = parse_medline(MEDLINE_ARTICLE)[0]
    # MEDLINE text is ASCII and writes <sup>3</sup> as (3); align just those two spots.
    xml_record.authors[0] = "Martin-Buitrago MP"
    xml_record.abstract = xml_record.abstract.replace("103", "10(3)")
    assert dataclasses.replace(medline_record, source=None) == xml_record


def test_medline_tolerates_crlf_and_rejects_garbage():
    assert [r.pmid for r in parse_medline(MEDLINE_ARTICLE.replace("\n", "\r\n"))] == [
        "29095408", "11111111"]
    with pytest.raises(ExportFormatError):
        parse_medline("PMID- 1\nthis is not a tag line\n")
    with pytest.raises(ExportFormatError):
        parse_medline("TI  - A record without a PMID\n")


def test_parse_export_sniffs_the_format():
    assert parse_export(XML_ARTICLE)[0].pmid == "29095408"
    assert len(parse_export(b"\n" + MEDLINE_ARTICLE.encode())) == 2
    with pytest.raises(ExportFormatError):
        parse_export(b"%PDF-1.4 not an export")


# --- the real exports --------------------------------------------------------

def load(folder: str) -> dict[str, list]:
    """File name -> its entries, for one folder of the real corpus."""
    return {p.name: read_export(p.read_bytes(), p.name)
            for p in sorted((CORPUS / folder).iterdir())}


# PubMed writes MEDLINE text in ASCII; these are the transliterations met in the corpus.
MEDLINE_ASCII = {"±": "+/-", "≤": "</=", "≥": ">/=", "→": "-->", "α": "alpha", "β": "beta",
                 "®": "(R)", "ß": "ss", "ł": "l", "ø": "o", "Ø": "O", "ı": "i", "’": "'",
                 "°": " degrees ", "χ": "chi", "²": "(2)"}


def medline_ascii(value) -> str:
    """`value` as PubMed's MEDLINE export would spell it: ASCII, accents dropped."""
    text = json.dumps(value, ensure_ascii=False)
    for char, ascii_text in MEDLINE_ASCII.items():
        text = text.replace(char, ascii_text)
    text = unicodedata.normalize("NFKD", text)
    return " ".join("".join(c for c in text if not unicodedata.combining(c)).split())


@needs_corpus
def test_real_xml_counts_match_source_md():
    # (records, abstract, MeSH, authors, affiliation) from SOURCE.md's table, except that
    # SOURCE counts any author's affiliation and Record.organisation is the first author's:
    # 25379755 and 24225333 (in the first XML file and citations.nbib) and 25566553 (pvz)
    # give one only to a later author.
    expected = {"qs-global-ortho_spinal-tuberculosis_pubmed_result.xml": (292, 269, 287, 291, 264),
                "xs-stmz_pubmed_result_pvz.xml": (211, 203, 211, 210, 201),
                "xs-stmz_vertebroplasty_pubmed_result.xml": (80, 61, 70, 78, 73),
                "citations.nbib": (200, 186, 195, 200, 189),
                "citations_1.nbib": (92, 83, 92, 91, 75)}
    files = {**load("xml"), **load("medline")}
    for name, counts in expected.items():
        entries = files[name]
        assert (len(entries), sum(e.record.abstract is not None for e in entries),
                sum(bool(e.mesh) for e in entries), sum(bool(e.record.authors) for e in entries),
                sum(e.record.organisation is not None for e in entries)) == counts, name
    xml_records = [e.record for name in load("xml").values() for e in name]
    assert len(xml_records) == len({r.pmid for r in xml_records}) == 583
    assert sum(r.abstract is not None for r in xml_records) == 533


@needs_corpus
def test_real_exports_hold_641_unique_pmids():
    xml_pmids = {e.record.pmid for entries in load("xml").values() for e in entries}
    medline_pmids = {e.record.pmid for entries in load("medline").values() for e in entries}
    assert len(medline_pmids - xml_pmids) == 58
    assert len(xml_pmids | medline_pmids) == 641


@needs_corpus
def test_real_xml_and_medline_agree_on_shared_pmids():
    xml = {e.record.pmid: e.record for entries in load("xml").values() for e in entries}
    medline = [e.record for entries in load("medline").values() for e in entries]
    shared = [r for r in medline if r.pmid in xml]
    assert len({r.pmid for r in shared}) == 292
    exact = 0
    for record in shared:
        from_xml = xml[record.pmid].to_dict() | {"source": None}
        from_medline = record.to_dict() | {"source": None}
        if medline_ascii(from_xml) == json.dumps(from_xml, ensure_ascii=False):
            assert from_medline == from_xml, record.pmid  # ASCII-only: must match exactly
            exact += 1
        else:
            assert medline_ascii(from_medline) == medline_ascii(from_xml), record.pmid
    assert exact >= 190  # two thirds are ASCII-only, so most of the check is exact


# --- the demo pages ----------------------------------------------------------

def renderer():
    spec = importlib.util.spec_from_file_location(
        "render_demo_pages", REPO / "tools" / "render_demo_pages.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def page_text(path: Path) -> str:
    """A page decoded by the charset it declares (UTF-8 when it declares none)."""
    data = path.read_bytes()
    declared = re.search(rb'charset="?([\w-]+)', data[:600])
    return data.decode(declared.group(1).decode() if declared else "utf-8")


@needs_corpus
def test_renderer_is_deterministic_and_matches_committed_pages(tmp_path, monkeypatch, capsys):
    module = renderer()
    monkeypatch.setenv("MEDSEARCH_DATA", str(DATA))
    for run in ("a", "b"):
        (tmp_path / run / "pages").mkdir(parents=True)
        (tmp_path / run / "pages" / "stale.html").write_text("old")
        assert module.main(["--out", str(tmp_path / run)]) == 0
    assert "53 records have no abstract" in capsys.readouterr().out
    first = {p.name: p.read_bytes() for p in (tmp_path / "a" / "pages").iterdir()}
    second = {p.name: p.read_bytes() for p in (tmp_path / "b" / "pages").iterdir()}
    assert len(first) == 641 and "stale.html" not in first
    assert first == second
    committed = {p.name: p.read_bytes() for p in (SEEDS / "pages").iterdir()}
    assert committed == first, "seeds/pages is stale: re-run tools/render_demo_pages.py"
    seed_copy = (tmp_path / "a" / module.SEED_PAGE).read_bytes()
    assert seed_copy == (DATA.parent / "seeds" / module.SEED_PAGE).read_bytes()


def test_every_committed_page_names_its_own_pubmed_link():
    pages = sorted((SEEDS / "pages").glob("*.html"))
    assert len(pages) == 641
    for page in pages:
        links = set(re.findall(r"https://www\.ncbi\.nlm\.nih\.gov/pubmed/\d+", page_text(page)))
        assert links == {pubmed_url(page.stem)}, page.name


TITLE_XPATH = {"paragraphs": "//article/h1", "table": "//h2[@class='entry-title']",
               "deflist": "//div[@class='post-title']", "legacy": "//td[@class='content']/font/b"}
ABSTRACT_XPATH = {"paragraphs": "//article/p[1]", "table": "//div[@class='entry-content']",
                  "deflist": "//div[@class='post-body']", "legacy": "//td[@class='content']/p[1]"}


@needs_corpus
def test_committed_pages_carry_the_record_in_their_layout():
    module = renderer()
    entries = {e.record.pmid: e for e in module.load_entries(CORPUS)}
    for number, pmid in enumerate(sorted(entries, key=int)):
        record, layout = entries[pmid].record, module.LAYOUTS[number % 4]
        raw = (SEEDS / "pages" / f"{pmid}.html").read_bytes()
        assert (b"charset=windows-1252" in raw) == (layout == "legacy"), pmid
        doc = lxml.html.document_fromstring(page_text(SEEDS / "pages" / f"{pmid}.html"))
        [title] = doc.xpath(TITLE_XPATH[layout])
        assert title.text_content() == record.title.removesuffix("."), pmid
        if record.abstract:
            [abstract] = doc.xpath(ABSTRACT_XPATH[layout])
            assert " ".join(abstract.text_content().split()) == record.abstract, pmid
        body = doc.body.text_content()
        assert len(re.findall(r"Keywords ?:", body)) == (1 if record.keywords else 0), pmid
