"""Relevance settings: every ranking lever in one place, engine-neutral.

`Ranking` holds every relevance lever so that `medsearch eval` can switch
each one on and off; `DEFAULT` is what the product uses, chosen on NFCorpus
dev (docs: relevance). An engine turns them into its own scoring
(indexer.whoosh_engine.ranking for Whoosh).
"""

from __future__ import annotations

from dataclasses import dataclass, replace

# Searched by plain words, with these BM25F field weights (tuned in eval).
# Whoosh adds up each field's BM25 score, so a title word, which is nearly
# always in the abstract too, already counts twice: on NFCorpus dev a title
# weight of 1.0 ranked best (0.75 as well), 2.0 worst (docs/relevance.md).
FIELD_BOOSTS = {"title": 1.0, "keywords": 1.5, "abstract": 1.0}

# The OR group's coordination factor (Whoosh's SQR bonus for matching more words).
COORDINATION = 0.9


@dataclass(frozen=True)
class Ranking:
    """Relevance settings; a weight of 0 switches that lever off."""

    k1: float = 1.2
    b: float = 0.75
    field_b: tuple = ()  # (field, b) pairs: a field's own length normalisation
    boosts: tuple = tuple(sorted(FIELD_BOOSTS.items()))
    coordination: float = COORDINATION
    phrase: float = 0.0  # weight of adjacent query-word pairs found close together
    slop: int = 4  # how close "close together" is, in words
    prf: float = 0.0  # weight of pseudo-relevance feedback terms (RM3-style)
    prf_docs: int = 10
    prf_terms: int = 20
    prf_doc_weight: str = "linear"  # "linear" (score above the cut) or "softmax"
    prf_temperature: float = 1.0  # softmax: exp((score - best) / temperature)
    prf_idf: bool = True  # feedback term weight times idf
    prf_max_df: float = 0.3  # feedback terms in more of the documents are left out
    prf_widen: int = 0  # feedback may add up to this many documents without the user's words
    prf_widen_min: int = 2  # ... each matching at least this many feedback words
    # A MeSH heading or entry term in the query searched as its concept
    # (indexer.query.concepts): the concept's weight against the user's
    # words, and how much the phrase's words still count when they match
    # on their own ("prolapse" alone for "disk prolapse").
    concepts: float = 0.0
    concept_words: float = 1.0
    synonyms: float = 0.0  # weight of MeSH entry terms against the user's words
    abbreviations: float = 0.0  # weight of an acronym's long form (and back)
    spelling: bool = False  # search the corrected query when nothing matches
    # "whoosh": Whoosh's log(N / (n + 1)) + 1, with n counted per field;
    # "pooled": Lucene's log(1 + (N - n + 0.5) / (n + 0.5)), one n per word
    # over title and abstract (BM25F's one idf per term): a word in a title
    # is not rarer than in an abstract.
    idf: str = "whoosh"
    # The lexical top `semantic_depth` reranked by meaning (indexer.semantic):
    # lexical score over the best one's + `semantic` x the cosine of the
    # document's vector with the query's.
    semantic: float = 0.0
    semantic_depth: int = 100
    semantic_norm: str = "max"  # or "minmax": over the range of the reranked hits

    def without_expansion(self) -> Ranking:
        """These settings with every query expansion off (the user's `expand=False`).

        The semantic rerank stays as it is: it adds no documents and no
        words, it only reorders the ones the user's words found
        (`semantic=0`, `--no-semantic`, switches it off).
        """
        return replace(self, concepts=0.0, synonyms=0.0, abbreviations=0.0, spelling=False,
                       prf_widen=0)

    def without_semantic(self) -> Ranking:
        """These settings ranked by words alone (`--no-semantic`)."""
        return replace(self, semantic=0.0)

    def weighting_key(self) -> tuple:
        """What the engine's weighting depends on: equal keys score alike."""
        return self.k1, self.b, tuple(sorted(self.field_b)), self.idf


# The product's settings, chosen on NFCorpus dev (tools/tune_relevance.py;
# the pooled idf on dev's long queries, tools/explore_long_queries.py).
DEFAULT = Ranking(
    prf=0.5, prf_docs=5, prf_terms=20, prf_widen=10,
    concepts=1.5, concept_words=0.5,
    synonyms=0.15, abbreviations=0.5, spelling=True, idf="pooled",
    semantic=4.0, semantic_depth=100,
)
