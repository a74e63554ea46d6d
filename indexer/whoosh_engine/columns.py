"""The text fields' postings as numpy columns, saved beside each generation.

Whoosh scores one posting at a time in Python; a query over 100,000 pages
touches hundreds of thousands of postings. The same postings, copied once per
generation into flat arrays (document numbers and term frequencies, grouped
by term, plus every document's field lengths), let .scoring compute
the same BM25F for a whole posting list in one numpy step.

The columns are read from the finished Whoosh index, segment by segment, so
they hold exactly what Whoosh's scorer sees: document numbers, weights,
quantized field lengths, and the statistics (document frequency, document
count, total field length) that count deleted documents until their segment
is rewritten. Files are memory-mapped: the web workers of one machine share
one copy in the page cache.

Terms are found by a 64-bit hash of "field\\0term" (sorted, searched with
numpy), checked against the term's own bytes, so no per-process dictionary
of every term is needed. This module writes them; .postings reads them.
"""

from __future__ import annotations

import hashlib
import json
import pickle
from itertools import accumulate
from pathlib import Path

import numpy as np
from whoosh import index as whoosh_index
from whoosh.filedb.filestore import FileStorage
from whoosh.index import TOC

from .generations import per_segment, save_new
from .positions import decoder
from .schema import TEXT_FIELDS

PREFIX = "columns-"  # files beside the Whoosh files: columns-docs.npy, ...
VERSION = 1


def term_key(fieldname: str, text: str | bytes) -> bytes:
    raw = text.encode("utf-8") if isinstance(text, str) else text
    return fieldname.encode("ascii") + b"\0" + raw


def key_hash(key: bytes) -> int:
    return int.from_bytes(hashlib.blake2b(key, digest_size=8).digest(), "little")


def _read(folder: Path) -> dict[str, np.ndarray | dict]:
    """Every posting of the text fields of the Whoosh index in `folder`,
    read through one reader (the reference for write_columns' faster way)."""
    ix = whoosh_index.open_dir(str(folder))
    try:
        reader = ix.reader()
        try:
            return _from_reader(reader)
        finally:
            reader.close()
    finally:
        ix.close()


def _from_reader(reader) -> dict:
    size = reader.doc_count_all()
    runs_keys: list[bytes] = []
    runs_counts: list[int] = []
    docs: list[int] = []
    tfs: list[float] = []
    lengths = np.zeros((len(TEXT_FIELDS), size), dtype=np.float32)
    deleted = np.zeros(size, dtype=bool)
    for sub, offset in _leaves(reader):
        for docnum in sub.deleted_docs_set if sub.has_deletions() else ():
            deleted[offset + docnum] = True
        for f, fieldname in enumerate(TEXT_FIELDS):
            if fieldname not in sub.schema:
                continue
            for docnum in range(sub.doc_count_all()):
                lengths[f, offset + docnum] = sub.doc_field_length(docnum, fieldname, 0) or 0
            for btext, ids, weights in _term_postings(sub, fieldname):
                runs_keys.append(term_key(fieldname, btext))
                runs_counts.append(len(ids))
                docs.extend([d + offset for d in ids] if offset else ids)
                tfs.extend(weights)
    field_length = {f: reader.field_length(f) for f in TEXT_FIELDS}
    return _assemble(runs_keys, runs_counts, docs, tfs, lengths, deleted,
                     reader.doc_count_all(), field_length)


def _term_postings(sub, fieldname: str, positions: list | None = None):
    """(term, document numbers, weights) of every term of a field of one
    segment; each posting's positions appended to `positions` if given."""
    # Deleted documents' postings are kept (Whoosh counts them in document
    # frequencies); scoring leaves them out. So the segment's own matcher,
    # not postings(): its FilterMatcher skips deleted documents, the first
    # ones even in the matcher it wraps.
    terms, format_ = sub._terms, sub.schema[fieldname].format
    decode = decoder(format_) if positions is not None else None
    for btext in sub.lexicon(fieldname):
        matcher = terms.matcher(fieldname, btext, format_)
        ids, weights = _postings_of(matcher, positions, decode)
        yield btext, ids, weights


def _postings_of(matcher, positions: list | None = None,
                 decode=None) -> tuple[list[int], list[float]]:
    if hasattr(matcher, "_read_weights") and not matcher._byteids:
        ids: list[int] = []
        weights: list[float] = []
        while matcher.is_active():
            if matcher._data is None:
                matcher._read_data()
            block_ids = list(accumulate(matcher._data[0]))
            matcher._read_weights()
            start = matcher._i
            ids.extend(block_ids[start:] if start else block_ids)
            weights.extend(matcher._weights[start:matcher._blocklength])
            if positions is not None:
                matcher._read_values()
                for value in matcher._values[start:matcher._blocklength]:
                    positions.append(decode(value))
            matcher._next_block()
        return ids, weights
    ids, weights = [], []
    while matcher.is_active():
        ids.append(matcher.id())
        weights.append(matcher.weight())
        if positions is not None:
            positions.append(matcher.value_as("positions"))
        matcher.next()
    return ids, weights


def _leaves(reader):
    if reader.is_atomic():
        return [(reader, 0)]
    return reader.leaf_readers()


def _assemble(runs_keys, runs_counts, docs, tfs, lengths, deleted, doc_count_all,
              field_length) -> dict:
    counts = np.asarray(runs_counts, dtype=np.int64)
    # One entry per distinct key; a key's runs (one per segment) are merged
    # in segment order, so its document numbers stay ascending.
    unique = sorted(set(runs_keys), key=lambda k: (key_hash(k), k))
    index_of = {k: i for i, k in enumerate(unique)}
    run_term = np.fromiter((index_of[k] for k in runs_keys), dtype=np.int64,
                           count=len(runs_keys))
    posting_term = np.repeat(run_term, counts)
    order = np.argsort(posting_term, kind="stable")
    doc_array = np.asarray(docs, dtype=np.int32)[order]
    tf_array = np.asarray(tfs, dtype=np.float32)[order]
    per_term = np.bincount(run_term, weights=counts, minlength=len(unique)).astype(np.int64)
    starts = np.zeros(len(unique) + 1, dtype=np.int64)
    np.cumsum(per_term, out=starts[1:])
    hashes = np.fromiter((key_hash(k) for k in unique), dtype=np.uint64, count=len(unique))
    key_starts = np.zeros(len(unique) + 1, dtype=np.int64)
    np.cumsum([len(k) for k in unique], out=key_starts[1:])
    blob = np.frombuffer(b"".join(unique), dtype=np.uint8)
    return _arrays(hashes, starts, doc_array, tf_array, blob, key_starts, lengths, deleted,
                   doc_count_all, field_length)


def _arrays(hashes, starts, docs, tfs, blob, key_starts, lengths, deleted, doc_count_all,
            field_length) -> dict:
    stats = {
        "version": VERSION,
        "doc_count_all": int(doc_count_all),
        "field_length": {f: int(field_length[f]) for f in TEXT_FIELDS},
        "has_deletions": bool(deleted.any()),
    }
    return {
        "hashes": hashes, "starts": starts, "docs": docs, "tfs": tfs,
        "keys": blob, "key_starts": key_starts, "lengths": lengths, "deleted": deleted,
        "stats": stats,
    }


# --- one segment at a time ----------------------------------------------------------
#
# A segment's postings never change (deletions live in the index's TOC), so
# each segment's columns are read once, when the segment is written, and saved
# beside it (generations.per_segment); an update hard-links them with the
# segment and reads only its new segment. A generation's columns are then
# put together from its segments' with numpy alone.

SEGMENT_KIND = "columns.pickle"
FROM_SEGMENTS = "from_segments"  # in columns-stats.json


def segment_columns(sub) -> dict[str, np.ndarray]:
    """The columns of one segment (a SegmentReader), deleted documents included,
    with document numbers counted from the segment's first."""
    size = sub.doc_count_all()
    keys: list[bytes] = []
    counts: list[int] = []
    docs: list[int] = []
    tfs: list[float] = []
    positions: list[list[int]] = []  # each posting's
    lengths = np.zeros((len(TEXT_FIELDS), size), dtype=np.float32)
    for f, fieldname in enumerate(TEXT_FIELDS):
        if fieldname not in sub.schema:
            continue
        for docnum in range(size):
            lengths[f, docnum] = sub.doc_field_length(docnum, fieldname, 0) or 0
        for btext, ids, weights in _term_postings(sub, fieldname, positions):
            keys.append(term_key(fieldname, btext))
            counts.append(len(ids))
            docs.extend(ids)
            tfs.extend(weights)
    # Positions are kept when each posting's count of them is its weight
    # (.positions finds where a posting's begin from the weights).
    kept = all(len(p) == w for p, w in zip(positions, tfs))
    return {
        **({"positions": np.fromiter((x for p in positions for x in p), dtype=np.int32,
                                     count=sum(map(len, positions)))} if kept else {}),
        "hashes": np.fromiter((key_hash(k) for k in keys), dtype=np.uint64, count=len(keys)),
        "counts": np.asarray(counts, dtype=np.int64),
        "key_lens": np.fromiter(map(len, keys), dtype=np.int64, count=len(keys)),
        "keys": np.frombuffer(b"".join(keys), dtype=np.uint8),
        "docs": np.asarray(docs, dtype=np.int32),
        "tfs": np.asarray(tfs, dtype=np.float32),
        "lengths": lengths,
        "field_length": np.asarray([sub.field_length(f) for f in TEXT_FIELDS],
                                   dtype=np.int64),
        "doc_count_all": np.asarray([size], dtype=np.int64),
    }


def _save_segment(handle, arrays: dict) -> None:
    # A pickle of plain arrays loads twice as fast as an .npz (the index's
    # own TOC is a pickle too: the folder is trusted as much).
    pickle.dump({name: np.ascontiguousarray(a) for name, a in arrays.items()}, handle,
                protocol=5)


def _load_segment(handle) -> dict:
    return pickle.load(handle)


def _starts_of(lengths: np.ndarray) -> np.ndarray:
    """Where each of consecutive runs of `lengths` begins."""
    return np.cumsum(lengths) - lengths


def _run_index(starts: np.ndarray, lengths: np.ndarray) -> np.ndarray:
    """The positions of source[starts[0]:starts[0]+lengths[0]] + source[starts[1]:...]
    + ..., built with one cumulative sum (int32 when positions fit: this is
    the biggest array an update makes)."""
    keep = lengths > 0
    starts, lengths = starts[keep], lengths[keep]
    total = int(lengths.sum())
    dtype = np.int32 if starts.size == 0 or int(starts.max()) + total < 2**31 else np.int64
    steps = np.ones(total, dtype=dtype)
    if total:
        jumps = starts.astype(dtype)
        jumps[1:] -= (starts[:-1] + lengths[:-1] - 1).astype(dtype)
        steps[_starts_of(lengths)] = jumps
        np.cumsum(steps, dtype=dtype, out=steps)
    return steps


def _gather(source: np.ndarray, starts: np.ndarray, lengths: np.ndarray) -> np.ndarray:
    """source[starts[0]:starts[0]+lengths[0]] + source[starts[1]:...] + ..., in one step."""
    return source[_run_index(starts, lengths)]


def _from_segments(parts: list[tuple[object, dict]], segments: list | None = None) -> dict:
    """A generation's columns from its segments' (in document order) and the
    deletions its TOC lists: what _read gives, without reading a posting.

    A part may stand for several segments (the previous generation's columns,
    _previous_part); then `segments`, every segment of the TOC, give the deletions.
    """
    sizes = np.asarray([int(d["doc_count_all"][0]) for _, d in parts], dtype=np.int64)
    offsets = _starts_of(sizes)
    doc_count_all = int(sizes.sum())
    deleted = np.zeros(doc_count_all, dtype=bool)
    if segments is None:
        segments = [segment for segment, _ in parts]
    offset = 0
    for segment in segments:
        gone = list(segment.deleted_docs()) if segment.has_deletions() else []
        if gone:
            deleted[np.asarray(gone, dtype=np.int64) + offset] = True
        offset += segment.doc_count_all()
    if offset != doc_count_all:
        raise ValueError("the segments' columns do not cover the index")
    lengths = (np.concatenate([d["lengths"] for _, d in parts], axis=1) if parts
               else np.zeros((len(TEXT_FIELDS), 0), dtype=np.float32))
    field_length = {f: sum(int(d["field_length"][i]) for _, d in parts)
                    for i, f in enumerate(TEXT_FIELDS)}
    if not parts:
        return _assemble([], [], [], [], lengths, deleted, 0, field_length)

    def concat(name, dtype):
        return np.concatenate([d[name] for _, d in parts]).astype(dtype, copy=False)

    hashes = concat("hashes", np.uint64)
    counts = concat("counts", np.int64)
    key_lens = concat("key_lens", np.int64)
    blob = concat("keys", np.uint8)
    tfs_all = concat("tfs", np.float32)
    docs_all = np.empty(len(tfs_all), dtype=np.int32)
    at = 0
    for (_, d), offset in zip(parts, offsets):
        np.add(d["docs"], offset, out=docs_all[at:at + len(d["docs"])], casting="unsafe")
        at += len(d["docs"])
    posting_starts = _starts_of(counts)  # runs of all segments are consecutive
    key_offsets = _starts_of(key_lens)
    # Runs sorted by key hash; the sort is stable, so one key's runs keep
    # segment order and its document numbers stay ascending.
    order = np.argsort(hashes, kind="stable")
    sorted_hashes = hashes[order]
    first = np.ones(len(order), dtype=bool)
    first[1:] = sorted_hashes[1:] != sorted_hashes[:-1]
    group_starts = np.flatnonzero(first)
    representative = order[group_starts][np.cumsum(first) - 1]
    # Two different keys with one hash would need the (hash, key) order of
    # _assemble: check that each run's key is its group's, byte for byte.
    same = np.array_equal(key_lens[order], key_lens[representative]) and np.array_equal(
        _gather(blob, key_offsets[order], key_lens[order]),
        _gather(blob, key_offsets[representative], key_lens[order]))
    if not same:
        return _assemble_runs(parts, offsets, lengths, deleted, doc_count_all, field_length)
    run_counts = counts[order]
    postings = _run_index(posting_starts[order], run_counts)
    docs = docs_all[postings]
    tfs = tfs_all[postings]
    extra = (_positions_in_order(parts, tfs_all, postings, tfs)
             if all("positions" in d for _, d in parts) else {})
    del postings
    per_term = np.add.reduceat(run_counts, group_starts) if len(order) else run_counts
    starts = np.zeros(len(group_starts) + 1, dtype=np.int64)
    np.cumsum(per_term, out=starts[1:])
    unique = order[group_starts]
    unique_lens = key_lens[unique]
    keys = _gather(blob, key_offsets[unique], unique_lens)
    key_starts = np.zeros(len(unique) + 1, dtype=np.int64)
    np.cumsum(unique_lens, out=key_starts[1:])
    arrays = _arrays(sorted_hashes[group_starts], starts, docs, tfs, keys, key_starts, lengths,
                     deleted, doc_count_all, field_length)
    if extra:
        arrays.update(positions=extra["positions"],
                      pos_starts=extra["ends"][starts].astype(np.int64))
        arrays["stats"]["positions"] = True
    return arrays


def _positions_in_order(parts, tfs_all, postings, tfs) -> dict:
    """The parts' positions in the columns' posting order (`postings`: each
    posting's place in the parts'), and where each posting's end."""
    flat = np.concatenate([d["positions"] for _, d in parts])
    # 32-bit offsets while they fit: 17 million positions at 100,000 pages.
    kind = np.int32 if len(flat) < 2**31 else np.int64
    counts = tfs_all.astype(kind)
    firsts = np.cumsum(counts, dtype=kind)
    firsts -= counts
    ends = np.zeros(len(tfs) + 1, dtype=np.int64)
    np.cumsum(tfs, dtype=np.int64, out=ends[1:])
    positions = np.empty(len(flat), dtype=flat.dtype)
    # A million postings at a time: the gather's index arrays stay small.
    for at in range(0, len(postings), POSITIONS_CHUNK):
        some = postings[at:at + POSITIONS_CHUNK]
        positions[ends[at]:ends[at + len(some)]] = _gather(flat, firsts[some], counts[some])
    return {"positions": positions, "ends": ends}


POSITIONS_CHUNK = 1 << 20


def _assemble_runs(parts, offsets, lengths, deleted, doc_count_all, field_length) -> dict:
    """The slow way, for a hash shared by two keys: runs as Python lists."""
    runs_keys, runs_counts, docs, tfs = [], [], [], []
    for (_, d), offset in zip(parts, offsets):
        blob = d["keys"].tobytes()
        ends = np.cumsum(d["key_lens"]).tolist()
        runs_keys += [blob[a:b] for a, b in zip([0] + ends[:-1], ends)]
        runs_counts += d["counts"].tolist()
        docs += (d["docs"].astype(np.int64) + offset).tolist()
        tfs += d["tfs"].tolist()
    return _assemble(runs_keys, runs_counts, docs, tfs, lengths, deleted, doc_count_all,
                     field_length)


def save_segment_columns(folder: str | Path) -> None:
    """Save the columns of each segment of the index in `folder` that has none yet."""
    per_segment(Path(folder), SEGMENT_KIND, segment_columns, _save_segment, _load_segment)


def write_columns(folder: str | Path, previous: str | Path | None = None) -> None:
    """Save the columns of the Whoosh index in `folder` (a new generation).

    Only segments without saved columns (new since the last generation) are
    read; the rest are loaded and put together (_from_segments). When the
    index is the `previous` generation's segments plus new ones (an update
    that merged nothing away), the previous columns are taken whole and the
    new segments' merged in.
    """
    folder = Path(folder)
    segments = TOC.read(FileStorage(str(folder)), "MAIN").segments
    ids = [s.segment_id() for s in segments]
    base = _previous_part(Path(previous), ids) if previous else None
    if base is None:
        parts = per_segment(folder, SEGMENT_KIND, segment_columns, _save_segment, _load_segment)
    else:
        count, part = base
        parts = [(None, part)] + per_segment(folder, SEGMENT_KIND, segment_columns,
                                             _save_segment, _load_segment, only=set(ids[count:]))
    arrays = _from_segments(parts, segments)
    # Columns put together from segments' own hold every deleted document's
    # postings (those _read wrote before keeping them could miss a few):
    # only such columns are taken whole by the next update.
    arrays["stats"][FROM_SEGMENTS] = True
    for name, value in arrays.items():
        if name != "stats":
            # np.save writes through an existing name's hard link: replace instead.
            save_new(folder / f"{PREFIX}{name}.npy", lambda handle, v=value: np.save(handle, v))
    # Written last: its presence says the arrays are complete.
    (folder / f"{PREFIX}stats.json").write_text(json.dumps(arrays["stats"]))


def _previous_part(previous: Path, ids: list[str]) -> tuple[int, dict] | None:
    """(how many segments, one part) of the previous generation's columns, when
    its segments begin `ids`; else None."""
    try:
        stats = json.loads((previous / f"{PREFIX}stats.json").read_text())
        before = [s.segment_id() for s in TOC.read(FileStorage(str(previous)), "MAIN").segments]
    except (OSError, ValueError):
        return None
    if (stats.get("version") != VERSION or not stats.get(FROM_SEGMENTS)
            or ids[:len(before)] != before):
        return None
    names = ("hashes", "starts", "docs", "tfs", "keys", "key_starts", "lengths")
    arrays = {name: np.load(previous / f"{PREFIX}{name}.npy", mmap_mode="r")
              for name in names + (("positions",) if stats.get("positions") else ())}
    return len(before), {
        **({"positions": arrays["positions"]} if "positions" in arrays else {}),
        "hashes": arrays["hashes"], "counts": np.diff(arrays["starts"]),
        "key_lens": np.diff(arrays["key_starts"]), "keys": arrays["keys"],
        "docs": arrays["docs"], "tfs": arrays["tfs"], "lengths": arrays["lengths"],
        "field_length": np.asarray([stats["field_length"][f] for f in TEXT_FIELDS],
                                   dtype=np.int64),
        "doc_count_all": np.asarray([stats["doc_count_all"]], dtype=np.int64),
    }
