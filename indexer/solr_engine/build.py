"""Building on SolrCloud: a new collection, verified, then the alias moved to it.

The live index is a collection alias named after the index folder's name
(`--index`, $MEDSEARCH_INDEX, default `index`). A build reads every page
(indexer.pages.collect, the Whoosh build's reading), writes a NEW collection
`ALIAS__<time>_<pid>`, checks it (document count, a test search), then moves
the alias to it with one CREATEALIAS (searches switch between two requests,
never see half a build) and deletes the collection the alias left. A build
killed before the alias moved leaves the alias where it was; the next build
deletes the collections it finds named `ALIAS__…` that no alias points to.

What the build saved (its BuildReport) is kept as a property of the alias,
keyed by the collection it describes (`build.<collection>`), so `info` never
describes another collection than the one searched.

One writer at a time: a build holds the alias's lock in the cluster
(lock.SolrWriterLock) from before it clears leftovers until the alias moved.
What `update` compares the pages with is kept in the cluster too: each
document's `fingerprint` (the pages it was read from, with their size,
mtime and SHA-1) and the alias property `manifest.<collection>` (the seeds
folder, the extractor's version, the MeSH vocabulary, the pages that gave no
record); see update.py.
"""

from __future__ import annotations

import dataclasses
import json
import os
import re
import time
from datetime import datetime, timezone
from pathlib import Path

from ..errors import BuildFailed, IndexMissing, MedsearchError
from ..pages import headings
from ..pages.changes import vocabulary_key
from ..pages.collect import collect_records, require_seeds
from ..pages.records import Record, record_key
from ..pages.scan import Progress, Workers
from ..query import mesh
from ..results import BuildReport
from .client import SolrClient
from .cluster import CONFIGSET_NAME, upload_configset
from .lock import SolrWriterLock
from .expansion import write_resources
from .semantic import embed_records, vector_fields

DEFAULT_SHARDS = 1
DEFAULT_REPLICAS = 1
BATCH = 1000  # documents per update request
SEPARATOR = "__"  # between the alias and the build's time in a collection's name
# Seconds a search already sent to the old collection is given to finish before
# the collection is deleted; searches time out after 3 s (engine.TIME_LIMIT).
DRAIN_SECONDS = 3.0


def alias_name(root: str | os.PathLike) -> str:
    """The alias of the index at `root`: its last name, as Solr allows names."""
    name = re.sub(r"[^A-Za-z0-9_.-]", "_", Path(root).name).lstrip("-.") or "index"
    return name


def new_collection_name(alias: str) -> str:
    stamp = datetime.now(timezone.utc).strftime("%Y%m%d%H%M%S")
    return f"{alias}{SEPARATOR}{stamp}_{os.getpid()}"


def whole_headings(record: Record, vocabulary: mesh.Vocabulary) -> Record:
    """`record` with the descriptors its page split at commas rejoined (as on Whoosh)."""
    keywords = headings.rejoin(record.keywords, vocabulary.joinable)
    return record if keywords == record.keywords else dataclasses.replace(record, keywords=keywords)


def solr_document(record: Record, mesh_names: frozenset[str] | None = None,
                  fingerprint: str | None = None, vectors: dict[str, str] | None = None) -> dict:
    """A Record as a document of the medsearch configset (managed-schema.xml);
    `mesh_term` holds its MeSH descriptors whole (pages.headings, as on Whoosh);
    `fingerprint` the pages it was read from (fingerprints), for `update`;
    `vectors` the semantic rerank's vectors by key (.semantic)."""
    document = {"id": record_key(record), "pmid": record.pmid, "title": record.title,
                "abstract": record.abstract, "keywords": record.keywords,
                "mesh_term": headings.mesh_descriptors(record.keywords, mesh_names),
                "authors": record.authors,
                "journal": record.journal, "journal_name": record.journal,
                "year": record.year, "published": record.published,
                "organisation": record.organisation, "url": record.url,
                "source": record.source, "fingerprint": fingerprint,
                **vector_fields(record_key(record), vectors or {})}
    return {key: value for key, value in document.items() if value not in (None, [])}


def live_collection(client: SolrClient, alias: str) -> str | None:
    """The collection the alias points to, None when there is no alias."""
    return client.aliases().get(alias)


def clear_leftovers(client: SolrClient, alias: str) -> list[str]:
    """Delete the collections of builds that never went live (killed or failed)."""
    aliases = client.aliases()
    pointed = {name for target in aliases.values() for name in target.split(",")}
    left = [name for name in client.collections()
            if name.startswith(alias + SEPARATOR) and name not in pointed]
    for name in left:
        client.admin("DELETE", name=name)
    return left


def ensure_configset(client: SolrClient) -> None:
    """Upload the repository's configset when the cluster has none of its name."""
    listed = client.call("admin/configs", {"action": "LIST"}).get("configSets", [])
    if CONFIGSET_NAME not in listed:
        upload_repository_configset(client)


def upload_repository_configset(client: SolrClient) -> None:
    """The repository's configset into the cluster (cluster.upload_configset, the
    one uploader, shared with `cluster up`); BuildFailed when it cannot be."""
    try:
        upload_configset(client.url)
    except MedsearchError as exc:
        raise BuildFailed(f"cannot upload the medsearch configset: {exc}") from None


def build(url: str, seeds: str | os.PathLike, root: str | os.PathLike, procs: int = 1,
          progress: Progress | None = None, shards: int | None = None,
          replicas: int | None = None,
          mesh_file: str | os.PathLike | None = None, embed: bool = True) -> BuildReport:
    """Index every page under `seeds` into a new collection and move the alias to it,
    with the MeSH vocabulary of `mesh_file` (query.mesh.vocabulary) and, unless not
    `embed`, the records' vectors for the semantic rerank; one writer at a time
    (lock.SolrWriterLock)."""
    started = time.monotonic()
    seeds = Path(seeds)
    require_seeds(seeds)
    vocabulary = mesh.vocabulary(mesh_file)
    client = SolrClient(url)
    alias = alias_name(root)
    with SolrWriterLock(client, alias, "build") as lock, Workers(procs) as workers:
        return build_locked(client, alias, seeds, workers, lock, vocabulary, started,
                            progress, shards, replicas, embed=embed)


def build_locked(client: SolrClient, alias: str, seeds: Path, workers: Workers,
                 lock: SolrWriterLock, vocabulary: mesh.Vocabulary, started: float,
                 progress: Progress | None = None, shards: int | None = None,
                 replicas: int | None = None, note: str = "",
                 command: str = "build", embed: bool = True) -> BuildReport:
    """The build, once this writer holds the lock (`update` rebuilding everything too)."""
    clear_leftovers(client, alias)  # safe now: no other writer of this alias is under way
    records, manifest, report = collect_records(seeds, workers, progress)
    if not records:
        raise BuildFailed(
            f"no article pages found under {seeds} ({report.pages} files read, "
            f"{len(report.skipped)} skipped); the live index was left as it was")
    ordered = [whole_headings(r, vocabulary) for r in sorted(records.values(), key=record_key)]
    # Embedded before the collection is written: the vectors go in with the
    # documents, so the alias never points at a collection still lexical.
    vectors, report.vectors = embed_records(ordered, embed)
    ensure_configset(client)
    name = new_collection_name(alias)
    try:
        write_collection(client, name, ordered, shards or DEFAULT_SHARDS,
                         replicas or DEFAULT_REPLICAS, vocabulary.names,
                         fingerprints(manifest["pages"]), vectors)
        # The synonyms, abbreviations and concepts searched with it, stored in it.
        report.vocabulary = write_resources(client, name, ordered, vocabulary)
        verify_collection(client, name, len(ordered), ordered[:1])
        lock.confirm()
    except BaseException:
        _drop_quietly(client, name)
        raise
    report.indexed = len(ordered)
    report.generation = name
    report.command = command
    report.note = "; ".join(filter(None, [lock.broken, note]))
    finish_report(report, started)
    publish(client, alias, name, report, manifest_header(manifest, vocabulary))
    return report


def finish_report(report: BuildReport, started: float) -> None:
    """The report's time fields."""
    report.built_at = datetime.now(timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")
    report.seconds = time.monotonic() - started


# --- the manifest `update` compares against, kept in the cluster --------------------

def fingerprints(pages: dict[str, dict]) -> dict[str, str]:
    """Each key's `fingerprint`: the pages it was read from (pages.collect's manifest
    entries) as {path under seeds: [size, mtime_ns, sha1, copies of it there]}."""
    found: dict[str, dict] = {}
    for rel, entry in pages.items():
        for key in entry["keys"]:
            found.setdefault(key, {})[rel] = [entry["size"], entry["mtime_ns"], entry["sha1"],
                                               entry["keys"].count(key)]
    return {key: json.dumps(held, ensure_ascii=False) for key, held in found.items()}


def manifest_header(manifest: dict, vocabulary: mesh.Vocabulary) -> dict:
    """What the manifest holds beside the documents' fingerprints, kept as a property of
    the alias: where and how the pages were read, and the pages that gave no record."""
    return {"seeds": manifest["seeds"], "code": manifest["code"],
            "scanned_ns": manifest["scanned_ns"], "mesh": vocabulary_key(vocabulary),
            "skipped": {rel: entry for rel, entry in manifest["pages"].items()
                        if not entry["keys"]}}


def write_collection(client: SolrClient, name: str, records: list[Record], shards: int,
                     replicas: int, mesh_names: frozenset[str] | None = None,
                     fingerprints: dict[str, str] | None = None,
                     vectors: dict[str, str] | None = None) -> None:
    """A new collection of the medsearch configset holding `records`, committed."""
    client.admin("CREATE", name=name, numShards=shards, replicationFactor=replicas,
                 **{"collection.configName": CONFIGSET_NAME, "waitForFinalState": "true"})
    current_schema(client, name)
    send_documents(client, name, records, mesh_names, fingerprints, vectors=vectors)


def current_schema(client: SolrClient, name: str) -> None:
    """The new collection `name` with this repository's schema: a cluster whose
    configset predates a field (one uploaded by an older medsearch) gets the
    repository's configset, and the new collection, not yet live, reloads it."""
    try:
        client.call(f"{name}/select", {"q": "vector_model:probe", "defType": "lucene",
                                       "rows": 0, "spellcheck": "false"}, bad_request=BuildFailed)
        return
    except BuildFailed as exc:  # Solr's 400 "undefined field": a configset from before it
        if "undefined field" not in str(exc):
            raise
    upload_repository_configset(client)
    client.admin("RELOAD", name=name)


def send_documents(client: SolrClient, name: str, records: list[Record],
                   mesh_names: frozenset[str] | None = None,
                   fingerprints: dict[str, str] | None = None,
                   deletes: list[str] = (), vectors: dict[str, str] | None = None) -> None:
    """`deletes` removed and `records` added (replaced) in collection `name`, committed."""
    fingerprints = fingerprints or {}
    if deletes:
        client.call(f"{name}/update", body=json.dumps({"delete": list(deletes)}).encode(),
                    timeout=300, bad_request=BuildFailed)
    for start in range(0, len(records), BATCH):
        body = json.dumps([solr_document(r, mesh_names, fingerprints.get(record_key(r)), vectors)
                           for r in records[start:start + BATCH]]).encode()
        client.call(f"{name}/update", body=body, timeout=300, bad_request=BuildFailed)
    client.call(f"{name}/update", {"commit": "true", "waitSearcher": "true"}, timeout=300,
                bad_request=BuildFailed)


def verify_collection(client: SolrClient, name: str, expected: int,
                      probes: list[Record]) -> None:
    """The new collection's count and a test search, before it goes live."""
    found = client.call(f"{name}/select", {"q": "*:*", "defType": "lucene", "rows": 0,
                                           "spellcheck": "false"})["response"]["numFound"]
    if found != expected:
        raise BuildFailed(f"verification failed: the new collection holds {found} documents, "
                          f"expected {expected}; the live index was left as it was")
    for probe in probes:
        answer = client.call(f"{name}/select", {"q": f'id:"{record_key(probe)}"',
                                                "defType": "lucene", "rows": 1, "fl": "id"})
        if not answer["response"]["docs"]:
            raise BuildFailed(f"verification failed: a test search for {record_key(probe)} "
                              "found nothing; the live index was left as it was")


def publish(client: SolrClient, alias: str, name: str, report: BuildReport,
            header: dict | None = None) -> None:
    """Move the alias to collection `name` in one step; drop the collection it left."""
    old = live_collection(client, alias)
    if old is not None:  # the report first: the alias never points at an undescribed build
        describe(client, alias, name, report, header)
    client.admin("CREATEALIAS", name=alias, collections=name)
    if old is None:
        describe(client, alias, name, report, header)
    else:
        client.admin("ALIASPROP", name=alias, **{f"property.build.{old}": "",
                                                 f"property.manifest.{old}": ""})
        drain(client, alias, name)
        for gone in old.split(","):
            _drop_quietly(client, gone)


def drain(client: SolrClient, alias: str, name: str, timeout: float = 30.0) -> None:
    """Wait, before the old collection is deleted, until every live node sends the
    alias's searches to collection `name`, then for the searches already under way.

    Each node learns of the moved alias from a ZooKeeper watch, a moment after
    CREATEALIAS returns; a search reaching a node that still sends it to the old
    collection as that collection is deleted fails (found by
    searches during rebuilds: docs/solr.md, "Rebuilding while the site serves").
    A node's answer with `shards.info` names the cores that served it.
    """
    deadline = time.monotonic() + timeout
    scheme = client.url.split("://", 1)[0]
    nodes = client.admin("CLUSTERSTATUS").get("cluster", {}).get("live_nodes", [])
    for node in nodes:  # "host:port_solr": the node's address and its path
        node_client = SolrClient(f"{scheme}://{node.replace('_', '/', 1)}")
        while time.monotonic() < deadline:
            try:
                answer = node_client.call(f"{alias}/select", {
                    "q": "*:*", "defType": "lucene", "rows": 0, "shards.info": "true",
                    "shortCircuit": "false", "spellcheck": "false"}, timeout=5)
            except MedsearchError:
                break  # a node down or leaving: it serves nothing to wait for
            cores = answer.get("shards.info", {})
            if cores and all(f"/{name}_shard" in core for core in cores):
                break
            time.sleep(0.1)
    time.sleep(DRAIN_SECONDS)


def describe(client: SolrClient, alias: str, name: str, report: BuildReport,
             header: dict | None) -> None:
    """Save the report of collection `name` (`build.NAME`) and its manifest's header
    (`manifest.NAME`, none for eval's collections) as properties of the alias."""
    properties = {f"property.build.{name}": json.dumps(report.to_dict(), ensure_ascii=False)}
    if header is not None:
        properties[f"property.manifest.{name}"] = json.dumps(header, ensure_ascii=False)
    client.admin("ALIASPROP", name=alias, **properties)


def build_info(client: SolrClient, alias: str) -> tuple[str, dict]:
    """The collection the alias points to and what its build saved."""
    answer = client.call("admin/collections", {"action": "LISTALIASES"})
    name = answer.get("aliases", {}).get(alias)
    if name is None:
        raise IndexMissing(f"no index {alias!r} on SolrCloud at {client.url}: "
                           "run `medsearch build`")
    saved = answer.get("properties", {}).get(alias, {}).get(f"build.{name}")
    return name, json.loads(saved) if saved else {}


def _drop_quietly(client: SolrClient, name: str) -> None:
    """Delete a collection; one that cannot go now is a leftover the next build clears."""
    try:
        client.admin("DELETE", name=name)
    except MedsearchError:
        pass


def collection_bytes(client: SolrClient, name: str) -> int:
    """The index size of one copy of the collection (its shard leaders), from COLSTATUS."""
    answer = client.call("admin/collections", {"action": "COLSTATUS", "collection": name,
                                               "coreInfo": "true"})
    shards = answer.get(name, {}).get("shards", {}).values()
    return int(sum(shard.get("leader", {}).get("segInfos", {}).get("info", {})
                   .get("core", {}).get("sizeInGB", 0) for shard in shards) * 2**30)
