"""Helpers for running the real site: `medsearch serve` in a subprocess, and chromium.

Used by tests/test_browser.py and tools/screenshot.py.
"""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
import urllib.error
import urllib.request
from contextlib import ExitStack, contextmanager
from pathlib import Path
from typing import Iterator

REPO = Path(__file__).resolve().parent.parent
CHROMIUM = "/usr/bin/chromium"
# Debian's chromium in a container: no sandbox, no GPU, and nothing that
# phones home (updates, sync, QUIC probes) during a test.
CHROMIUM_ARGS = [
    "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
    "--disable-background-networking", "--disable-component-update", "--disable-sync",
]


def free_port() -> int:
    """A TCP port nothing listens on right now."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@contextmanager
def running_site(index: Path, workers: int = 2, seeds: Path | None = None,
                 timeout: float = 120.0) -> Iterator[str]:
    """`medsearch serve` on a free port; yields its base URL, stops it afterwards."""
    port = free_port()
    command = [sys.executable, "-m", "indexer", "serve", "--index", str(index),
               "--port", str(port), "--workers", str(workers)]
    if seeds is not None:
        command += ["--seeds", str(seeds)]
    env = dict(os.environ, PYTHONPATH=os.pathsep.join(filter(None, [str(REPO), os.environ.get("PYTHONPATH")])))
    with tempfile.TemporaryFile() as log:
        # Its own session, so stopping it reaches the gunicorn workers too.
        server = subprocess.Popen(command, cwd=REPO, env=env, stdout=log,
                                  stderr=subprocess.STDOUT, start_new_session=True)
        url = f"http://127.0.0.1:{port}"
        try:
            _wait_until_up(url, server, log, timeout)
            yield url
        finally:
            _stop(server)


def _wait_until_up(url: str, server: subprocess.Popen, log, timeout: float) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if server.poll() is not None:
            log.seek(0)
            raise RuntimeError(f"medsearch serve exited with {server.returncode}:\n"
                               + log.read().decode(errors="replace"))
        try:
            with urllib.request.urlopen(url + "/api/search?q=&per_page=1", timeout=5) as response:
                if response.status == 200:
                    return
        except (urllib.error.URLError, ConnectionError, TimeoutError):
            pass
        time.sleep(0.2)
    raise TimeoutError(f"medsearch serve did not answer at {url} within {timeout:.0f} s")


def _stop(server: subprocess.Popen) -> None:
    """SIGTERM (gunicorn's graceful stop), then SIGKILL to the group if it hangs."""
    if server.poll() is None:
        os.killpg(server.pid, signal.SIGTERM)
        try:
            server.wait(timeout=20)
        except subprocess.TimeoutExpired:
            os.killpg(server.pid, signal.SIGKILL)
            server.wait()


@contextmanager
def slow_header_clients(host: str, port: int, count: int) -> Iterator[list[socket.socket]]:
    """`count` connections that send a request line, then one more header line
    each second and never the blank line that ends the head (slowloris)."""
    stop = threading.Event()
    with ExitStack() as stack:
        slow = []
        for _ in range(count):
            sock = stack.enter_context(socket.create_connection((host, port), timeout=30))
            sock.sendall(f"GET /?q=spine HTTP/1.1\r\nHost: {host}\r\n".encode())
            slow.append(sock)

        def trickle():
            line = 0
            while not stop.wait(1.0) and line < 60:
                line += 1
                for sock in slow:
                    try:
                        sock.sendall(b"X-Slow-%d: %d\r\n" % (line, line))
                    except OSError:
                        pass  # the server has given up on this one: as it should

        trickler = threading.Thread(target=trickle, daemon=True)
        trickler.start()
        try:
            time.sleep(1.5)  # every slow client is connected and has sent a first line
            yield slow
        finally:
            stop.set()
            trickler.join(timeout=10)


def launch_chromium(playwright):
    """Debian's chromium under Playwright (never a downloaded browser)."""
    return playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
