"""Medical query understanding: MeSH synonyms and mined abbreviations.

At build time the engine's `write_resources` saves, beside the new generation's index, a
small JSON file: the MeSH concepts whose terms the index holds and the
abbreviations found in its abstracts. `Expander` loads it once per
generation and, per query, finds the phrases it can expand. Only plain
query words are expanded: never a quoted phrase, a field-prefixed word or an
operator.
"""

from __future__ import annotations

import json
import os
import re
from dataclasses import dataclass, field
from pathlib import Path

from . import abbrev, mesh, terms
from ..errors import IndexDamaged
from ..pages.records import Record

RESOURCE = "expansions.json"
MAX_PHRASE = 6  # longest query phrase (in terms) looked up
MAX_CONCEPTS = 2  # an ambiguous term expands to at most this many concepts

_QUOTED = re.compile(r'"[^"]*"?')
_OPERATORS = {"AND", "OR", "NOT", "ANDNOT", "ANDMAYBE"}


def resources_payload(synonyms: dict, abbreviations: dict, vocabulary: mesh.Vocabulary) -> dict:
    """The expansion resources as either engine stores them (describe() reads them back)."""
    # Where the synonyms came from: an index built without the MeSH data says so.
    found = vocabulary.descriptors
    return {"version": 1, "synonyms": synonyms, "abbreviations": abbreviations,
            "synonyms_from": vocabulary.path if found else None,
            "synonyms_looked_at": vocabulary.path,
            "synonyms_kind": vocabulary.kind, "descriptors": len(found)}


def read_resources(folder: str | os.PathLike) -> dict | None:
    """The expansion resources saved beside a generation; None when it has none."""
    path = Path(folder) / RESOURCE
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
        if not (isinstance(data.get("synonyms"), dict)
                and isinstance(data.get("abbreviations"), dict)):
            raise ValueError("no synonyms or abbreviations")
    except FileNotFoundError:
        return None
    except (OSError, ValueError, AttributeError) as exc:
        raise IndexDamaged(f"the index at {Path(folder).parent} is damaged ({RESOURCE}: "
                           "unreadable): rebuild with `medsearch build`") from exc
    return data


def describe(data: dict | None) -> dict[str, str]:
    """Which vocabulary a generation's resources hold, for the build summary and `stats`."""
    if data is None:
        return {"synonyms": "none (built before synonyms were saved): rebuild to add them",
                "abbreviations": "none (built before abbreviations were saved)"}
    concepts = len(data["synonyms"].get("concepts", []))
    source = data.get("synonyms_from")
    if source and data.get("synonyms_kind") == "nlm":
        descriptors = data.get("descriptors", 0)
        synonyms = (f"MeSH from NLM's {os.path.basename(source)}, {descriptors} "
                    f"descriptor{'' if descriptors == 1 else 's'}, {concepts} "
                    f"concept{'' if concepts == 1 else 's'} in this index (from {source})")
    elif source:
        synonyms = (f"MeSH/CTD diseases, {concepts} concept{'' if concepts == 1 else 's'} "
                    f"(from {source})")
    elif "synonyms_from" in data:
        synonyms = (f"none (no MeSH data found at {data.get('synonyms_looked_at')}: "
                    "set MEDSEARCH_DATA and rebuild)")
    else:
        synonyms = f"{concepts} concepts"
    return {"synonyms": synonyms,
            "abbreviations": f"{len(data['abbreviations'].get('short', {}))} mined from the abstracts"}


def plain_segments(text: str) -> tuple[list[str], bool]:
    """The runs of plain words in a query, and whether it has any syntax.

    Quoted phrases, `field:` words, operators and parentheses break runs and
    are never part of one, so they are never expanded.
    """
    structured = False
    segments: list[str] = []
    for chunk in _QUOTED.split(text):
        run: list[str] = []
        for word in chunk.split():
            bare = word.strip("()")
            if ":" in word or word in _OPERATORS or word.startswith(("+", "-")) or bare != word:
                structured = True
                if run:
                    segments.append(" ".join(run))
                run = []
                if bare and ":" not in word and bare not in _OPERATORS:
                    run = [bare]
                continue
            run.append(word)
        if run:
            segments.append(" ".join(run))
    if _QUOTED.search(text):
        structured = True
    return segments, structured


@dataclass
class Expansion:
    """One applied expansion: what the user wrote and what was searched too."""

    type: str  # "concept", "synonym", "abbreviation", "spelling" or "feedback"
    source: str
    targets: list[str]
    stems: list[tuple[str, ...]] = field(default_factory=list, repr=False)
    size: int = 1  # how many query terms the source is

    def to_dict(self) -> dict:
        return {"type": self.type, "from": self.source, "to": list(self.targets)}


class Expander:
    """Synonym and abbreviation lookups for one index generation."""

    def __init__(self, synonyms: dict | None = None, abbreviations: dict | None = None):
        synonyms = synonyms or {}
        self.keys: dict[str, list[int]] = synonyms.get("keys", {})
        self.concepts: list[dict] = synonyms.get("concepts", [])
        abbreviations = abbreviations or {}
        self.short: dict[str, list] = abbreviations.get("short", {})
        self.long: dict[str, list] = abbreviations.get("long", {})

    @classmethod
    def load(cls, folder: str | os.PathLike) -> Expander:
        """The resources saved beside a generation; an empty Expander when none
        were (a generation older than them). One that cannot be read is
        IndexDamaged: an index that silently lost its synonyms is not fine."""
        data = read_resources(folder)
        return cls(data.get("synonyms"), data.get("abbreviations")) if data else cls()

    def __bool__(self) -> bool:
        return bool(self.keys or self.short)

    def expand(self, segments: list[str], synonyms: bool = True,
               abbreviations: bool = True) -> list[Expansion]:
        """The expansions of the plain-word `segments` of a query."""
        found: list[Expansion] = []
        for segment in segments:
            tokens = terms.query_tokens(segment)
            stems = [t[0] for t in tokens]
            asked = set(stems)
            if synonyms:
                for start, end, key in longest_phrases(stems, self.keys):
                    source = segment[tokens[start][1]:tokens[end - 1][2]]
                    exp = self._synonym(source, key, asked, end - start)
                    if exp:
                        found.append(exp)
            if abbreviations:
                lookup = {**self.short, **self.long}
                for start, end, key in longest_phrases(stems, lookup):
                    source = segment[tokens[start][1]:tokens[end - 1][2]]
                    targets = [(w, tuple(s)) for w, s in lookup[key]
                               if not set(s) <= asked]
                    if targets:
                        found.append(Expansion("abbreviation", source,
                                               [w for w, _ in targets],
                                               [s for _, s in targets], end - start))
        return found

    def _synonym(self, source: str, key: str, asked: set[str],
                 size: int) -> Expansion | None:
        targets: list[tuple[str, tuple]] = []
        for number in self.keys[key][:MAX_CONCEPTS]:
            for written, stems in self.concepts[number]["forms"]:
                stems = tuple(stems)
                # A form made of words already asked for adds nothing.
                if set(stems) <= asked or any(stems == s for _, s in targets):
                    continue
                targets.append((written, stems))
        if not targets:
            return None
        return Expansion("synonym", source, [w for w, _ in targets],
                         [s for _, s in targets], size)


def longest_phrases(stems: list[str], table: dict):
    """(start, end, key) of the longest phrases of `stems` in `table`, left to right."""
    i = 0
    while i < len(stems):
        for n in range(min(MAX_PHRASE, len(stems) - i), 0, -1):
            key = " ".join(stems[i:i + n])
            if key in table:
                yield i, i + n, key
                i += n
                break
        else:
            i += 1


# --- build time (the engine reads its index and calls these) ---------------------

def mined_text(record: Record) -> str:
    """Title and abstract: the text abbreviations are mined from."""
    return " ".join(p for p in (record.title, record.abstract) if p)


def abbreviation_table(records: list[Record], vocab: set[str]) -> dict:
    """Acronym -> long forms and long form -> acronym, as stems, from the abstracts."""
    return abbreviations_from_pairs(abbrev.mine(mined_text(r) for r in records), vocab)


def abbreviations_from_pairs(mined: dict, vocab: set[str]) -> dict:
    short: dict[str, list] = {}
    long: dict[str, list] = {}
    for lower, (written, longs) in mined.items():
        key = mesh.stems(written)
        # An acronym the stemmer changes ("AIDS" -> "aid") would expand a word.
        if " ".join(key) != lower or not key:
            continue
        forms = [(lf, mesh.stems(lf)) for lf in longs]
        forms = [(lf, s) for lf, s in forms if s and all(t in vocab for t in s)]
        if not forms:
            continue
        short[" ".join(key)] = [[lf, list(s)] for lf, s in forms]
        for lf, s in forms:
            long.setdefault(" ".join(s), [[written, list(key)]])
    return {"short": short, "long": long}
