"""Meaning, not just words: a local sentence-embedding model reranks the lexical top hits.

Engine-neutral (no engine imports): `model` (the ONNX embedder), `vectors`
(a generation's vectors file and the content-hash cache), `rerank` (mixing
the lexical score with the cosine). An engine reads its documents' texts and
calls these; see docs/relevance.md#semantic-rerank.
"""
