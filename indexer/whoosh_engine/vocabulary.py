"""The suggest-as-you-type vocabulary of a Whoosh index, saved beside each generation.

Read from the spelling fields (unstemmed words of titles, abstracts and
keywords) and the `mesh_term` field (whole MeSH keywords): reading it from
100,000 documents takes seconds, so the build sums what each segment saved
when it was written (indexer.query.suggest looks words up in it).
"""

from __future__ import annotations

import json
import os
from collections import Counter
from pathlib import Path

from ..query.suggest import Vocabulary
from .generations import load_json, per_segment, save_json, segment_file, segment_ids

WORD_FIELDS = ("spell_title", "spell_abstract", "spell_keywords")
VOCABULARY_FILE = "suggest.json"  # beside each generation, written by the build
MESH_FIELD = "mesh_term"


def _field_counts(reader, name: str) -> dict[str, int]:
    """Each term of field `name` with its document frequency.

    Summed segment by segment: a MultiReader merges the segments' term lists
    term by term, several times slower over the ~100 segments of a large build.
    """
    counts: dict[str, int] = {}
    if name not in reader.schema.names():
        return counts
    for segment in getattr(reader, "readers", None) or [reader]:
        for term, info in segment.iter_field(name):
            text = term.decode("utf-8") if isinstance(term, bytes) else term
            counts[text] = counts.get(text, 0) + info.doc_frequency()
    return counts


def read_counts(reader) -> tuple[dict[str, int], dict[str, int]]:
    """(words, MeSH keywords) of a Whoosh reader, each with its document frequency."""
    words: dict[str, int] = {}
    for name in WORD_FIELDS:
        for word, n in _field_counts(reader, name).items():
            if any(c.isalpha() for c in word):  # numbers complete nothing useful
                # One word in several fields: its most frequent field
                # approximates the documents holding it.
                words[word] = max(words.get(word, 0), n)
    return words, _field_counts(reader, MESH_FIELD)


SEGMENT_KIND = "suggest.json"  # one segment's term counts (generations.per_segment)
# Beside each generation: each field's counts summed, and the segments summed.
TOTALS_FILE = "suggest-totals.json"


def segment_counts(segment) -> dict[str, dict[str, int]]:
    """Each word and MeSH field's terms with their document frequencies, in
    one segment (a SegmentReader; deleted documents counted, as Whoosh does)."""
    return {name: _field_counts(segment, name) for name in (*WORD_FIELDS, MESH_FIELD)}


def _sum(parts) -> dict[str, Counter]:
    """Each field's document frequencies summed over segments' counts."""
    totals: dict[str, Counter] = {name: Counter() for name in (*WORD_FIELDS, MESH_FIELD)}
    for _, counts in parts:
        for name, total in totals.items():
            total.update(counts.get(name, {}))
    return totals


def _read_counts_of(totals: dict[str, Counter]) -> tuple[dict[str, int], dict[str, int]]:
    """read_counts' (words, MeSH keywords) from each field's totals."""
    words: dict[str, int] = {}
    for name in WORD_FIELDS:
        for word, n in totals[name].items():
            if any(c.isalpha() for c in word):
                words[word] = max(words.get(word, 0), n)
    return words, dict(totals[MESH_FIELD])


def _counts_from_segments(parts) -> tuple[dict[str, int], dict[str, int]]:
    """read_counts of a whole index, from its segments' saved counts."""
    return _read_counts_of(_sum(parts))


def save_segment_counts(folder: str | os.PathLike) -> None:
    """Save the term counts of each segment of the index in `folder` that has none yet."""
    per_segment(Path(folder), SEGMENT_KIND, segment_counts, save_json, load_json)


def write_vocabulary(folder: str | os.PathLike, previous: str | os.PathLike | None = None) -> None:
    """Save the index's vocabulary beside it, so Index.suggest loads it in milliseconds.

    Summed from each segment's counts, read once when the segment is written
    and kept with it. An update starts from the `previous` generation's sums
    (TOTALS_FILE): it adds its new segments' counts and takes away those of
    the segments it merged away, whatever the number of segments.
    """
    folder = Path(folder)
    ids = segment_ids(folder)
    totals = _totals_after(folder, Path(previous), ids) if previous else None
    if totals is None:
        totals = _sum(per_segment(folder, SEGMENT_KIND, segment_counts, save_json,
                                  load_json))
    words, mesh = _read_counts_of(totals)
    payload = json.dumps({"words": words, "mesh": mesh}, ensure_ascii=False,
                         separators=(",", ":"))
    (folder / VOCABULARY_FILE).write_text(payload, encoding="utf-8")
    (folder / TOTALS_FILE).write_text(json.dumps(
        {"segments": ids, "totals": totals}, ensure_ascii=False, separators=(",", ":")),
        encoding="utf-8")


def _totals_after(folder: Path, previous: Path, ids: list[str]) -> dict[str, Counter] | None:
    """The previous generation's sums brought to the segments `ids` of `folder`;
    None when they cannot be (no sums saved, a segment's counts missing)."""
    try:
        saved = json.loads((previous / TOTALS_FILE).read_text(encoding="utf-8"))
        before = list(saved["segments"])
        totals = {name: Counter(saved["totals"][name]) for name in (*WORD_FIELDS, MESH_FIELD)}
        for gone in set(before) - set(ids):
            with open(segment_file(previous, gone, SEGMENT_KIND), "rb") as handle:
                counts = load_json(handle)
            for name, total in totals.items():
                total.subtract(counts.get(name, {}))
    except (OSError, ValueError, KeyError, TypeError):
        return None
    new = set(ids) - set(before)
    for _, counts in per_segment(folder, SEGMENT_KIND, segment_counts, save_json,
                                 load_json, only=new):
        for name, total in totals.items():
            total.update(counts.get(name, {}))
    for total in totals.values():
        for term in [t for t, n in total.items() if n <= 0]:
            del total[term]
    return totals


def load_vocabulary(folder: str | os.PathLike, reader) -> Vocabulary:
    """The vocabulary the build saved in `folder`; else read from `reader` (slower)."""
    try:
        data = json.loads((Path(folder) / VOCABULARY_FILE).read_text(encoding="utf-8"))
        return Vocabulary(data["words"], data["mesh"])
    except (OSError, ValueError, KeyError, TypeError):
        return Vocabulary(*read_counts(reader))
