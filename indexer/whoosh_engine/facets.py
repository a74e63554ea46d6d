"""Facet counts without reading the matched documents.

The results page counts year, journal and MeSH keyword over every match.
Reading each match's term vector and columns costs a Python call per
document per field (most of a search's time at 20,000 pages and more).
Instead, each generation's year, journal and MeSH terms of every document
are read once into arrays indexed by document number (a FacetTable), and a
search counts its matches with numpy's bincount.

The counts are exactly those of the straightforward way (a column read and a
term-vector read per match); tests/test_search_perf_equivalence.py checks it.
"""

from __future__ import annotations

from collections.abc import Iterable
from pathlib import Path
from typing import NamedTuple

import numpy as np

from .generations import load_json, per_segment, save_json, segment_file
from .positions import gather_runs

FACET_LIMIT = 10
# A MeSH term on more than this share of the documents is counted from a
# bitset of them (an AND and a popcount per 64 documents), the others by
# gathering each match's own terms: "Humans", "Female", "Adult"... are on a
# quarter of the documents each: a search matching half of 100,000 pages
# gathered 700,000 codes, and now counts in half the time.
COMMON_SHARE = 1 / 64
# A search matching fewer than this share of the documents gathers every
# code: its few codes cost less than a pass over the bitsets.
GATHER_SHARE = 1 / 32


def top(counts: dict, limit: int = FACET_LIMIT) -> list:
    """The `limit` largest counts, ties in value order (as strings)."""
    return sorted(counts.items(), key=lambda kv: (-kv[1], str(kv[0])))[:limit]


class FacetTable:
    """Year, journal and MeSH terms of every document of one generation, as
    numpy arrays: a search counts its matches with bincount."""

    __slots__ = ("years", "journal_codes", "journal_names", "journal_order", "mesh_starts",
                 "mesh_codes", "mesh_names", "mesh_order", "size", "common_codes",
                 "common_bits", "rare_starts", "rare_codes", "rare_most")

    def __init__(self, years: list, journals: list, mesh: list):
        self._assemble([_coded({"years": years, "journals": journals, "mesh": mesh})])

    def _assemble(self, parts: list[Coded]) -> None:
        """The table of segments' coded values, in document order."""
        self.years = np.concatenate([p.years for p in parts])
        self.size = len(self.years)
        self.journal_names, self.journal_codes = _merged(
            [(p.journal_names, p.journal_codes) for p in parts])
        self.mesh_names, self.mesh_codes = _merged([(p.mesh_names, p.mesh_codes) for p in parts])
        self.mesh_starts = np.zeros(self.size + 1, dtype=np.int64)
        np.cumsum(np.concatenate([p.mesh_runs for p in parts]), out=self.mesh_starts[1:])
        # Each code's place in the names' string order: ties are broken by it.
        self.journal_order = _string_order(self.journal_names)
        self.mesh_order = _string_order(self.mesh_names)
        self._split_mesh()

    def _split_mesh(self) -> None:
        """The common MeSH codes as bitsets over the documents, the others as
        each document's run of codes (as mesh_starts and mesh_codes)."""
        per_code = np.bincount(self.mesh_codes, minlength=len(self.mesh_names))
        per_code[0] = 0
        self.common_codes = np.flatnonzero(per_code > self.size * COMMON_SHARE)
        common = np.zeros(len(self.mesh_names), dtype=bool)
        common[self.common_codes] = True
        docs = np.repeat(np.arange(self.size), np.diff(self.mesh_starts))
        is_common = common[self.mesh_codes]
        row = np.zeros(len(self.mesh_names), dtype=np.int64)
        row[self.common_codes] = np.arange(len(self.common_codes))
        marks = np.zeros((len(self.common_codes), _words(self.size) * 64), dtype=bool)
        marks[row[self.mesh_codes[is_common]], docs[is_common]] = True
        self.common_bits = _packed(marks)
        self.rare_codes = self.mesh_codes[~is_common]
        self.rare_most = int(per_code[~common].max(initial=0))  # the most documents one is on
        self.rare_starts = np.zeros(self.size + 1, dtype=np.int64)
        np.cumsum(np.bincount(docs[~is_common], minlength=self.size), out=self.rare_starts[1:])

    @classmethod
    def from_reader(cls, reader) -> FacetTable:
        """Read from the index: two columns and the mesh_term postings (seconds
        at 100,000 pages; `load` reads what the build saved instead)."""
        return cls(*_values(reader))

    @classmethod
    def load(cls, folder: Path, reader, known: dict | None = None) -> FacetTable:
        """The table of the generation in `folder`, from what the build saved
        for each segment (write_facets); a segment without it is read.

        `known` keeps each segment's coded values by segment id across
        generations (the caller's, pruned here to this generation's): an
        update keeps most segments, and coding 1.4 million MeSH terms again
        held up a worker's first search on the new generation for a second.
        """
        known = {} if known is None else known
        subs = dict(_segment_readers(reader))
        parts = []
        segments = [segment.segment_id() for segment in _toc_segments(folder)]
        for segment in segments:
            part = known.get(segment)
            if part is None:
                path = segment_file(folder, segment, SEGMENT_KIND)
                try:
                    with open(path, "rb") as handle:
                        saved = load_json(handle)
                except FileNotFoundError:
                    saved = _segment_values(subs[segment])
                part = known[segment] = _coded(saved)
            parts.append(part)
        for gone in set(known) - set(segments):
            del known[gone]
        if sum(len(p.years) for p in parts) != reader.doc_count_all():
            return cls.from_reader(reader)  # not the reader's segments: read it
        table = cls.__new__(cls)
        table._assemble(parts)
        return table

    def count(self, docs: Iterable[int]) -> dict:
        """Counts by year (newest first), and the top journals and MeSH terms."""
        docs = np.fromiter(docs, dtype=np.int64) if not isinstance(docs, np.ndarray) else docs
        years = np.bincount(self.years[docs]) if len(docs) else np.zeros(0, dtype=np.int64)
        by_year = [(int(y), int(years[y])) for y in np.flatnonzero(years)[::-1] if y]
        journals = _top_codes(np.bincount(self.journal_codes[docs],
                                          minlength=len(self.journal_names)),
                              self.journal_names, self.journal_order)
        mesh = _top_codes(self._mesh_counts(docs, placing_only=True), self.mesh_names,
                          self.mesh_order)
        return {"year": by_year, "journal": journals, "mesh": mesh}

    def _mesh_counts(self, docs: np.ndarray, placing_only: bool = False) -> np.ndarray:
        """How many of `docs` (distinct) have each MeSH code; with
        `placing_only`, the rare codes are left at 0 when none of them can
        place among the FACET_LIMIT largest counts."""
        if len(docs) < self.size * GATHER_SHARE or not len(self.common_codes):
            return _runs_counted(self.mesh_starts, self.mesh_codes, docs, len(self.mesh_names))
        matched = np.zeros(_words(self.size) * 64, dtype=bool)
        matched[docs] = True
        both = self.common_bits & _packed(matched)
        common = np.bitwise_count(both).sum(axis=-1, dtype=np.int64)
        counts = np.zeros(len(self.mesh_names), dtype=np.int64)
        counts[self.common_codes] = common
        # A rare code is on at most rare_most documents: when the common codes
        # already fill the facet with more (ties go by name), the gather of
        # every match's rare codes, most of a large search's counting, is skipped.
        if not (placing_only and len(common) >= FACET_LIMIT
                and np.partition(common, len(common) - FACET_LIMIT)[len(common) - FACET_LIMIT]
                > self.rare_most):
            counts += _runs_counted(self.rare_starts, self.rare_codes, docs, len(self.mesh_names))
        return counts


def _words(bits: int) -> int:
    """64-bit words holding `bits` bits."""
    return -(-bits // 64)


def _packed(marks: np.ndarray) -> np.ndarray:
    """Boolean rows (a multiple of 64 long) as rows of 64-bit words."""
    return np.packbits(marks, axis=-1, bitorder="little").view(np.uint64)


def _runs_counted(starts: np.ndarray, codes: np.ndarray, docs: np.ndarray,
                  size: int) -> np.ndarray:
    """Counts per code over the runs `codes[starts[d]:starts[d + 1]]` of `docs`."""
    first = starts[docs]
    return np.bincount(gather_runs(codes, first, starts[docs + 1] - first), minlength=size)


class Coded(NamedTuple):
    """One segment's facet values, each coded by the segment's own names
    (code 0: no value): what a generation's table is put together from."""

    years: np.ndarray
    journal_names: list
    journal_codes: np.ndarray
    mesh_names: list
    mesh_codes: np.ndarray  # each document's run of codes, in document order
    mesh_runs: np.ndarray  # the length of each document's run


def _coded(saved: dict) -> Coded:
    journal_names, journal_codes = _codes(saved["journals"])
    mesh = saved["mesh"]
    mesh_names, mesh_codes = _codes([t for terms in mesh for t in terms])
    return Coded(np.array([y or 0 for y in saved["years"]], dtype=np.int64), journal_names,
                 np.array(journal_codes, dtype=np.int32), mesh_names,
                 np.array(mesh_codes, dtype=np.int32),
                 np.array([len(terms) for terms in mesh], dtype=np.int64))


def _merged(parts: list[tuple[list, np.ndarray]]) -> tuple[list, np.ndarray]:
    """One list of names (None first) and codes into it, from segments'
    (names, codes): the names in order of first appearance, as _codes gives."""
    names, flat = _codes([name for local_names, _ in parts for name in local_names[1:]])
    coded, at = [np.zeros(0, dtype=np.int64)], 0
    for local_names, codes in parts:
        to_global = np.array([0] + flat[at:at + len(local_names) - 1], dtype=np.int64)
        at += len(local_names) - 1
        coded.append(to_global[codes])
    return names, np.concatenate(coded)


def _values(reader) -> tuple[list, list, list]:
    """Every document's year, journal and MeSH terms, from a reader."""
    size = reader.doc_count_all()
    year_column = reader.column_reader("year")
    journal_column = reader.column_reader("journal_name")
    years = [year_column[d] for d in range(size)]
    journals = [journal_column[d] for d in range(size)]
    per_doc: list[list[str]] = [[] for _ in range(size)]
    if "mesh_term" in reader.schema:
        from_bytes = reader.schema["mesh_term"].from_bytes
        for btext in reader.lexicon("mesh_term"):
            term = from_bytes(btext)
            append_to = per_doc.__getitem__
            for docnum in reader.postings("mesh_term", btext).all_ids():
                append_to(docnum).append(term)
    return years, journals, per_doc


def _segment_values(reader) -> dict:
    """_values of one segment, as saved beside it."""
    return dict(zip(("years", "journals", "mesh"), _values(reader)))


# --- saved per segment ------------------------------------------------------------
#
# A segment's facet values never change, so the build saves them beside the
# segment (generations.per_segment) and an update keeps them with it.

SEGMENT_KIND = "facets.json"


def write_facets(folder: Path) -> None:
    """Save the facet values of each segment of a new generation that has none."""
    per_segment(Path(folder), SEGMENT_KIND, compute=_segment_values, save=save_json,
                load=lambda handle: None)


def _toc_segments(folder: Path) -> list:
    from whoosh.filedb.filestore import FileStorage
    from whoosh.index import TOC

    return TOC.read(FileStorage(str(folder)), "MAIN").segments


def _segment_readers(reader):
    leaves = [(reader, 0)] if reader.is_atomic() else reader.leaf_readers()
    return [(sub.segment().segment_id(), sub) for sub, _ in leaves]


def _codes(values: list) -> tuple[list, list[int]]:
    """Distinct values (the empty ones first, as code 0) and each value's code."""
    names: list = [None]
    index: dict = {}
    codes = []
    for value in values:
        if value in (0, None, ""):
            codes.append(0)
            continue
        code = index.get(value)
        if code is None:
            code = index[value] = len(names)
            names.append(value)
        codes.append(code)
    return names, codes


def _string_order(names: list) -> np.ndarray:
    order = np.zeros(len(names), dtype=np.int64)
    order[sorted(range(1, len(names)), key=lambda c: str(names[c]))] = np.arange(1, len(names))
    return order


def _top_codes(counts: np.ndarray, names: list, order: np.ndarray,
               limit: int = FACET_LIMIT) -> list:
    """What top() gives for {name: count}, from counts per code (code 0: no value)."""
    codes = np.flatnonzero(counts != 0)
    codes = codes[codes != 0]
    if len(codes) > limit:
        # Only codes counting at least the limit-th largest count can place.
        kth = np.partition(counts[codes], len(codes) - limit)[len(codes) - limit]
        codes = codes[counts[codes] >= kth]
    ranked = codes[np.lexsort((order[codes], -counts[codes]))][:limit]
    return [(names[c], int(counts[c])) for c in ranked]


def count_straightforward(reader, docs: Iterable[int]) -> dict:
    """The same counts read document by document (the reference for tests)."""
    years: dict[int, int] = {}
    journals: dict[str, int] = {}
    mesh: dict[str, int] = {}
    year_column = reader.column_reader("year")
    journal_column = reader.column_reader("journal_name")
    for docnum in docs:
        year = year_column[docnum]
        if year:
            years[year] = years.get(year, 0) + 1
        journal = journal_column[docnum]
        if journal:
            journals[journal] = journals.get(journal, 0) + 1
        if reader.has_vector(docnum, "mesh_term"):
            for term in reader.vector_as("weight", docnum, "mesh_term"):
                mesh[term[0]] = mesh.get(term[0], 0) + 1
    return {"year": sorted(years.items(), reverse=True), "journal": top(journals),
            "mesh": top(mesh)}
