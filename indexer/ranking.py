"""How a query is ranked: BM25F settings, proximity, feedback and expansions.

`Ranking` holds every relevance lever in one place so that `medsearch eval`
can switch each one on and off; `DEFAULT` is what the product uses, chosen
on NFCorpus dev (README: Relevance).
"""

from __future__ import annotations

import math
from collections import Counter
from dataclasses import dataclass, field, replace

import numpy as np
from whoosh import matching
from whoosh import query as wq
from whoosh.scoring import BM25F

from . import query as q
from .analysis import medical_analyzer
from .expand import Expansion, Expander, plain_segments
from .schema import FIELD_BOOSTS, TEXT_FIELDS


@dataclass(frozen=True)
class Ranking:
    """Relevance settings; a weight of 0 switches that lever off."""

    k1: float = 1.2
    b: float = 0.75
    field_b: tuple = ()  # (field, b) pairs: a field's own length normalisation
    boosts: tuple = tuple(sorted(FIELD_BOOSTS.items()))
    coordination: float = q.COORDINATION
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
    synonyms: float = 0.0  # weight of MeSH entry terms against the user's words
    abbreviations: float = 0.0  # weight of an acronym's long form (and back)
    spelling: bool = False  # search the corrected query when nothing matches
    # "whoosh": Whoosh's log(N / (n + 1)) + 1, with n counted per field;
    # "pooled": Lucene's log(1 + (N - n + 0.5) / (n + 0.5)), one n per word
    # over title and abstract (BM25F's one idf per term): a word in a title
    # is not rarer than in an abstract.
    idf: str = "whoosh"

    def without_expansion(self) -> Ranking:
        """These settings with every query expansion off (the user's `expand=False`)."""
        return replace(self, synonyms=0.0, abbreviations=0.0, spelling=False, prf_widen=0)

    def weighting(self) -> BM25F:
        cls = PooledBM25F if self.idf == "pooled" else BM25F
        return cls(B=self.b, K1=self.k1, **{f"{f}_B": b for f, b in self.field_b})

    def weighting_key(self) -> tuple:
        """What `weighting()` depends on: equal keys score alike."""
        return self.k1, self.b, tuple(sorted(self.field_b)), self.idf


# Fields whose documents are counted together for the pooled idf.
POOLED_FIELDS = ("title", "abstract")


def pooled_idf(doc_count: int, frequency: int) -> float:
    """Lucene's (Robertson-Sparck Jones, floored) idf."""
    return math.log(1 + (doc_count - frequency + 0.5) / (frequency + 0.5))


class PooledBM25F(BM25F):
    """Whoosh's BM25F with the pooled idf (for what Whoosh still scores itself)."""

    def idf(self, searcher, fieldname, text):
        parent = searcher.get_parent()
        if fieldname in POOLED_FIELDS:
            n = max(parent.doc_frequency(f, text) for f in POOLED_FIELDS)
        else:
            n = parent.doc_frequency(fieldname, text)
        return pooled_idf(parent.doc_count_all(), n)


# The product's settings, chosen on NFCorpus dev (tools/tune_relevance.py;
# the pooled idf on dev's long queries, tools/explore_long_queries.py).
DEFAULT = Ranking(
    prf=0.5, prf_docs=5, prf_terms=20, prf_widen=10,
    synonyms=0.15, abbreviations=0.5, spelling=True, idf="pooled",
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
    text: str = ""  # what the user typed


def build_query(text: str, ranking: Ranking, expander: Expander | None) -> Built:
    """The user's query, plus proximity and expansion clauses weighted below it."""
    parser = q.parser_for(dict(ranking.boosts), ranking.coordination)
    user = q.parse(text, parser)
    segments, structured = plain_segments(q.clean(text))  # parse() took text only
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
    return Built(_combine(user, extras, structured), expansions, structured, user, extras, text)


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

def feedback(engine, built: Built, ranking: Ranking, restrict=None) -> Built:
    """Built with RM3-style feedback terms from the top documents of a first pass.

    `engine` is an indexer.scoring.Engine; `restrict` a boolean array of the
    documents a filter lets through (or None).

    Each feedback document weighs by its first-pass score (`prf_doc_weight`:
    "linear" measures it from the first document left out, so a document
    fades out as it nears the cut; "softmax" is exp(score - best) over the
    documents used). A term's weight is the sum over documents of that
    weight times the term's share of the document's title and abstract
    (RM3's P(w|R)); with `prf_idf` it is also multiplied by the term's idf,
    so that words common to the whole index are not chosen.
    """
    if not ranking.prf or isinstance(built.query, wq.Every):
        return built
    top = _feedback_docs(engine, built.query, ranking.prf_docs, restrict)
    if not top:
        return built
    doc_weights = _doc_weights([score for _, score, _ in top], ranking)
    weights: dict[str, float] = {}
    for (stored, _, docnum), doc_weight in zip(top, doc_weights):
        if doc_weight <= 0:
            continue
        terms = engine.doc_terms.get(docnum)
        if terms is None:
            text = " ".join(s for s in (stored.get("title"), stored.get("abstract")) if s)
            terms = engine.doc_terms.put(
                docnum, Counter(t.text for t in medical_analyzer(text, mode="query")))
        length = sum(terms.values()) or 1
        for term in sorted(terms):  # a fixed order: the same sums to the last bit
            if _feedback_word(term):
                weights[term] = weights.get(term, 0.0) + doc_weight * terms[term] / length
    columns = engine.columns
    docs = engine.live_count or 1
    scored = []
    # Look up document frequencies only for the likeliest terms, then keep
    # the best after idf.
    candidates = sorted(weights.items(), key=lambda kv: (-kv[1], kv[0]))
    for term, weight in candidates[:max(ranking.prf_terms * PRF_CANDIDATES, 1)]:
        df = columns.doc_frequency("abstract", term) + columns.doc_frequency("title", term)
        # Words in most documents ("study", NFCorpus's "num") say nothing.
        if df / docs > ranking.prf_max_df:
            continue
        if ranking.prf_idf:
            weight *= math.log(1 + docs / max(df, 1))
        scored.append((weight, term))
    scored.sort(key=lambda wt: (-wt[0], wt[1]))
    # The same fading for terms: weights measured from the first term left out.
    cut = scored[ranking.prf_terms][0] if len(scored) > ranking.prf_terms else 0.0
    chosen = [(term, w - cut) for w, term in scored[:ranking.prf_terms] if w > cut]
    if not chosen:
        return built
    top_weight = chosen[0][1]
    boosts = dict(ranking.boosts)
    clause = Sum([wq.Term(f, term, boost=boosts[f] * ranking.prf * w / top_weight)
                  for term, w in chosen for f in TEXT_FIELDS])
    if ranking.prf_widen and not built.structured:
        # RM3 proper: the feedback terms may also rank documents without the
        # user's words, but only the `prf_widen` they find best, so the
        # result count stays near that of the user's words.
        user = built.user or built.query
        candidates = np.array(_top_docnums(engine, clause, ranking.prf_widen, restrict,
                                           [term for term, _ in chosen],
                                           ranking.prf_widen_min), dtype=np.int64)
        # Those without the user's words (a look-up each, not a set of every match).
        related = set(candidates[~np.isin(candidates, engine.evaluate(user).docs)].tolist())
        if related:
            found = wq.Or([wq.AndMaybe(user, clause), wq.AndMaybe(Documents(related), clause)])
            words = _surface_forms([stored for stored, _, _ in top[:ranking.prf_docs]],
                                   [term for term, _ in chosen[:FEEDBACK_SHOWN]])
            note = Expansion("feedback", built.text, words)
            return replace(built, query=_combine(found, built.extras, False),
                           expansions=[*built.expansions, note])
    # Otherwise feedback reorders documents that match the user's own words;
    # it adds none, and gives nothing to those found only through a synonym
    # (which would let feedback terms lift them above the user's words).
    user = wq.AndMaybe(built.user or built.query, clause)
    return replace(built, query=_combine(user, built.extras, built.structured))


# Document frequencies are looked up for this many times `prf_terms` candidates.
PRF_CANDIDATES = 4
# Feedback documents are ranked by score, then PMID: fetched with this many
# more, so documents tied at the cut are chosen by PMID, not by index order.
PRF_TIE_MARGIN = 5


def _feedback_docs(engine, query, count: int, restrict) -> list[tuple[dict, float, int]]:
    """The stored fields, scores and numbers of the top `count` + 1 documents, ties by PMID.

    One document more than used: "linear" weights are measured from its score.
    """
    docs, scores = engine.top(engine.evaluate(query), count + 1 + PRF_TIE_MARGIN, restrict)
    stored = engine.searcher.stored_fields
    top = sorted(((stored(int(d)), float(s), int(d)) for d, s in zip(docs, scores)),
                 key=lambda fsd: (-fsd[1], fsd[0].get("pmid", "")))
    return top[:count + 1]


def _top_docnums(engine, query, count: int, restrict, words: list[str],
                 least: int) -> list[int]:
    """The `count` best documents for `query` (ties by PMID) that have at
    least `least` of `words` (one shared word is too little to call a
    document related)."""
    docs, scores = engine.top(engine.evaluate(query), count + PRF_TIE_MARGIN, restrict)
    stored = engine.searcher.stored_fields
    ranked = sorted(((float(s), stored(int(d))["pmid"], int(d)) for d, s in zip(docs, scores)),
                    key=lambda spd: (-spd[0], spd[1]))
    if least > 1 and ranked:
        wanted = np.array([docnum for _, _, docnum in ranked], dtype=np.int64)
        found = np.zeros(len(wanted), dtype=np.int64)
        for word in words:
            has = np.zeros(len(wanted), dtype=bool)
            for fieldname in TEXT_FIELDS:
                has |= engine.has_term(fieldname, word, wanted)
            found += has
        ranked = [spd for spd, n in zip(ranked, found) if n >= least]
    return [docnum for _, _, docnum in ranked[:count]]


# Feedback words named in `Results.expansions` when feedback added documents.
FEEDBACK_SHOWN = 5


def _surface_forms(docs: list[dict], stems: list[str]) -> list[str]:
    """Each stem as the word most often written for it in the feedback documents."""
    wanted = set(stems)
    seen: dict[str, Counter] = {stem: Counter() for stem in stems}
    for stored in docs:
        text = " ".join(s for s in (stored.get("title"), stored.get("abstract")) if s)
        for t in medical_analyzer(text, mode="query", chars=True):
            if t.text in wanted:
                seen[t.text][text[t.startchar:t.endchar].lower()] += 1
    return [min(seen[s].items(), key=lambda kv: (-kv[1], kv[0]))[0] if seen[s] else s
            for s in stems]


class Documents(wq.Query):
    """Matches the given document numbers of the searcher's reader, scoring 0.

    Neither a pmid Term (an unscored ID field misleads Whoosh's block-quality
    skipping, which then loses documents) nor ConstantScoreQuery (which
    loses documents inside a union) does this correctly.
    """

    def __init__(self, docnums):
        self.docnums = frozenset(docnums)
        self.boost = 1.0

    def __eq__(self, other):
        return type(other) is type(self) and other.docnums == self.docnums

    def __hash__(self):
        return hash(self.docnums)

    def __repr__(self):
        return f"Documents({sorted(self.docnums)!r})"

    __str__ = __repr__

    def estimate_size(self, ixreader):
        return len(self.docnums)

    def matcher(self, searcher, context=None):
        offset = 0
        parent = searcher.parent() if searcher.parent else None
        if parent is not None:
            offset = next(o for sub, o in parent.subsearchers if sub is searcher)
        end = offset + searcher.doc_count_all()
        ids = sorted(d - offset for d in self.docnums if offset <= d < end)
        if not ids:
            return matching.NullMatcher()
        # Explicit zero weights (all_weights=0.0 would read as "unset": 1.0).
        return matching.ListMatcher(ids, weights=[0.0] * len(ids))


def _doc_weights(scores: list[float], ranking: Ranking) -> list[float]:
    used = scores[:ranking.prf_docs]
    if ranking.prf_doc_weight == "softmax":
        best = used[0]
        return [math.exp((s - best) / ranking.prf_temperature) for s in used]
    floor = scores[ranking.prf_docs] if len(scores) > ranking.prf_docs else 0.0
    return [s - floor for s in used]


def _feedback_word(term: str) -> bool:
    """Not a number, a one- or two-letter token, or NFCorpus's "num" placeholder."""
    return len(term) > 2 and not any(c.isdigit() for c in term) and term != "num"
