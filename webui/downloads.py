"""Export downloads and suggestion responses: core data to HTTP responses (no I/O)."""

from __future__ import annotations

import json

from flask import Response

from indexer.errors import QueryError
from indexer.export import FORMATS, ExportFormat, filename
from indexer.pages.records import Record

# "All results" stops here: a bigger download would tie a worker up for seconds.
EXPORT_LIMIT = 1000
SCOPES = ("page", "all")
SUGGEST_LIMIT = 8
SUGGESTIONS_TYPE = "application/x-suggestions+json"


def export_format(args) -> ExportFormat:
    """The `format` parameter, checked (RIS when absent)."""
    name = (args.get("format") or "ris").strip().lower()
    if name not in FORMATS:
        raise QueryError(f"format must be one of {', '.join(FORMATS)}")
    return FORMATS[name]


def export_scope(args) -> str:
    """The `scope` parameter: this page of results, or all up to EXPORT_LIMIT."""
    scope = (args.get("scope") or "page").strip().lower()
    if scope not in SCOPES:
        raise QueryError(f"scope must be one of {', '.join(SCOPES)}")
    return scope


def download(records: list[Record], export_format: ExportFormat, stem: str) -> Response:
    """The records as an attachment named medsearch-<stem>.<ext>."""
    response = Response(export_format.render(records),
                        content_type=f"{export_format.mimetype}; charset=utf-8")
    # filename() is plain ASCII, so no RFC 5987 encoding is needed.
    response.headers["Content-Disposition"] = (
        f'attachment; filename="{filename(stem, export_format)}"')
    return response


def suggestions(query: str, completions: list[str]) -> Response:
    """OpenSearch suggestions: ["query", ["completion", ...]]."""
    body = json.dumps([query, completions], ensure_ascii=False)
    return Response(body, content_type=f"{SUGGESTIONS_TYPE}; charset=utf-8")
