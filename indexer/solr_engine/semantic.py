"""The semantic rerank on SolrCloud: vectors stored in the documents, mixed as on Whoosh.

A build or update embeds each record's title and abstract with the same
code as the Whoosh engine (indexer.semantic: the model, the content-hash
cache) before the documents are sent, so the vectors go in with them: before
the new collection is verified and the alias moved. Each document holds its
vector in `vector` (384 float32, base64: stored, not indexed) and the model
that made it in `vector_model`. A search asks Solr for the lexical top
`semantic_depth` with their vectors and reorders them with
indexer.semantic.rerank, as the Whoosh engine does; a document without a
vector of this model gets the lexical part alone.

Stored rather than a DenseVectorField: the rerank reads 100 vectors a
search and never searches by vector, and an HNSW graph would cost build
time and memory on every replica for nothing yet (docs/solr.md).
"""

from __future__ import annotations

import base64
import os
from pathlib import Path

import numpy as np

from ..errors import SemanticUnavailable
from ..pages.records import Record, record_key
from ..query.settings import Ranking
from ..semantic import vectors as vec
from ..semantic.model import DIMENSIONS, model_key, query_vector, shared_embedder
from ..semantic.rerank import reorder, reranked, words_only
from .client import SolrClient

FIELDS = "vector,vector_model"
NO_VECTORS = "semantic rerank off: no vectors yet (`medsearch update` embeds them)"
NO_EMBED = "none (--no-embed): lexical ranking until `medsearch update` embeds them"


def cache_folder() -> Path:
    """The content-hash cache: $MEDSEARCH_VECTOR_CACHE, else the user's
    (~/.cache/medsearch/vectors): a SolrCloud index has no folder of its own here."""
    return Path(os.environ.get("MEDSEARCH_VECTOR_CACHE") or vec.user_cache())


def encode(vector: np.ndarray) -> str:
    return base64.b64encode(np.ascontiguousarray(vector, dtype="<f4").tobytes()).decode("ascii")


def decode(text: str | None) -> np.ndarray | None:
    """A stored vector, None when it is missing or not DIMENSIONS float32s."""
    try:
        raw = base64.b64decode(text or "", validate=True)
    except ValueError:
        return None
    if len(raw) != 4 * DIMENSIONS:
        return None
    return np.frombuffer(raw, dtype="<f4").astype(np.float32)


def embed_records(records: list[Record], embed: bool = True,
                  cache: str | os.PathLike | None = None) -> tuple[dict[str, str], str]:
    """The vector of each record by its key (base64, for `vector`), and the one
    line a build or update reports. Without the model or with `embed` off:
    none, and the line says why (the documents then rank lexically)."""
    if not embed:
        return {}, NO_EMBED
    try:
        embedder = shared_embedder()
    except SemanticUnavailable as exc:
        return {}, f"none ({exc})"
    texts = [vec.document_text({"title": r.title, "abstract": r.abstract}) for r in records]
    store = vec.VectorCache(Path(cache) if cache else cache_folder(), embedder.key)
    matrix, report = vec.embed_texts(texts, store, embedder)
    found = {record_key(r): encode(row)
             for r, row, text in zip(records, matrix, texts) if text is not None}
    return found, report.describe()


def vector_fields(key: str, vectors: dict[str, str]) -> dict:
    """What a document holds of the semantic rerank (nothing without a vector)."""
    vector = vectors.get(key)
    return {"vector": vector, "vector_model": model_key()} if vector else {}


def count_vectors(client: SolrClient, name: str) -> int:
    """How many documents of collection `name` have a vector of this model."""
    return client.call(f"{name}/select", {
        "q": f'vector_model:"{model_key()}"', "defType": "lucene", "rows": 0,
        "spellcheck": "false"})["response"]["numFound"]


def describe(client: SolrClient, name: str, documents: int) -> str:
    """What `check` and `stats` say about the collection's vectors."""
    present = count_vectors(client, name)
    if not present:
        return ("none: semantic rerank off until `medsearch update` embeds them "
                "(lexical ranking meanwhile)")
    return f"{present} of {documents} records ({model_key()})"


class Reranker:
    """Solr's lexical top hits reordered by meaning (indexer.semantic.rerank)."""

    @staticmethod
    def depth(ranking: Ranking | None, sort: str = "relevance") -> int:
        """How many lexical hits to fetch with their vectors (0: no rerank)."""
        return ranking.semantic_depth if ranking and ranking.semantic and sort == "relevance" else 0

    def rerank(self, text: str, docs: list[dict], ranking: Ranking | None,
               ) -> tuple[list[dict], list[float], list[dict], str]:
        """`docs` (Solr's, lexical order, with `score` and the vector fields)
        reranked: (docs, scores, parts, note), as the Whoosh engine's
        Semantic.rerank. `text` is what was searched (the spelling correction
        when it was searched instead)."""
        scores = [float(doc.get("score", 0.0)) for doc in docs]
        weight = ranking.semantic if ranking is not None and reranked(text) else 0.0
        if not weight or not docs:
            return docs, scores, words_only(scores), ""
        head = min(ranking.semantic_depth, len(docs))
        key = model_key()
        stored = [decode(doc.get("vector")) if doc.get("vector_model") == key else None
                  for doc in docs[:head]]
        if all(found is None for found in stored):
            return docs, scores, words_only(scores), NO_VECTORS
        try:
            query = query_vector(text)
        except SemanticUnavailable as exc:
            return docs, scores, words_only(scores), str(exc)
        cosines = np.array([0.0 if found is None else float(found @ query) for found in stored],
                           dtype=np.float32)
        order, mixed, parts = reorder(np.asarray(scores), cosines, weight,
                                      ranking.semantic_depth, ranking.semantic_norm)
        return [docs[i] for i in order], [float(m) for m in mixed], parts, ""



def without_vectors(client: SolrClient, name: str, fields: str) -> list[dict]:
    """The documents of collection `name` with no vector of this model (built with
    --no-embed, without the model, or by another model), with `fields`."""
    found: list[dict] = []
    cursor = "*"
    while True:
        answer = client.call(f"{name}/select", {
            "q": f'*:* -vector_model:"{model_key()}"', "defType": "lucene", "fl": fields,
            "sort": "id asc", "rows": 1000, "cursorMark": cursor, "spellcheck": "false"},
            timeout=300)
        found += answer["response"]["docs"]
        if answer["nextCursorMark"] == cursor:
            return found
        cursor = answer["nextCursorMark"]
