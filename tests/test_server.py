"""The real server (`medsearch serve`, gunicorn) against hostile and careless clients.

Each test talks to a server started in a subprocess on a loopback port, over
raw sockets where an HTTP library would tidy the request up.
"""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import threading
import time
import urllib.request
from pathlib import Path
from urllib.parse import urlsplit

import pytest

from webui import SECURITY_HEADERS
from webui_fixtures import running_site, slow_header_clients

REPO = Path(__file__).resolve().parent.parent
SLOW_CLIENTS = 48  # more than the 8 request threads of 2 workers x 4, many times over


@pytest.fixture(scope="module")
def site(index_dir):
    with running_site(index_dir, workers=2) as url:
        yield url


def address(url: str) -> tuple[str, int]:
    parts = urlsplit(url)
    return parts.hostname, parts.port


def raw_request(url: str, data: bytes, timeout: float = 20.0) -> bytes:
    """Send `data` as is and read the whole answer (the server closes)."""
    with socket.create_connection(address(url), timeout=timeout) as sock:
        sock.sendall(data)
        answer = bytearray()
        while chunk := sock.recv(65536):
            answer += chunk
    return bytes(answer)


def status_and_headers(answer: bytes) -> tuple[str, dict[str, str]]:
    head = answer.partition(b"\r\n\r\n")[0].decode("latin-1").split("\r\n")
    headers = dict(line.split(": ", 1) for line in head[1:])
    return head[0], headers


def get(url: str, timeout: float = 15.0) -> int:
    with urllib.request.urlopen(url, timeout=timeout) as response:
        response.read()
        return response.status


# --- the workers ------------------------------------------------------------------------------------

def test_every_worker_reranks_with_the_model_loaded_before_the_fork(site):
    # Forty requests over eight request threads reach both workers; each
    # embeds with the model its parent loaded, none says the rerank is off.
    for n in range(40):
        with urllib.request.urlopen(f"{site}/api/search?q=back+pain&n={n}", timeout=15) as answer:
            results = json.load(answer)
        assert results["semantic_note"] == ""
        assert all(set(hit["ranked_with"]) == {"words", "meaning"} for hit in results["hits"])
        assert results["hits"]


def one_answer(sock: socket.socket) -> bytes:
    """One whole answer from a kept-alive connection (its head, then Content-Length bytes)."""
    answer = bytearray()
    while b"\r\n\r\n" not in answer:
        chunk = sock.recv(65536)
        assert chunk, f"closed before a whole head: {bytes(answer)!r}"
        answer += chunk
    head, _, body = bytes(answer).partition(b"\r\n\r\n")
    length = int(status_and_headers(head + b"\r\n\r\n")[1]["Content-Length"])
    while len(body) < length:
        chunk = sock.recv(65536)
        assert chunk, "closed before the whole body"
        body += chunk
    return head + b"\r\n\r\n" + body


def test_a_worker_with_every_thread_taken_sends_clients_back_to_the_queue(index_dir):
    # One worker of 4 threads. One client alone is kept alive; eight asking
    # at once keep every thread taken, and the answers given then close, so
    # that each client's next request waits in the listening socket's queue
    # (for the first worker with a free thread), not behind this worker's.
    request = b"GET /api/search?q=spine&per_page=1 HTTP/1.1\r\nHost: x\r\n\r\n"
    with running_site(index_dir, workers=1) as url:
        with socket.create_connection(address(url), timeout=20) as calm:
            for _ in range(3):  # kept alive: the same connection answers each
                calm.sendall(request)
                status, headers = status_and_headers(one_answer(calm))
                assert (status, headers.get("Connection", "keep-alive")) == (
                    "HTTP/1.1 200 OK", "keep-alive")
        closed, failed = [], []

        def client():
            try:
                ask_twenty_times()
            except Exception as exc:  # a thread's failure is asserted below
                failed.append(repr(exc))

        def ask_twenty_times():
            sock = socket.create_connection(address(url), timeout=20)
            try:
                for _ in range(20):
                    sock.sendall(request)
                    status, headers = status_and_headers(one_answer(sock))
                    assert status == "HTTP/1.1 200 OK"
                    if headers.get("Connection") == "close":
                        assert sock.recv(65536) == b""  # and closed it is
                        closed.append(1)
                        sock.close()
                        sock = socket.create_connection(address(url), timeout=20)
            finally:
                sock.close()

        clients = [threading.Thread(target=client) for _ in range(8)]
        for thread in clients:
            thread.start()
        for thread in clients:
            thread.join(120)
        assert failed == []
        # About 105 of the 160 answers close here; none did when a worker
        # closed only past 8 connections.
        assert len(closed) >= 16


# --- slow clients ----------------------------------------------------------------------------------

def test_slow_header_clients_do_not_starve_normal_requests(site):
    with slow_header_clients(*address(site), SLOW_CLIENTS) as slow:
        statuses = [get(f"{site}/?q=vertebroplasty&n={n}") for n in range(12)]
        statuses += [get(f"{site}/api/search?q=spine&n={n}") for n in range(12)]
        assert statuses == [200] * 24
        # The slow clients themselves are answered 408 and closed once their
        # head is late, without ever having taken a thread.
        answers = []
        for sock in slow:
            sock.settimeout(30)
            answer = bytearray()
            while chunk := sock.recv(65536):
                answer += chunk
            answers.append(bytes(answer))
    for answer in answers:
        status, headers = status_and_headers(answer)
        assert status == "HTTP/1.1 408 Request Timeout"
        assert {name: headers.get(name) for name in SECURITY_HEADERS} == SECURITY_HEADERS
    assert get(f"{site}/?q=spine") == 200


def test_kept_alive_and_pipelined_requests_are_all_answered(site):
    with socket.create_connection(address(site), timeout=20) as sock:
        sock.sendall(b"GET /api/search?q=spine HTTP/1.1\r\nHost: x\r\n\r\n"
                     b"GET /api/search?q=vertebroplasty HTTP/1.1\r\nHost: x\r\n")
        time.sleep(0.5)  # the second head arrives in two parts
        sock.sendall(b"Connection: close\r\n\r\n")
        answer = bytearray()
        while chunk := sock.recv(65536):
            answer += chunk
    assert answer.count(b"HTTP/1.1 200 OK\r\n") == 2


def test_a_request_with_a_body_is_answered_then_closed(site):
    # No page reads a body; waiting for this one would hold a thread.
    answer = raw_request(site, b"POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 100000\r\n\r\nab")
    status, headers = status_and_headers(answer)
    assert status == "HTTP/1.1 405 METHOD NOT ALLOWED"
    assert headers["Connection"] == "close"


# --- gunicorn's own error answers ------------------------------------------------------------------

@pytest.mark.parametrize("request_bytes, status", [
    (b"NOT AN HTTP REQUEST\r\n\r\n", "HTTP/1.1 400 Bad Request"),
    (b"GET / HTTP/1.1\r\nHost: x\r\nBad\x01Name: y\r\n\r\n", "HTTP/1.1 400 Bad Request"),
    (b"GET /" + b"a" * 5000 + b" HTTP/1.1\r\nHost: x\r\n\r\n", "HTTP/1.1 414 URI Too Long"),
    (b"GET / HTTP/1.1\r\nHost: x\r\nX-Big: " + b"b" * 9000 + b"\r\n\r\n",
     "HTTP/1.1 431 Request Header Fields Too Large"),
    (b"GET / HTTP/1.1\r\nHost: x\r\n" + b"X-Many: 1234567890\r\n" * 4000 + b"\r\n",
     "HTTP/1.1 431 Request Header Fields Too Large"),
])
def test_servers_own_error_answers_carry_the_security_headers(site, request_bytes, status):
    answer_status, headers = status_and_headers(raw_request(site, request_bytes))
    assert answer_status == status
    assert {name: headers.get(name) for name in SECURITY_HEADERS} == SECURITY_HEADERS


# --- answers of the app itself ---------------------------------------------------------------------

@pytest.fixture
def client(index_dir):
    from webui import create_app

    return create_app({"TESTING": True, "INDEX": str(index_dir)}).test_client()


@pytest.mark.parametrize("url", ["/", "/api/search", "/article/21349964", "/opensearch.xml"])
def test_method_not_allowed_says_which_methods_are(client, url):
    response = client.post(url)
    assert response.status_code == 405
    assert sorted(response.headers["Allow"].split(", ")) == ["GET", "HEAD", "OPTIONS"]
    assert response.headers["Content-Security-Policy"] == SECURITY_HEADERS["Content-Security-Policy"]


# --- OpenSearch URLs come from configuration, never from the client's Host -------------------------

OPENSEARCH_NS = {"os": "http://a9.com/-/spec/opensearch/1.1/"}


def opensearch_urls(xml: bytes) -> list[str]:
    from xml.etree import ElementTree

    root = ElementTree.fromstring(xml)
    return ([u.get("template") for u in root.findall("os:Url", OPENSEARCH_NS)]
            + [root.find("os:Image", OPENSEARCH_NS).text])


def test_opensearch_uses_the_public_url_whatever_host_is_sent(index_dir):
    from webui import create_app

    app = create_app({"TESTING": True, "INDEX": str(index_dir),
                      "PUBLIC_URL": "https://search.example.org/"})
    response = app.test_client().get("/opensearch.xml", headers={"Host": "evil.example"})
    assert opensearch_urls(response.data) == [
        "https://search.example.org/?q={searchTerms}",
        "https://search.example.org/api/search?q={searchTerms}&page={startPage?}",
        "https://search.example.org/api/suggest?q={searchTerms}",
        "https://search.example.org/static/favicon.svg",
    ]


def test_opensearch_without_a_public_url_never_names_the_clients_host(index_dir, monkeypatch):
    from webui import create_app

    monkeypatch.delenv("MEDSEARCH_PUBLIC_URL", raising=False)
    client = create_app({"TESTING": True, "INDEX": str(index_dir)}).test_client()
    response = client.get("/opensearch.xml", headers={"Host": "evil.example"})
    assert b"evil" not in response.data
    assert opensearch_urls(response.data) == [
        "/?q={searchTerms}", "/api/search?q={searchTerms}&page={startPage?}",
        "/api/suggest?q={searchTerms}", "/static/favicon.svg"]


def test_public_url_comes_from_the_environment(index_dir, monkeypatch):
    from webui import create_app

    monkeypatch.setenv("MEDSEARCH_PUBLIC_URL", "http://10.0.0.5:8080")
    assert create_app({"INDEX": str(index_dir)}).config["PUBLIC_URL"] == "http://10.0.0.5:8080"


def test_served_site_names_its_own_address_in_opensearch(site):
    host, port = address(site)
    answer = raw_request(site, b"GET /opensearch.xml HTTP/1.1\r\nHost: evil.example\r\n"
                               b"Connection: close\r\n\r\n")
    assert answer.startswith(b"HTTP/1.1 200 OK\r\n")
    urls = opensearch_urls(answer.partition(b"\r\n\r\n")[2])
    assert urls[0] == f"http://{host}:{port}/?q={{searchTerms}}"
    assert b"evil" not in answer


# --- starting up -----------------------------------------------------------------------------------

def medsearch(*args: str, env: dict | None = None) -> subprocess.CompletedProcess:
    environment = {name: value for name, value in os.environ.items()
                   if name != "MEDSEARCH_PUBLIC_URL"}
    environment.update(PYTHONPATH=str(REPO), **(env or {}))
    return subprocess.run([sys.executable, "-m", "indexer", *args], cwd=REPO, env=environment,
                          capture_output=True, text=True, timeout=120)


def test_serve_on_a_busy_port_says_how_to_pick_another(index_dir):
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        done = medsearch("serve", "--index", str(index_dir), "--port", str(port))
    assert done.returncode == 1
    assert done.stdout == ""
    assert done.stderr == (
        f"medsearch: port {port} is in use on 127.0.0.1: stop what uses it or pick another port, "
        f"e.g. `make serve PORT={port + 1}` or `medsearch serve --port {port + 1}`\n")


def test_serve_with_a_busy_port_and_no_index_builds_nothing(tmp_path, corpus_dir):
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        done = medsearch("serve", "--index", str(tmp_path / "index"), "--seeds", str(corpus_dir),
                         "--port", str(port))
    assert done.returncode == 1
    assert done.stderr.startswith(f"medsearch: port {port} is in use")
    assert not (tmp_path / "index").exists()


def test_serve_rejects_a_public_url_that_is_not_one(index_dir):
    done = medsearch("serve", "--index", str(index_dir), "--public-url", "search.example.org")
    assert done.returncode == 2
    assert done.stderr.splitlines()[-1] == (
        "medsearch serve: error: argument --public-url: public URL 'search.example.org' is not "
        "an address like https://search.example.org: give the scheme and host people reach the "
        "site at")
    done = medsearch("serve", "--index", str(index_dir), "--port", "1",
                     env={"MEDSEARCH_PUBLIC_URL": "ftp://x"})
    assert done.returncode == 1
    assert done.stderr == ("medsearch: public URL 'ftp://x' is not an address like "
                           "https://search.example.org: give the scheme and host people reach "
                           "the site at\n")


def test_ctrl_c_stops_the_site_and_its_workers_cleanly(index_dir, tmp_path):
    # With the embedding model loaded before the fork, a worker's Python
    # finalization hung in its runtime until the master killed it.
    from lifecycle_pages import ctrl_c_as_at_a_terminal
    from webui_fixtures import free_port

    port = free_port()
    log = tmp_path / "serve.log"
    env = dict(os.environ, PYTHONPATH=str(Path(__file__).resolve().parent.parent))
    with open(log, "wb") as out:
        server = subprocess.Popen(
            [sys.executable, "-m", "indexer", "serve", "--index", str(index_dir),
             "--port", str(port), "--workers", "2"], cwd=Path(__file__).resolve().parent.parent,
            env=env, stdout=out, stderr=subprocess.STDOUT, start_new_session=True,
            preexec_fn=ctrl_c_as_at_a_terminal)
        try:
            deadline = time.monotonic() + 120
            while log.read_bytes().count(b"Booting worker") < 2:
                assert server.poll() is None and time.monotonic() < deadline, log.read_text()
                time.sleep(0.2)
            with urllib.request.urlopen(f"http://127.0.0.1:{port}/api/search?q=cement",
                                        timeout=60) as answer:
                assert answer.status == 200
            os.killpg(server.pid, signal.SIGINT)  # Ctrl-C at a terminal: the whole group
            assert server.wait(timeout=60) == 0
        finally:
            if server.poll() is None:
                os.killpg(server.pid, signal.SIGKILL)
                server.wait()
    text = log.read_text()
    assert "sharing one embedding model" in text  # the case that hung
    assert text.count("Worker exiting") == 2 and "Shutting down: Master" in text
    assert "SIGKILL" not in text and "out of memory" not in text, text


def test_ctrl_c_while_the_worker_hands_a_request_to_a_thread_still_ends_it():
    # The signal handler runs in the worker's main thread, which may be
    # inside its thread pool's submit(), holding the pool's lock: a handler
    # that shuts the pool down there (gthread's) waited for that lock
    # forever, and the master killed the worker after graceful_timeout.
    # The worker's handler only tells its event loop to stop.
    import threading
    from concurrent.futures import ThreadPoolExecutor
    from types import SimpleNamespace

    from webui.worker import MedsearchWorker

    def ctrl_c_inside_submit(handle_quit, worker, returned):
        with worker.tpool._shutdown_lock:  # where submit() is when the signal lands
            try:
                handle_quit(worker, signal.SIGINT, None)
            except SystemExit:
                pass
            returned.append(True)

    pool = ThreadPoolExecutor(max_workers=1)
    worker = SimpleNamespace(alive=True, tpool=pool, cfg=SimpleNamespace(worker_int=lambda w: None))
    returned = []
    handler = threading.Thread(target=ctrl_c_inside_submit, daemon=True,
                               args=(MedsearchWorker.handle_quit, worker, returned))
    handler.start()
    handler.join(timeout=10)
    assert returned and not worker.alive  # gthread's own handler never returns here
    pool.submit(int).result(timeout=5)  # the pool is left to the event loop to shut
    pool.shutdown()
