"""`medsearch check` on SolrCloud: is the live collection whole and served?

Solr checks its own index files (Lucene's checksums, on every merge and
replication), so medsearch checks what it alone knows: that the alias
resolves, that every shard has an active leader and every replica is active
on a live node (a node down means its replicas are not, even before
ZooKeeper says so), and that the collection holds as many documents as the
last build or update indexed. One line per problem; and how many documents
have a vector for the semantic rerank.
"""

from __future__ import annotations

from ..errors import MedsearchError
from ..results import IndexCheck
from . import build
from .client import SolrClient
from .semantic import describe as describe_vectors


def check(url: str, root) -> IndexCheck:
    """The live collection of `root`'s alias checked; IndexMissing when there is none."""
    client = SolrClient(url)
    alias = build.alias_name(root)
    name, info = build.build_info(client, alias)
    status = client.admin("CLUSTERSTATUS", collection=name)["cluster"]
    live = set(status.get("live_nodes", []))
    shards = status["collections"][name]["shards"]
    problems = [problem for shard, state in sorted(shards.items())
                for problem in shard_problems(shard, state, live)]
    vectors = ""
    try:
        documents = client.call(f"{name}/select", {
            "q": "*:*", "defType": "lucene", "rows": 0, "spellcheck": "false"}
        )["response"]["numFound"]
        vectors = describe_vectors(client, name, documents)
    except MedsearchError as exc:
        problems.append(f"the collection cannot be counted: {exc}")
    else:
        if documents != info.get("indexed", documents):
            problems.append(f"the collection holds {documents} documents; the last "
                            f"`medsearch {info.get('command', 'build')}` indexed "
                            f"{info['indexed']}")
    replicas = sum(len(state.get("replicas", {})) for state in shards.values())
    message = (f"{len(problems)} problem(s) with the index {alias!r} on SolrCloud at {url}: "
               "bring the nodes back (`medsearch cluster status`), else rebuild with "
               "`medsearch build`") if problems else ""
    summary = "" if problems else (
        f"{name}: {len(shards)} shard(s), {replicas} replica(s), every one active on a "
        f"live node, {documents} documents as indexed: index sound")
    return IndexCheck(generation=name, files=replicas, damaged=problems, message=message,
                      summary=summary, vectors=vectors)


def shard_problems(shard: str, state: dict, live: set[str]) -> list[str]:
    """What keeps one shard from being served in full, one line each."""
    problems = []
    replicas = state.get("replicas", {})
    leaders = [r for r in replicas.values() if r.get("leader") == "true"
               and r.get("state") == "active" and r.get("node_name") in live]
    if not leaders:
        problems.append(f"{shard}: no active leader: searches and updates of its "
                        "documents fail")
    for replica_name, replica in sorted(replicas.items()):
        node = replica.get("node_name", "?")
        if node not in live:
            problems.append(f"{shard}: replica {replica_name} is on {node}, which is not live")
        elif replica.get("state") != "active":
            problems.append(f"{shard}: replica {replica_name} on {node} is "
                            f"{replica.get('state', 'in no state')}")
    return problems
