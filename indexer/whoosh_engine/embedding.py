"""The semantic side of a Whoosh generation: its documents embedded, and read back to rerank.

A build or update publishes the lexical generation first, then embeds
(`embed_generation`): each live document's title and abstract, by Whoosh
document number, from the content-hash cache or the model
(indexer.semantic), saved beside the generation. Searches pick the vectors
up when they appear (`Semantic.vectors` checks vectors.json's stamp); until
then, and wherever a document has no vector, ranking is lexical.
"""

from __future__ import annotations

import os
import threading
from pathlib import Path

import numpy as np

from ..errors import SemanticUnavailable
from ..semantic import vectors as vec
from ..semantic.model import model_key, query_vector, shared_embedder
from ..semantic.rerank import reorder, words_only
from ..semantic.vectors import document_text
from .generations import current_generation, open_generation

# The content-hash cache of every index lives beside its generations
# (survives them); MEDSEARCH_VECTOR_CACHE puts it elsewhere, e.g. one cache
# for several indexes of the same pages.
CACHE_FOLDER = "vectors-cache"


def cache_folder(root: Path) -> Path:
    return Path(os.environ.get("MEDSEARCH_VECTOR_CACHE") or Path(root) / CACHE_FOLDER)


def document_texts(root: Path, generation: Path) -> list[str | None]:
    """The text of every document number of `generation` (None: deleted)."""
    ix = open_generation(root, generation)
    try:
        with ix.reader() as reader:
            texts: list[str | None] = [None] * reader.doc_count_all()
            for docnum, stored in reader.iter_docs():
                texts[docnum] = document_text(stored)
    finally:
        ix.close()
    return texts


def embed_generation(root: str | os.PathLike, generation: Path, progress=None,
                     cache: str | os.PathLike | None = None) -> str:
    """Embed `generation`'s documents and save its vectors; what was done, in one line.

    Without the model it says so and saves nothing: the generation stays
    lexical. Whatever stops it midway (Ctrl-C, a kill) leaves the live
    generation served as it was, and the cache with what was embedded so far.
    """
    root = Path(root)
    try:
        embedder = shared_embedder()
    except SemanticUnavailable as exc:
        return f"none ({exc})"
    texts = document_texts(root, generation)
    store = vec.VectorCache(Path(cache) if cache else cache_folder(root), embedder.key)
    matrix, report = vec.embed_texts(texts, store, embedder, progress)
    vec.save(generation, matrix, embedder.key, report)
    return report.describe()


class Semantic:
    """The live generation's vectors for searches, reloaded when new ones are published."""

    def __init__(self):
        self._lock = threading.Lock()
        self._loaded: tuple | None = None  # (generation, stamp, vectors or None, why not)

    def vectors(self, generation: Path) -> tuple[vec.GenerationVectors | None, str]:
        """The vectors of `generation` (a stat per call), or None and why not."""
        stamp = vec.GenerationVectors.stamp_of(generation)
        loaded = self._loaded
        if loaded is None or loaded[0] != generation or loaded[1] != stamp:
            with self._lock:
                found, why = vec.GenerationVectors.load(generation, model_key())
                loaded = self._loaded = (generation, stamp, found, why)
        return loaded[2], loaded[3]

    @staticmethod
    def stamp(generation: Path):
        """What changes when `generation`'s vectors do (None: none yet)."""
        return vec.GenerationVectors.stamp_of(generation)

    def rerank(self, generation: Path, text: str, docs, scores, weight: float, depth: int,
               normalise: str = "max"):
        """`docs` and `scores` (lexical order) reranked by meaning (indexer.semantic.rerank):
        (docs, scores, parts, note). `parts` says what each score is made of
        ({"words": ..., "meaning": ...}, they add up to it); `note` is why the
        rerank was off ("" when it ran or was not asked for)."""
        if not weight or not len(docs):
            return docs, scores, words_only(scores), ""
        found, why = self.vectors(generation)
        try:
            query = query_vector(text) if found is not None else None
        except SemanticUnavailable as exc:
            found, why = None, str(exc)
        if found is None:
            why = why or "semantic rerank off: no vectors yet (`medsearch update` embeds them)"
            return docs, scores, words_only(scores), why
        cosines = found.cosines(docs[:min(depth, len(docs))], query)
        order, mixed, parts = reorder(scores, cosines, weight, depth, normalise)
        return np.asarray(docs)[order], mixed, parts, ""



def embed_live(root: str | os.PathLike, embed: bool = True) -> str:
    """After a build or update went live: embed the live generation unless it has
    its vectors already (an update with nothing to do) or `embed` is off; one line
    for the summary. Any failure leaves the generation lexical and says so: the
    lexical index is live whatever happens here."""
    if not embed:
        return "none (--no-embed): lexical ranking until `medsearch update` embeds them"
    root = Path(root)
    generation = current_generation(root)
    if generation is None:
        return "none (no index)"
    info = vec.read_info(generation)
    if info is not None and info.get("model") == model_key() and not vec.problem(generation):
        return f"{info['present']} records, as before"
    try:
        return embed_generation(root, generation)
    except (OSError, MemoryError, RuntimeError, ValueError) as exc:
        return (f"none (embedding failed: {type(exc).__name__}: {exc}): lexical ranking "
                "until `medsearch update` embeds them")
