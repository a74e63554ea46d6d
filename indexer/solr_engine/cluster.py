"""A local SolrCloud to try and to test: `medsearch cluster up|status|down`.

ZooKeeper and N Solr nodes, each its own JVM on 127.0.0.1, run from Solr's
Maven artifacts (solr/pom.xml) with the launcher in solr/src. Everything a
cluster owns lives in its folder:

    DIR/java.args         the JVMs' classpath (the launcher and the jars, built
                          once into ~/.cache/medsearch, the jars in ~/.m2)
    DIR/zookeeper/        ZooKeeper's zoo.cfg and data (collections, configsets)
    DIR/solr-PORT/        each node's solr home (solr.xml, its cores)
    DIR/logs/             maven.log, zookeeper.log, solr-PORT.log
    DIR/*.pid             one pid file per running process
    DIR/.lock             held while `up` or `down` works on DIR

Standard library only: the cluster is driven over HTTP (Solr's Collections
and Configsets APIs) and ZooKeeper's `ruok`; indexer.solr_engine.java finds Java and
builds the classpath.
"""

from __future__ import annotations

import contextlib
import fcntl
import io
import json
import os
import shutil
import signal
import socket
import subprocess
import time
import urllib.error
import urllib.parse
import urllib.request
import zipfile
from pathlib import Path

from ..errors import ClusterError
from .java import SOLR_PROJECT, find_java, resolve_classpath

CONFIGSET = SOLR_PROJECT / "configset" / "medsearch"
CONFIGSET_NAME = "medsearch"
LAUNCHER = "medsearch.SolrNode"
ZOOKEEPER_MAIN = "org.apache.zookeeper.server.ZooKeeperServerMain"
# Solr's own convention: its embedded ZooKeeper listens 1000 above the node.
ZOOKEEPER_OFFSET = 1000
# Per node; MEDSEARCH_SOLR_HEAP overrides it (e.g. 2g for the 100,000-page bench).
DEFAULT_HEAP = "512m"
ZOOKEEPER_HEAP = "128m"
START_TIMEOUT = 120.0  # seconds for every node to be live (a cold CI machine)
STOP_GRACE = 20.0  # seconds between SIGTERM and SIGKILL


# --- one small HTTP helper ------------------------------------------------------

def solr_request(url: str, body: bytes | None = None, content_type: str = "application/json",
                 timeout: float = 30.0) -> dict:
    """Solr's JSON answer to a GET (or a POST of `body`); its error message as ClusterError."""
    request = urllib.request.Request(url, data=body, method="POST" if body is not None else "GET")
    if body is not None:
        request.add_header("Content-Type", content_type)
    try:
        with urllib.request.urlopen(request, timeout=timeout) as response:
            return json.load(response)
    except urllib.error.HTTPError as exc:
        try:
            message = json.load(exc)["error"]["msg"].splitlines()[0]
        except (ValueError, KeyError, TypeError, IndexError):
            message = exc.reason
        raise ClusterError(f"Solr answered {exc.code} to {url}: {message}") from None
    except (OSError, ValueError) as exc:  # refused, reset, timed out, not JSON
        raise ClusterError(f"no answer from Solr at {url}: {exc}") from None


def solr_url(port: int) -> str:
    return f"http://127.0.0.1:{port}/solr"


def node_name(port: int) -> str:
    """How SolrCloud names the node on `port` in live_nodes."""
    return f"127.0.0.1:{port}_solr"


# --- processes ------------------------------------------------------------------

def _pid_file(root: Path, role: str, port: int) -> Path:
    return root / f"{role}-{port}.pid"


def _pid_files(root: Path) -> list[tuple[str, int, Path]]:
    """(role, port, pid file) of each process started in `root`, ZooKeeper first."""
    found = []
    for path in root.glob("*.pid"):
        role, _, port = path.stem.rpartition("-")
        if role in ("zookeeper", "solr") and port.isdigit():
            found.append((role, int(port), path))
    return sorted(found, key=lambda item: (item[0] != "zookeeper", item[1]))


def _read_pid(path: Path) -> int | None:
    try:
        return int(path.read_text().strip())
    except (OSError, ValueError):
        return None


def is_ours(pid: int | None, root: Path) -> bool:
    """Whether `pid` is alive and is a JVM of the cluster in `root` (not a reused pid)."""
    if not pid:
        return False
    try:
        command = Path(f"/proc/{pid}/cmdline").read_bytes().split(b"\0")
        state = Path(f"/proc/{pid}/stat").read_text().rpartition(")")[2].split()[0]
    except (OSError, IndexError):
        return False
    # A killed JVM whose parent has gone stays a zombie where nothing reaps it.
    return state != "Z" and any(f"{root}/".encode() in part for part in command)


def port_free(port: int) -> bool:
    """Whether a node or ZooKeeper could listen on `port` of 127.0.0.1."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        # As Jetty and ZooKeeper bind: connections closed moments ago
        # (TIME_WAIT) do not keep a port taken, a listener does.
        probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            probe.bind(("127.0.0.1", port))
        except OSError:
            return False
    return True


def zookeeper_ok(port: int, timeout: float = 2.0) -> bool:
    """ZooKeeper's own health check: `ruok` answered by `imok`."""
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=timeout) as conn:
            conn.sendall(b"ruok")
            return conn.recv(4) == b"imok"
    except OSError:
        return False


def _start(java: str, args: list[str], root: Path, role: str, port: int) -> subprocess.Popen:
    """One JVM of the cluster, detached from the terminal, logging to DIR/logs."""
    log_path = root / "logs" / f"{role}-{port}.log"
    with open(log_path, "ab") as log:
        process = subprocess.Popen(
            [java, f"-Dlog4j2.configurationFile={SOLR_PROJECT / 'log4j2.xml'}",
             "-XX:+ExitOnOutOfMemoryError", f"@{root / 'java.args'}", *args],
            stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
            cwd=root, start_new_session=True)  # Ctrl-C in the terminal leaves it running
    _pid_file(root, role, port).write_text(f"{process.pid}\n")
    return process


def _wait(what: str, ready, processes: dict[str, subprocess.Popen], timeout: float) -> None:
    """Polls `ready()` until true; a process that exits first fails with its log."""
    deadline = time.monotonic() + timeout
    while not ready():
        for log, process in processes.items():
            if process.poll() is not None:
                raise ClusterError(f"{what}: a process exited with status "
                                   f"{process.returncode}: see {log}")
        if time.monotonic() > deadline:
            raise ClusterError(f"{what}: not ready after {timeout:.0f} s: see the logs in "
                               f"{Path(next(iter(processes))).parent}")
        time.sleep(0.25)


@contextlib.contextmanager
def _locked(root: Path):
    """Holds DIR/.lock: one `up` or `down` at a time per cluster folder."""
    root.mkdir(parents=True, exist_ok=True)
    with open(root / ".lock", "a+") as lock:
        try:
            fcntl.flock(lock, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            lock.seek(0)
            holder = lock.read().strip() or "unknown"
            raise ClusterError(f"{root} is locked by another `medsearch cluster` command "
                               f"(pid {holder}): wait for it to finish") from None
        lock.seek(0)
        lock.truncate()
        lock.write(f"{os.getpid()}\n")
        lock.flush()
        yield


# --- the commands ---------------------------------------------------------------

def live_nodes(url: str, timeout: float = 5.0) -> set[str]:
    """The nodes ZooKeeper lists as live, asked of the node at `url`."""
    answer = solr_request(f"{url}/admin/collections?action=CLUSTERSTATUS&wt=json",
                          timeout=timeout)
    return set(answer.get("cluster", {}).get("live_nodes", []))


def upload_configset(url: str, folder: Path = CONFIGSET, name: str = CONFIGSET_NAME) -> None:
    """Uploads the configset in `folder` (its conf/) as `name`, replacing one of that name."""
    packed = io.BytesIO()
    with zipfile.ZipFile(packed, "w", zipfile.ZIP_DEFLATED) as archive:
        for path in sorted((folder / "conf").rglob("*")):
            if path.is_file():
                archive.write(path, path.relative_to(folder / "conf").as_posix())
    query = urllib.parse.urlencode({"action": "UPLOAD", "name": name, "overwrite": "true",
                                    "cleanup": "true", "wt": "json"})
    solr_request(f"{url}/admin/configs?{query}", body=packed.getvalue(),
                 content_type="application/octet-stream")


def up(folder: str | os.PathLike, nodes: int = 2, port_base: int = 8983, log=None) -> str:
    """Starts ZooKeeper and `nodes` Solr nodes in `folder`; returns the first node's URL.

    Returns once every node is live and the configset is uploaded, leaving
    the cluster running. Collections and configsets live in ZooKeeper's data
    in `folder`, so a cluster brought down and up again keeps them.
    """
    if nodes < 1:
        raise ClusterError(f"--nodes must be at least 1, not {nodes}")
    root = Path(folder).resolve()
    say = log or (lambda message: None)
    ports = [port_base + i for i in range(nodes)]
    zk_port = port_base + ZOOKEEPER_OFFSET
    with _locked(root):
        running = [path for _, _, path in _pid_files(root) if is_ours(_read_pid(path), root)]
        if running:
            raise ClusterError(f"a cluster is already running in {root}: "
                               f"`medsearch cluster down --dir {folder}` first")
        for _, _, path in _pid_files(root):  # left by a cluster that died
            path.unlink()
        for port in [zk_port, *ports]:
            if not port_free(port):
                raise ClusterError(f"port {port} on 127.0.0.1 is in use: stop what listens "
                                   "there, or choose other ports with --port-base")
        java = find_java()
        started = time.monotonic()
        (root / "logs").mkdir(exist_ok=True)
        classpath = resolve_classpath(root / "logs" / "maven.log")
        # An argument file keeps the 140-jar classpath out of `ps` and /proc.
        (root / "java.args").write_text(f'-cp "{classpath}"\n')
        try:
            _start_all(java, root, zk_port, ports, say)
            upload_configset(solr_url(ports[0]))
        except BaseException:
            _stop(root)  # nothing half-started stays behind
            raise
        say(f"ZooKeeper on 127.0.0.1:{zk_port}, {nodes} Solr node(s) on "
            f"{', '.join(map(str, ports))}, ready in {time.monotonic() - started:.1f} s; "
            f"logs in {root / 'logs'}")
    return solr_url(ports[0])


def _start_all(java: str, root: Path, zk_port: int, ports: list[int], say) -> None:
    zk_dir = root / "zookeeper"
    (zk_dir / "data").mkdir(parents=True, exist_ok=True)
    (zk_dir / "zoo.cfg").write_text(
        f"dataDir={zk_dir / 'data'}\nclientPort={zk_port}\nclientPortAddress=127.0.0.1\n"
        "tickTime=2000\n"
        # No admin web server (it would take port 8080); `ruok` for health checks.
        "admin.enableServer=false\n4lw.commands.whitelist=ruok,mntr,srvr,conf\n")
    say(f"starting ZooKeeper on 127.0.0.1:{zk_port}")
    zookeeper = _start(java, [f"-Xmx{ZOOKEEPER_HEAP}", ZOOKEEPER_MAIN, str(zk_dir / "zoo.cfg")],
                       root, "zookeeper", zk_port)
    _wait("ZooKeeper", lambda: zookeeper_ok(zk_port),
          {str(root / "logs" / f"zookeeper-{zk_port}.log"): zookeeper}, 60.0)

    heap = os.environ.get("MEDSEARCH_SOLR_HEAP", DEFAULT_HEAP)
    processes = {}
    for port in ports:
        home = root / f"solr-{port}"
        home.mkdir(exist_ok=True)
        shutil.copyfile(SOLR_PROJECT / "solr.xml", home / "solr.xml")
        say(f"starting a Solr node on {solr_url(port)}")
        processes[str(root / "logs" / f"solr-{port}.log")] = _start(
            java, [f"-Xms{heap}", f"-Xmx{heap}", f"-Dsolr.log.dir={root / 'logs'}",
                   LAUNCHER, str(port), str(home), f"127.0.0.1:{zk_port}"],
            root, "solr", port)
    wanted = {node_name(port) for port in ports}

    def all_live() -> bool:
        try:
            return wanted <= live_nodes(solr_url(ports[0]), timeout=2.0)
        except ClusterError:
            return False

    _wait("the Solr nodes", all_live, processes, START_TIMEOUT)
    # A cluster started again holds its collections: searchable once their
    # replicas on these nodes have found their leaders and caught up.
    _wait("the collections' replicas", lambda: not _replicas_not_active(ports[0], wanted),
          processes, START_TIMEOUT)


def _replicas_not_active(port: int, nodes: set[str]) -> list[str]:
    """The cores on `nodes` of every collection that are not active yet."""
    try:
        state = solr_request(f"{solr_url(port)}/admin/collections?action=CLUSTERSTATUS&wt=json",
                             timeout=5.0)
    except ClusterError:
        return ["(no answer)"]
    return [replica["core"] for collection in state["cluster"].get("collections", {}).values()
            for shard in collection["shards"].values() for replica in shard["replicas"].values()
            if replica["node_name"] in nodes and replica["state"] != "active"]


def status(folder: str | os.PathLike) -> dict:
    """The cluster in `folder`: each node's URL, pid and liveness, and ZooKeeper's."""
    root = Path(folder).resolve()
    files = _pid_files(root)
    if not files:
        raise ClusterError(f"no cluster in {folder}: start one with "
                           f"`medsearch cluster up --dir {folder}`")
    nodes, zookeeper = [], {}
    for role, port, path in files:
        pid = _read_pid(path)
        running = is_ours(pid, root)
        if role == "zookeeper":
            zookeeper = {"address": f"127.0.0.1:{port}", "pid": pid,
                         "running": running and zookeeper_ok(port)}
        else:
            nodes.append({"url": solr_url(port), "pid": pid, "running": running})
    live: set[str] = set()
    for node in nodes:  # any running node can say which nodes ZooKeeper sees
        if node["running"]:
            with contextlib.suppress(ClusterError):
                live = live_nodes(node["url"])
                break
    for node in nodes:
        port = int(urllib.parse.urlsplit(node["url"]).port)
        node["live"] = node.pop("running") and node_name(port) in live
    return {"nodes": nodes, "zookeeper": zookeeper}


def all_live(state: dict) -> bool:
    """Whether ZooKeeper and every node of a `status()` are up."""
    return bool(state["zookeeper"].get("running")) and all(n["live"] for n in state["nodes"])


def format_status(state: dict) -> str:
    """`medsearch cluster status` as text: a line per node, then ZooKeeper's."""
    lines = [f"solr       {n['url']:<30} pid {n['pid'] or '-':<8} "
             f"{'live' if n['live'] else 'down'}" for n in state["nodes"]]
    zk = state["zookeeper"]
    if zk:
        lines.append(f"zookeeper  {zk['address']:<30} pid {zk['pid'] or '-':<8} "
                     f"{'running' if zk['running'] else 'down'}")
    return "\n".join(lines)


def down(folder: str | os.PathLike) -> int:
    """Stops the cluster in `folder`; returns how many processes were running.

    SIGTERM first (Solr leaves the cluster cleanly, ZooKeeper last), SIGKILL
    after a grace period. The data stays in `folder` for the next `up`.
    """
    root = Path(folder).resolve()
    with _locked(root):
        return _stop(root)


def _stop(root: Path) -> int:
    targets = [(path, pid) for _, _, path in _pid_files(root)
               if is_ours(pid := _read_pid(path), root)]
    # Nodes before ZooKeeper: a node that loses ZooKeeper first waits for it.
    nodes = [(path, pid) for path, pid in targets if not path.name.startswith("zookeeper")]
    keeper = [(path, pid) for path, pid in targets if path.name.startswith("zookeeper")]
    for group in (nodes, keeper):
        for _, pid in group:
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGTERM)
        deadline = time.monotonic() + STOP_GRACE
        while any(is_ours(pid, root) for _, pid in group) and time.monotonic() < deadline:
            time.sleep(0.2)
        for _, pid in group:
            if is_ours(pid, root):
                with contextlib.suppress(ProcessLookupError):
                    os.kill(pid, signal.SIGKILL)
        while any(is_ours(pid, root) for _, pid in group):
            time.sleep(0.05)
    for _, _, path in _pid_files(root):
        path.unlink()
    return len(targets)

