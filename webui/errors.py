"""Error pages and JSON errors: domain exceptions to HTTP statuses.

Under /api/ every error is JSON ({"error": "..."}); elsewhere a short page.
"""

from __future__ import annotations

from flask import Flask, Response, current_app, jsonify, render_template, request
from werkzeug.exceptions import HTTPException, InternalServerError

from indexer.errors import ArticleNotFound, Busy, IndexDamaged, IndexMissing, QueryError

TITLES = {
    400: "Bad request",
    404: "Not found",
    405: "Method not allowed",
    503: "Search unavailable",
    500: "Something went wrong",
}


def error_response(status: int, message: str):
    """A JSON error under /api/, an HTML page elsewhere."""
    if request.path.startswith("/api/"):
        return jsonify(error=message), status
    title = TITLES.get(status, "Error")
    return render_template("error.html", status=status, title=title, message=message), status


def register(app: Flask) -> None:
    @app.errorhandler(QueryError)
    def bad_query(exc):
        return error_response(400, str(exc))

    @app.errorhandler(ArticleNotFound)
    def not_found(exc):
        return error_response(404, str(exc))

    @app.errorhandler(IndexMissing)
    def index_missing(exc):
        return error_response(
            503, "The search index has not been built yet. "
                 "Run `medsearch build` on the server, then reload this page.")

    @app.errorhandler(IndexDamaged)
    def index_damaged(exc):
        # The server's log keeps the low-level cause; the page says what to do.
        current_app.logger.error("%s", exc, exc_info=exc.__cause__ or exc)
        return error_response(503, str(exc))

    @app.errorhandler(Busy)
    def busy(exc):
        response, status = error_response(503, str(exc))
        response = app.make_response((response, status))
        response.headers["Retry-After"] = str(exc.retry_after)
        return response

    @app.errorhandler(InternalServerError)
    def server_error(exc):
        # Unexpected exceptions land here (outside testing): a plain page, no
        # traceback; the server's log has the details.
        try:
            return error_response(500, "The server could not answer this request.")
        except Exception:  # the templates themselves may be what broke
            return Response("500 Internal Server Error", 500, mimetype="text/plain")

    @app.errorhandler(HTTPException)
    def http_error(exc):
        message = {404: "There is no page at this address."}.get(exc.code, exc.description)
        body, status = error_response(exc.code or 500, message)
        # Keep what the exception says beyond its body, e.g. a 405's Allow.
        extra = [(name, value) for name, value in exc.get_headers()
                 if name.lower() != "content-type"]
        return body, status, extra
