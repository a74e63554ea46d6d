"""How a query is ranked: BM25F settings, proximity, feedback and expansions.

`Ranking` holds every relevance lever in one place so that `medsearch eval`
can switch each one on and off; `DEFAULT` is what the product uses, chosen
on NFCorpus dev (README: Relevance).
"""

from __future__ import annotations

import math
from collections import Counter
from dataclasses import dataclass, field, replace

from whoosh import query as wq
from whoosh.scoring import BM25F

from . import query as q
from .analysis import medical_analyzer
from .expand import Expansion, Expander, plain_segments
from .fastpaths import doc_frequency
from .schema import FIELD_BOOSTS, TEXT_FIELDS


@dataclass(frozen=True)
class Ranking:
    """Relevance settings; a weight of 0 switches that lever off."""

    k1: float = 1.2
    b: float = 0.75
    boosts: tuple = tuple(sorted(FIELD_BOOSTS.items()))
    coordination: float = q.COORDINATION
    phrase: float = 0.0  # weight of adjacent query-word pairs found close together
    slop: int = 4  # how close "close together" is, in words
    prf: float = 0.0  # weight of pseudo-relevance feedback terms (RM3-style)
    prf_docs: int = 10
    prf_terms: int = 20
    synonyms: float = 0.0  # weight of MeSH entry terms against the user's words
    abbreviations: float = 0.0  # weight of an acronym's long form (and back)
    spelling: bool = False  # search the corrected query when nothing matches

    def without_expansion(self) -> Ranking:
        """These settings with every query expansion off (the user's `expand=False`)."""
        return replace(self, synonyms=0.0, abbreviations=0.0, spelling=False)

    def weighting(self) -> BM25F:
        return BM25F(B=self.b, K1=self.k1)


# The product's settings, chosen on NFCorpus dev (tools/tune_relevance.py).
DEFAULT = Ranking(
    prf=0.5, prf_docs=5, prf_terms=20,
    synonyms=0.15, abbreviations=0.5, spelling=True,
)


class Sum(wq.Or):
    """An Or that Whoosh does not merge into the Or groups inside it.

    Normalizing merges nested Ors of one class and drops duplicate clauses;
    the user's words, a synonym and a feedback term may be the same term and
    must each keep their own weight, and the user's Or its coordination.
    Preloaded: exact sums, and one pass over each clause's postings; a tree
    of unions may skip documents on loose score bounds.
    """

    matcher_type = wq.Or.ARRAY_MATCHER


@dataclass
class Built:
    """A query ready to run, and the expansions that went into it."""

    query: wq.Query
    expansions: list[Expansion] = field(default_factory=list)
    structured: bool = False
    user: wq.Query | None = None  # the user's words alone
    extras: list[wq.Query] = field(default_factory=list)  # proximity and expansions


def build_query(text: str, ranking: Ranking, expander: Expander | None) -> Built:
    """The user's query, plus proximity and expansion clauses weighted below it."""
    parser = q.parser_for(dict(ranking.boosts), ranking.coordination)
    user = q.parse(text, parser)
    segments, structured = plain_segments(text)
    extras: list[wq.Query] = []
    boosts = dict(ranking.boosts)
    if ranking.phrase and not structured:
        extras += _proximity(segments, boosts, ranking)
    expansions: list[Expansion] = []
    if expander is not None and (ranking.synonyms or ranking.abbreviations):
        expansions = expander.expand(segments, synonyms=bool(ranking.synonyms),
                                     abbreviations=bool(ranking.abbreviations))
        for exp in expansions:
            weight = ranking.synonyms if exp.type == "synonym" else ranking.abbreviations
            extras.append(_any_of(exp.stems, boosts, weight, exp.size))
    return Built(_combine(user, extras, structured), expansions, structured, user, extras)


def _combine(user: wq.Query, extras: list[wq.Query], structured: bool) -> wq.Query:
    # Plain words may widen the result list (a lay term finds the MeSH
    # term); a query with operators or quotes must still match as written,
    # so there the extras only reorder.
    if not extras or isinstance(user, (wq.Every, wq.NullQuery.__class__)):
        return user
    if structured:
        return wq.AndMaybe(user, Sum(extras))
    return Sum([user, *extras])


def _fields(stems: tuple[str, ...], boosts: dict, weight: float, slop: int = 1) -> wq.Query:
    """Stems as a term or phrase in every text field, with field weights."""
    if len(stems) == 1:
        parts = [wq.Term(f, stems[0], boost=boosts[f] * weight) for f in TEXT_FIELDS]
    else:
        parts = [wq.Phrase(f, list(stems), slop=slop, boost=boosts[f] * weight)
                 for f in TEXT_FIELDS]
    return Sum(parts)


def _any_of(alternatives: list[tuple[str, ...]], boosts: dict, weight: float,
            size: int) -> wq.Query:
    # A form stands in for the user's `size` words: a longer form ("low back
    # pain" for "lumbago") must not outweigh them by matching more terms.
    return Sum([_fields(stems, boosts, weight * size / len(stems)) for stems in alternatives])


def _proximity(segments: list[str], boosts: dict, ranking: Ranking) -> list[wq.Query]:
    """Adjacent query-word pairs found within `slop` words (a sequential-dependence bonus)."""
    clauses = []
    for segment in segments:
        stems = [t.text for t in medical_analyzer(segment, mode="query")]
        for pair in zip(stems, stems[1:]):
            if pair[0] != pair[1]:
                clauses.append(_fields(pair, boosts, ranking.phrase, slop=ranking.slop))
    return clauses


# --- pseudo-relevance feedback ---------------------------------------------------

def feedback(searcher, built: Built, ranking: Ranking, restrict=None) -> Built:
    """Built with RM3-style feedback terms from the top documents of a first pass."""
    if not ranking.prf or isinstance(built.query, wq.Every):
        return built
    # One document more than used: weights are measured from its score, so a
    # document fades out as it nears the cut, and a tiny change of scores
    # (an index rewritten by an update) never swaps feedback wholesale.
    top = searcher.search(built.query, filter=restrict, limit=ranking.prf_docs + 1)
    scores = [hit.score or 0.0 for hit in top]
    floor = scores[ranking.prf_docs] if len(scores) > ranking.prf_docs else 0.0
    reader = searcher.reader()
    docs = reader.doc_count() or 1
    weights: Counter = Counter()
    for hit, score in zip(top, scores[:ranking.prf_docs]):
        stored = hit.fields()
        text = " ".join(s for s in (stored.get("title"), stored.get("abstract")) if s)
        terms = Counter(t.text for t in medical_analyzer(text, mode="query"))
        length = sum(terms.values()) or 1
        for term, tf in terms.items():
            weights[term] += (score - floor) * tf / length
    scored = []
    for term, weight in weights.items():
        # Remembered per reader: a multi-segment reader asks every segment (fastpaths).
        df = doc_frequency(reader, "abstract", term) + doc_frequency(reader, "title", term)
        # Words in most documents ("study", NFCorpus's "num") say nothing.
        if weight > 0 and len(term) > 1 and df / docs <= 0.3:
            scored.append((weight * math.log(1 + docs / max(df, 1)), term))
    scored.sort(reverse=True)
    # The same fading for terms: weights measured from the first term left out.
    cut = scored[ranking.prf_terms][0] if len(scored) > ranking.prf_terms else 0.0
    chosen = [(term, w - cut) for w, term in scored[:ranking.prf_terms] if w > cut]
    if not chosen:
        return built
    top_weight = chosen[0][1]
    boosts = dict(ranking.boosts)
    clause = Sum([wq.Term(f, term, boost=boosts[f] * ranking.prf * w / top_weight)
                  for term, w in chosen for f in TEXT_FIELDS])
    # Feedback reorders documents that match the user's own words; it adds
    # none, and gives nothing to those found only through a synonym (which
    # would let feedback terms lift them above the user's words).
    user = wq.AndMaybe(built.user or built.query, clause)
    return replace(built, query=_combine(user, built.extras, built.structured))
