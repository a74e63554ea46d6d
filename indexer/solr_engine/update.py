"""`medsearch update` on SolrCloud: send only the records of the pages added,
changed or removed, into the collection the alias points to.

The manifest is in the cluster, not in a local file, so an update may run
on another machine than the build: each document's `fingerprint` lists the
pages its record was read from ({path under seeds: [size, mtime_ns, sha1,
copies]}), and the alias property `manifest.<collection>` holds the rest
(build.manifest_header). An update reads `id` and `fingerprint` of every
document with a cursor, rebuilds the manifest the Whoosh update keeps in a
file, and compares the seeds folder with it the same way (pages.changes:
a page whose size and mtime did not move is not read). Then it deletes the
keys no page gives any more and sends the records of the affected keys,
chosen as a build chooses them, in one commit: searches see the collection
before or after the update. Documents of untouched pages are not sent
again (their `_version_` stays).

It rebuilds everything (build.build_locked, a new collection, the alias
moved) when there is no index, no manifest (a collection from before
manifests, or eval's), another seeds folder, another extractor version or
another MeSH vocabulary, as the Whoosh update does.

A page only touched (its mtime moved, its content did not) is not sent:
its fingerprint keeps the old mtime, so the next update reads it again.
"""

from __future__ import annotations

import json
import os
import time
from pathlib import Path

from ..errors import BuildFailed
from ..pages.changes import compare, pick_winners, vocabulary_key
from ..pages.collect import count_duplicates, entry_keys, new_manifest, require_seeds
from ..pages.records import record_key
from ..pages.scan import Progress, Workers, code_version, scan
from ..pages.text import printable
from ..query import mesh
from ..query.expand import describe
from ..results import BuildReport
from . import build
from .client import SolrClient
from .engine import STORED, record_from
from .expansion import read_resources
from .lock import SolrWriterLock
from .semantic import count_vectors, embed_records, without_vectors

PAGE = 1000  # documents per cursor request when reading the manifest


def update(url: str, seeds: str | os.PathLike, root: str | os.PathLike, procs: int = 1,
           progress: Progress | None = None,
           mesh_file: str | os.PathLike | None = None, embed: bool = True) -> BuildReport:
    """Apply the changes under `seeds` to the live collection of `root`'s alias; with
    `embed`, the records sent and the documents without a vector get theirs."""
    started = time.monotonic()
    seeds = Path(seeds)
    require_seeds(seeds)
    vocabulary = mesh.vocabulary(mesh_file)
    client = SolrClient(url)
    alias = build.alias_name(root)
    with SolrWriterLock(client, alias, "update") as lock, Workers(procs) as workers:
        live = build.live_collection(client, alias)
        header = read_header(client, alias, live) if live else {}
        why = full_rebuild_reason(seeds, live, header, vocabulary)
        if why:
            shards, replicas = collection_shape(client, live) if live else (None, None)
            return build.build_locked(client, alias, seeds, workers, lock, vocabulary, started,
                                      progress, shards, replicas,
                                      note=f"rebuilt everything: {why}", command="update",
                                      embed=embed)
        manifest = read_manifest(client, live, header)
        if manifest is None:
            return build.build_locked(client, alias, seeds, workers, lock, vocabulary, started,
                                      progress, *collection_shape(client, live),
                                      note="rebuilt everything: the live index has no manifest",
                                      command="update", embed=embed)
        return _update_locked(client, alias, live, seeds, manifest, header, workers, lock,
                              vocabulary, started, progress, embed)


def full_rebuild_reason(seeds: Path, live: str | None, header: dict,
                        vocabulary: mesh.Vocabulary) -> str | None:
    """Why the changes cannot be sent to the live collection, or None."""
    if live is None:
        return "there was no index"
    if not header:
        return "the live index has no manifest"
    if header.get("seeds") != str(seeds.resolve()):
        return (f"it was built from {printable(str(header.get('seeds')))}, "
                f"not {printable(str(seeds.resolve()))}")
    if header.get("code") != code_version():
        return "the extractor or the schema changed since it was built"
    if header.get("mesh") != vocabulary_key(vocabulary):
        return f"the MeSH vocabulary is now {printable(vocabulary.path)}"
    return None


def read_header(client: SolrClient, alias: str, live: str) -> dict:
    """The alias property `manifest.<live>` (build.describe), {} when there is none."""
    answer = client.call("admin/collections", {"action": "LISTALIASES"})
    saved = answer.get("properties", {}).get(alias, {}).get(f"manifest.{live}")
    return json.loads(saved) if saved else {}


def read_manifest(client: SolrClient, live: str, header: dict) -> dict | None:
    """The manifest the Whoosh update keeps in a file, rebuilt from the documents'
    fingerprints and the header; None when a document has no fingerprint."""
    pages: dict[str, dict] = {rel: {**entry, "keys": []}
                              for rel, entry in header.get("skipped", {}).items()}
    cursor = "*"
    while True:
        answer = client.call(f"{live}/select", {
            "q": "*:*", "defType": "lucene", "fl": "id,fingerprint", "sort": "id asc",
            "rows": PAGE, "cursorMark": cursor, "spellcheck": "false"}, timeout=300)
        for doc in answer["response"]["docs"]:
            if not doc.get("fingerprint"):
                return None
            for rel, (size, mtime_ns, sha1, copies) in json.loads(doc["fingerprint"]).items():
                entry = pages.setdefault(rel, {"size": size, "mtime_ns": mtime_ns,
                                               "sha1": sha1, "keys": [], "skip": None})
                entry["keys"].extend([doc["id"]] * copies)
        if answer["nextCursorMark"] == cursor:
            return {**header, "pages": pages}
        cursor = answer["nextCursorMark"]


def collection_shape(client: SolrClient, name: str) -> tuple[int | None, int | None]:
    """The live collection's shards and replicas, for a rebuild to keep them."""
    state = client.admin("CLUSTERSTATUS", collection=name)["cluster"]["collections"][name]
    return len(state["shards"]), int(state["replicationFactor"])


def _update_locked(client: SolrClient, alias: str, live: str, seeds: Path, manifest: dict,
                   header: dict, workers: Workers, lock: SolrWriterLock,
                   vocabulary: mesh.Vocabulary, started: float,
                   progress: Progress | None, embed: bool = True) -> BuildReport:
    scanned_ns = time.time_ns()
    pages, skipped = scan(seeds)
    changes = compare(pages, manifest, workers, progress)
    report = BuildReport(seeds=printable(str(seeds)), command="update",
                         pages=len(pages) + len(skipped), generation=live)
    report.skipped = sorted(skipped + [(printable(p.path), changes.entries[p.rel]["skip"])
                                       for p in pages if changes.entries[p.rel]["skip"]])
    report.duplicates = count_duplicates(changes.entries.values())
    report.added, report.changed, report.removed = changes.added, changes.changed, changes.removed
    report.unchanged = len(pages) - changes.added - changes.changed
    report.indexed = len(entry_keys(changes.entries.values()))
    notes = [lock.broken]
    sending = bool(changes.added or changes.changed or changes.removed)
    winners = ([build.whole_headings(w, vocabulary)
                for w in pick_winners(changes, {p.rel: p for p in pages}, workers)]
               if sending else [])
    gone = sorted(changes.affected - {record_key(w) for w in winners})
    # Also when nothing changed: the documents of a --no-embed build get their vectors.
    lacking = _lacking_vectors(client, live, changes.affected) if embed else {}
    if embed and not winners and not lacking:
        vectors, report.vectors = {}, f"{count_vectors(client, live)} records, as before"
    else:
        vectors, report.vectors = embed_records(
            winners + [record_from(d) for d in lacking.values()], embed)
    if not sending:
        notes.append("already up to date")  # touched pages only: nothing to send
    if sending or lacking:
        lock.confirm()
        fingerprints = {**{key: doc.get("fingerprint") for key, doc in lacking.items()},
                        **build.fingerprints(changes.entries)}
        build.send_documents(client, live, winners + [record_from(d) for d in lacking.values()],
                             vocabulary.names, fingerprints, deletes=gone, vectors=vectors)
        _verify(client, live, report.indexed)
    report.note = "; ".join(filter(None, notes))
    build.finish_report(report, started)
    # An update keeps the expansion resources of the build it updates.
    stored = read_resources(client, live)
    if stored:
        report.vocabulary = describe(stored)
    if sending:
        fresh = new_manifest(seeds, changes.entries, scanned_ns)
        build.describe(client, alias, live, report, build.manifest_header(fresh, vocabulary))
    return report


def _verify(client: SolrClient, live: str, expected: int) -> None:
    """The collection's document count after the update, as the pages say it should be."""
    found = client.call(f"{live}/select", {"q": "*:*", "defType": "lucene", "rows": 0,
                                           "spellcheck": "false"})["response"]["numFound"]
    if found != expected:
        raise BuildFailed(f"after the update the collection {live} holds {found} documents, "
                          f"expected {expected}: run `medsearch build` to rebuild it")


def _lacking_vectors(client: SolrClient, live: str, affected: set[str]) -> dict[str, dict]:
    """The documents without a vector that this update does not send anyway, by key
    (not those with no title or abstract: they have nothing to embed)."""
    return {doc["id"]: doc for doc in without_vectors(client, live, STORED + ",fingerprint")
            if doc["id"] not in affected and (doc.get("title") or doc.get("abstract"))}
