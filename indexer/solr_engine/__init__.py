"""SolrCloud, the engine past one machine.

`SolrCloud(url)` offers what indexer.engine asks of an engine package
(`open_engine`, `build_index`, `update_index`, `index_records`, `has_index`,
`check_index`, `index_stats`), for the cluster at `url`: .engine searches,
.build writes collections and moves aliases, .update sends what changed,
.lock keeps one writer at a time, .client talks HTTP. `cluster`
starts, lists and stops a local SolrCloud; `java` finds Java and builds
the nodes' classpath with Maven. See docs/solr.md.
"""

from __future__ import annotations

import os

from ..errors import IndexMissing
from ..pages.records import Record, record_key
from ..query import mesh
from ..results import BuildReport, IndexCheck
from ..semantic.vectors import user_cache
from . import build
from .client import SolrClient
from .lock import SolrWriterLock
from .semantic import describe as describe_vectors, embed_records


class SolrCloud:
    """The engine package for the SolrCloud at `url`."""

    def __init__(self, url: str):
        self.url = url.rstrip("/")

    def open_engine(self, root: str | os.PathLike):
        from .engine import SolrEngine

        return SolrEngine(self.url, root)

    def build_index(self, seeds, root, procs: int = 1, progress=None, mesh_file=None,
                    shards: int | None = None, replicas: int | None = None,
                    embed: bool = True) -> BuildReport:
        return build.build(self.url, seeds, root, procs=procs, progress=progress,
                           shards=shards, replicas=replicas, mesh_file=mesh_file, embed=embed)

    def update_index(self, seeds, root, procs: int = 1, progress=None,
                     mesh_file=None, embed: bool = True) -> BuildReport:
        from .update import update

        return update(self.url, seeds, root, procs=procs, progress=progress,
                      mesh_file=mesh_file, embed=embed)

    def index_records(self, root, records: list[Record], data=None) -> None:
        """Make `records` the live collection of `root`, with the build's resources (for eval)."""
        client = SolrClient(self.url)
        alias = build.alias_name(root)
        with SolrWriterLock(client, alias, "eval"):
            build.clear_leftovers(client, alias)
            build.ensure_configset(client)
            name = build.new_collection_name(alias)
            vocabulary = mesh.vocabulary(data=data)
            ordered = sorted((build.whole_headings(r, vocabulary) for r in records),
                             key=record_key)
            # Eval's collections are embedded once per machine (the cache outlives them).
            vectors, _ = embed_records(ordered, cache=user_cache())
            build.write_collection(client, name, ordered, build.DEFAULT_SHARDS,
                                   build.DEFAULT_REPLICAS, vocabulary.names, vectors=vectors)
            build.write_resources(client, name, ordered, vocabulary)
            build.publish(client, alias, name, BuildReport(seeds="", indexed=len(ordered),
                                                           generation=name))

    def has_index(self, root) -> bool:
        try:
            return build.live_collection(SolrClient(self.url), build.alias_name(root)) is not None
        except IndexMissing:  # no cluster answers: no index to serve either
            return False

    def check_index(self, root) -> IndexCheck:
        from .check import check

        return check(self.url, root)

    def index_stats(self, root) -> dict:
        client = SolrClient(self.url)
        alias = build.alias_name(root)
        name, info = build.build_info(client, alias)
        documents = client.call(f"{alias}/select", {"q": "*:*", "defType": "lucene", "rows": 0,
                                                    "spellcheck": "false"})["response"]["numFound"]
        return {"index": f"{self.url} alias {alias}", "generation": name,
                "documents": documents, "built_at": info.get("built_at", ""),
                "command": info.get("command", "build"), "seeds": info.get("seeds", ""),
                "size_bytes": build.collection_bytes(client, name),
                "skipped": info.get("skipped", []),
                "checksums": "kept by Solr (not recorded by medsearch)",
                "vectors": describe_vectors(client, name, documents),
                "synonyms": info.get("vocabulary", {}).get("synonyms", "none (built before "
                                                            "they were stored): rebuild"),
                "abbreviations": info.get("vocabulary", {}).get("abbreviations", "none")}


__all__ = ["SolrCloud"]
