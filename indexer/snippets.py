"""Snippets: the best passages of an abstract with the searched words marked."""

from __future__ import annotations

from html import escape

from whoosh import highlight

from .schema import schema

SNIPPET_WORDS = 40


class MarkFormatter(highlight.Formatter):
    """Marks matched words with <mark>, escaping all text around them."""

    between = " … "

    def format_token(self, text, token, replace=False):
        return "<mark>" + escape(highlight.get_text(text, token, replace)) + "</mark>"

    def _text(self, text):
        return escape(text)


def first_words(text: str, count: int = SNIPPET_WORDS) -> str:
    words = text.split()
    return escape(" ".join(words[:count]) + (" …" if len(words) > count else ""))


_FRAGMENTER = highlight.ContextFragmenter(maxchars=300, surround=60)
_FORMATTER = MarkFormatter()
_HIGHLIGHTER = highlight.Highlighter(fragmenter=_FRAGMENTER, formatter=_FORMATTER)


def snippet(text: str, words: frozenset[str], top: int = 2) -> str:
    """The best `top` passages of an abstract with `words` in <mark>
    (what Whoosh's Hit.highlights does, given the words instead of a hit)."""
    tokens = schema["abstract"].analyzer(text, positions=True, chars=True, mode="index",
                                         removestops=False)
    tokens = _HIGHLIGHTER._merge_matched_tokens(highlight.set_matched_filter(tokens, words))
    fragments = highlight.top_fragments(_FRAGMENTER.fragment_tokens(text, tokens), top,
                                        _HIGHLIGHTER.scorer, _HIGHLIGHTER.order, minscore=1)
    return _FORMATTER.format(fragments)
