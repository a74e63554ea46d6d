"""Slow clients against the server: medsearch's worker beside gunicorn's stock gthread.

    .venv/bin/python -m bench.slow_clients [--index index] [--seconds 10] [--slow 48]

Each worker class serves the same index under gunicorn (2 workers x 4
threads, as `medsearch serve`), first to 8 clients sending cheap searches
over kept-alive connections, then to the same 8 while `--slow` connections
send a request head one line per second (slowloris). Prints requests per
second, p50/p95 latency and failed requests for each, and medsearch's rate
as a ratio to the stock worker's, measured in the same run. Bounded: fixed
durations, fixed connection counts, loopback only.
"""

from __future__ import annotations

import argparse
import http.client
import os
import signal
import socket
import subprocess
import sys
import threading
import time
from pathlib import Path
from urllib.parse import quote

REPO = Path(__file__).resolve().parent.parent
WORKERS = {"stock gthread": "gthread", "medsearch": "webui.worker.MedsearchWorker"}
QUERIES = ["spine", "vertebroplasty", "blood patch", "tuberculosis", "fracture", "disc"]
CLIENTS = 8


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def start(worker_class: str, index: str, port: int) -> subprocess.Popen:
    env = dict(os.environ, MEDSEARCH_INDEX=index, PYTHONPATH=str(REPO))
    server = subprocess.Popen(
        [sys.executable, "-m", "gunicorn", "-k", worker_class, "-w", "2", "--threads", "4",
         "-b", f"127.0.0.1:{port}", "webui.wsgi:app"],
        cwd=REPO, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
        start_new_session=True)
    for _ in range(600):
        try:
            connection = http.client.HTTPConnection("127.0.0.1", port, timeout=5)
            connection.request("GET", "/api/search?q=spine")
            if connection.getresponse().status == 200:
                connection.close()
                return server
        except OSError:
            time.sleep(0.1)
    stop(server)
    raise RuntimeError(f"{worker_class} did not come up")


def stop(server: subprocess.Popen) -> None:
    os.killpg(server.pid, signal.SIGTERM)
    try:
        server.wait(timeout=20)
    except subprocess.TimeoutExpired:
        os.killpg(server.pid, signal.SIGKILL)
        server.wait()


def load(port: int, seconds: float) -> dict:
    """CLIENTS threads searching for `seconds`; latencies and failures."""
    deadline = time.monotonic() + seconds
    latencies: list[float] = []
    failures = [0]
    lock = threading.Lock()

    def client(number: int) -> None:
        connection = http.client.HTTPConnection("127.0.0.1", port, timeout=5)
        turn = number
        while time.monotonic() < deadline:
            turn += 1
            started = time.perf_counter()
            try:
                connection.request("GET", "/api/search?q=" + quote(QUERIES[turn % len(QUERIES)]))
                response = connection.getresponse()
                response.read()
                ok = response.status == 200
            except OSError:
                ok = False
                connection.close()
                connection = http.client.HTTPConnection("127.0.0.1", port, timeout=5)
            with lock:
                if ok:
                    latencies.append(time.perf_counter() - started)
                else:
                    failures[0] += 1
        connection.close()

    threads = [threading.Thread(target=client, args=(n,)) for n in range(CLIENTS)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    latencies.sort()

    def percentile(p: float) -> float:
        return latencies[min(len(latencies) - 1, int(p * len(latencies)))] * 1000 if latencies else float("nan")

    return {"rps": len(latencies) / seconds, "p50_ms": percentile(0.5),
            "p95_ms": percentile(0.95), "failed": failures[0]}


def with_slow_clients(port: int, count: int, seconds: float) -> dict:
    slow = []
    stopping = threading.Event()
    for _ in range(count):
        sock = socket.create_connection(("127.0.0.1", port), timeout=5)
        sock.sendall(b"GET /?q=spine HTTP/1.1\r\nHost: 127.0.0.1\r\n")
        slow.append(sock)

    def trickle() -> None:
        line = 0
        while not stopping.wait(1.0):
            line += 1
            for index, sock in enumerate(slow):
                try:
                    sock.sendall(b"X-Slow-%d: %d\r\n" % (line, line))
                except OSError:  # closed by the server: the attacker reconnects
                    try:
                        slow[index] = socket.create_connection(("127.0.0.1", port), timeout=5)
                        slow[index].sendall(b"GET / HTTP/1.1\r\nHost: 127.0.0.1\r\n")
                    except OSError:
                        pass

    trickler = threading.Thread(target=trickle)
    trickler.start()
    try:
        time.sleep(1.0)
        return load(port, seconds)
    finally:
        stopping.set()
        trickler.join()
        for sock in slow:
            sock.close()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.slow_clients")
    parser.add_argument("--index", default=os.environ.get("MEDSEARCH_INDEX", "index"))
    parser.add_argument("--seconds", type=float, default=10.0)
    parser.add_argument("--slow", type=int, default=48)
    args = parser.parse_args(argv)
    rows = {}
    for name, worker_class in WORKERS.items():
        port = free_port()
        server = start(worker_class, args.index, port)
        try:
            rows[name] = {"quiet": load(port, args.seconds),
                          "slowloris": with_slow_clients(port, args.slow, args.seconds)}
        finally:
            stop(server)
    print(f"{CLIENTS} clients, {args.seconds:.0f} s per phase, {args.slow} slow-header connections")
    for name, phases in rows.items():
        for phase, row in phases.items():
            print(f"{name:14} {phase:10} {row['rps']:7.1f} req/s  p50 {row['p50_ms']:7.1f} ms  "
                  f"p95 {row['p95_ms']:7.1f} ms  failed {row['failed']}")
    base = rows["stock gthread"]["quiet"]["rps"]
    print(f"medsearch / stock, quiet: {rows['medsearch']['quiet']['rps'] / base:.2f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
