"""A real local SolrCloud for tests: `medsearch cluster up` in a tmp folder.

`solr_cluster` is one 2-node cluster per test session, on free loopback
ports, stopped with `medsearch cluster down` at the end even when tests fail.
Tests that kill nodes or stop a cluster start their own (`running_cluster`).
Other test files that need the shared cluster import `solr_cluster` (for one
cluster across several files, import it in tests/conftest.py instead).
"""

from __future__ import annotations

import json
import random
import subprocess
import sys
import urllib.parse
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Iterator

import pytest

from indexer.solr_engine.build import solr_document  # noqa: F401 - the engine's own mapping, for the tests
from indexer.solr_engine.cluster import port_free, solr_request

REPO = Path(__file__).resolve().parent.parent
# Cold JVMs on two shared cores; a first run also downloads Solr into ~/.m2.
UP_TIMEOUT = 900


def medsearch(*args, env=None, timeout=120) -> subprocess.CompletedProcess:
    """The real command, as a user runs it."""
    return subprocess.run([sys.executable, "-m", "indexer", *map(str, args)], cwd=REPO,
                          env=env, capture_output=True, text=True, timeout=timeout, check=False)


def free_port_base(nodes: int = 2) -> int:
    """A port base whose node ports and ZooKeeper port (base + 1000) are all free."""
    for _ in range(200):
        base = random.randrange(20000, 28000)
        if all(port_free(port) for port in [*range(base, base + nodes), base + 1000]):
            return base
    raise RuntimeError("no free ports for a test cluster")


@dataclass
class Cluster:
    folder: Path
    port_base: int
    nodes: int
    started: subprocess.CompletedProcess  # what `medsearch cluster up` printed

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port_base}/solr"

    def node_url(self, i: int) -> str:
        return f"http://127.0.0.1:{self.port_base + i}/solr"


@contextmanager
def running_cluster(folder: Path, nodes: int = 2) -> Iterator[Cluster]:
    """`medsearch cluster up` in `folder`; `medsearch cluster down` afterwards, always."""
    base = free_port_base(nodes)
    try:
        started = medsearch("cluster", "up", "--dir", folder, "--nodes", nodes,
                            "--port-base", base, timeout=UP_TIMEOUT)
        assert started.returncode == 0, started.stderr
        yield Cluster(folder, base, nodes, started)
    finally:
        medsearch("cluster", "down", "--dir", folder)


@pytest.fixture(scope="session")
def solr_cluster(tmp_path_factory) -> Iterator[Cluster]:
    with running_cluster(tmp_path_factory.mktemp("solr-cluster")) as cluster:
        yield cluster


# --- collections and documents, over Solr's own HTTP APIs ------------------------

def create_collection(url: str, name: str, shards: int = 2, replicas: int = 2) -> dict:
    """A collection of the repository's configset; Solr's CLUSTERSTATUS of it."""
    query = urllib.parse.urlencode({
        "action": "CREATE", "name": name, "numShards": shards, "replicationFactor": replicas,
        "collection.configName": "medsearch", "waitForFinalState": "true", "wt": "json"})
    solr_request(f"{url}/admin/collections?{query}", timeout=180)
    status = solr_request(f"{url}/admin/collections?action=CLUSTERSTATUS&collection={name}"
                          "&wt=json")
    return status["cluster"]["collections"][name]


def add_documents(url: str, collection: str, documents: list[dict]) -> None:
    solr_request(f"{url}/{collection}/update?commit=true&wt=json",
                 body=json.dumps(documents).encode())


def select(url: str, collection: str, timeout: float = 30.0, **params) -> dict:
    query = urllib.parse.urlencode({"wt": "json", **params})
    return solr_request(f"{url}/{collection}/select?{query}", timeout=timeout)
