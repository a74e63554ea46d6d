"""The query-understanding resources saved beside each generation (expansions.json).

Read from the Whoosh index just written: its vocabulary, the abbreviations
each segment defines, the MeSH forms the index can find (indexer.query.expand
and indexer.query.mesh turn them into lookups).
"""

from __future__ import annotations

import hashlib
import json
import os
from pathlib import Path

from whoosh import index as whoosh_index

from ..pages.records import Record, record_key
from ..query import abbrev, mesh
from ..query.expand import (
    RESOURCE, abbreviation_table, abbreviations_from_pairs, describe, mined_text,
    resources_payload,
)
from .columns import PREFIX
from .postings import Columns
from .generations import CACHE_PREFIX, load_json, per_segment, save_json, save_new
from .schema import TEXT_FIELDS, from_stored


def analyzed_cached(path: str, folder: str | os.PathLike | None = None) -> tuple:
    """mesh.analyzed(path), kept in `folder` (a generation) as a cache file named
    after the vocabulary file's size and mtime and the analyzer's code, which
    updates carry forward: analyzing every entry term takes about half a second."""
    try:
        info = os.stat(path)
    except OSError:
        return mesh.analyzed(path)
    if folder is None:
        return mesh.analyzed(path)
    digest = hashlib.sha1(f"{os.path.abspath(path)}\0{info.st_size}\0{info.st_mtime_ns}\0".encode())
    here = Path(__file__).parent.parent
    for name in ("whoosh_engine/analysis.py", "query/mesh.py"):
        digest.update((here / name).read_bytes())
    prefix = f"{CACHE_PREFIX}mesh-"
    cache = Path(folder) / f"{prefix}{digest.hexdigest()[:20]}.json"
    try:
        saved = json.loads(cache.read_text(encoding="utf-8"))
        return tuple([(w, tuple(s)) for w, s in forms] for forms in saved)
    except (OSError, ValueError, TypeError):
        pass
    concepts = mesh.analyzed(path)
    for old in Path(folder).glob(f"{prefix}*.json"):
        old.unlink()
    save_new(cache, lambda handle: handle.write(
        json.dumps(concepts, ensure_ascii=False, separators=(",", ":")).encode("utf-8")))
    return concepts


def index_vocabulary(folder: str | os.PathLike) -> set[str]:
    """Every term of the searchable text fields of the index in `folder`.

    Read from the generation's postings columns (.columns) when it
    has them: the same terms as the Whoosh lexicon, without reading it.
    """
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


# The abbreviations each segment's records write out, found once when the
# segment is written and kept with it (generations.per_segment).
SEGMENT_KIND = "abbreviations.json"


def segment_pairs(segment) -> list:
    """[document number, record key, [[short, long], ...]] of each record of one
    segment (a SegmentReader, deleted records included) that defines any."""
    found = []
    for docnum in range(segment.doc_count_all()):
        record = from_stored(segment.stored_fields(docnum))
        pairs = list(abbrev.find_pairs(mined_text(record)))
        if pairs:
            found.append([docnum, record_key(record), [list(p) for p in pairs]])
    return found


def save_segment_pairs(folder: str | os.PathLike) -> None:
    """Save the abbreviations of each segment of the index in `folder` that has none yet."""
    per_segment(Path(folder), SEGMENT_KIND, segment_pairs, save_json, load_json)


def _indexed_pairs(folder: Path) -> list:
    """The pairs of every record in the index, in key order (as stored_records
    gives the records): deleted records left out."""
    live = []
    for segment, found in per_segment(folder, SEGMENT_KIND, segment_pairs, save_json,
                                      load_json):
        gone = set(segment.deleted_docs()) if segment.has_deletions() else ()
        live += [(key, pairs) for docnum, key, pairs in found if docnum not in gone]
    live.sort(key=lambda item: item[0])
    return [pairs for _, pairs in live]


def write_resources(folder: str | os.PathLike, records: list[Record] | None = None,
                    data: str | os.PathLike | None = None,
                    vocabulary: mesh.Vocabulary | None = None) -> dict:
    """Save the expansion resources for the index just written in `folder`.

    Called by the build between writing and swapping in a generation, so
    each generation carries the vocabulary that matches its own index
    (`vocabulary`; without one, query.mesh.vocabulary's choice for `data`).
    Without `records`, the abbreviations are those of the index's records,
    from what each segment saved (an update reads only its new segment).
    """
    vocabulary = vocabulary or mesh.vocabulary(data=data)
    vocab = index_vocabulary(folder)
    synonyms = mesh.synonym_table(analyzed_cached(vocabulary.path, folder), vocab)
    if records is None:
        abbreviations = abbreviations_from_pairs(abbrev.tally(_indexed_pairs(Path(folder))), vocab)
    else:
        abbreviations = abbreviation_table(records, vocab)
    payload = resources_payload(synonyms, abbreviations, vocabulary)
    (Path(folder) / RESOURCE).write_text(json.dumps(payload, separators=(",", ":")),
                                         encoding="utf-8")
    return {"concepts": len(synonyms["concepts"]), "abbreviations": len(abbreviations["short"]),
            **describe(payload)}
