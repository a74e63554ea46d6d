"""MeSH disease descriptors and their entry terms, from CTD's MEDIC vocabulary.

Read once per process at build time (CTD_diseases.tsv.gz, about 4,800
descriptors); the build keeps only what the new index can use.
"""

from __future__ import annotations

import csv
import gzip
import io
import os
from functools import lru_cache
from pathlib import Path

from .terms import stems

CTD_FILE = Path("mesh-ctd-diseases") / "CTD_diseases.tsv.gz"


def deinvert(term: str) -> str:
    """MeSH's inverted "Tuberculosis, Spinal" as it is written: "Spinal Tuberculosis"."""
    head, sep, tail = term.partition(", ")
    if sep and ", " not in tail and "(" not in term:
        return f"{tail} {head}"
    return term


@lru_cache(maxsize=4)
def read_descriptors(path: str) -> tuple[tuple[str, tuple[str, ...]], ...]:
    """(descriptor name, entry terms) of every MESH:D row; empty when the file is absent."""
    if not os.path.exists(path):
        return ()
    rows = []
    with gzip.open(path, "rt", encoding="utf-8") as handle:
        lines = (line for line in handle if not line.startswith("#"))
        for row in csv.reader(io.StringIO("".join(lines)), delimiter="\t", quoting=csv.QUOTE_NONE):
            if len(row) < 8 or not row[1].startswith("MESH:D"):
                continue
            synonyms = tuple(s for s in row[7].split("|") if s)
            rows.append((row[0], synonyms))
    return tuple(rows)


@lru_cache(maxsize=4)
def analyzed(path: str) -> tuple:
    """Each descriptor's distinct forms as (written, stems), name first."""
    concepts = []
    for name, synonyms in read_descriptors(path):
        forms, seen = [], set()
        for written in (name, *synonyms):
            written = deinvert(written)
            key = stems(written)
            # "Disc Displacement, Intervertebral" and its de-inverted twin
            # are one form; so are forms differing in word order only.
            if key and frozenset(key) not in seen:
                seen.add(frozenset(key))
                forms.append((written, key))
        if forms:
            concepts.append(forms)
    return tuple(concepts)


def synonym_table(analyzed_forms: tuple, vocabulary: set[str], max_forms: int = 6) -> dict:
    """The compact synonym resource for one index, from `analyzed_forms`, what
    analyzed() gives (each a list of (written, stems) forms, the name first).

    A concept is kept when at least one of its forms is findable in the
    index (all its terms in `vocabulary`); every form of a kept concept is a
    key (the lay term need not occur in the index), and its targets are the
    findable forms, the descriptor name first, at most `max_forms`.
    """
    keys: dict[str, list[int]] = {}
    concepts: list[dict] = []
    for forms in analyzed_forms:
        findable = [(w, s) for w, s in forms if all(t in vocabulary for t in s)]
        # The descriptor name, then the shortest (most general) entry terms.
        findable.sort(key=lambda form: (form[0] != forms[0][0], len(form[1])))
        if not findable:
            continue
        number = len(concepts)
        concepts.append({"name": forms[0][0],
                         "forms": [[w, list(s)] for w, s in findable[:max_forms]]})
        for _, key in forms:
            keys.setdefault(" ".join(key), []).append(number)
    return {"keys": keys, "concepts": concepts}
