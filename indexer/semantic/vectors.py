"""Vectors on disk: each generation's matrix, and the content-hash cache beside the index.

A generation's `vectors.npy` holds one row per engine document number (a
row of zeros: no vector yet, ranked lexically) and `vectors.json` says what
it is: model, rows, how many have a vector, the file's size and SHA-256.
Both are written after the generation went live, under temporary names and
renamed, `vectors.json` last: a searcher sees no vectors or whole ones. They
are not in the generation's files.json (written before them), so
`medsearch check` checks them here instead (`problems`); a vectors file
that is cut or not what vectors.json says is ignored with a message,
never read.

The cache maps the hash of an embedded text to its vector, so that a
rebuild or `update` embeds only new or changed texts. It is one append-only
file of fixed-size entries per model (`<model key>.bin`): a killed embed
loses at most the entry being written, which is ignored when read.
"""

from __future__ import annotations

import hashlib
import json
import os
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from .model import DIMENSIONS, Embedder

VECTORS, VECTORS_INFO = "vectors.npy", "vectors.json"
TMP_PREFIX = ".tmp-"
DIGEST = 16  # bytes of BLAKE2b per cached text
ENTRY = DIGEST + 4 * DIMENSIONS
# Texts embedded between two appends to the cache (what a killed embed loses at most).
CHUNK = 256


def document_text(stored: dict) -> str | None:
    """What is embedded of a document: its title and abstract."""
    text = " ".join(part for part in (stored.get("title"), stored.get("abstract")) if part)
    return text or None


def user_cache() -> Path:
    """The cache of eval's collections, one per user: ~/.cache/medsearch/vectors
    (or under $XDG_CACHE_HOME), whatever index is built."""
    return Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache") / "medsearch" / "vectors"


def text_digest(text: str) -> bytes:
    return hashlib.blake2b(text.encode("utf-8", "surrogatepass"), digest_size=DIGEST).digest()


class VectorCache:
    """Vectors of texts already embedded, by the hash of the text (one model key)."""

    def __init__(self, folder: str | os.PathLike, key: str):
        self.path = Path(folder) / f"{key}.bin"
        self._rows: dict[bytes, int] = {}
        self._matrix = np.zeros((0, DIMENSIONS), dtype=np.float32)
        try:
            data = np.fromfile(self.path, dtype=np.uint8)
        except (FileNotFoundError, ValueError):
            data = np.zeros(0, dtype=np.uint8)
        whole = len(data) // ENTRY  # a cut last entry (a killed embed) is left out
        if whole:
            entries = data[:whole * ENTRY].reshape(whole, ENTRY)
            self._matrix = entries[:, DIGEST:].copy().view(np.float32)
            for row, digest in enumerate(entries[:, :DIGEST]):
                self._rows[digest.tobytes()] = row
        self._cut = len(data) - whole * ENTRY

    def __len__(self) -> int:
        return len(self._rows)

    def get(self, digest: bytes) -> np.ndarray | None:
        row = self._rows.get(digest)
        return None if row is None else self._matrix[row]

    def add(self, digests: list[bytes], vectors: np.ndarray) -> None:
        """Append entries (one write, so that appends do not interleave)."""
        if not digests:
            return
        self.path.parent.mkdir(parents=True, exist_ok=True)
        entries = np.zeros((len(digests), ENTRY), dtype=np.uint8)
        entries[:, :DIGEST] = np.frombuffer(b"".join(digests), dtype=np.uint8).reshape(-1, DIGEST)
        entries[:, DIGEST:] = np.ascontiguousarray(vectors, dtype=np.float32).view(np.uint8)
        with open(self.path, "ab") as handle:
            if self._cut:  # a killed writer's partial entry: pad it out, so entries stay aligned
                handle.write(b"\0" * (ENTRY - self._cut))
                self._cut = 0
            handle.write(entries.tobytes())
        start = len(self._matrix)
        self._matrix = np.vstack([self._matrix, np.asarray(vectors, dtype=np.float32)])
        for i, digest in enumerate(digests):
            self._rows[digest] = start + i


@dataclass
class Embedded:
    """What embedding a generation's texts did."""

    documents: int = 0  # live documents (with a text)
    present: int = 0  # of them with a vector
    embedded: int = 0  # texts run through the model
    cached: int = 0  # texts found in the cache
    seconds: float = 0.0

    def describe(self) -> str:
        return (f"{self.present} of {self.documents} records ({self.embedded} embedded, "
                f"{self.cached} from the cache) in {self.seconds:.1f} s")


def embed_texts(texts: list[str | None], cache: VectorCache, embedder: Embedder,
                progress: Callable[[int, int], None] | None = None
                ) -> tuple[np.ndarray, Embedded]:
    """One row per text (zeros for None), from the cache or the model; new
    vectors go into the cache a CHUNK at a time."""
    started = time.monotonic()
    matrix = np.zeros((len(texts), DIMENSIONS), dtype=np.float32)
    report = Embedded(documents=sum(text is not None for text in texts))
    missing: dict[bytes, list[int]] = {}
    missing_text: dict[bytes, str] = {}
    for row, text in enumerate(texts):
        if text is None:
            continue
        digest = text_digest(text)
        found = cache.get(digest)
        if found is not None:
            matrix[row] = found
            report.cached += 1
        else:
            missing.setdefault(digest, []).append(row)
            missing_text[digest] = text
    digests = list(missing)
    for start in range(0, len(digests), CHUNK):
        part = digests[start:start + CHUNK]
        vectors = embedder.embed([missing_text[d] for d in part])
        cache.add(part, vectors)
        for digest, vector in zip(part, vectors):
            matrix[missing[digest]] = vector
        report.embedded += len(part)
        if progress:
            progress(min(start + CHUNK, len(digests)), len(digests))
    report.cached += sum(len(rows) - 1 for rows in missing.values())  # repeated texts
    report.present = sum(text is not None for text in texts)
    report.seconds = time.monotonic() - started
    return matrix, report


def sha256_of(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        while chunk := handle.read(1 << 20):
            digest.update(chunk)
    return digest.hexdigest()


def save(folder: str | os.PathLike, matrix: np.ndarray, key: str, report: Embedded) -> None:
    """Write the generation's vectors: the matrix, then vectors.json (each under a
    temporary name, then renamed: the new inodes never cut a file a searcher maps)."""
    folder = Path(folder)
    tmp = folder / f"{TMP_PREFIX}{VECTORS}"
    with open(tmp, "wb") as handle:
        np.save(handle, np.ascontiguousarray(matrix, dtype=np.float32))
        handle.flush()
        os.fsync(handle.fileno())
    info = {"model": key, "rows": int(matrix.shape[0]), "documents": report.documents,
            "present": report.present,
            "size": tmp.stat().st_size, "sha256": sha256_of(tmp)}
    os.replace(tmp, folder / VECTORS)
    tmp_info = folder / f"{TMP_PREFIX}{VECTORS_INFO}"
    tmp_info.write_text(json.dumps(info, indent=1))
    os.replace(tmp_info, folder / VECTORS_INFO)


def read_info(folder: str | os.PathLike) -> dict | None:
    """vectors.json, or None when the generation has no (readable) vectors."""
    try:
        info = json.loads((Path(folder) / VECTORS_INFO).read_text(encoding="utf-8"))
        return info if isinstance(info, dict) and isinstance(info.get("size"), int) else None
    except (OSError, ValueError):
        return None


def problem(folder: str | os.PathLike, checksum: bool = False) -> str | None:
    """Why the generation's vectors cannot be used (a size check; with
    `checksum`, the SHA-256 too); None when they can or there are none."""
    info = read_info(folder)
    if info is None:
        return None
    path = Path(folder) / VECTORS
    try:
        size = path.stat().st_size
    except OSError:
        return f"{VECTORS}: missing"
    if size != info["size"]:
        return f"{VECTORS}: wrong size ({size} bytes, expected {info['size']})"
    if checksum and sha256_of(path) != info.get("sha256"):
        return f"{VECTORS}: wrong checksum"
    return None


def describe(folder: str | os.PathLike, documents: int | None = None) -> str:
    """What `stats` and `check` say about a generation's vectors."""
    info = read_info(folder)
    if info is None:
        return ("none: semantic rerank off until `medsearch update` embeds them "
                "(lexical ranking meanwhile)")
    found = problem(folder, checksum=True)
    if found:
        return f"ignored ({found}): semantic rerank off; `medsearch update` embeds them again"
    rows = documents if documents is not None else info.get("documents", info["rows"])
    return f"{info['present']} of {rows} records ({info['model']}), checksum verified"


class GenerationVectors:
    """A generation's vectors, memory-mapped; zero rows have no vector."""

    def __init__(self, folder: Path, matrix: np.ndarray, info: dict, stamp):
        self.folder, self.matrix, self.info, self.stamp = folder, matrix, info, stamp

    @staticmethod
    def stamp_of(folder: Path):
        """What changes when new vectors are published (vectors.json's inode and time)."""
        try:
            found = os.stat(Path(folder) / VECTORS_INFO)
        except OSError:
            return None
        return found.st_ino, found.st_mtime_ns

    @classmethod
    def load(cls, folder: str | os.PathLike, key: str) -> tuple[GenerationVectors | None, str]:
        """The vectors, or None and why not (one line; "" when there are none yet)."""
        folder = Path(folder)
        stamp = cls.stamp_of(folder)
        info = read_info(folder)
        if info is None:
            return None, ""
        if info.get("model") != key:
            return None, f"{VECTORS} holds {info.get('model')} vectors, not {key}: ignored"
        found = problem(folder)
        if found:
            return None, f"{found}: ignored, semantic rerank off"
        try:
            matrix = np.load(folder / VECTORS, mmap_mode="r")
        except (OSError, ValueError) as exc:
            return None, f"{VECTORS}: unreadable ({exc}): ignored, semantic rerank off"
        if matrix.ndim != 2 or matrix.shape != (info.get("rows"), DIMENSIONS):
            return None, f"{VECTORS}: not {info.get('rows')} x {DIMENSIONS}: ignored"
        return cls(folder, matrix, info, stamp), ""

    def cosines(self, docnums: np.ndarray, query: np.ndarray) -> np.ndarray:
        """The cosine of each document with the query; 0 for a document without
        a vector (a zero row) or past the rows (added after the vectors)."""
        docnums = np.asarray(docnums, dtype=np.int64)
        inside = docnums < self.matrix.shape[0]
        found = np.zeros(len(docnums), dtype=np.float32)
        if inside.any():
            found[inside] = np.asarray(self.matrix[docnums[inside]], dtype=np.float32) @ query
        return found
