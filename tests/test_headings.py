"""MeSH headings whole: qualifiers after their descriptor, split descriptors and
check tags rejoined, descriptors only in chips, facets and the mesh filter;
NLM's descriptor file as the vocabulary, said in the build summary and stats."""

import json
import os
from pathlib import Path

import pytest

from indexer import open_index
from indexer.cli import main
from indexer.pages import headings
from indexer.pages.extract import extract_page
from indexer.pages.pubmed import parse_medline

from conftest import REPO, clinic_page

DESC = Path(__file__).parent / "mesh" / "desc-test.xml"  # 10 descriptors, NLM's structure
SEEDS = REPO / "seeds"


def page_keywords(keywords: str) -> list[str]:
    html = clinic_page("40000001", "Vertebral fractures treated with cement", "Cement helped.",
                       keywords, "Smith AB;", "Spine", "2020")
    return extract_page(html.encode()).keywords


# --- extraction: the fixed lists only -------------------------------------------------

def test_qualifiers_follow_the_descriptor_before_them():
    assert page_keywords("Vertebroplasty,adverse effects,methods,Bone Cements,"
                         "Penicillin G,administration & dosage,Humans") == [
        "Vertebroplasty/adverse effects/methods", "Bone Cements",
        "Penicillin G/administration & dosage", "Humans"]


def test_check_tags_split_at_their_comma_are_one_keyword():
    assert page_keywords("Aged,80 and over,Infant,Newborn,Child,Preschool,Humans") == [
        "Aged, 80 and over", "Infant, Newborn", "Child, Preschool", "Humans"]


def test_a_qualifier_that_qualifies_nothing_is_dropped():
    # First in the list, or after a check tag (check tags take no qualifiers).
    assert page_keywords("surgery,Humans,therapy,Spine,Epidemiology") == [
        "Humans", "Spine", "Epidemiology"]  # "Epidemiology", capitalised, is a descriptor


def test_extract_leaves_rejoining_split_descriptors_to_the_build(tmp_path, capsys):
    """`medsearch extract` is a function of the page bytes: no vocabulary, so a
    descriptor split at its comma stays split there."""
    page = tmp_path / "p.html"
    page.write_text(clinic_page("40000001", "Compression fractures", "Cement helped.",
                                "Fractures,Compression,surgery,Humans", "Smith AB;", "Spine",
                                "2020"), encoding="utf-8")
    assert main(["extract", "--json", str(page)]) == 0
    assert json.loads(capsys.readouterr().out)["keywords"] == [
        "Fractures", "Compression/surgery", "Humans"]


def test_rejoin_puts_split_descriptors_back_from_the_vocabulary():
    names = frozenset({"fractures, compression", "anesthesia, epidural",
                       "anesthesia, obstetrical", "hepatitis c, chronic", "hepatitis b, chronic"})
    assert headings.rejoin(["Fractures", "Compression/surgery", "Humans"], names) == [
        "Fractures, Compression/surgery", "Humans"]
    # The site shows a piece once: "Anesthesia,Epidural,...,Obstetrical" is two headings.
    assert headings.rejoin(["Anesthesia", "Epidural/adverse effects", "Obstetrical"], names) == [
        "Anesthesia, Epidural/adverse effects", "Anesthesia, Obstetrical"]
    assert headings.rejoin(["Hepatitis B", "Chronic", "Hepatitis C"], names) == [
        "Hepatitis B, Chronic", "Hepatitis C, Chronic"]
    # Not a known descriptor: left as it is; and rejoining twice changes nothing.
    assert headings.rejoin(["Spine", "Surgery"], names) == ["Spine", "Surgery"]
    once = headings.rejoin(["Fractures", "Compression/surgery"], names)
    assert headings.rejoin(once, names) == once


def test_pubmed_exports_write_qualifiers_as_descriptor_slash_qualifier():
    medline = ("PMID- 40000002\nTI  - Cement leakage.\nMH  - *Fractures, Compression/*surgery\n"
               "MH  - Vertebroplasty/adverse effects/methods\nMH  - Humans\nOT  - cement\n")
    [record] = parse_medline(medline)
    assert record.keywords == ["Fractures, Compression/surgery",
                               "Vertebroplasty/adverse effects/methods", "Humans", "cement"]


# --- the build: NLM's descriptor file ------------------------------------------------

PAGES = [
    ("40000001", "Cement for osteoporotic compression fractures", "Cement relieved pain.",
     "Fractures,Compression,surgery,Vertebroplasty,adverse effects,Aged,80 and over,Humans,"
     "clinic favourite", "Smith AB;", "Spine", "2020"),
    ("40000002", "Vertebroplasty in the spine clinic", "Patients improved.",
     "Vertebroplasty,Spine,surgery,Humans", "Jones C;", "Spine", "2019"),
]


@pytest.fixture(scope="module")
def nlm_index(tmp_path_factory) -> Path:
    seeds = tmp_path_factory.mktemp("seeds")
    for article in PAGES:
        (seeds / f"{article[0]}.html").write_text(clinic_page(*article), encoding="utf-8")
    root = tmp_path_factory.mktemp("index")
    assert main(["build", "--seeds", str(seeds), "--index", str(root), "--mesh", str(DESC)]) == 0
    return root


def test_build_and_stats_name_the_nlm_file_and_count_its_descriptors(tmp_path, capsys):
    seeds = tmp_path / "seeds"
    seeds.mkdir()
    for article in PAGES:
        (seeds / f"{article[0]}.html").write_text(clinic_page(*article), encoding="utf-8")
    index = tmp_path / "index"
    assert main(["build", "--seeds", str(seeds), "--index", str(index), "--mesh", str(DESC)]) == 0
    line = (f"synonyms:        MeSH from NLM's desc-test.xml, 10 descriptors, 4 concepts "
            f"in this index (from {DESC.resolve()})")
    assert line in capsys.readouterr().out.splitlines()
    assert main(["stats", "--index", str(index)]) == 0
    assert line in capsys.readouterr().out.splitlines()


def test_the_index_keeps_headings_whole_and_shows_descriptors_only(nlm_index):
    index = open_index(nlm_index)
    try:
        hits = {h.pmid: h for h in index.search("", per_page=10).hits}
        assert hits["40000001"].keywords == [
            "Fractures, Compression/surgery", "Vertebroplasty/adverse effects",
            "Aged, 80 and over", "Humans", "clinic favourite"]
        # A site's own tag is kept (and searched) but is not MeSH.
        assert hits["40000001"].mesh == [
            "Fractures, Compression", "Vertebroplasty", "Aged, 80 and over", "Humans"]
        assert hits["40000002"].mesh == ["Vertebroplasty", "Spine", "Humans"]
        assert index.search("", per_page=10).facets["mesh"] == [
            ("Humans", 2), ("Vertebroplasty", 2), ("Aged, 80 and over", 1),
            ("Fractures, Compression", 1), ("Spine", 1)]
        assert [h.pmid for h in index.search("favourite").hits] == ["40000001"]
    finally:
        index.close()


@pytest.mark.parametrize("args, found", [
    (['mesh:"Fractures, Compression"'], ["40000001"]),
    (["", "--mesh", "Fractures, Compression"], ["40000001"]),
    (["", "--mesh", "Vertebroplasty"], ["40000001", "40000002"]),  # one as Vertebroplasty/adverse effects
    (["", "--mesh", "Fractures"], []),
    (["", "--mesh", "surgery"], []),
    (["", "--mesh", "clinic favourite"], []),
])
def test_mesh_searches_and_the_filter_use_the_whole_descriptor(nlm_index, capsys, args, found):
    assert main(["search", *args, "--index", str(nlm_index), "--json"]) == 0
    assert sorted(h["pmid"] for h in json.loads(capsys.readouterr().out)["hits"]) == found


def test_medsearch_mesh_names_the_file_too(tmp_path, monkeypatch, capsys):
    seeds = tmp_path / "seeds"
    seeds.mkdir()
    (seeds / "a.html").write_text(clinic_page(*PAGES[0]), encoding="utf-8")
    monkeypatch.setenv("MEDSEARCH_MESH", str(DESC))
    assert main(["build", "--seeds", str(seeds), "--index", str(tmp_path / "index")]) == 0
    assert "MeSH from NLM's desc-test.xml, 10 descriptors" in capsys.readouterr().out


@pytest.mark.parametrize("content, message", [
    (None, "medsearch: no MeSH descriptor file at {path}: download desc<year>.xml from "
           "https://www.nlm.nih.gov/databases/download/mesh.html, or leave out --mesh and "
           "MEDSEARCH_MESH"),
    (b"Descriptor\tTerms\n", "medsearch: cannot read {path} as NLM's MeSH descriptor XML ("),
    (b"<DescriptorRecordSet></DescriptorRecordSet>",
     "medsearch: {path} holds no MeSH descriptors (no DescriptorRecord): download"),
])
def test_a_mesh_file_that_cannot_be_read_is_one_line_and_builds_nothing(
        tmp_path, capsys, content, message):
    seeds = tmp_path / "seeds"
    seeds.mkdir()
    (seeds / "a.html").write_text(clinic_page(*PAGES[0]), encoding="utf-8")
    path = tmp_path / "desc2025.xml"
    if content is not None:
        path.write_bytes(content)
    assert main(["build", "--seeds", str(seeds), "--index", str(tmp_path / "index"),
                 "--mesh", str(path)]) == 1
    err = capsys.readouterr().err
    assert err.startswith(message.format(path=path)) and err.count("\n") == 1, err
    assert not (tmp_path / "index").exists()


def test_update_with_another_vocabulary_rebuilds_everything(tmp_path, monkeypatch, capsys):
    monkeypatch.setenv("MEDSEARCH_DATA", str(tmp_path / "no-data"))
    monkeypatch.delenv("MEDSEARCH_MESH", raising=False)
    seeds = tmp_path / "seeds"
    seeds.mkdir()
    (seeds / "a.html").write_text(clinic_page(*PAGES[0]), encoding="utf-8")
    index = tmp_path / "index"
    assert main(["build", "--seeds", str(seeds), "--index", str(index)]) == 0
    capsys.readouterr()
    assert main(["update", "--seeds", str(seeds), "--index", str(index), "--mesh", str(DESC)]) == 0
    out = capsys.readouterr().out
    assert f"note:            rebuilt everything: the MeSH vocabulary is now {DESC.resolve()}" in out
    assert main(["update", "--seeds", str(seeds), "--index", str(index), "--mesh", str(DESC)]) == 0
    assert "rebuilt everything" not in capsys.readouterr().out  # the same vocabulary again


# --- the demo pages --------------------------------------------------------------------

@pytest.fixture(scope="module")
def demo(tmp_path_factory):
    if not (SEEDS / "pages").is_dir():
        pytest.skip("no demo pages in seeds/")
    from indexer.whoosh_engine.build import build

    root = tmp_path_factory.mktemp("demo-index")
    build(SEEDS, root, procs=2)
    index = open_index(root)
    yield index
    index.close()


def every_hit(index):
    results = index.search("", per_page=100)
    for page in range(1, results.pages + 1):
        yield from index.search("", per_page=100, page=page).hits


def test_on_the_demo_pages_no_qualifier_is_a_keyword_or_a_facet_value(demo):
    hits = list(every_hit(demo))
    assert len(hits) == demo.search("").total > 600
    keywords = [k for h in hits for k in h.keywords]
    assert not set(keywords) & headings.QUALIFIERS
    assert not {d for h in hits for d in h.mesh} & headings.QUALIFIERS
    assert "80 and over" not in keywords
    assert sum("Aged, 80 and over" in h.mesh for h in hits) >= 70
    assert sum(k.startswith("Tuberculosis, Spinal/") for k in keywords) >= 25
    spine = demo.search("spine", per_page=100)
    facet = [value for value, _ in spine.facets["mesh"]]
    assert len(facet) == 10 and not set(facet) & headings.QUALIFIERS
    assert facet[:3] == ["Humans", "Male", "Female"]
    chips = [k for h in spine.hits for k in h.keywords]
    assert not set(chips) & headings.QUALIFIERS


@pytest.mark.skipif(not os.environ.get("MEDSEARCH_DATA") and not (REPO.parent / "shared").is_dir(),
                    reason="no CTD vocabulary (set MEDSEARCH_DATA)")
def test_on_the_demo_pages_mesh_fractures_compression_works(demo):
    """CTD's diseases know "Fractures, Compression": the pages' "Fractures" +
    "Compression" are rejoined, and `mesh:` and the filter find it whole."""
    filtered = demo.search("", mesh="Fractures, Compression", per_page=100)
    assert filtered.total >= 20
    assert all("Fractures, Compression" in h.mesh for h in filtered.hits)
    assert demo.search('mesh:"Fractures, Compression"').total == filtered.total
    assert demo.search("", mesh="Compression").total == 0
