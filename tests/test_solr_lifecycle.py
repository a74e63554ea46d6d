"""The SolrCloud lifecycle on a real 2-node cluster: `update` sends only what
changed, one writer at a time across machines (a lock held in the cluster),
and a rebuild while the site serves fails no request.

Every test uses its own alias (the index folder's name), so tests share the
session cluster without seeing each other's collections.
"""

from __future__ import annotations

import json
import os
import re
import signal
import socket
import subprocess
import sys
import threading
import time
import urllib.parse
import urllib.request

import pytest

from indexer import open_index
from indexer.errors import ArticleNotFound, IndexLocked
from indexer.solr_engine.client import SolrClient
from indexer.solr_engine.lock import LOCKS, SolrWriterLock, ensure_locks, read_holder
from conftest import ARTICLES, clinic_page
from solr_fixtures import REPO, medsearch, running_cluster
from webui_fixtures import running_site

pytestmark = pytest.mark.solr

HOST = socket.gethostname()
BROKEN_PAGE = "<html><body><p>Opening hours: 9 to 5</p></body></html>"
BROKEN_REASON = "no labelled article fields (Keywords :, Authors :, Pubmed Link : ...)"
NEW_ARTICLE = ("30000009", "Sacroiliac joint fusion for chronic low back pain",
               "Minimally invasive sacroiliac joint fusion relieved pain in 60 patients.",
               "Sacroiliac Joint,Arthrodesis,Low Back Pain", "Olsen R;", "Spine", "2022 Apr")


def solr_env(cluster, **more) -> dict:
    return {**os.environ, "MEDSEARCH_SOLR": cluster.url, **more}


def write_seeds(folder, articles=ARTICLES):
    folder.mkdir(parents=True, exist_ok=True)
    for article in articles:
        (folder / f"{article[0]}.html").write_text(clinic_page(*article), encoding="utf-8")
    return folder


def versions(cluster, alias: str) -> dict[str, int]:
    """Each document's `_version_`: Solr gives a document a new one whenever it is sent."""
    answer = SolrClient(cluster.url).call(f"{alias}/select", {
        "q": "*:*", "defType": "lucene", "fl": "id,_version_", "rows": 100,
        "spellcheck": "false"})
    return {doc["id"]: doc["_version_"] for doc in answer["response"]["docs"]}


def report_lines(stdout: str) -> list[str]:
    """The report without its time line, which varies."""
    return [line for line in stdout.splitlines() if not line.startswith("time:")]


def plant_lock(cluster, alias: str, **holder) -> None:
    """A lock document as another writer (here, or on another machine) left it."""
    document = {"id": alias, "host": HOST, "pid": 1, "command": "build",
                "started": "2026-01-01T00:00:00Z", "token": "theirs", "heartbeat": "NOW",
                **holder}
    ensure_locks(SolrClient(cluster.url))  # as a writer's lock would have made it
    SolrClient(cluster.url).call(f"{LOCKS}/update", {"commit": "true"},
                                 body=json.dumps([document]).encode())


def dead_pid() -> int:
    """The pid of a process that has exited (and been reaped)."""
    done = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"],
                          capture_output=True, text=True, check=True)
    return int(done.stdout)


# --- update -------------------------------------------------------------------------

def test_update_sends_only_the_pages_added_changed_or_removed(solr_cluster, tmp_path):
    seeds, root, env = write_seeds(tmp_path / "seeds"), tmp_path / "upd", solr_env(solr_cluster)
    built = medsearch("build", "--seeds", seeds, "--index", root, "--shards", 2, "--replicas",
                      2, env=env, timeout=600)
    assert built.returncode == 0, built.stderr
    live = SolrClient(solr_cluster.url).aliases()["upd"]
    before = versions(solr_cluster, "upd")
    assert len(before) == 6

    changed = list(ARTICLES[1])
    changed[1] = "Cement leakage after vertebroplasty: a zygomycosis case"
    (seeds / "30000001.html").write_text(clinic_page(*changed), encoding="utf-8")
    (seeds / "30000004.html").unlink()
    write_seeds(seeds, [NEW_ARTICLE])
    (seeds / "opening-hours.html").write_text(BROKEN_PAGE, encoding="utf-8")
    done = medsearch("update", "--seeds", seeds, "--index", root, env=env, timeout=600)
    assert done.returncode == 0, done.stderr
    lines = report_lines(done.stdout)
    assert [line for line in lines if not line.startswith("vectors:")] == [
        "pages read:      7", "records indexed: 6", "duplicates:      0",
        "added:           2", "changed:         1", "removed:         1",
        "unchanged:       4", "pages skipped:   1",
        f"  {seeds / 'opening-hours.html'}: {BROKEN_REASON}",
        # The build's expansion resources, kept by the update.
        *[line for line in report_lines(built.stdout)
          if line.startswith(("synonyms:", "abbreviations:"))]]
    # The two records sent are embedded (or found in the session's vector cache).
    embedded = re.fullmatch(r"vectors: +2 of 2 records \((\d) embedded, (\d) from the cache\) "
                            r"in [\d.]+ s", lines[9])
    assert embedded and int(embedded[1]) + int(embedded[2]) == 2

    # Into the live collection, in place: the alias did not move.
    assert SolrClient(solr_cluster.url).aliases()["upd"] == live
    after = versions(solr_cluster, "upd")
    assert sorted(after) == sorted([*before.keys() - {"30000004"}, "30000009"])
    untouched = ["21349964", "30000002", "30000003", "30000005"]
    assert {k: after[k] for k in untouched} == {k: before[k] for k in untouched}
    assert after["30000001"] != before["30000001"]
    index = open_index(root, solr=solr_cluster.url)
    assert [h.pmid for h in index.search("zygomycosis").hits] == ["30000001"]
    assert index.article("30000009").title == NEW_ARTICLE[1]
    with pytest.raises(ArticleNotFound):
        index.article("30000004")
    stats = json.loads(medsearch("stats", "--index", root, "--json", env=env).stdout)
    assert (stats["command"], stats["documents"], stats["generation"]) == ("update", 6, live)

    # Nothing changed since: nothing is sent, and the broken page is not "added" again.
    done = medsearch("update", "--seeds", seeds, "--index", root, env=env, timeout=600)
    assert done.returncode == 0, done.stderr
    assert report_lines(done.stdout)[3:10] == [
        "added:           0", "changed:         0", "removed:         0",
        "unchanged:       7", "pages skipped:   1",
        f"  {seeds / 'opening-hours.html'}: {BROKEN_REASON}",
        "note:            already up to date"]
    assert "vectors:         6 records, as before" in done.stdout.splitlines()
    assert versions(solr_cluster, "upd") == after


def test_update_without_an_index_builds_one(solr_cluster, tmp_path):
    seeds = write_seeds(tmp_path / "seeds", ARTICLES[:2])
    done = medsearch("update", "--seeds", seeds, "--index", tmp_path / "fresh",
                     env=solr_env(solr_cluster), timeout=600)
    assert done.returncode == 0, done.stderr
    assert "records indexed: 2" in done.stdout.splitlines()
    assert "note:            rebuilt everything: there was no index" in done.stdout.splitlines()
    assert len(open_index(tmp_path / "fresh", solr=solr_cluster.url)) == 2


def test_update_from_another_seeds_folder_rebuilds_everything(solr_cluster, tmp_path):
    env = solr_env(solr_cluster)
    first = write_seeds(tmp_path / "first", ARTICLES[:2])
    other = write_seeds(tmp_path / "other", ARTICLES[2:5])
    assert medsearch("build", "--seeds", first, "--index", tmp_path / "moved", env=env,
                     timeout=600).returncode == 0
    done = medsearch("update", "--seeds", other, "--index", tmp_path / "moved", env=env,
                     timeout=600)
    assert done.returncode == 0, done.stderr
    assert (f"note:            rebuilt everything: it was built from {first}, not {other}"
            in done.stdout.splitlines())
    assert sorted(versions(solr_cluster, "moved")) == ["30000002", "30000003", "30000004"]


# --- one writer at a time -------------------------------------------------------------

def test_a_second_writer_is_refused_with_the_holders_name(solr_cluster, tmp_path):
    seeds, root, env = write_seeds(tmp_path / "seeds"), tmp_path / "held", solr_env(solr_cluster)
    client = SolrClient(solr_cluster.url)
    with SolrWriterLock(client, "held", "build") as lock:
        for command in ("build", "update"):
            done = medsearch(command, "--seeds", seeds, "--index", root, env=env, timeout=300)
            assert (done.returncode, done.stdout) == (1, "")
            assert done.stderr == (
                f"medsearch: the index 'held' on SolrCloud at {solr_cluster.url} is being "
                f"written by another process (pid {os.getpid()} on {HOST}, `medsearch build` "
                f"since {lock.started}): wait for it to finish, then try again\n")
    assert "held" not in client.aliases()
    assert [name for name in client.collections() if name.startswith("held__")] == []
    assert read_holder(client, "held") is None  # released on leaving the block


def test_two_builds_at_once_the_second_is_refused_naming_the_first(solr_cluster, tmp_path):
    seeds, root, env = write_seeds(tmp_path / "seeds"), tmp_path / "race", solr_env(solr_cluster)
    client = SolrClient(solr_cluster.url)
    first = subprocess.Popen(
        [sys.executable, "-m", "indexer", "build", "--seeds", str(seeds), "--index", str(root),
         "--shards", "2", "--replicas", "2"], cwd=REPO, env=env,
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        deadline = time.monotonic() + 300
        while (holder := read_holder(client, "race") if LOCKS in client.collections()
               else None) is None:
            assert first.poll() is None, "the first build finished before the second started"
            assert time.monotonic() < deadline
            time.sleep(0.02)
        second = medsearch("build", "--seeds", seeds, "--index", root, env=env, timeout=300)
    finally:
        out, err = first.communicate(timeout=600)
    assert first.returncode == 0, err
    assert holder["pid"] == first.pid
    assert (second.returncode, second.stdout) == (1, "")
    assert second.stderr.startswith(
        f"medsearch: the index 'race' on SolrCloud at {solr_cluster.url} is being written by "
        f"another process (pid {first.pid} on {HOST}, `medsearch build` since ")
    assert len(open_index(root, solr=solr_cluster.url)) == 6
    assert read_holder(client, "race") is None


def test_a_failed_build_releases_the_lock(solr_cluster, tmp_path):
    broken, root, env = tmp_path / "broken", tmp_path / "failing", solr_env(solr_cluster)
    broken.mkdir()
    (broken / "opening-hours.html").write_text(BROKEN_PAGE, encoding="utf-8")
    done = medsearch("build", "--seeds", broken, "--index", root, env=env, timeout=300)
    assert done.returncode == 1
    assert done.stderr.startswith(f"medsearch: no article pages found under {broken}")
    assert read_holder(SolrClient(solr_cluster.url), "failing") is None
    seeds = write_seeds(tmp_path / "seeds", ARTICLES[:1])
    done = medsearch("build", "--seeds", seeds, "--index", root, env=env, timeout=600)
    assert done.returncode == 0, done.stderr


@pytest.mark.parametrize("alias, holder, why", [
    ("gone", {"host": HOST, "pid": "dead"}, "its process is gone"),
    ("silent", {"host": "another-machine", "pid": 4242, "heartbeat": "NOW-10MINUTES"},
     "no heartbeat for over 120 s"),
])
def test_a_stale_lock_is_broken_with_a_message(solr_cluster, tmp_path, alias, holder, why):
    if holder["pid"] == "dead":
        holder = {**holder, "pid": dead_pid()}
    plant_lock(solr_cluster, alias, **holder)
    seeds = write_seeds(tmp_path / "seeds", ARTICLES[:1])
    done = medsearch("build", "--seeds", seeds, "--index", tmp_path / alias,
                     env=solr_env(solr_cluster), timeout=600)
    assert done.returncode == 0, done.stderr
    assert (f"note:            broke the stale lock of pid {holder['pid']} on {holder['host']}, "
            f"`medsearch build` since 2026-01-01T00:00:00Z: {why}") in done.stdout.splitlines()
    assert read_holder(SolrClient(solr_cluster.url), alias) is None


def test_a_live_lock_on_another_machine_is_not_broken(solr_cluster, tmp_path):
    plant_lock(solr_cluster, "elsewhere", host="another-machine", pid=4242)
    seeds = write_seeds(tmp_path / "seeds", ARTICLES[:1])
    done = medsearch("build", "--seeds", seeds, "--index", tmp_path / "elsewhere",
                     env=solr_env(solr_cluster), timeout=300)
    assert done.returncode == 1
    assert "(pid 4242 on another-machine, `medsearch build` since 2026-01-01T00:00:00Z)" \
        in done.stderr
    assert read_holder(SolrClient(solr_cluster.url), "elsewhere")["token"] == "theirs"


def test_a_writer_whose_lock_was_broken_does_not_move_the_alias(solr_cluster):
    client = SolrClient(solr_cluster.url)
    with SolrWriterLock(client, "overtaken", "update") as lock:
        holder = read_holder(client, "overtaken")
        client.call(f"{LOCKS}/update", {"commit": "true"}, body=json.dumps(
            {"delete": {"id": "overtaken", "_version_": holder["_version_"]}}).encode())
        plant_lock(solr_cluster, "overtaken", host="another-machine", pid=4242)
        with pytest.raises(IndexLocked) as refused:
            lock.confirm()
    assert str(refused.value) == (
        "this update's lock on the index 'overtaken' was broken by another writer "
        "(pid 4242 on another-machine, `medsearch build` since 2026-01-01T00:00:00Z) after "
        "120 s without a heartbeat; the live index was left to it")
    # Leaving the block deletes only its own lock, not the one that took over.
    assert read_holder(client, "overtaken")["token"] == "theirs"


def test_the_holders_heartbeat_keeps_its_lock_fresh_and_never_retakes_a_broken_one(
        solr_cluster, monkeypatch):
    from indexer.solr_engine import lock as lock_module

    monkeypatch.setattr(lock_module, "HEARTBEAT", 0.3)  # seconds, not 15: a short test
    client = SolrClient(solr_cluster.url)
    with SolrWriterLock(client, "beating", "build"):
        first = read_holder(client, "beating")
        deadline = time.monotonic() + 30
        while read_holder(client, "beating")["heartbeat"] == first["heartbeat"]:
            assert time.monotonic() < deadline
            time.sleep(0.1)
        assert read_holder(client, "beating")["_version_"] != first["_version_"]
        # Another writer breaks it (whatever its version: a heartbeat may be under way).
        client.call(f"{LOCKS}/update", {"commit": "true"},
                    body=json.dumps({"delete": {"id": "beating"}}).encode())
        plant_lock(solr_cluster, "beating", host="another-machine", pid=4242)
        time.sleep(1.5)  # several heartbeats
        assert read_holder(client, "beating")["token"] == "theirs"
    assert read_holder(client, "beating")["token"] == "theirs"


# --- rebuilding while the site serves -----------------------------------------------------

def test_rebuilding_while_the_site_serves_fails_no_request(solr_cluster, tmp_path,
                                                          monkeypatch):
    seeds, root = write_seeds(tmp_path / "seeds"), tmp_path / "served"
    env = solr_env(solr_cluster)
    done = medsearch("build", "--seeds", seeds, "--index", root, "--shards", 2,
                     "--replicas", 2, env=env, timeout=600)
    assert done.returncode == 0, done.stderr
    old = SolrClient(solr_cluster.url).aliases()["served"]
    write_seeds(seeds, [NEW_ARTICLE])
    monkeypatch.setenv("MEDSEARCH_SOLR", solr_cluster.url)
    answers: list[tuple[int, int]] = []
    failures: list[str] = []
    stop = threading.Event()

    def hammer(site: str) -> None:
        # 2 hits before the rebuild, 3 or more after (the new article): answers from both sides.
        query = urllib.parse.urlencode({"q": "vertebroplasty OR sacroiliac"})
        while not stop.is_set():
            try:
                with urllib.request.urlopen(f"{site}/api/search?{query}", timeout=30) as response:
                    answers.append((response.status, json.load(response)["total"]))
            except Exception as exc:  # noqa: BLE001 - every failure is the test's finding
                failures.append(repr(exc))

    with running_site(root, workers=2) as site:
        threads = [threading.Thread(target=hammer, args=(site,)) for _ in range(3)]
        for thread in threads:
            thread.start()
        try:
            time.sleep(1)
            rebuilt = medsearch("build", "--seeds", seeds, "--index", root, "--shards", 2,
                                "--replicas", 2, env=env, timeout=600)
            time.sleep(1)
        finally:
            stop.set()
            for thread in threads:
                thread.join()
        assert rebuilt.returncode == 0, rebuilt.stderr
        with urllib.request.urlopen(f"{site}/api/search?q=sacroiliac", timeout=30) as response:
            # First: feedback may add related articles after it, as on Whoosh.
            assert json.load(response)["hits"][0]["pmid"] == "30000009"
    assert failures == []
    assert len(answers) > 20
    assert {status for status, _ in answers} == {200}
    # Whole builds only: the old one's 2 hits, the new one's 3 or more (its expansion
    # resources load a moment after the alias moves and may widen it); none in between.
    totals = {total for _, total in answers}
    assert 2 in totals and max(totals) >= 3 and min(totals) == 2
    new = SolrClient(solr_cluster.url).aliases()["served"]
    assert new != old and old not in SolrClient(solr_cluster.url).collections()


# --- check ------------------------------------------------------------------------------

def test_check_finds_the_index_sound_then_a_count_that_does_not_match(solr_cluster, tmp_path):
    seeds, root, env = write_seeds(tmp_path / "seeds"), tmp_path / "checked", solr_env(solr_cluster)
    done = medsearch("build", "--seeds", seeds, "--index", root, "--shards", 2, "--replicas", 2,
                     env=env, timeout=600)
    assert done.returncode == 0, done.stderr
    live = SolrClient(solr_cluster.url).aliases()["checked"]
    done = medsearch("check", "--index", root, env=env)
    assert (done.returncode, done.stderr) == (0, "")
    assert done.stdout == (f"{live}: 2 shard(s), 4 replica(s), every one active on a live "
                           "node, 6 documents as indexed: index sound\n"
                           "vectors: 6 of 6 records (all-MiniLM-L6-v2-onnx-int8-256)\n")
    # A document written behind medsearch's back.
    SolrClient(solr_cluster.url).call(f"{live}/update", {"commit": "true"},
                                      body=json.dumps([{"id": "99999999"}]).encode())
    done = medsearch("check", "--index", root, env=env)
    assert (done.returncode, done.stdout) == (
        1, "the collection holds 7 documents; the last `medsearch build` indexed 6\n")
    assert done.stderr == (
        f"medsearch: 1 problem(s) with the index 'checked' on SolrCloud at {solr_cluster.url}: "
        "bring the nodes back (`medsearch cluster status`), else rebuild with "
        "`medsearch build`\n")


def settled(cluster, collection: str, gone: str) -> bool:
    """Whether node `gone` has left and the shard's leader is a live, active replica."""
    status = SolrClient(cluster.url).admin("CLUSTERSTATUS", collection=collection)["cluster"]
    replicas = status["collections"][collection]["shards"]["shard1"]["replicas"].values()
    return gone not in status["live_nodes"] and any(
        r.get("leader") == "true" and r["state"] == "active" and r["node_name"] != gone
        for r in replicas)


def test_check_names_the_replicas_of_a_stopped_node(tmp_path):
    """A cluster of its own: a node is stopped (SIGTERM, as `cluster down` stops one)."""
    seeds, root = write_seeds(tmp_path / "seeds", ARTICLES[:2]), tmp_path / "halved"
    with running_cluster(tmp_path / "cluster") as cluster:
        env = solr_env(cluster)
        done = medsearch("build", "--seeds", seeds, "--index", root, "--replicas", 2, env=env,
                         timeout=600)
        assert done.returncode == 0, done.stderr
        live = SolrClient(cluster.url).aliases()["halved"]
        victim = json.loads(medsearch("cluster", "status", "--dir", cluster.folder, "--json")
                            .stdout)["nodes"][1]
        node = f"127.0.0.1:{cluster.port_base + 1}_solr"
        replicas = SolrClient(cluster.url).admin("CLUSTERSTATUS", collection=live)[
            "cluster"]["collections"][live]["shards"]["shard1"]["replicas"]
        [lost] = [name for name, replica in replicas.items() if replica["node_name"] == node]
        os.kill(victim["pid"], signal.SIGTERM)
        deadline = time.monotonic() + 120
        while not settled(cluster, live, node):  # the node gone, a leader elected
            assert time.monotonic() < deadline
            time.sleep(0.2)
        done = medsearch("check", "--index", root, env=env)
    assert (done.returncode, done.stdout) == (
        1, f"shard1: replica {lost} is on {node}, which is not live\n")
    assert done.stderr.startswith("medsearch: 1 problem(s) with the index 'halved'")
