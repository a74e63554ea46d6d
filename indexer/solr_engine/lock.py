"""One writer at a time on SolrCloud: a lock document held in the cluster.

`build` and `update` of the alias A first create the document `A` in the
collection `medsearch-locks` with `_version_: -1`, Solr's "create only if
absent": the shard's leader decides, so of two writers on any machines one
gets the lock and the other a 409, reads the holder and is refused with
IndexLocked naming it, in the Whoosh lock's words (whoosh_engine.lock).
The holder deletes the document when it is done, however it fails.

A writer killed with SIGKILL, or whose machine died, cannot delete it. Its
lock is stale, and the next writer breaks it (saying so in its report),
when the holder ran on this machine and its process is gone, or when its
heartbeat is older than TTL seconds: the holder rewrites the document every
HEARTBEAT seconds from a thread, with the time as "NOW", which the Solr node
fills in, so writers on machines with different clocks judge by the
cluster's. Breaking is a delete conditioned on the stale document's
`_version_`: of two writers breaking one stale lock, one wins. A writer
checks the lock is still its own before it moves the alias (`confirm`), so
one paused past the TTL fails instead of overwriting the one that broke in.

Why a collection and not a ZooKeeper ephemeral node (which would vanish
with its holder by itself): Python would need a ZooKeeper client (kazoo, a
new dependency) and ZooKeeper's address, often not reachable from where
builds run, where everything else medsearch does is Solr's HTTP API at one
URL. The collection uses its own small configset
(solr/configset/medsearch-locks), uploaded when missing.
"""

from __future__ import annotations

import json
import os
import socket
import threading
import uuid
from datetime import datetime, timezone

from ..errors import BuildFailed, IndexLocked, MedsearchError
from .client import SolrClient

LOCKS = "medsearch-locks"  # the collection, and its configset's name
TTL = 120.0  # seconds without a heartbeat after which a lock is stale
HEARTBEAT = 15.0  # seconds between the holder's heartbeats


class _Conflict(Exception):
    """Solr refused a write conditioned on `_version_` (409): someone else's lock."""


class SolrWriterLock:
    """The writer's lock on `alias`, held in the cluster; never waits."""

    def __init__(self, client: SolrClient, alias: str, command: str = "build"):
        self.client, self.alias, self.command = client, alias, command
        self.token = uuid.uuid4().hex
        self.version: int | None = None
        self.started = datetime.now(timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")
        self.broken = ""  # the stale lock this writer broke, said in its report
        self._stop = threading.Event()
        self._beat: threading.Thread | None = None

    def __enter__(self) -> SolrWriterLock:
        ensure_locks(self.client)
        holder = None
        for _ in range(3):  # a lock released or broken in between: try again
            if self._write(version=-1):
                self._beat = threading.Thread(target=self._heartbeat, daemon=True,
                                              name=f"lock-{self.alias}")
                self._beat.start()
                return self
            holder = read_holder(self.client, self.alias)
            if holder is None:
                continue
            why = stale_reason(self.client, holder)
            if why is None:
                break
            if self._delete(holder["_version_"]):
                self.broken = f"broke the stale lock of {describe(holder)}: {why}"
        raise IndexLocked(
            f"the index {self.alias!r} on SolrCloud at {self.client.url} is being written by "
            f"another process ({describe(holder)}): wait for it to finish, then try again")

    def __exit__(self, *exc) -> None:
        self._stop.set()
        if self._beat is not None:
            self._beat.join()
        try:
            self._delete(self.version)
        except MedsearchError:
            pass  # no cluster answers: the lock goes stale, the next writer breaks it

    def confirm(self) -> None:
        """IndexLocked unless the lock is still this writer's (before moving the alias)."""
        holder = read_holder(self.client, self.alias)
        if holder is None or holder.get("token") != self.token:
            raise IndexLocked(
                f"this {self.command}'s lock on the index {self.alias!r} was broken by "
                f"another writer ({describe(holder)}) after {TTL:.0f} s without a heartbeat; "
                "the live index was left to it")

    def _write(self, version: int) -> bool:
        """The lock document written if `_version_` is still `version`; False if not."""
        document = {"id": self.alias, "host": socket.gethostname(), "pid": os.getpid(),
                    "command": self.command, "started": self.started,
                    "token": self.token, "heartbeat": "NOW", "_version_": version}
        try:
            self.client.call(f"{LOCKS}/update", {"commit": "true"},
                             body=json.dumps([document]).encode(),
                             bad_request=BuildFailed, conflict=_Conflict)
        except _Conflict:
            return False
        # The version it now has, read back: `versions=true` answers 0 when the
        # node that took the request is not the shard's leader, and a 0 in a
        # later condition would mean "whatever the version" (found by the tests).
        holder = read_holder(self.client, self.alias)
        if holder is None or holder.get("token") != self.token:
            return False
        self.version = int(holder["_version_"])
        return True

    def _delete(self, version: int | None) -> bool:
        """The lock document deleted if `_version_` is still `version`; False if not."""
        if not version:  # 0 would delete whatever the version: never unconditionally
            return False
        body = json.dumps({"delete": {"id": self.alias, "_version_": version}}).encode()
        try:
            self.client.call(f"{LOCKS}/update", {"commit": "true"}, body=body,
                             bad_request=BuildFailed, conflict=_Conflict)
        except _Conflict:
            return False
        return True

    def _heartbeat(self) -> None:
        while not self._stop.wait(HEARTBEAT):
            try:
                if not self._write(version=self.version):
                    return  # broken by another writer: confirm() will say so
            except MedsearchError:
                pass  # a node restarting: the next beat tries again, within the TTL


def read_holder(client: SolrClient, alias: str) -> dict | None:
    """The lock document of `alias` with its `_version_`, None when nobody holds it."""
    answer = client.call(f"{LOCKS}/get", {"id": alias, "fl": "*,_version_"})
    return answer.get("doc")


def stale_reason(client: SolrClient, holder: dict) -> str | None:
    """Why the lock of `holder` may be broken, None while its holder may be alive."""
    if holder.get("host") == socket.gethostname() and not pid_alive(int(holder["pid"])):
        return "its process is gone"
    old = client.call(f"{LOCKS}/select", {
        "q": f'id:"{holder["id"]}" AND heartbeat:[* TO NOW-{int(TTL)}SECONDS]', "rows": 0})
    if old["response"]["numFound"]:
        return f"no heartbeat for over {TTL:.0f} s"
    return None


def pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # another user's process: alive
        return True
    return True


def describe(holder: dict | None) -> str:
    """'pid 123 on HOST, `medsearch build` since ...', as the Whoosh lock names holders."""
    if not holder:
        return "holder unknown"
    return (f"pid {holder.get('pid')} on {holder.get('host')}, "
            f"`medsearch {holder.get('command')}` since {holder.get('started')}")


def ensure_locks(client: SolrClient) -> None:
    """The locks collection, created (with its configset) when the cluster has none."""
    if LOCKS in client.collections():
        return
    from .cluster import SOLR_PROJECT, upload_configset  # the one uploader

    listed = client.call("admin/configs", {"action": "LIST"}).get("configSets", [])
    if LOCKS not in listed:
        upload_configset(client.url, SOLR_PROJECT / "configset" / LOCKS, LOCKS)
    live = client.admin("CLUSTERSTATUS").get("cluster", {}).get("live_nodes", [])
    try:  # a replica on two nodes: the lock outlives one node
        client.admin("CREATE", name=LOCKS, numShards=1,
                     replicationFactor=max(1, min(2, len(live))),
                     **{"collection.configName": LOCKS, "waitForFinalState": "true"})
    except BuildFailed:
        if LOCKS not in client.collections():  # not another writer creating it at once
            raise
