"""`medsearch cluster`: a real 2-node SolrCloud on loopback, and the configset on it.

The cluster runs from Solr's Maven artifacts (Java and Maven: `make solr`).
Documents go in and out over Solr's own HTTP APIs; what medsearch searches
with them is the SolrCloud engine's business (a later step), not this file's.
"""

from __future__ import annotations

import fcntl
import json
import os
import shutil
import signal
import threading
import urllib.parse
from pathlib import Path

import pytest

from indexer.pages.extract import extract_file
from indexer.solr_engine.cluster import CONFIGSET, solr_request
from indexer.whoosh_engine.analysis import MEDICAL_STOP_WORDS, analyze, name_analyzer
from solr_fixtures import (
    add_documents,
    create_collection,
    medsearch,
    running_cluster,
    select,
    solr_document,
)

pytestmark = pytest.mark.solr

COLLECTION = "articles"


@pytest.fixture(scope="module")
def records(corpus_dir):
    return [extract_file(path) for path in sorted(corpus_dir.glob("*.html"))]


@pytest.fixture(scope="module")
def collection(solr_cluster, records):  # noqa: F811
    state = create_collection(solr_cluster.url, COLLECTION, shards=2, replicas=2)
    add_documents(solr_cluster.url, COLLECTION, [solr_document(r) for r in records])
    return state


def found(cluster, q: str, **params) -> list[str]:
    answer = select(cluster.url, COLLECTION, q=q, fl="id", rows=100, sort="id asc", **params)
    return [doc["id"] for doc in answer["response"]["docs"]]


def solr_terms(cluster, field_type: str, text: str, side: str = "index") -> list[str]:
    """The terms Solr's analyzer of `field_type` makes of `text` (the field analysis API)."""
    query = urllib.parse.urlencode({"analysis.fieldtype": field_type, "wt": "json",
                                    "analysis.fieldvalue": text, "analysis.query": text})
    answer = solr_request(f"{cluster.url}/{COLLECTION}/analysis/field?{query}")
    stages = answer["analysis"]["field_types"][field_type][side]
    return [token["text"] for token in stages[-1]]


# --- up and status ------------------------------------------------------------

def test_cluster_up_prints_the_url_to_use(solr_cluster):  # noqa: F811
    assert solr_cluster.started.stdout == f"MEDSEARCH_SOLR={solr_cluster.url}\n"


def test_status_lists_two_live_nodes_with_their_pids(solr_cluster):  # noqa: F811
    done = medsearch("cluster", "status", "--dir", solr_cluster.folder, "--json")
    assert done.returncode == 0, done.stderr
    state = json.loads(done.stdout)
    assert [(n["url"], n["live"]) for n in state["nodes"]] == [
        (solr_cluster.node_url(0), True), (solr_cluster.node_url(1), True)]
    zookeeper_port = solr_cluster.port_base + 1000
    assert state["zookeeper"]["address"] == f"127.0.0.1:{zookeeper_port}"
    assert state["zookeeper"]["running"] is True
    for pid in [n["pid"] for n in state["nodes"]] + [state["zookeeper"]["pid"]]:
        os.kill(pid, 0)  # each its own process, running
    assert len({n["pid"] for n in state["nodes"]} | {state["zookeeper"]["pid"]}) == 3

    text = medsearch("cluster", "status", "--dir", solr_cluster.folder)
    assert text.returncode == 0
    lines = text.stdout.splitlines()
    assert [line.split()[:2] + line.split()[-1:] for line in lines] == [
        ["solr", solr_cluster.node_url(0), "live"], ["solr", solr_cluster.node_url(1), "live"],
        ["zookeeper", f"127.0.0.1:{zookeeper_port}", "running"]]


def test_a_second_cluster_on_the_same_ports_is_refused(solr_cluster, tmp_path):  # noqa: F811
    done = medsearch("cluster", "up", "--dir", tmp_path / "other",
                     "--port-base", solr_cluster.port_base)
    assert (done.returncode, done.stdout) == (1, "")
    assert done.stderr == (f"medsearch: port {solr_cluster.port_base + 1000} on 127.0.0.1 is "
                           "in use: stop what listens there, or choose other ports with "
                           "--port-base\n")


def test_up_again_in_a_running_cluster_folder_is_refused(solr_cluster):  # noqa: F811
    done = medsearch("cluster", "up", "--dir", solr_cluster.folder)
    assert done.returncode == 1
    assert done.stderr == (f"medsearch: a cluster is already running in {solr_cluster.folder}: "
                           f"`medsearch cluster down --dir {solr_cluster.folder}` first\n")


# --- the configset on a 2 x 2 collection ------------------------------------------

def test_a_collection_of_2_shards_of_2_replicas_is_spread_over_both_nodes(
        solr_cluster, collection):  # noqa: F811
    assert collection["configName"] == "medsearch"
    replicas = [replica for shard in collection["shards"].values()
                for replica in shard["replicas"].values()]
    assert sorted(collection["shards"]) == ["shard1", "shard2"]
    assert [r["state"] for r in replicas] == ["active"] * 4
    assert sorted(r["base_url"] for r in replicas) == [solr_cluster.node_url(0)] * 2 + [
        solr_cluster.node_url(1)] * 2


def test_indexed_records_are_found_with_every_stored_field(solr_cluster, collection, records):  # noqa: F811,E501
    assert found(solr_cluster, "*:*") == sorted(r.pmid for r in records)
    answer = select(solr_cluster.url, COLLECTION, q="*:*", fq="id:21349964", fl="*")
    stored = answer["response"]["docs"][0]
    record = next(r for r in records if r.pmid == "21349964")
    assert {key: stored.get(key) for key in ("pmid", "title", "abstract", "keywords", "authors",
                                            "journal", "year", "published", "url", "source")} \
        == {"pmid": record.pmid, "title": record.title, "abstract": record.abstract,
            "keywords": record.keywords, "authors": record.authors, "journal": record.journal,
            "year": record.year, "published": record.published, "url": record.url,
            "source": record.source}


@pytest.mark.parametrize("query, expected", [
    ("running", ["30000004"]),  # stemmed: "Running did not worsen symptoms"
    ("run", ["30000004"]),
    ("CT guided", ["21349964"]),  # a hyphenated compound by its parts ...
    ("CT-guided", ["21349964"]),  # ... whole ...
    ("ct-guided", ["21349964"]),
    ("ctguided", ["21349964"]),  # ... run together ...
    ("guided", ["21349964"]),  # ... and by one part
    ("l4l5", ["30000002"]),
    ("covid19", ["30000005"]),
    ("guided-CT", []),  # a compound is a phrase of its parts, in order
    ("author:muller", ["30000002"]),  # accents folded: Müller K
    ("author:ÖZTÜRK", ["30000002"]),
    ('mesh:"intracranial hypotension"', ["21349964"]),
    ("vertebroplasty AND kyphoplasty", ["30000003"]),
])
def test_searches_find_what_the_whoosh_analyzer_finds(solr_cluster, collection, query, expected):  # noqa: F811,E501
    assert found(solr_cluster, query) == expected


@pytest.mark.parametrize("text", [
    "CT-guided epidural blood patching of the patient's leak sites",
    "Running patients' L4-L5 COVID-19 neck/shoulder pain, 2.5 mg",
    "Névralgie cervico-brachiale après vertébroplastie: São Paulo",
    "The T2-weighted MRI is at L5-S1 in a type 2 diabetic",
    "verte\u00adbroplasty and kypho\u200bplasty",
])
def test_the_text_analyzer_makes_the_whoosh_terms(solr_cluster, collection, text):  # noqa: F811
    # The same terms; Solr puts a compound's run-together form at its first
    # part's position, Whoosh at its last, so compare them in order of text.
    assert sorted(solr_terms(solr_cluster, "text_medical", text)) == sorted(analyze(text))
    assert solr_terms(solr_cluster, "text_medical", text, side="query") == \
        analyze(text, mode="query")


def test_the_name_analyzer_makes_the_whoosh_terms(solr_cluster, collection):  # noqa: F811
    text = "Öztürk S; O'Brien-Smith J; Müller K"
    assert solr_terms(solr_cluster, "text_name", text) == [t.text for t in name_analyzer(text)]


def test_the_stop_words_are_the_whoosh_ones():
    listed = (CONFIGSET / "conf" / "stopwords.txt").read_text().splitlines()
    assert {word for word in listed if word and not word.startswith("#")} == MEDICAL_STOP_WORDS


def test_snippets_facets_spelling_similar_and_completions(solr_cluster, collection):  # noqa: F811
    url = solr_cluster.url
    # Matches in <mark>, everything else escaped (the abstract holds markup).
    answer = select(url, COLLECTION, q="athletes alert", hl="true")
    assert answer["highlighting"]["30000004"]["abstract"] == [
        "Intervertebral disc displacement at L5-S1 was seen on T2-weighted MRI in "
        "<mark>athletes</mark> with low back pain. Running did not worsen symptoms. "
        "&lt;script&gt;<mark>alert</mark>(&#x27;x&#x27;)&lt;&#x2F;script&gt; "
        "&quot;&gt;&lt;img src=x onerror=<mark>alert</mark>(1)&gt;"]

    facets = select(url, COLLECTION, q="spinal OR kyphoplasty", rows=0, **{
        "json.facet": json.dumps({"year": {"type": "terms", "field": "year", "sort": "index"},
                                  "journal": {"type": "terms", "field": "journal_name"}})})
    assert [(b["val"], b["count"]) for b in facets["facets"]["year"]["buckets"]] == [
        (2008, 1), (2015, 1), (2019, 1)]
    assert [(b["val"], b["count"]) for b in facets["facets"]["journal"]["buckets"]] == [
        ("Spine", 2), ("Eur Spine J", 1)]

    spelled = select(url, COLLECTION, q="vertebroplsty", spellcheck="true")
    assert spelled["spellcheck"]["collations"] == ["collation", "vertebroplasty"]

    # Local parameters in q need defType=lucene (Solr ignores them under edismax).
    similar = select(url, COLLECTION, q="{!mlt qf=title,abstract,keywords mintf=1 mindf=1}"
                     "30000003", defType="lucene")
    assert [doc["id"] for doc in similar["response"]["docs"]][0] == "30000001"

    words = solr_request(f"{url}/{COLLECTION}/terms?terms.prefix=verte&wt=json")
    assert words["terms"]["spell"] == ["vertebral", 3, "vertebroplasty", 2]  # word, documents
    mesh = solr_request(f"{url}/{COLLECTION}/suggest?suggest.build=true&suggest.q=hypot&wt=json")
    assert [s["term"] for s in mesh["suggest"]["mesh"]["hypot"]["suggestions"]] == [
        "Intracranial Hypotension"]


# --- errors that say what to do ---------------------------------------------------

def test_status_of_a_folder_without_a_cluster_says_how_to_start_one(tmp_path):
    done = medsearch("cluster", "status", "--dir", tmp_path)
    assert (done.returncode, done.stdout) == (1, "")
    assert done.stderr == (f"medsearch: no cluster in {tmp_path}: start one with "
                           f"`medsearch cluster up --dir {tmp_path}`\n")


def test_a_folder_another_cluster_command_holds_is_refused(tmp_path):
    with open(tmp_path / ".lock", "w") as lock:
        lock.write("4242\n")
        lock.flush()
        fcntl.flock(lock, fcntl.LOCK_EX)
        done = medsearch("cluster", "down", "--dir", tmp_path)
    assert done.returncode == 1
    assert done.stderr == (f"medsearch: {tmp_path} is locked by another `medsearch cluster` "
                           "command (pid 4242): wait for it to finish\n")


def test_without_java_up_says_to_install_it(tmp_path):
    env = {"PATH": str(tmp_path / "empty"), "HOME": os.environ.get("HOME", str(tmp_path))}
    done = medsearch("cluster", "up", "--dir", tmp_path / "c", "--port-base", "20983",
                     env=env)
    assert done.returncode == 1
    assert done.stderr == ("medsearch: Java is missing: install Java 17 (`make solr`, or "
                           "apt-get install openjdk-17-jdk-headless)\n")


def test_without_maven_or_its_cache_up_says_to_install_it(tmp_path):
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    (bin_dir / "java").symlink_to(shutil.which("java"))
    env = {"PATH": str(bin_dir), "HOME": str(tmp_path), "XDG_CACHE_HOME": str(tmp_path / "c")}
    done = medsearch("cluster", "up", "--dir", tmp_path / "cluster", "--port-base", "20983",
                     env=env)
    assert done.returncode == 1
    assert done.stderr == ("medsearch: Maven is missing: install it (`make solr`, or "
                           "apt-get install maven)\n")


# --- a node killed under searches; down ---------------------------------------------

@pytest.fixture(scope="module")
def doomed(tmp_path_factory, records):
    """A cluster of its own, for the tests that kill a node and stop it."""
    with running_cluster(tmp_path_factory.mktemp("doomed")) as cluster:
        create_collection(cluster.url, COLLECTION, shards=2, replicas=2)
        add_documents(cluster.url, COLLECTION, [solr_document(r) for r in records])
        yield cluster


def test_a_node_killed_under_searches_loses_no_answer(doomed, records):
    victim = json.loads(medsearch("cluster", "status", "--dir", doomed.folder, "--json")
                        .stdout)["nodes"][1]
    answers, errors = [], []
    killed = threading.Event()

    def search_loop() -> None:
        # Bounded: 40 searches before the kill, up to 300 after it, none slow.
        for _ in range(40):
            answers.append(select(doomed.url, COLLECTION, q="*:*", fl="id",
                                  rows=100, timeout=20))
        killed.wait(30)
        for _ in range(300):
            try:
                answers.append(select(doomed.url, COLLECTION, q="*:*", fl="id",
                                      rows=100, timeout=20))
            except Exception as exc:  # noqa: BLE001 -- every failure is reported below
                errors.append(exc)

    searcher = threading.Thread(target=search_loop)
    searcher.start()
    while len(answers) < 40 and searcher.is_alive():
        threading.Event().wait(0.05)
    os.kill(victim["pid"], signal.SIGKILL)
    killed.set()
    searcher.join(300)

    assert errors == []
    full = sorted(r.pmid for r in records)  # from both shards
    assert len(answers) == 340
    assert all(sorted(d["id"] for d in a["response"]["docs"]) == full for a in answers)
    assert not any(a["responseHeader"].get("partialResults") for a in answers)

    done = medsearch("cluster", "status", "--dir", doomed.folder, "--json")
    assert done.returncode == 1  # not every node is live
    assert [n["live"] for n in json.loads(done.stdout)["nodes"]] == [True, False]


def test_down_stops_every_process_and_removes_the_pid_files(doomed):
    pids = [int(p.read_text()) for p in Path(doomed.folder).glob("*.pid")]
    done = medsearch("cluster", "down", "--dir", doomed.folder)
    assert (done.returncode, done.stderr) == (0, "")
    assert done.stdout == f"stopped 2 processes in {doomed.folder}\n"  # one node was killed
    assert list(Path(doomed.folder).glob("*.pid")) == []
    assert [pid for pid in pids if _alive(pid)] == []
    # Nothing whose command line names the cluster's folder is left running.
    assert [cmdline for cmdline in _command_lines() if f"{doomed.folder}/" in cmdline] == []


def _alive(pid: int) -> bool:
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rpartition(")")[2].split()[0]
    except OSError:
        return False
    return state != "Z"


def _command_lines() -> list[str]:
    lines = []
    for proc in Path("/proc").iterdir():
        if proc.name.isdigit() and _alive(int(proc.name)):
            try:
                lines.append((proc / "cmdline").read_bytes().replace(b"\0", b" ").decode())
            except OSError:
                continue
    return lines


def test_up_again_brings_the_cluster_back_with_every_record(doomed, records):
    # Right after `down`, on the same ports (closed connections linger in
    # TIME_WAIT; they must not make the ports look taken).
    again = medsearch("cluster", "up", "--dir", doomed.folder, "--port-base", doomed.port_base,
                      timeout=300)
    assert (again.returncode, again.stdout) == (0, f"MEDSEARCH_SOLR={doomed.url}\n"), again.stderr
    # The collection lives in ZooKeeper's data in the folder; the killed node's
    # replicas recover from the others.
    answer = select(doomed.node_url(1), COLLECTION, q="*:*", fl="id", rows=100)
    assert sorted(d["id"] for d in answer["response"]["docs"]) == sorted(r.pmid for r in records)
