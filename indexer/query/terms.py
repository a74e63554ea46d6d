"""The engine's analyzer, as query understanding uses it: installed by the engine.

Synonyms, abbreviations and completions must see words as the engine indexes
them, without importing the engine; the engine hands over its functions when
it is loaded (indexer.whoosh_engine.analysis does so on import).
"""

from __future__ import annotations

from collections.abc import Callable
from contextlib import contextmanager
from contextvars import ContextVar

# text -> its query terms, each with where it starts and ends in the text
Tokens = Callable[[str], list[tuple[str, int, int]]]

_installed: dict[str, Callable] = {}
# An engine's own analyzer for the calls inside `analyzer(...)` (this thread
# only): the SolrCloud engine's words when the Whoosh engine is loaded too.
_current: ContextVar[dict | None] = ContextVar("analyzer", default=None)


def install(query_tokens: Tokens, fold: Callable[[str], str]) -> None:
    """Make the engine's analyzer the one query understanding uses."""
    _installed.update(query_tokens=query_tokens, fold=fold)


@contextmanager
def analyzer(query_tokens: Tokens, fold: Callable[[str], str]):
    """Query understanding sees words through these functions inside the block."""
    token = _current.set({"query_tokens": query_tokens, "fold": fold})
    try:
        yield
    finally:
        _current.reset(token)


def _get(name: str) -> Callable:
    current = _current.get()
    if current is not None:
        return current[name]
    try:
        return _installed[name]
    except KeyError:
        raise RuntimeError("no search engine is loaded: open an index first") from None


def query_tokens(text: str) -> list[tuple[str, int, int]]:
    """(term, start, end) of each query term of `text`."""
    return _get("query_tokens")(text)


def stems(text: str) -> tuple[str, ...]:
    """The analyzer's query terms for `text` (what a query would search)."""
    return tuple(term for term, _, _ in query_tokens(text))


def fold(text: str) -> str:
    """Lower case without accents, as the analyzer folds words before indexing them."""
    return _get("fold")(text)
