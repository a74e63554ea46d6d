"""Snippets: the best passages of an abstract with the matched words in <mark>.

What Whoosh's highlighter does with the abstract's analyzer (tokens with
their characters, matched words marked, ContextFragmenter, two best
fragments in text order), without running the analyzer over every abstract
of a results page. The analyzer's filters (compound splitting, folding,
stop words, stemming) work one token at a time, so the tokens of a text are
its tokenizer's words, each analysed alone and moved to where it stands.
Each word's analysis is remembered (`analysis.terms_at`): a page of hits then costs
one regular-expression pass per abstract and dictionary look-ups, where the
analyzer's seven generator stages per word were about a third of a results
page. tests/test_snippets.py holds the output equal to Whoosh's highlighter.

Which words a snippet marks: `positive_terms` of the query.
"""

from __future__ import annotations

from collections import deque
from functools import lru_cache
from html import escape

from whoosh import highlight
from whoosh import query as wq
from whoosh.analysis import RegexTokenizer

from . import analysis
from .schema import schema

SNIPPET_WORDS = 40
# Snippets remembered (abstract and words): a results page asked again (the
# site's page and its JSON twin, back and forth) marks no abstract twice.
# As many as the first pages (10 hits) of the 512 searches the engine
# remembers (engine.QUERIES_KEPT): marking was most of what a remembered
# search still cost, and 2,048 (205 pages) were forgotten before their search
# was. About 1.7 kB each (the abstract held as the key): 9 MB at most.
SNIPPETS_KEPT = 5120


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
# The per-word shortcut (analysis.terms_at) holds for the abstract's analyzer:
# fail loudly at import if the schema stops using it, rather than mark wrong words.
assert schema["abstract"].analyzer is analysis.medical_analyzer, "snippets assume it"
assert isinstance(analysis.medical_analyzer.items[0], RegexTokenizer), "and its tokenizer"
_WORDS = analysis._TOKENIZER
_PARTS = analysis._WORD_TERMS[("index", False)]


class _Token:
    """A matched word as Whoosh's fragments and formatter read it."""

    __slots__ = ("text", "startchar", "endchar", "boost")

    def __init__(self, text: str, startchar: int, endchar: int):
        self.text = text
        self.startchar = startchar
        self.endchar = endchar
        self.boost = 1.0


def _marked(text: str, words: frozenset[str]) -> list[tuple[int, int, str | None]]:
    """(start, end, term if matched else None) of each of the analyzer's tokens
    of `text` (index mode, stop words kept), matched tokens that overlap merged
    into one: Whoosh's set_matched_filter and Highlighter._merge_matched_tokens
    over the analyzer's output, step for step."""
    parts = _PARTS
    out: list[tuple[int, int, str | None]] = []
    append = out.append
    pending = None  # [term, start, end] of matched tokens being merged
    for found in _WORDS.finditer(text):
        base = found.start()
        for term, begin, end in parts[found.group()]:
            start, end = base + begin, base + end
            if term not in words:
                if pending is not None:
                    append((pending[1], pending[2], pending[0]))
                    pending = None
                append((start, end, None))
            elif pending is None:
                pending = [term, start, end]
            elif start <= pending[2]:
                if end > pending[2]:
                    pending[0] += term[pending[2] - end:]
                    pending[2] = end
            else:
                # As Whoosh: the pending token out, then this one on its own.
                append((pending[1], pending[2], pending[0]))
                pending = None
                append((start, end, term))
    if pending is not None:
        append((pending[1], pending[2], pending[0]))
    return out


def _fragments(text: str, tokens: list[tuple[int, int, str | None]]) -> list[highlight.Fragment]:
    """Whoosh's ContextFragmenter.fragment_tokens over `tokens`, step for step."""
    maxchars, surround, charlimit = _FRAGMENTER.maxchars, _FRAGMENTER.surround, \
        _FRAGMENTER.charlimit
    found = []
    first = None
    firsts: deque[int] = deque()
    countdown = -1
    matches: list[_Token] = []
    endchar = None
    currentlen = 0
    for startchar, endchar, term in tokens:
        length = endchar - startchar
        if charlimit and endchar > charlimit:
            break
        if countdown < 0 and term is None:
            firsts.append(startchar)
            while firsts and endchar - firsts[0] > surround:
                firsts.popleft()
        elif currentlen + length > maxchars:
            countdown = 0
        elif term is not None:
            countdown = surround
            if first is None:
                if firsts:
                    first = firsts[0]
                else:
                    first = startchar
                    countdown += surround
            matches.append(_Token(term, startchar, endchar))
        if countdown >= 0:
            currentlen += length
            countdown -= length
            if countdown <= 0:
                found.append(highlight.mkfrag(text, matches, startchar=first, endchar=endchar))
                matches = []
                firsts = deque()
                first = None
                currentlen = 0
    if matches:
        found.append(highlight.mkfrag(text, matches, startchar=first, endchar=endchar))
    return found


@lru_cache(maxsize=SNIPPETS_KEPT)
def snippet(text: str, words: frozenset[str], top: int = 2) -> str:
    """The best `top` passages of an abstract with `words` in <mark>
    (what Whoosh's Hit.highlights does, given the words instead of a hit)."""
    fragments = highlight.top_fragments(_fragments(text, _marked(text, words)), top,
                                        _HIGHLIGHTER.scorer, _HIGHLIGHTER.order, minscore=1)
    return _FORMATTER.format(fragments)


def positive_terms(query: wq.Query, fieldname: str, searcher) -> frozenset[str]:
    """The words of `fieldname` that `query` looks for (not those it excludes):
    the words a snippet marks."""
    found: set[str] = set()
    stack = [query]
    while stack:
        sub = stack.pop()
        kind = type(sub)
        if kind is wq.Term:
            if sub.fieldname == fieldname:
                found.add(sub.text)
        elif kind is wq.Phrase:
            if sub.fieldname == fieldname:
                found.update(sub.words)
        elif kind in (wq.Not,) or isinstance(getattr(sub, "docnums", None), frozenset):
            continue
        elif kind is wq.AndNot:
            stack.append(sub.a)
        elif kind is wq.AndMaybe:
            stack.extend((sub.a, sub.b))
        elif getattr(sub, "subqueries", None) is not None:
            stack.extend(sub.subqueries)
        else:  # prefixes, wildcards: the index words they stand for
            for field, text in sub.existing_terms(searcher.reader(), phrases=True, expand=True):
                if field == fieldname:
                    found.add(text.decode("utf-8") if isinstance(text, bytes) else text)
    return frozenset(found)
