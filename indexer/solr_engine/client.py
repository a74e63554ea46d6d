"""Talking to SolrCloud for the engine: one HTTP call, its errors as medsearch's.

Standard library only. Parameters go as a form POST (a long query never
meets a URL length limit); answers are Solr's JSON. What goes wrong becomes
an indexer.errors exception with a one-line message saying what to do.
"""

from __future__ import annotations

import json
import urllib.error
import urllib.parse
import urllib.request

from ..errors import BuildFailed, IndexMissing, QueryError

START_HINT = "start one with `medsearch cluster up --dir DIR` or set MEDSEARCH_SOLR to a running one"


class SolrClient:
    """A SolrCloud reached at `url` (any node: SolrCloud routes every request)."""

    def __init__(self, url: str):
        self.url = url.rstrip("/")

    def call(self, path: str, params: dict | None = None, body: bytes | None = None,
             timeout: float = 60.0, bad_request=QueryError, conflict=None) -> dict:
        """Solr's JSON answer to `path` (under the URL) with `params`.

        A 400 (a query Solr cannot parse) becomes `bad_request`; an unknown
        collection or alias IndexMissing; no answer at all IndexMissing saying
        how to start a cluster; a 409 (a `_version_` condition not met)
        `conflict` when given; anything else BuildFailed or QueryError.
        """
        params = {"wt": "json", **(params or {})}
        pairs = [(key, str(item)) for key, value in params.items() if value is not None
                 for item in (value if isinstance(value, (list, tuple)) else [value])]
        encoded = urllib.parse.urlencode(pairs)
        if body is None:
            request = urllib.request.Request(f"{self.url}/{path}", data=encoded.encode(),
                                             method="POST")
            request.add_header("Content-Type", "application/x-www-form-urlencoded")
        else:
            request = urllib.request.Request(f"{self.url}/{path}?{encoded}", data=body,
                                             method="POST")
            request.add_header("Content-Type", "application/json")
        try:
            with urllib.request.urlopen(request, timeout=timeout) as response:
                return json.load(response)
        except urllib.error.HTTPError as exc:
            message = _solr_message(exc)
            if exc.code == 409 and conflict is not None:
                raise conflict(message) from None
            if exc.code == 404 or "does not exist" in message or "not found" in message.lower():
                raise IndexMissing(f"no index {path.split('/')[0]!r} on SolrCloud at "
                                   f"{self.url}: run `medsearch build`") from None
            if exc.code == 400:
                raise bad_request(f"SolrCloud cannot run this: {message}") from None
            raise QueryError(f"SolrCloud at {self.url} answered {exc.code}: {message}; "
                             "see the Solr nodes' logs") from None
        except (OSError, ValueError) as exc:  # refused, reset, timed out, not JSON
            reason = getattr(exc, "reason", exc)
            raise IndexMissing(f"no answer from SolrCloud at {self.url} ({reason}): "
                               f"{START_HINT}") from None

    def admin(self, action: str, timeout: float = 180.0, **params) -> dict:
        """A Collections API call; any failure is BuildFailed (the live alias untouched)."""
        try:
            return self.call("admin/collections", {"action": action, **params},
                             timeout=timeout, bad_request=BuildFailed)
        except QueryError as exc:
            raise BuildFailed(str(exc)) from None

    def aliases(self) -> dict[str, str]:
        """Each collection alias and the collection it points to."""
        return self.admin("LISTALIASES").get("aliases", {})

    def collections(self) -> list[str]:
        return self.admin("LIST").get("collections", [])


def _solr_message(exc: urllib.error.HTTPError) -> str:
    """The first line of Solr's error message, else the HTTP reason."""
    try:
        answer = json.load(exc)
        message = answer["error"].get("msg") or answer["error"].get("trace", "")
        return " ".join(message.split("\n")[0].split()) or str(exc.reason)
    except (ValueError, KeyError, TypeError, AttributeError, OSError):
        return str(exc.reason)
