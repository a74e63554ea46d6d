"""Judged test collections for `medsearch eval`, read where they lie.

The files are never copied into the project: they are read from the data
folder (`--data`, else $MEDSEARCH_DATA, else <repo>/../shared/data).
"""

from __future__ import annotations

import os
import re
from dataclasses import dataclass
from pathlib import Path

from ..errors import MedsearchError
from ..pages.records import Record

REPO = Path(__file__).resolve().parent.parent.parent

# nfcorpus-<type> reads test.<file>; nfcorpus-dev-<type> reads dev.<file>.
NFCORPUS_QUERIES = {
    "titles": "titles",
    "vid-titles": "vid-titles",
    "nontopic": "nontopic-titles",
    # Long queries (video descriptions): dev's stand-in for MED's sentences.
    "vid-desc": "vid-desc",
}
TEST_SETS = ("med", "nfcorpus-titles", "nfcorpus-vid-titles", "nfcorpus-nontopic")
DEV_SETS = tuple(f"nfcorpus-dev-{kind}" for kind in NFCORPUS_QUERIES)
COLLECTIONS = TEST_SETS + DEV_SETS


class DataMissing(MedsearchError):
    """A collection's files are not in the data folder."""


@dataclass
class Collection:
    """Documents, queries and graded judgements of one test collection."""

    name: str
    docs: list[Record]
    queries: dict[str, str]  # qid -> text, only judged queries
    qrels: dict[str, dict[str, int]]  # qid -> docid -> grade
    corpus: str = ""  # collections with the same corpus share one index


def data_dir(explicit: str | os.PathLike | None = None) -> Path:
    """Where the collections live: the option, the environment, or ../shared/data."""
    if explicit:
        return Path(explicit)
    env = os.environ.get("MEDSEARCH_DATA")
    return Path(env) if env else REPO.parent / "shared" / "data"


def load(name: str, data: str | os.PathLike | None = None) -> Collection:
    """The collection called `name` (see COLLECTIONS)."""
    root = data_dir(data)
    if name == "med":
        return load_med(root / "med-medline")
    match = re.fullmatch(r"nfcorpus-(dev-)?(titles|vid-titles|nontopic|vid-desc)", name)
    if not match:
        raise MedsearchError(f"unknown collection {name!r}: choose from {', '.join(COLLECTIONS)}")
    split = "dev" if match[1] else "test"
    return load_nfcorpus(root / "nfcorpus", split, NFCORPUS_QUERIES[match[2]], name)


def _read(path: Path) -> str:
    try:
        return path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise DataMissing(f"{path} not found: set --data or $MEDSEARCH_DATA") from None


def _judged(queries: dict, qrels: dict) -> dict:
    # Unjudged queries score zero whatever the engine does: leave them out.
    return {qid: text for qid, text in queries.items() if qrels.get(qid)}


# --- MED (Glasgow/SMART Medline) -------------------------------------------------

_MED_DOC = re.compile(r"<DOCNO>\s*(\S+)\s*</DOCNO>\s*<body>(.*?)</body>", re.S)
# The title is the first paragraph; the abstract's paragraphs start indented.
_MED_PARAGRAPH = re.compile(r"\n(?=[ \t]{2,}\S)")


def load_med(folder: Path) -> Collection:
    """MED: 1,033 abstracts (title = first paragraph), 30 queries, binary judgements."""
    docs = []
    for docno, body in _MED_DOC.findall(_read(folder / "MED.ALL")):
        parts = _MED_PARAGRAPH.split(body.strip("\n"), maxsplit=1)
        title = " ".join(parts[0].split())
        abstract = " ".join(parts[1].split()) if len(parts) > 1 else None
        docs.append(Record(pmid=docno, title=title, abstract=abstract))
    queries = {}
    for block in re.split(r"^\.I\s+", _read(folder / "MED.QRY"), flags=re.M)[1:]:
        qid, _, rest = block.partition("\n")
        text = rest.split(".W", 1)[-1]
        queries[qid.strip()] = " ".join(text.split())
    qrels = _read_qrels(folder / "MED.REL")
    return Collection("med", docs, _judged(queries, qrels), qrels, "med")


# --- NFCorpus ---------------------------------------------------------------------

# Title and abstract are run together; the scraped page put the word
# "abstract" (often after "pubmed ncbi") between them.
_NF_SPLIT = re.compile(r"\s(?:pubmed ncbi )?abstract\s")


def load_nfcorpus(folder: Path, split: str, kind: str, name: str) -> Collection:
    """NFCorpus `split` documents, `kind` queries and 2-1-0 judgements."""
    docs = []
    for line in _read(folder / f"{split}.docs").splitlines():
        docid, _, text = line.partition("\t")
        parts = _NF_SPLIT.split(text, maxsplit=1)
        if len(parts) == 2:
            docs.append(Record(pmid=docid, title=parts[0], abstract=parts[1]))
        else:
            docs.append(Record(pmid=docid, title="", abstract=text))
    queries = {}
    for line in _read(folder / f"{split}.{kind}.queries").splitlines():
        qid, _, text = line.partition("\t")
        if qid:
            queries[qid] = text.strip()
    qrels = _read_qrels(folder / f"{split}.2-1-0.qrel")
    return Collection(name, docs, _judged(queries, qrels), qrels, f"nfcorpus-{split}")


def _read_qrels(path: Path) -> dict[str, dict[str, int]]:
    qrels: dict[str, dict[str, int]] = {}
    for line in _read(path).splitlines():
        fields = line.split()
        if len(fields) == 4:
            qrels.setdefault(fields[0], {})[fields[2]] = int(fields[3])
    return qrels


def full_text(record: Record) -> str:
    """Title and abstract as one text (what the reference engine indexes)."""
    return " ".join(part for part in (record.title, record.abstract) if part)
