"""Concepts, like PubMed's Automatic Term Mapping: a phrase of the query that is a
MeSH heading or entry term is searched as its descriptor.

"backache" is an entry term of Back Pain: the query then looks for Back Pain
as one unit (documents indexed with the descriptor, or saying its heading or
any entry term as a phrase), not only for the word the user typed. Phrases
are matched longest first, left to right, as ATM does, and only in the plain
words of a query (never inside quotes or after a `field:` prefix: see
expand.plain_segments). Engine-neutral: an engine turns each `Concept` into
its own query (indexer.whoosh_engine.ranking for Whoosh).
"""

from __future__ import annotations

from dataclasses import dataclass

from . import terms
from .expand import Expander, Expansion, longest_phrases


@dataclass(frozen=True)
class Concept:
    """One phrase of the query mapped to one MeSH descriptor."""

    source: str  # the words as the user typed them
    name: str  # the descriptor's heading, as shown ("Back Pain")
    words: tuple[str, ...]  # the stems of the user's phrase
    forms: tuple[tuple[str, ...], ...]  # stems of the heading and entry terms, heading first

    def expansion(self) -> Expansion:
        """How the concept is reported: `{"type": "concept", "from": ..., "to": [name]}`."""
        return Expansion("concept", self.source, [self.name], list(self.forms), len(self.words))


def find_concepts(expander: Expander, segments: list[str]) -> list[Concept]:
    """The concepts among the plain-word `segments` of a query, longest phrases first."""
    found: list[Concept] = []
    for segment in segments:
        tokens = terms.query_tokens(segment)
        stems = [t[0] for t in tokens]
        for start, end, key in longest_phrases(stems, expander.keys):
            words = tuple(stems[start:end])
            concept = expander.concepts[_best(expander, key)]
            forms = [tuple(s) for _, s in concept["forms"]]
            # The user's own phrase is always one of the forms (the table
            # keeps only the first few forms that occur in the index).
            if words not in forms:
                forms.append(words)
            source = segment[tokens[start][1]:tokens[end - 1][2]]
            found.append(Concept(source, concept["name"], words, tuple(forms)))
    return found


def _best(expander: Expander, key: str) -> int:
    """The descriptor a phrase maps to: the one it is the heading of, else the first
    (an entry term shared by several descriptors is rare in MeSH)."""
    numbers = expander.keys[key]
    for number in numbers:
        heading = expander.concepts[number]["forms"][0][1]
        if " ".join(heading) == key:
            return number
    return numbers[0]
