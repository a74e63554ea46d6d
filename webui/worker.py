"""A gunicorn gthread worker that slow clients cannot starve.

The stock gthread worker hands each new connection to a request thread at
once, and that thread blocks reading the request head: forty connections
that send their headers a byte at a time (slowloris) hold every thread of
every worker, and no one else is answered. This worker reads request heads
in its event loop instead, next to the listening socket, and only hands a
connection to a thread once its whole head has arrived. A head must arrive
within HEAD_TIMEOUT seconds (408) and fit in MAX_HEAD bytes (431); either
way the connection is answered and closed without ever taking a thread.

Requests that carry a body are answered and then closed: no route reads a
body, and draining one from a slow client would hold a thread. Once in a
thread, a read or write that stalls for SOCKET_TIMEOUT seconds ends the
connection, so a client that reads its answer very slowly cannot hold a
thread for long either.

Under load, requests queue once, for all workers: a worker takes a new
connection only while one of its request threads is free, and while all
are taken it closes each connection after its answer, so the client's next
request waits in the listening socket's queue for whichever worker frees a
thread first, not behind the worker that happened to accept it.

gunicorn's own error answers (400, 414, 431, ... written before the app
sees the request) get the site's security headers like every other answer.

TLS is not handled here: terminate it in a reverse proxy (docs/).
"""

from __future__ import annotations

import errno
import selectors
import socket
import struct
import time
from collections import deque
from functools import partial

from gunicorn import http, util
from gunicorn.workers.gthread import TConn, ThreadWorker

from . import SECURITY_HEADERS

HEAD_TIMEOUT = 10.0  # seconds for a whole request head, from its first byte
MAX_HEAD = 64 * 1024  # bytes; gunicorn's own limits answer 414/431 below this
SOCKET_TIMEOUT = 10  # seconds one read or write may stall once in a thread
_HEAD_END = b"\r\n\r\n"


class MedsearchWorker(ThreadWorker):
    """gthread, but a connection reaches a thread only with its request head in hand."""

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.reading_heads = deque()  # connections still sending a head, oldest first
        self.in_threads = 0  # requests handed to the threads and not yet finished

    def handle_quit(self, sig, frame):
        # Ctrl-C (SIGINT) and the master's SIGQUIT: stop as on SIGTERM, from
        # the event loop, which sees the flag within a second, answers the
        # requests in flight and shuts the thread pool down. Only the flag is
        # set here: the handler runs in the main thread wherever it is, and
        # gthread's own (pool.shutdown() in the handler) waited forever for
        # the pool's lock when that was inside submit() holding it (1 Ctrl-C
        # in 6 landing among requests): the master then killed the worker.
        self.alive = False
        self.cfg.worker_int(self)

    def accept(self, listener):
        # The stock accept, plus OS-level timeouts: they bound the blocking
        # reads and writes of request threads, not the event loop's.
        try:
            client, address = listener.accept()
        except OSError as exc:
            if exc.errno not in (errno.EAGAIN, errno.ECONNABORTED, errno.EWOULDBLOCK):
                raise
            return
        timeout = struct.pack("ll", SOCKET_TIMEOUT, 0)
        client.setsockopt(socket.SOL_SOCKET, socket.SO_RCVTIMEO, timeout)
        client.setsockopt(socket.SOL_SOCKET, socket.SO_SNDTIMEO, timeout)
        self.nr_conns += 1
        self.enqueue_req(_connection(self.cfg, client, address, listener.getsockname()))

    def enqueue_req(self, conn):
        """To a thread if the request head has arrived, else wait for it here."""
        if self.cfg.is_ssl:
            return self._to_thread(conn)
        if conn.parser is None:
            conn.parser = http.get_parser(self.cfg, conn.sock, conn.client)
        buffered = conn.parser.unreader.take_buffered()
        if _HEAD_END in buffered:
            conn.parser.unreader.unread(buffered)
            conn.data_ready = True  # the thread must not wait for data again
            return self._to_thread(conn)
        conn.head = bytearray(buffered)
        conn.head_deadline = time.monotonic() + HEAD_TIMEOUT
        conn.sock.setblocking(False)
        self.reading_heads.append(conn)
        self.poller.register(conn.sock, selectors.EVENT_READ, partial(self._read_head, conn))
        # A kept-alive connection is here because it is readable: no need to
        # wait for the poller to say so again.
        self._read_head(conn, conn.sock)

    def _to_thread(self, conn):
        self.in_threads += 1
        if self.in_threads >= self.cfg.threads:
            self.set_accept_enabled(False)
        super().enqueue_req(conn)

    def finish_request(self, conn, fs):
        self.in_threads -= 1
        super().finish_request(conn, fs)

    def set_accept_enabled(self, enabled):
        # A new connection only while a thread is free: the others wait in
        # the listening socket's queue, first come first served, for the
        # first worker with a free thread (gunicorn's loop asks again after
        # every event).
        super().set_accept_enabled(enabled and self.in_threads < self.cfg.threads)

    def _read_head(self, conn, _sock):
        try:
            data = conn.sock.recv(MAX_HEAD)
        except (BlockingIOError, InterruptedError):
            return
        except OSError:
            data = b""
        if not data:  # the client went away
            return self._drop_head(conn)
        conn.head += data
        if _HEAD_END in conn.head:
            self._stop_reading_head(conn)
            conn.parser.unreader.unread(bytes(conn.head))
            conn.head = None
            self.enqueue_req(conn)
        elif len(conn.head) > MAX_HEAD:
            self._drop_head(conn, 431, "Request Header Fields Too Large",
                            "The request head is too large.")

    def _stop_reading_head(self, conn):
        self.poller.unregister(conn.sock)
        self.reading_heads.remove(conn)

    def _drop_head(self, conn, status=None, reason="", message=""):
        """Close a connection whose head will not do, answering it if `status`."""
        self._stop_reading_head(conn)
        if status:
            try:
                conn.sock.send(error_answer(status, reason, message))
                conn.sock.shutdown(socket.SHUT_WR)
                _discard_pending(conn.sock)  # unread bytes would make the close a reset
            except OSError:
                pass  # the answer is a courtesy; the close is what matters
        self.nr_conns -= 1
        conn.close()

    def murder_pending(self):
        """Also close connections whose head is late (all of them when stopping)."""
        super().murder_pending()
        now = time.monotonic()
        while self.reading_heads and (
                not self.alive or self.reading_heads[0].head_deadline <= now):
            self._drop_head(self.reading_heads[0], 408, "Request Timeout",
                            "The request took too long to arrive.")

    def handle_request(self, req, conn):
        # No route reads a body: close after answering instead of draining it.
        if _declares_body(req):
            req.must_close = True
        # A kept-alive client stays with the worker that accepted it, and
        # waits for that worker's threads even when another worker's are
        # free: while every thread here is taken, closing after the answer
        # sends the client back to the listening socket's queue.
        # (Read in a request thread, counted in the event loop's: a count a
        # moment old only decides whether this one answer closes.)
        elif self.in_threads >= self.cfg.threads:
            req.must_close = True
        return super().handle_request(req, conn)

    def handle_error(self, req, client, addr, exc):
        """gunicorn's own answer to a bad request, with the site's security headers."""
        answer = _CapturedAnswer()
        super().handle_error(req, answer, addr, exc)
        if answer.data:
            try:
                util.write_nonblock(client, with_security_headers(bytes(answer.data)))
            except Exception:
                self.log.debug("Failed to send error message.")


def _connection(cfg, client, address, server):
    conn = TConn(cfg, client, address, server)
    conn.head = None
    conn.head_deadline = None
    return conn


def _discard_pending(sock, limit: int = 4 * MAX_HEAD) -> None:
    """Read (without waiting) what the client has already sent."""
    discarded = 0
    while discarded < limit:
        try:
            data = sock.recv(65536)
        except OSError:  # nothing more yet (or the client is gone)
            return
        if not data:
            return
        discarded += len(data)


def _declares_body(req) -> bool:
    for name, value in req.headers:
        if name == "TRANSFER-ENCODING" or (name == "CONTENT-LENGTH" and value.strip() != "0"):
            return True
    return False


class _CapturedAnswer:
    """Stands in for the client socket while gunicorn writes an error answer."""

    def __init__(self):
        self.data = bytearray()

    def gettimeout(self):
        return 0.0  # "non-blocking": gunicorn then just calls sendall

    def sendall(self, data):
        self.data += data


def with_security_headers(answer: bytes) -> bytes:
    """An HTTP answer with SECURITY_HEADERS added after its status line."""
    status_line, _, rest = answer.partition(b"\r\n")
    headers = "".join(f"{name}: {value}\r\n" for name, value in SECURITY_HEADERS.items())
    return status_line + b"\r\n" + headers.encode("latin-1") + rest


def error_answer(status: int, reason: str, message: str) -> bytes:
    """A short plain-text answer that closes the connection."""
    body = f"{status} {reason}: {message}\n".encode()
    head = (f"HTTP/1.1 {status} {reason}\r\nConnection: close\r\n"
            f"Content-Type: text/plain; charset=utf-8\r\nContent-Length: {len(body)}\r\n\r\n")
    return with_security_headers(head.encode("latin-1") + body)
