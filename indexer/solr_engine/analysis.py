"""The configset's query analysis (`text_medical`, query side) in Python.

Query understanding (indexer.query: synonyms, abbreviations, concepts)
looks phrases up by their terms, so on SolrCloud it must see words as the
collection indexes them, without a request per query and without loading
the Whoosh engine (a site on SolrCloud never does). This mirrors the
configset step by step: Whoosh's token pattern, compounds split into their
parts, possessives dropped, lower case, accents folded, the configset's
stop words, Snowball English (PyStemmer runs the same Snowball algorithm
as Lucene's SnowballPorterFilter). A word stemmed differently here would
only miss an expansion: the build keeps only the phrases whose terms the
collection's own term list holds, and the searches send written words,
which Solr analyses itself.
"""

from __future__ import annotations

import re
import threading
import unicodedata
from functools import lru_cache

import Stemmer

from ..query.expand import plain_segments
from ..query.text import INVISIBLE, without_invisibles
from .java import SOLR_PROJECT

STOP_WORDS_FILE = SOLR_PROJECT / "configset" / "medsearch" / "conf" / "stopwords.txt"

_WORD = rf"\w+(?:[{INVISIBLE}]+\w+)*"
# indexer/whoosh_engine/analysis.py's TOKEN_PATTERN, the configset's PatternTokenizer.
TOKEN = re.compile(rf"\d+\.\d+|{_WORD}(?:['’]{_WORD})*"
                   rf"(?:[{INVISIBLE}]*[-/][{INVISIBLE}]*{_WORD}(?:['’]{_WORD})*)*")
_PART = re.compile(r"[^-/]+")
_POSSESSIVE = re.compile(r"['’][sS]$")


def _stop_words() -> frozenset[str]:
    lines = STOP_WORDS_FILE.read_text(encoding="utf-8").splitlines()
    return frozenset(w.strip() for w in lines if w.strip() and not w.startswith("#"))


STOP_WORDS = _stop_words()

# A PyStemmer object must not be used by two threads at once (the site's threads).
_stemmer = Stemmer.Stemmer("english")
_stemming = threading.Lock()


@lru_cache(maxsize=65536)
def stem(word: str) -> str:
    with _stemming:
        return _stemmer.stemWord(word)


def fold(text: str) -> str:
    """Lower case without accents: the configset's LowerCase and ASCIIFolding filters."""
    decomposed = unicodedata.normalize("NFKD", text.lower())
    return "".join(c for c in decomposed if not unicodedata.combining(c))


def query_tokens(text: str) -> list[tuple[str, int, int]]:
    """(term, start, end) of each query term of `text`, as the configset analyses a query."""
    found = []
    for token in TOKEN.finditer(text):
        for part in _PART.finditer(token.group()):
            word = fold(_POSSESSIVE.sub("", without_invisibles(part.group())))
            if word and word not in STOP_WORDS:
                start = token.start() + part.start()
                found.append((stem(word), start, start + len(part.group())))
    return found


# Syntax that makes a word more than a plain word (a boost, similar spellings,
# a pattern): such queries are sent as written.
_WEIGHING = re.compile(r"[\^~*?]")


def once_each(prepared: str) -> str:
    """The plain words of `prepared` (the query edismax is given), each one once
    by its analysed terms: the Whoosh engine's query normalisation drops a
    repeated word ("bone, bone development, bone cells": bone counts once,
    "bones" too), where edismax would add up every copy's score. Queries with
    syntax (quotes, fields, operators, boosts) are left as written."""
    if not prepared or _WEIGHING.search(prepared) or plain_segments(prepared)[1]:
        return prepared
    seen: set[tuple[str, ...]] = set()
    kept = []
    for word in prepared.split():
        terms = tuple(term for term, _, _ in query_tokens(word))
        if terms and terms in seen:
            continue
        seen.add(terms)
        kept.append(word)
    return " ".join(kept)
