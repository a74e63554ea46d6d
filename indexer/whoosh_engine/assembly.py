"""A generation's columns (.columns), put together from its segments' own and
written beside it.

Each segment's columns are read once, when the segment is written, and saved
beside it; a generation's are then assembled from them with numpy alone, or,
after an update that merged nothing away, from the previous generation's
columns taken whole and the new segments'.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
from whoosh.filedb.filestore import FileStorage
from whoosh.index import TOC

from ..query.settings import DEFAULT
from . import impacts
from .columns import (SETS, TEXT, VERSION, ColumnSet, arrays_of, assemble, load_segment,
                      save_segment, segment_columns)
from .generations import per_segment, save_new
from .postings import Columns
from .schema import TEXT_FIELDS

FROM_SEGMENTS = "from_segments"  # in columns-stats.json


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


def _from_segments(parts: list[tuple[object, dict]], segments: list | None = None,
                   fields: tuple[str, ...] = TEXT_FIELDS) -> dict:
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
               else np.zeros((len(fields), 0), dtype=np.float32))
    field_length = {f: sum(int(d["field_length"][i]) for _, d in parts)
                    for i, f in enumerate(fields)}
    if not parts:
        return assemble([], [], [], [], lengths, deleted, 0, field_length)

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
    arrays = arrays_of(sorted_hashes[group_starts], starts, docs, tfs, keys, key_starts,
                       lengths, deleted, doc_count_all, field_length)
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
    return assemble(runs_keys, runs_counts, docs, tfs, lengths, deleted, doc_count_all,
                    field_length)


def save_segment_columns(folder: str | Path) -> None:
    """Save each set's columns of each segment of the index in `folder` that has none yet."""
    for kept in SETS:
        per_segment(Path(folder), kept.kind, _segment_reading(kept), save_segment,
                    load_segment)


def _segment_reading(kept: ColumnSet):
    return lambda sub: segment_columns(sub, kept.fields)


def write_columns(folder: str | Path, previous: str | Path | None = None) -> None:
    """Save each set's columns of the Whoosh index in `folder` (a new generation).

    Only segments without saved columns (new since the last generation) are
    read; the rest are loaded and put together (_from_segments). When the
    index is the `previous` generation's segments plus new ones (an update
    that merged nothing away), the previous columns are taken whole and the
    new segments' merged in.
    """
    folder = Path(folder)
    segments = TOC.read(FileStorage(str(folder)), "MAIN").segments
    ids = [s.segment_id() for s in segments]
    for kept in SETS:
        base = _previous_part(Path(previous), ids, kept) if previous else None
        read = _segment_reading(kept)
        if base is None:
            parts = per_segment(folder, kept.kind, read, save_segment, load_segment)
        else:
            count, part = base
            parts = [(None, part)] + per_segment(folder, kept.kind, read, save_segment,
                                                 load_segment, only=set(ids[count:]))
        arrays = _from_segments(parts, segments, kept.fields)
        del parts
        # Columns put together from segments' own hold every deleted document's
        # postings (those _read wrote before keeping them could miss a few):
        # only such columns are taken whole by the next update.
        arrays["stats"][FROM_SEGMENTS] = True
        for name, value in arrays.items():
            if name != "stats":
                # np.save writes through an existing name's hard link: replace instead.
                save_new(folder / f"{kept.prefix}{name}.npy",
                         lambda handle, v=value: np.save(handle, v))
        arrays["stats"]["impacts"] = write_product_impacts(
            folder / f"{kept.prefix}impacts.npy", Columns(arrays))
        # Written last: its presence says the arrays are complete.
        (folder / f"{kept.prefix}stats.json").write_text(json.dumps(arrays["stats"]))
        del arrays


def write_product_impacts(path: Path, columns: Columns) -> dict:
    """Write every posting's BM25 term-frequency part with the product's k1
    and b (.impacts) to `path`; those settings, for the columns' stats."""
    k1 = DEFAULT.k1
    b = {f: dict(DEFAULT.field_b).get(f, DEFAULT.b) for f in columns.fields}
    save_new(path, lambda handle: impacts.write(handle, columns, k1, b))
    return impacts.settings(k1, b)


def _previous_part(previous: Path, ids: list[str], kept: ColumnSet = TEXT
                   ) -> tuple[int, dict] | None:
    """(how many segments, one part) of the previous generation's columns of
    the set `kept`, when its segments begin `ids`; else None."""
    prefix = kept.prefix
    try:
        stats = json.loads((previous / f"{prefix}stats.json").read_text())
        before = [s.segment_id() for s in TOC.read(FileStorage(str(previous)), "MAIN").segments]
    except (OSError, ValueError):
        return None
    if (stats.get("version") != VERSION or not stats.get(FROM_SEGMENTS)
            or tuple(stats.get("fields", TEXT_FIELDS)) != kept.fields
            or ids[:len(before)] != before):
        return None
    names = ("hashes", "starts", "docs", "tfs", "keys", "key_starts", "lengths")
    arrays = {name: np.load(previous / f"{prefix}{name}.npy", mmap_mode="r")
              for name in names + (("positions",) if stats.get("positions") else ())}
    return len(before), {
        **({"positions": arrays["positions"]} if "positions" in arrays else {}),
        "hashes": arrays["hashes"], "counts": np.diff(arrays["starts"]),
        "key_lens": np.diff(arrays["key_starts"]), "keys": arrays["keys"],
        "docs": arrays["docs"], "tfs": arrays["tfs"], "lengths": arrays["lengths"],
        "field_length": np.asarray([stats["field_length"][f] for f in kept.fields],
                                   dtype=np.int64),
        "doc_count_all": np.asarray([stats["doc_count_all"]], dtype=np.int64),
    }
