"""MeSH descriptors and their entry terms: NLM's descriptor file, else CTD's diseases.

The build reads NLM's MeSH descriptor XML (desc<year>.xml, about 30,000
descriptors) when one is given (--mesh FILE or MEDSEARCH_MESH), else CTD's
MEDIC disease vocabulary from the data folder (CTD_diseases.tsv.gz, about
4,800 descriptors). Read once per process; the build keeps only what the new
index can use.
"""

from __future__ import annotations

import csv
import gzip
import io
import os
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

from lxml import etree

from ..errors import VocabularyError
from .terms import stems

CTD_FILE = Path("mesh-ctd-diseases") / "CTD_diseases.tsv.gz"
MESH_ENV = "MEDSEARCH_MESH"
NLM_DOWNLOAD = "https://www.nlm.nih.gov/databases/download/mesh.html"


def deinvert(term: str) -> str:
    """MeSH's inverted "Tuberculosis, Spinal" as it is written: "Spinal Tuberculosis"."""
    head, sep, tail = term.partition(", ")
    if sep and ", " not in tail and "(" not in term:
        return f"{tail} {head}"
    return term


@dataclass(frozen=True)
class Vocabulary:
    """Where a build's MeSH descriptors come from: NLM's file, else CTD's diseases."""

    kind: str  # "nlm" or "ctd"
    path: str

    @property
    def descriptors(self) -> tuple[tuple[str, tuple[str, ...]], ...]:
        """(name, entry terms) of each descriptor; empty when CTD's file is absent."""
        return read_descriptors(self.path)

    @property
    def names(self) -> frozenset[str] | None:
        """Every descriptor name, casefolded, when the vocabulary has them all (NLM's);
        None for CTD's, which knows the diseases only."""
        return descriptor_names(self.path) if self.kind == "nlm" else None

    @property
    def joinable(self) -> frozenset[str]:
        """The casefolded names a page's split descriptors may be rejoined into."""
        return descriptor_names(self.path)


def vocabulary(mesh_file: str | os.PathLike | None = None,
               data: str | os.PathLike | None = None) -> Vocabulary:
    """The vocabulary a build uses: `mesh_file`, else $MEDSEARCH_MESH, else CTD's
    file in the data folder. A named NLM file that cannot be read is a VocabularyError."""
    from ..evaluation.testsets import data_dir  # the data folder is shared with `eval`

    named = mesh_file or os.environ.get(MESH_ENV)
    if not named:
        return Vocabulary("ctd", str(data_dir(data) / CTD_FILE))
    path = os.path.abspath(named)
    if not os.path.isfile(path):
        raise VocabularyError(f"no MeSH descriptor file at {named}: download desc<year>.xml "
                              f"from {NLM_DOWNLOAD}, or leave out --mesh and {MESH_ENV}")
    read_descriptors(path)  # unreadable or empty: said now, before anything is built
    return Vocabulary("nlm", path)


@lru_cache(maxsize=4)
def descriptor_names(path: str) -> frozenset[str]:
    """The casefolded names of the descriptors in the file at `path`."""
    return frozenset(name.casefold() for name, _ in read_descriptors(path))


def read_descriptors(path: str) -> tuple[tuple[str, tuple[str, ...]], ...]:
    """(descriptor name, entry terms) of each descriptor of NLM's XML (a .xml
    or .xml.gz file) or of CTD's TSV; empty when CTD's file is absent."""
    if path.endswith((".xml", ".xml.gz")):
        return read_nlm(path)
    return read_ctd(path)


@lru_cache(maxsize=4)
def read_nlm(path: str) -> tuple[tuple[str, tuple[str, ...]], ...]:
    """(name, entry terms) of every DescriptorRecord of NLM's descriptor XML.

    Streamed: the real file is about 300 MB, and each record is dropped once read.
    """
    rows = []
    opener = gzip.open if path.endswith(".gz") else open
    try:
        with opener(path, "rb") as handle:
            for _, record in etree.iterparse(handle, tag="DescriptorRecord", load_dtd=False,
                                             no_network=True, resolve_entities=False,
                                             huge_tree=True):
                name = " ".join((record.findtext("DescriptorName/String") or "").split())
                terms = (" ".join((t.text or "").split()) for t in
                         record.iterfind("ConceptList/Concept/TermList/Term/String"))
                if name:
                    rows.append((name, tuple(dict.fromkeys(t for t in terms if t and t != name))))
                record.clear()
                while record.getprevious() is not None:
                    del record.getparent()[0]
    except (OSError, etree.XMLSyntaxError) as exc:
        raise VocabularyError(f"cannot read {path} as NLM's MeSH descriptor XML "
                              f"({' '.join(str(exc).split())}): download desc<year>.xml "
                              f"from {NLM_DOWNLOAD}") from None
    if not rows:
        raise VocabularyError(f"{path} holds no MeSH descriptors (no DescriptorRecord): "
                              f"download desc<year>.xml from {NLM_DOWNLOAD}")
    return tuple(rows)


@lru_cache(maxsize=4)
def read_ctd(path: str) -> tuple[tuple[str, tuple[str, ...]], ...]:
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
