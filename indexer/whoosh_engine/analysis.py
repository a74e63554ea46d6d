"""Text analysis: one analyzer for title, abstract and MeSH keywords.

Composed from small parts with `|`, as Whoosh's own analyzers are. Defined
once at module level because Whoosh pickles the analyzer into the index.
"""

from __future__ import annotations

from whoosh.analysis import (
    CharsetFilter,
    Filter,
    LowercaseFilter,
    RegexTokenizer,
    StemFilter,
    StopFilter,
    StripFilter,
)
from whoosh.analysis.filters import STOP_WORDS
from whoosh.support.charset import accent_map

from ..query import terms
from ..query.text import _INVISIBLE, INVISIBLE, without_invisibles

# Letters and digits, invisible characters allowed between them.
_WORD = rf"\w+(?:[{INVISIBLE}]+\w+)*"
# A word, possibly joined to more words by hyphens or slashes
# ("CT-guided", "L4-L5", "COVID-19", "neck/shoulder"), or a decimal ("2.5").
TOKEN_PATTERN = (rf"\d+\.\d+|{_WORD}(?:['’]{_WORD})*"
                 rf"(?:[{INVISIBLE}]*[-/][{INVISIBLE}]*{_WORD}(?:['’]{_WORD})*)*")


class CompoundSplitFilter(Filter):
    """Splits "CT-guided" into "CT", "guided" at consecutive positions.

    When indexing it also emits the parts run together ("ctguided", "l4l5",
    "covid19"), so a compound is found whole, by its parts, by a phrase of
    its parts, and written without its hyphen. A query analyzes the
    compound to its parts only, which the `phrase` multitoken setting of the
    schema turns into a phrase query.
    """

    def __call__(self, tokens):
        shift = 0  # how far later tokens move once compounds grow into parts
        for t in tokens:
            text = t.text
            if "-" not in text and "/" not in text:
                if t.positions:
                    t.pos += shift
                yield t
                continue
            parts = [p for p in text.replace("/", "-").split("-") if p]
            start_pos = t.pos + shift if t.positions else 0
            start_char = t.startchar if t.chars else 0
            offset = 0
            for i, part in enumerate(parts):
                t.text = part
                if t.positions:
                    t.pos = start_pos + i
                if t.chars:
                    t.startchar = start_char + text.index(part, offset)
                    t.endchar = t.startchar + len(part)
                    offset = t.startchar - start_char + len(part)
                yield t
            if t.mode == "index" and len(parts) > 1:
                t.text = "".join(parts)
                if t.positions:
                    t.pos = start_pos + len(parts) - 1
                if t.chars:
                    t.startchar = start_char
                    t.endchar = start_char + len(text)
                yield t
            shift += len(parts) - 1


class InvisibleFilter(Filter):
    """Drops invisible characters from each token's text (its characters
    still span them, so snippets mark the word as written)."""

    def __call__(self, tokens):
        for t in tokens:
            if _INVISIBLE.search(t.text):
                t.text = without_invisibles(t.text)
                if not t.text:
                    continue
            yield t


# "ASD" the abbreviation and "asd" the word are the same search; a, i, s are
# left to the stop list so that "type 2" keeps its "2".
MEDICAL_STOP_WORDS = frozenset(STOP_WORDS) | {"s", "t"}

medical_analyzer = (
    RegexTokenizer(TOKEN_PATTERN)
    | CompoundSplitFilter()
    | InvisibleFilter()
    | LowercaseFilter()
    | CharsetFilter(accent_map)
    | StopFilter(stoplist=MEDICAL_STOP_WORDS, minsize=1)
    | StemFilter(lang="en")
)

# Names and journal titles: words, case- and accent-folded, never stemmed.
name_analyzer = (
    RegexTokenizer(rf"{_WORD}(?:['’]{_WORD})*")
    | InvisibleFilter()
    | LowercaseFilter()
    | CharsetFilter(accent_map)
)


# A newline-separated list in, each item one term out, exactly as written.
keyword_list_analyzer = RegexTokenizer(r"[^\n]+") | InvisibleFilter() | StripFilter()


# Distinct words whose analysis is kept per process and mode (about 250 bytes
# each); the benchmark's 100,000 abstracts are written with about 60,000.
WORDS_KEPT = 100_000


class _WordTerms(dict):
    """word as written -> ((term, start, end), ...): what the analyzer makes of
    the word alone in one mode, characters relative to the word (a compound
    gives its parts, and in index mode the parts run together too)."""

    def __init__(self, mode: str, removestops: bool):
        super().__init__()
        self.mode, self.removestops = mode, removestops

    def __missing__(self, word: str):
        terms = tuple((t.text, t.startchar, t.endchar) for t in medical_analyzer(
            word, positions=True, chars=True, mode=self.mode, removestops=self.removestops))
        if len(self) >= WORDS_KEPT:  # a rare flood of new words: start again
            self.clear()
        self[word] = terms
        return terms


# The tokenizer finds the words; every filter after it sees one token at a
# time (compound parts, invisibles, case, accents, stop words, stems), so a
# text's terms are its words' terms, each word analysed once per process.
_TOKENIZER = medical_analyzer.items[0].expression
_WORD_TERMS = {("index", False): _WordTerms("index", False),
               ("query", True): _WordTerms("query", True)}


def terms_at(text: str, mode: str = "query", removestops: bool = True):
    """(term, start, end) of each token medical_analyzer gives for `text` with
    chars=True in `mode` (stop words kept when not `removestops`), without
    running its filters over every word: a word's terms are remembered.
    Only ("index", False) and ("query", True) are remembered combinations."""
    memo = _WORD_TERMS[(mode, removestops)]
    for found in _TOKENIZER.finditer(text):
        start = found.start()
        for term, begin, end in memo[found.group()]:
            yield term, start + begin, start + end


def analyze(text: str, mode: str = "index") -> list[str]:
    """The index terms of `text` (for tests and for inspecting the analyzer)."""
    return [t.text for t in medical_analyzer(text, mode=mode)]


def query_tokens(text: str) -> list[tuple[str, int, int]]:
    """(term, start, end) of each query term of `text`."""
    return [(t.text, t.startchar, t.endchar)
            for t in medical_analyzer(text, mode="query", chars=True)]


def fold(text: str) -> str:
    """Lower case without accents, as the analyzers fold words before indexing them."""
    return text.lower().translate(accent_map)


# Query understanding (indexer.query) sees words as this engine indexes them.
terms.install(query_tokens, fold)
