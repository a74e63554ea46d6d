"""Concept search (issue #14): a MeSH heading or entry term in the query is searched
as its descriptor, as PubMed's Automatic Term Mapping does.

A tiny literal corpus and a tiny literal MeSH vocabulary (CTD's file layout)
for the rules; the demo pages and the real vocabulary for what users asked.
"""

from __future__ import annotations

import gzip
import json
import os
import subprocess
import sys

import pytest

from conftest import REPO, clinic_page
from indexer.evaluation.testsets import data_dir
from indexer.query import mesh

# name, MeSH ID, entry terms (CTD_diseases.tsv: column 8, "|"-separated)
VOCABULARY = [
    ("Back Pain", "MESH:D001416", "Backache|Back Ache"),
    ("Low Back Pain", "MESH:D017116", "Lumbago|Low Backache"),
    ("Intervertebral Disc Displacement", "MESH:D007405",
     "Disk Prolapse|Herniated Disc|Slipped Disc|Prolapsed Disc"),
]

# pmid, title, abstract, keywords
PAGES = [
    ("40000001", "Back pain in rowers",
     "Back pain was common in rowers; most recovered with rest.",
     "Back Pain,Humans"),
    ("40000002", "Backache after spinal anaesthesia",
     "Backache after spinal anaesthesia was reported by a few parturients.",
     "Anesthesia, Spinal,Humans"),
    ("40000003", "Pelvic organ prolapse repair with mesh",
     "Vaginal prolapse was repaired with a mesh; prolapse recurred in three women.",
     "Pelvic Organ Prolapse,Surgical Mesh"),
    ("40000004", "Lumbar disc herniation treated by microdiscectomy",
     "Patients with a herniated disc at L4-L5 had microdiscectomy; leg pain improved.",
     "Intervertebral Disc Displacement,Diskectomy"),
    ("40000005", "Low back pain in gardeners",
     "Low back pain in gardeners improved with exercise.",
     "Low Back Pain,Exercise Therapy"),
    ("40000006", "Disk space infection",
     "A disk space infection after surgery was treated with antibiotics.",
     "Discitis"),
]


def _write_vocabulary(folder):
    path = folder / mesh.CTD_FILE
    path.parent.mkdir(parents=True)
    rows = ["# DiseaseName\tDiseaseID\tAltDiseaseIDs\tDefinition\tParentIDs\tTreeNumbers\t"
            "ParentTreeNumbers\tSynonyms\tSlimMappings"]
    rows += [f"{name}\t{ident}\t\t\t\t\t\t{terms}\t" for name, ident, terms in VOCABULARY]
    with gzip.open(path, "wt", encoding="utf-8") as out:
        out.write("\n".join(rows) + "\n")


def medsearch(*args, env=None):
    done = subprocess.run([sys.executable, "-m", "indexer", *args], cwd=REPO, env=env,
                          capture_output=True, text=True, timeout=300)
    return done.returncode, done.stdout, done.stderr


@pytest.fixture(scope="module")
def tiny(tmp_path_factory):
    """The literal pages built by `medsearch build` with the literal vocabulary: (index, env)."""
    root = tmp_path_factory.mktemp("concepts")
    seeds, data, index = root / "seeds", root / "data", root / "index"
    seeds.mkdir()
    for pmid, title, abstract, keywords in PAGES:
        page = clinic_page(pmid, title, abstract, keywords, "Doe J;", "Spine", "2020")
        (seeds / f"{pmid}.html").write_text(page, encoding="utf-8")
    _write_vocabulary(data)
    env = {**os.environ, "MEDSEARCH_DATA": str(data)}
    code, out, err = medsearch("build", "--seeds", str(seeds), "--index", str(index), env=env)
    assert code == 0, err
    assert "3 concepts" in out
    return index, env


def search_json(tiny, query, *options):
    index, env = tiny
    code, out, err = medsearch("search", query, "--index", str(index), "--json", *options,
                               env=env)
    assert code == 0, err
    found = json.loads(out)
    return [h["pmid"] for h in found["hits"]], [e for e in found["expansions"]
                                                if e["type"] != "feedback"]


def test_an_entry_term_finds_the_articles_indexed_with_its_descriptor(tiny):
    pmids, expansions = search_json(tiny, "backache")
    assert expansions == [{"type": "concept", "from": "backache", "to": ["Back Pain"]}]
    # 40000001 never says "backache": it is indexed with Back Pain. 40000005
    # says "low back pain", which holds the heading (a narrower MeSH heading).
    assert set(pmids) == {"40000001", "40000002", "40000005"}


def test_the_cli_says_what_the_query_was_searched_as(tiny):
    index, env = tiny
    code, out, _ = medsearch("search", "backache", "--index", str(index), env=env)
    assert code == 0
    assert out.splitlines()[0] == "also searched (concept): backache -> Back Pain [MeSH]"


def test_the_longest_phrase_is_the_concept(tiny):
    # "low back pain" holds "back pain": the longer heading wins, as in ATM.
    pmids, expansions = search_json(tiny, "low back pain exercise")
    assert expansions == [{"type": "concept", "from": "low back pain", "to": ["Low Back Pain"]}]
    assert pmids[0] == "40000005"


def test_a_two_word_entry_term_outranks_its_words_alone(tiny):
    # "prolapse" alone (pelvic organ prolapse) counts for less than the
    # concept: the herniated disc article never says "disk" or "prolapse".
    pmids, expansions = search_json(tiny, "disk prolapse")
    assert expansions == [{"type": "concept", "from": "disk prolapse",
                           "to": ["Intervertebral Disc Displacement"]}]
    assert pmids[0] == "40000004"
    assert set(pmids) == {"40000003", "40000004", "40000006"}


@pytest.mark.parametrize("query, pmids", [
    ('"backache"', ["40000002"]),
    ("title:backache", ["40000002"]),
    ('"disk prolapse"', []),
])
def test_quoted_phrases_and_field_prefixes_stay_literal(tiny, query, pmids):
    assert search_json(tiny, query) == (pmids, [])


def test_expand_off_searches_the_words_only(tiny):
    assert search_json(tiny, "backache", "--no-expand") == (["40000002"], [])
    pmids, expansions = search_json(tiny, "disk prolapse", "--no-expand")
    assert expansions == []
    assert pmids[0] == "40000003"


def test_the_results_page_and_the_api_show_the_concept(tiny):
    from bs4 import BeautifulSoup

    from webui import create_app

    client = create_app({"TESTING": True, "INDEX": str(tiny[0])}).test_client()
    page = BeautifulSoup(client.get("/?q=backache").get_data(as_text=True), "html.parser")
    shown = [p.get_text(" ", strip=True) for p in page.select("p.expansions")]
    assert "Searched as: Back Pain [MeSH]" in shown
    assert not any(text.startswith("Also searched: backache → Back Pain") for text in shown)
    api = client.get("/api/search?q=backache").get_json()
    assert {"type": "concept", "from": "backache", "to": ["Back Pain"]} in api["expansions"]
    literal = client.get('/api/search?q="backache"').get_json()
    assert [e for e in literal["expansions"] if e["type"] == "concept"] == []


# --- the demo pages with the real vocabulary ------------------------------------------

HAVE_CTD = (data_dir() / mesh.CTD_FILE).exists()


@pytest.fixture(scope="module")
def demo(tmp_path_factory):
    if not HAVE_CTD:
        pytest.skip(f"no MeSH vocabulary at {data_dir() / mesh.CTD_FILE} (set MEDSEARCH_DATA)")
    from indexer import build_index, open_index

    root = tmp_path_factory.mktemp("demo-concepts")
    build_index(REPO / "seeds", root, procs=2)
    index = open_index(root)
    yield index
    index.close()


def test_backache_puts_back_pain_articles_in_the_top_3(demo):
    results = demo.search("backache")
    assert {"type": "concept", "from": "backache", "to": ["Back Pain"]} in results.expansions
    assert any("Back Pain" in hit.mesh for hit in results.hits[:3])


@pytest.mark.parametrize("query, descriptors", [
    ("disk prolapse", {"Intervertebral Disc Displacement"}),
    ("blood poisoning", {"Sepsis"}),
    ("lumbago", {"Low Back Pain"}),
    ("slipped disc surgery outcomes", {"Intervertebral Disc Displacement"}),
])
def test_a_lay_term_puts_an_article_about_its_concept_first(demo, query, descriptors):
    first = demo.search(query).hits[0]
    assert descriptors & set(first.mesh), (first.pmid, first.title, first.keywords)
