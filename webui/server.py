"""Serve the web UI under gunicorn, started from Python (`medsearch serve`).

Why gunicorn: searching is CPU-bound Python (parsing, BM25F scoring, facet
counts, highlighting). A single waitress process runs all of it under one
GIL, so it uses one core however many threads it has; gunicorn runs several
worker processes, each with its own interpreter, so concurrent searches use
every core. Workers are `gthread` ones (webui.worker.MedsearchWorker), which
read request heads in their event loop, so a slow or keep-alive client ties
up a socket, not a request thread. The app is not preloaded: each worker opens
the index itself after the fork, so no Whoosh file handles or searchers are
shared between processes, and each follows rebuilds on its own. The embedding
model alone is loaded before the fork, so that the workers share its memory.
"""

from __future__ import annotations

import errno
import os
import socket
import sys

from gunicorn.app.base import BaseApplication

from indexer.errors import CannotServe, MedsearchError
from indexer.query.settings import DEFAULT
from indexer.semantic.model import load_before_fork

from . import create_app, get_index, public_url as checked_public_url

THREADS_PER_WORKER = 4
WORKER_CLASS = "webui.worker.MedsearchWorker"  # gthread, safe against slow clients


class MedsearchServer(BaseApplication):
    """A gunicorn application whose settings come from arguments, not argv."""

    def __init__(self, index_root: str | os.PathLike, options: dict,
                 public_url: str | None = None, solr: str | None = None,
                 semantic: bool = True):
        self.index_root = str(index_root)
        self.semantic = semantic
        self.options = options
        self.public_url = public_url
        self.solr = solr
        super().__init__()

    def load_config(self) -> None:
        for key, value in self.options.items():
            self.cfg.set(key, value)

    def load(self):
        # Runs in each worker (preload is off).
        config = {"INDEX": self.index_root}
        if self.solr:
            config["SOLR"] = self.solr
        if self.public_url:
            config["PUBLIC_URL"] = self.public_url
        config["SEMANTIC"] = self.semantic
        app = create_app(config)
        app.config["DEBUG"] = False  # never the debugger on a served site
        app.debug = False
        warm(app)
        return app


def warm(app) -> None:
    """Open the index and read its per-generation tables (the searcher, the
    postings, the facet values: most of a second at 100,000 pages) before the
    worker takes requests, so that its first visitors do not wait for them,
    nor the searches queued behind theirs (answered busy past their turn).
    Whatever is wrong with the index is left for the pages to say."""
    with app.app_context():
        try:
            get_index().search("", per_page=1, ranking=DEFAULT.without_semantic())
        except MedsearchError:
            pass


def end_worker(arbiter, worker) -> None:
    """gunicorn's worker_exit hook, run in a worker as it ends: the process
    ends now with the status it is exiting with, without Python's
    finalization, which hangs in the embedding model's runtime loaded before
    the fork (the parent's threads are not the worker's): on Ctrl-C the
    master killed each worker after graceful_timeout (10 s), logging "Worker
    was sent SIGKILL! Perhaps out of memory?"."""
    ending = sys.exc_info()[1]  # the SystemExit gunicorn's worker is raising
    code = ending.code if isinstance(ending, SystemExit) else (0 if ending is None else 1)
    sys.stdout.flush()
    sys.stderr.flush()
    os._exit(code if isinstance(code, int) else (0 if code is None else 1))


def default_public_url(host: str, port: int) -> str | None:
    """$MEDSEARCH_PUBLIC_URL, else the address served when it is a single one."""
    if os.environ.get("MEDSEARCH_PUBLIC_URL"):
        return os.environ["MEDSEARCH_PUBLIC_URL"]
    if host in ("", "0.0.0.0", "::"):
        return None  # every interface: which one people use is unknown
    return f"http://[{host}]:{port}" if ":" in host else f"http://{host}:{port}"


def check_address(host: str, port: int) -> None:
    """CannotServe, at once, if nothing could listen at host:port now.

    gunicorn would retry for 5 s and end with a bare "[Errno 98]".
    """
    try:
        infos = socket.getaddrinfo(host or None, port, type=socket.SOCK_STREAM,
                                   flags=socket.AI_PASSIVE)
    except socket.gaierror as exc:
        raise CannotServe(f"cannot serve at {host}: {exc.strerror}; "
                          "give an address of this machine with --host") from None
    family, kind, proto, _, sockaddr = infos[0]
    with socket.socket(family, kind, proto) as probe:
        # As gunicorn binds: SO_REUSEADDR, so a port in TIME_WAIT counts as free.
        probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            probe.bind(sockaddr)
        except OSError as exc:
            if exc.errno == errno.EADDRINUSE:
                raise CannotServe(
                    f"port {port} is in use on {host}: stop what uses it or pick another port, "
                    f"e.g. `make serve PORT={port + 1}` or `medsearch serve --port {port + 1}`"
                ) from None
            raise CannotServe(f"cannot serve at {host}:{port}: {exc.strerror}; "
                              "pick another --host or --port") from None


def check_can_serve(host: str, port: int, public_url: str | None = None) -> str | None:
    """The public URL to use (see default_public_url), once host, port and URL are checked."""
    public_url = public_url or default_public_url(host, port)
    if public_url:
        try:
            public_url = checked_public_url(public_url)
        except ValueError as exc:
            raise CannotServe(str(exc)) from None
    check_address(host, port)
    return public_url


def serve(index_root: str | os.PathLike, host: str = "127.0.0.1", port: int = 8000,
          workers: int = 2, public_url: str | None = None, solr: str | None = None,
          semantic: bool = True) -> None:
    """Serve the site over `index_root` at http://host:port/ until interrupted
    (on the SolrCloud at `solr`, when given).

    `public_url` is the address people reach the site at (behind a proxy, the
    proxy's); by default $MEDSEARCH_PUBLIC_URL, else http://host:port.
    CannotServe if the port is taken or the URL is not one.
    """
    if workers < 1:
        raise ValueError("workers must be 1 or more")
    public_url = check_can_serve(host, port, public_url)
    options = {
        "bind": f"{host}:{port}",
        "workers": workers,
        "worker_class": WORKER_CLASS,
        "threads": THREADS_PER_WORKER,
        "preload_app": False,
        "timeout": 30,
        "graceful_timeout": 10,
        "accesslog": "-",
        "errorlog": "-",
        "proc_name": "medsearch",
    }
    served = f"{index_root} on SolrCloud at {solr}" if solr else index_root
    model = " sharing one embedding model" if semantic and load_before_fork() else ""
    if model:
        options["worker_exit"] = end_worker
    print(f"medsearch: serving {served} at http://{host}:{port}/ "
          f"({workers} workers{model}; Ctrl-C stops)", flush=True)
    MedsearchServer(index_root, options, public_url, solr, semantic).run()
