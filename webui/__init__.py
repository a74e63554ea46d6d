"""medsearch's web UI: a Flask app over the core's search API.

    from webui import create_app
    app = create_app({"INDEX": "index"})

Views are thin: they parse the request, call `indexer.search.Index` and
render. Only the core touches the index (no Whoosh import here).
"""

from __future__ import annotations

import os
import threading
from urllib.parse import urlsplit

from flask import Flask, current_app

from indexer.search import Index, open_index

_INDEX_KEY = "medsearch.index"
_index_lock = threading.Lock()
# Seconds one request's search may keep the worker's other searches waiting.
TURN_LIMIT = 0.5

# Every response, errors and static files included. No inline script or
# style anywhere, so 'self' is all the page needs; searches are about
# health, so no referrer leaves the site.
SECURITY_HEADERS = {
    "Content-Security-Policy": (
        "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
        "object-src 'none'; base-uri 'none'; form-action 'self'; frame-ancestors 'none'"
    ),
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "same-origin",
    "X-Frame-Options": "DENY",
}


def public_url(text: str) -> str:
    """`text` as the site's public address (http(s)://host[:port][/path], no trailing /)."""
    parts = urlsplit(text.strip())
    if parts.scheme not in ("http", "https") or not parts.hostname or parts.query or parts.fragment:
        raise ValueError(f"public URL {text!r} is not an address like https://search.example.org: "
                         "give the scheme and host people reach the site at")
    return text.strip().rstrip("/")


def create_app(test_config: dict | None = None) -> Flask:
    """The app; the index folder comes from `INDEX`, else $MEDSEARCH_INDEX, else `index`.

    `SOLR` (else $MEDSEARCH_SOLR) is a SolrCloud address: the site then
    searches the collection alias named after the index folder's name.

    `PUBLIC_URL` (else $MEDSEARCH_PUBLIC_URL) is the address people reach the
    site at; links that must be absolute (/opensearch.xml) are built from it,
    never from the Host a client sends. Without it they are root-relative.
    """
    app = Flask(__name__)
    app.config.from_mapping(
        INDEX=os.environ.get("MEDSEARCH_INDEX", "index"),
        SOLR=None,  # a SolrCloud address; None: $MEDSEARCH_SOLR, else the Whoosh index
        TURN_LIMIT=TURN_LIMIT,
        PUBLIC_URL=os.environ.get("MEDSEARCH_PUBLIC_URL") or None,
        SEMANTIC=True,  # False: ranked by words alone (`serve --no-semantic`)
    )
    if test_config:
        app.config.update(test_config)
    if app.config["PUBLIC_URL"]:
        app.config["PUBLIC_URL"] = public_url(app.config["PUBLIC_URL"])
    app.jinja_env.trim_blocks = True
    app.jinja_env.lstrip_blocks = True

    from . import errors, views

    app.register_blueprint(views.bp)
    errors.register(app)

    @app.after_request
    def add_security_headers(response):
        for name, value in SECURITY_HEADERS.items():
            response.headers.setdefault(name, value)
        return response

    return app


def get_index() -> Index:
    """This app's Index, opened on first use.

    One Index per app (per worker process): it follows rebuilds itself and
    keeps a searcher per thread. When there is no index yet, IndexMissing
    propagates and the next request tries again, so a site started before
    `medsearch build` works as soon as the build finishes.
    """
    extensions = current_app.extensions
    index = extensions.get(_INDEX_KEY)
    if index is None:
        with _index_lock:
            index = extensions.get(_INDEX_KEY)
            if index is None:
                index = open_index(current_app.config["INDEX"], current_app.config["SOLR"])
                # Request threads share its searchers: none keeps the others long.
                index.turn_limit = current_app.config["TURN_LIMIT"]
                extensions[_INDEX_KEY] = index
    return index


__all__ = ["create_app", "get_index", "public_url"]
