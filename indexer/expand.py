"""Medical query understanding: MeSH synonyms and mined abbreviations.

At build time `write_resources` saves, beside the new generation's index, a
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

from whoosh import index as whoosh_index

from . import abbrev, mesh
from .analysis import medical_analyzer
from .errors import IndexDamaged
from .records import Record
from .schema import TEXT_FIELDS

RESOURCE = "expansions.json"
MAX_PHRASE = 6  # longest query phrase (in terms) looked up
MAX_CONCEPTS = 2  # an ambiguous term expands to at most this many concepts

_QUOTED = re.compile(r'"[^"]*"?')
_OPERATORS = {"AND", "OR", "NOT", "ANDNOT", "ANDMAYBE"}


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
    if source:
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

    type: str  # "synonym", "abbreviation", "spelling" or "feedback"
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
            tokens = [(t.text, t.startchar, t.endchar)
                      for t in medical_analyzer(segment, mode="query", chars=True)]
            stems = [t[0] for t in tokens]
            asked = set(stems)
            if synonyms:
                for start, end, key in _phrases(stems, self.keys):
                    source = segment[tokens[start][1]:tokens[end - 1][2]]
                    exp = self._synonym(source, key, asked, end - start)
                    if exp:
                        found.append(exp)
            if abbreviations:
                lookup = {**self.short, **self.long}
                for start, end, key in _phrases(stems, lookup):
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


def _phrases(stems: list[str], table: dict):
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


# --- build time -------------------------------------------------------------------

def vocabulary(folder: str | os.PathLike) -> set[str]:
    """Every term of the searchable text fields of the index in `folder`.

    Read from the generation's postings columns (indexer.columns) when it
    has them: the same terms as the Whoosh lexicon, without reading it.
    """
    from .columns import PREFIX, Columns

    if (Path(folder) / f"{PREFIX}stats.json").exists():
        columns = Columns.load(folder)
        blob = columns.keys.tobytes()
        ends = columns.key_starts.tolist()
        return {blob[a:b].split(b"\0", 1)[1].decode("utf-8")
                for a, b in zip(ends, ends[1:])}
    ix = whoosh_index.open_dir(str(folder))
    try:
        with ix.reader() as reader:
            terms: set[str] = set()
            for name in TEXT_FIELDS:
                terms.update(t.decode("utf-8") if isinstance(t, bytes) else t
                             for t in reader.lexicon(name))
            return terms
    finally:
        ix.close()


def _mined_text(record: Record) -> str:
    return " ".join(p for p in (record.title, record.abstract) if p)


def abbreviation_table(records: list[Record], vocab: set[str]) -> dict:
    """Acronym -> long forms and long form -> acronym, as stems, from the abstracts."""
    return _abbreviation_table(abbrev.mine(_mined_text(r) for r in records), vocab)


def _abbreviation_table(mined: dict, vocab: set[str]) -> dict:
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


# The abbreviations each segment's records write out, found once when the
# segment is written and kept with it (generations.per_segment).
SEGMENT_KIND = "abbreviations.json"


def segment_pairs(segment) -> list:
    """[document number, record key, [[short, long], ...]] of each record of one
    segment (a SegmentReader, deleted records included) that defines any."""
    from .build import record_key
    from .schema import from_stored

    found = []
    for docnum in range(segment.doc_count_all()):
        record = from_stored(segment.stored_fields(docnum))
        pairs = list(abbrev.find_pairs(_mined_text(record)))
        if pairs:
            found.append([docnum, record_key(record), [list(p) for p in pairs]])
    return found


def save_segment_pairs(folder: str | os.PathLike) -> None:
    """Save the abbreviations of each segment of the index in `folder` that has none yet."""
    from .generations import load_json, per_segment, save_json

    per_segment(Path(folder), SEGMENT_KIND, segment_pairs, save_json, load_json)


def _indexed_pairs(folder: Path) -> list:
    """The pairs of every record in the index, in key order (as stored_records
    gives the records): deleted records left out."""
    from .generations import load_json, per_segment, save_json

    live = []
    for segment, found in per_segment(folder, SEGMENT_KIND, segment_pairs, save_json,
                                      load_json):
        gone = set(segment.deleted_docs()) if segment.has_deletions() else ()
        live += [(key, pairs) for docnum, key, pairs in found if docnum not in gone]
    live.sort(key=lambda item: item[0])
    return [pairs for _, pairs in live]


def write_resources(folder: str | os.PathLike, records: list[Record] | None = None,
                    data: str | os.PathLike | None = None) -> dict:
    """Save the expansion resources for the index just written in `folder`.

    Called by the build between writing and swapping in a generation, so
    each generation carries the vocabulary that matches its own index.
    Without `records`, the abbreviations are those of the index's records,
    from what each segment saved (an update reads only its new segment).
    """
    from .testsets import data_dir  # the data folder is shared with `eval`

    vocab = vocabulary(folder)
    source = data_dir(data) / mesh.CTD_FILE
    synonyms = mesh.synonym_table(source, vocab, cache=folder)
    if records is None:
        abbreviations = _abbreviation_table(abbrev.tally(_indexed_pairs(Path(folder))), vocab)
    else:
        abbreviations = abbreviation_table(records, vocab)
    # Where the synonyms came from: an index built without the MeSH data says so.
    found = mesh.read_descriptors(str(source))
    payload = {"version": 1, "synonyms": synonyms, "abbreviations": abbreviations,
               "synonyms_from": str(source) if found else None,
               "synonyms_looked_at": str(source)}
    (Path(folder) / RESOURCE).write_text(json.dumps(payload, separators=(",", ":")),
                                         encoding="utf-8")
    return {"concepts": len(synonyms["concepts"]), "abbreviations": len(abbreviations["short"]),
            **describe(payload)}
