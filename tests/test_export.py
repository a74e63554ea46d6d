"""Citation export (indexer.export and /api/export): the files parse back with real parsers."""

from __future__ import annotations

import csv
import dataclasses
import io
from pathlib import Path

import pytest
import rispy
from bs4 import BeautifulSoup
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from conftest import ARTICLES
from indexer.export import CSV_COLUMNS, FORMATS, filename, ris_date, to_csv, to_medline, to_ris
from indexer.pages.pubmed import parse_medline, parse_pubmed_xml
from indexer.pages.records import Record, pubmed_url
from webui import create_app

CORPUS = Path(__file__).resolve().parent.parent.parent / "shared" / "data" / "pubmed-spine-ortho"

RECORDS = [
    Record(pmid="21349964",
           title="CT-guided epidural blood patching of directly observed or potential leak "
                 "sites for the targeted treatment of spontaneous intracranial hypotension",
           abstract="BACKGROUND AND PURPOSE: Spontaneous intracranial hypotension (SIH) is "
                    "caused by spinal CSF leaks. " * 6 + "CONCLUSIONS: other treatment options",
           keywords=["Blood Patch, Epidural", "Tuberculosis, Spinal", "Humans", "therapy"],
           authors=["Kranz PG", "Gray L", "Taylor JN"], journal="AJNR Am J Neuroradiol",
           published="2011 May", year=2011,
           organisation="Department of Radiology, Duke University Medical Center, Durham, NC.",
           url=pubmed_url("21349964"), source="seeds/a.html"),
    Record(pmid="30000002", title="Spinal tuberculosis in Müller's cohort: ±5 mm, α-angle",
           abstract=None, keywords=[], authors=["Müller K", "Öztürk S"], journal="Eur Spine J",
           published="2008", year=2008, organisation=None, url=pubmed_url("30000002")),
]


def same_fields(record: Record) -> dict:
    """A record's fields as an export keeps them (`source` is a path on the server)."""
    return {k: v for k, v in dataclasses.asdict(record).items() if k != "source"}


# --- RIS ---------------------------------------------------------------------------

def test_ris_parses_back_with_rispy():
    entries = rispy.loads(to_ris(RECORDS))
    assert len(entries) == 2
    first = entries[0]
    assert first["type_of_reference"] == "JOUR"
    assert first["title"] == RECORDS[0].title
    assert first["abstract"] == RECORDS[0].abstract.strip()
    assert first["authors"] == ["Kranz PG", "Gray L", "Taylor JN"]
    assert first["journal_name"] == first["secondary_title"] == "AJNR Am J Neuroradiol"
    assert first["year"] == "2011"
    assert first["date"] == "2011/05//"
    assert first["keywords"] == RECORDS[0].keywords  # "Tuberculosis, Spinal" whole
    assert first["accession_number"] == first["id"] == "21349964"
    assert first["urls"] == [pubmed_url("21349964")]
    assert first["author_address"] == RECORDS[0].organisation
    second = entries[1]
    assert second["title"] == RECORDS[1].title  # UTF-8 as written
    assert "abstract" not in second and "keywords" not in second


def test_ris_lines_end_with_crlf_and_each_entry_with_er():
    text = to_ris(RECORDS)
    assert text.startswith("TY  - JOUR\r\n")
    assert text.count("ER  - ") == 2
    assert "\n" not in text.replace("\r\n", "")


def test_ris_value_with_line_breaks_stays_on_one_line():
    record = Record(pmid="1", title="Two\nlines\r\nhere", abstract="ER  - trap\nTY  - JOUR")
    entries = rispy.loads(to_ris([record]))
    assert len(entries) == 1
    assert entries[0]["title"] == "Two lines here"


@pytest.mark.parametrize("published, expected", [
    ("2011 May", "2011/05//"), ("2019 Mar 4", "2019/03/04/"), ("2008", "2008///"),
    ("2014 May-Jun", "2014///May-Jun"), ("2010 Winter", "2010///Winter"), (None, None),
    ("Spring", None),
])
def test_ris_date(published, expected):
    assert ris_date(published) == expected


# --- MEDLINE ------------------------------------------------------------------------

def test_medline_parses_back_with_the_pubmed_parser():
    text = to_medline(RECORDS)
    back = parse_medline(text)
    assert [same_fields(r) for r in back] == [same_fields(r) for r in RECORDS]


def test_medline_wraps_long_values_on_six_space_continuations():
    lines = to_medline(RECORDS[:1]).splitlines()
    assert lines[0] == "PMID- 21349964"
    assert all(len(line) <= 80 for line in lines)
    ab = lines.index(next(line for line in lines if line.startswith("AB  - ")))
    assert lines[ab + 1].startswith("      ") and not lines[ab + 1].startswith("       ")
    tags = [line[:4].strip() for line in lines if not line.startswith(" ")]
    assert tags == ["PMID", "DP", "TI", "AB", "AU", "AD", "AU", "AU", "JT",
                    "MH", "MH", "MH", "MH"]


def test_medline_keyword_with_a_slash_is_not_split_into_qualifiers():
    record = dataclasses.replace(RECORDS[1], keywords=["Spine", "PVP/PKP"])
    assert "OT  - PVP/PKP" in to_medline([record])
    assert parse_medline(to_medline([record]))[0].keywords == ["Spine", "PVP/PKP"]


@pytest.mark.skipif(not CORPUS.is_dir(), reason=f"real PubMed exports not present at {CORPUS}")
def test_real_pubmed_records_survive_a_medline_round_trip():
    xml = CORPUS / "xml" / "xs-stmz_vertebroplasty_pubmed_result.xml"
    records = parse_pubmed_xml(xml.read_bytes())
    back = parse_medline(to_medline(records))
    assert [same_fields(r) for r in back] == [same_fields(r) for r in records]


_text = st.text(st.characters(blacklist_categories=("Cs",)), min_size=1, max_size=120)


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(title=_text, abstract=_text, author=_text, journal=_text)
def test_any_text_round_trips_through_ris_and_medline(title, abstract, author, journal):
    def norm(value):
        return " ".join(value.split())

    record = Record(pmid="123", title=title, abstract=abstract, authors=[author],
                    journal=journal, published="2001", year=2001, url=pubmed_url("123"))
    entries = rispy.loads(to_ris([record]))
    assert len(entries) == 1
    assert entries[0].get("title", "") == norm(title)
    assert entries[0].get("authors", [""]) == [norm(author)] or not norm(author)
    [back] = parse_medline(to_medline([record]))
    assert back.title == norm(title)
    assert back.abstract == (norm(abstract) or None)
    assert back.journal == (norm(journal) or None)


# --- CSV ----------------------------------------------------------------------------

def read_csv(text: str) -> list[dict]:
    assert text.startswith("\ufeff")  # Excel reads UTF-8 only with the BOM
    return list(csv.DictReader(io.StringIO(text[1:])))


def test_csv_has_a_header_and_joins_lists():
    text = to_csv(RECORDS)
    assert text[1:].splitlines()[0] == ",".join(CSV_COLUMNS)
    rows = read_csv(text)
    assert rows[0]["pmid"] == "21349964"
    assert rows[0]["authors"] == "Kranz PG; Gray L; Taylor JN"
    assert rows[0]["keywords"] == "Blood Patch, Epidural; Tuberculosis, Spinal; Humans; therapy"
    assert rows[0]["abstract"] == RECORDS[0].abstract
    assert rows[0]["year"] == "2011"
    assert rows[1]["title"] == RECORDS[1].title
    assert rows[1]["abstract"] == rows[1]["organisation"] == ""


def test_csv_cells_never_run_as_spreadsheet_formulas():
    record = Record(pmid="1", title="=HYPERLINK(\"http://x\")", abstract="+1", authors=["@me"])
    row = read_csv(to_csv([record]))[0]
    assert row["title"] == "'=HYPERLINK(\"http://x\")"
    assert row["abstract"] == "'+1" and row["authors"] == "'@me"


def test_file_names_are_plain_ascii():
    assert filename("vertebroplasty cement", FORMATS["ris"]) == "medsearch-vertebroplasty-cement.ris"
    assert filename('Müller "spine"; rm -rf /', FORMATS["csv"]) == "medsearch-muller-spine-rm-rf.csv"
    assert filename("", FORMATS["nbib"]) == "medsearch-all.nbib"
    assert filename("ü" * 5 + "x" * 100, FORMATS["ris"]) == "medsearch-uuuuu" + "x" * 55 + ".ris"


# --- routes -------------------------------------------------------------------------

@pytest.fixture
def client(index_dir):
    return create_app({"TESTING": True, "INDEX": str(index_dir)}).test_client()


def download(client, url: str, mimetype: str, name: str) -> str:
    response = client.get(url)
    assert response.status_code == 200, response.get_data(as_text=True)
    assert response.headers["Content-Type"] == f"{mimetype}; charset=utf-8"
    assert response.headers["Content-Disposition"] == f'attachment; filename="{name}"'
    assert response.headers["X-Content-Type-Options"] == "nosniff"
    return response.get_data().decode("utf-8")


def search_pmids(client, query: str) -> list[str]:
    return [h["pmid"] for h in client.get(query).get_json()["hits"]]


def test_api_export_ris_of_this_page(client):
    text = download(client, "/api/export?q=vertebroplasty&format=ris",
                    "application/x-research-info-systems", "medsearch-vertebroplasty.ris")
    entries = rispy.loads(text)
    assert [e["id"] for e in entries] == search_pmids(client, "/api/search?q=vertebroplasty")


def test_api_export_page_two_and_all(client):
    page_two = download(client, "/api/export?q=patients+pain&per_page=2&page=2&format=nbib",
                        "text/plain", "medsearch-patients-pain.nbib")
    expected = search_pmids(client, "/api/search?q=patients+pain&per_page=2&page=2")
    assert expected and [r.pmid for r in parse_medline(page_two)] == expected
    everything = download(client, "/api/export?q=patients+pain&per_page=2&page=2&format=nbib&scope=all",
                          "text/plain", "medsearch-patients-pain.nbib")
    total = client.get("/api/search?q=patients+pain").get_json()["total"]
    assert len(parse_medline(everything)) == total > 2


def test_api_export_csv_keeps_filters_and_accents(client):
    response = client.get("/api/export?q=&mesh=Spinal+Fusion&format=csv&scope=all")
    assert response.headers["Content-Type"] == "text/csv; charset=utf-8"
    assert response.headers["Content-Disposition"] == 'attachment; filename="medsearch-all.csv"'
    assert response.get_data().startswith(b"\xef\xbb\xbf")
    rows = read_csv(response.get_data().decode("utf-8"))
    assert [r["pmid"] for r in rows] == ["30000002"]
    assert rows[0]["authors"] == "Müller K; Öztürk S"


def test_api_export_of_one_article(client):
    text = download(client, "/api/article/21349964/export?format=nbib",
                    "text/plain", "medsearch-21349964.nbib")
    [record] = parse_medline(text)
    expected = next(a for a in ARTICLES if a[0] == "21349964")
    assert (record.title, record.authors, record.journal) == (
        expected[1], ["Kranz PG", "Gray L", "Taylor JN"], expected[5])


@pytest.mark.parametrize("url, status", [
    ("/api/export?q=spine&format=xls", 400),
    ("/api/export?q=spine&scope=everything", 400),
    ("/api/export?q=spine&page=0", 400),
    ("/api/export?q=spine&sort=random", 400),
    ("/api/article/99999999/export?format=ris", 404),
    ("/api/article/abc/export?format=ris", 404),
    ("/api/article/21349964/export?format=doc", 400),
])
def test_api_export_errors_are_json(client, url, status):
    response = client.get(url)
    assert response.status_code == status
    assert "error" in response.get_json()


def test_api_export_of_nothing_is_an_empty_file(client):
    text = download(client, "/api/export?q=zzzqqq+xxyyzz&format=ris",
                    "application/x-research-info-systems", "medsearch-zzzqqq-xxyyzz.ris")
    assert rispy.loads(text) == []


def test_results_page_links_to_exports_of_the_same_search(client):
    doc = BeautifulSoup(client.get("/?q=vertebroplasty&sort=newest&per_page=2").get_data(
        as_text=True), "html.parser")
    links = {a.get_text(" ", strip=True): a["href"] for a in doc.select("p.export a")}
    assert links["this page as RIS"] == (
        "/api/export?format=ris&scope=page&q=vertebroplasty&per_page=2&sort=newest")
    assert links["all results as CSV"] == (
        "/api/export?format=csv&scope=all&q=vertebroplasty&per_page=2&sort=newest")
    assert set(links) == {f"{scope} as {label}" for scope in ("this page", "all results")
                          for label in ("RIS", "MEDLINE", "CSV")}
    for href in links.values():
        assert client.get(href).status_code == 200


def test_article_page_links_to_its_citation(client):
    doc = BeautifulSoup(client.get("/article/30000002").get_data(as_text=True), "html.parser")
    links = [a["href"] for a in doc.select("dd.export a")]
    assert links == [f"/api/article/30000002/export?format={f}" for f in ("ris", "nbib", "csv")]
    entries = rispy.loads(client.get(links[0]).get_data(as_text=True))
    assert [e["id"] for e in entries] == ["30000002"]
