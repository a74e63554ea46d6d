"""How a query is ranked in Whoosh: BM25F weighting, proximity and expansions
(feedback is .feedback).

The settings themselves (`Ranking`, `DEFAULT`) are engine-neutral and live in
indexer.query.settings; this module turns them into Whoosh queries.
"""

from __future__ import annotations

import copy
import math
from dataclasses import dataclass, field

import numpy as np
from whoosh import query as wq
from whoosh.scoring import BM25F

from . import parse as q
from .analysis import medical_analyzer
from ..query import terms
from ..query.concepts import Concept, find_concepts
from ..query.expand import Expansion, Expander, plain_segments
from ..query.settings import Ranking
from .schema import TEXT_FIELDS


# Fields whose documents are counted together for the pooled idf.
POOLED_FIELDS = ("title", "abstract")


def pooled_idf(doc_count: int, frequency: int) -> float:
    """Lucene's (Robertson-Sparck Jones, floored) idf."""
    return math.log(1 + (doc_count - frequency + 0.5) / (frequency + 0.5))


def weighting(ranking: Ranking) -> BM25F:
    """Whoosh's BM25F with the settings of `ranking` (for what Whoosh still scores itself)."""
    cls = PooledBM25F if ranking.idf == "pooled" else BM25F
    return cls(B=ranking.b, K1=ranking.k1, **{f"{f}_B": b for f, b in ranking.field_b})


class PooledBM25F(BM25F):
    """Whoosh's BM25F with the pooled idf (for what Whoosh still scores itself)."""

    def idf(self, searcher, fieldname, text):
        parent = searcher.get_parent()
        if fieldname in POOLED_FIELDS:
            n = max(parent.doc_frequency(f, text) for f in POOLED_FIELDS)
        else:
            n = parent.doc_frequency(fieldname, text)
        return pooled_idf(parent.doc_count_all(), n)


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
    concepts = find_concepts(expander, segments) if expander and ranking.concepts else []
    if concepts:
        # A concept counts by how much of the query it is: all of "backache",
        # a little of a long description (NFCorpus dev, tools/tune_concepts.py).
        asked = sum(len(terms.query_tokens(segment)) for segment in segments)
        extras += [ConceptQuery(c, boosts, ranking.concepts * len(c.words) / asked)
                   for c in concepts]
        expansions += [c.expansion() for c in concepts]
        if not structured:  # operators and quotes keep the user's words as written
            # The mapped words on their own count less, as much less as the
            # concepts are of the query (a long description keeps its words).
            mapped = {w for c in concepts for w in c.words}
            share = sum(len(c.words) for c in concepts) / asked
            user = _reweighted(user, mapped, 1 - (1 - ranking.concept_words) * share)
    if expander is not None and (ranking.synonyms or ranking.abbreviations):
        mapped = {c.source for c in concepts}
        found = expander.expand(segments, synonyms=bool(ranking.synonyms),
                                abbreviations=bool(ranking.abbreviations))
        # A phrase searched as its concept already searches the synonyms.
        found = [e for e in found if not (e.type == "synonym" and e.source in mapped)]
        expansions += found
        for exp in found:
            weight = ranking.synonyms if exp.type == "synonym" else ranking.abbreviations
            extras.append(_any_of(exp.stems, boosts, weight, exp.size))
    return Built(with_extras(user, extras, structured), expansions, structured, user, extras, text)


def with_extras(user: wq.Query, extras: list[wq.Query], structured: bool) -> wq.Query:
    """The user's query with the proximity, concept and expansion clauses (and feedback's)."""
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


class ConceptQuery(Sum):
    """A MeSH concept searched as one unit (indexer.query.concepts).

    A document matches when a field says the heading or an entry term as a
    phrase (in either word order, and as MeSH inverts a heading:
    "Tuberculosis, Spinal"), the keywords field being where an indexed
    descriptor is. It scores like one query word found in as many documents
    as the concept is, standing in for the words the user typed: per field
    the best form's BM25 term-frequency part, times the field weight, summed
    over fields, times `weight`. Its subqueries (the forms) are what snippets mark.
    """

    def __init__(self, concept: Concept, boosts: dict, weight: float):
        self.concept = concept
        self.field_boosts = boosts
        self.weight = weight
        super().__init__([_fields(stems, boosts, 1.0) for stems in concept.forms])

    def score_in(self, engine) -> tuple[np.ndarray, np.ndarray]:
        """(documents, scores) over an .scoring.Engine."""
        found, weighted = [], []
        for fieldname in TEXT_FIELDS:
            docs, best = _best_form(engine, fieldname, self.concept.forms)
            found.append(docs)
            weighted.append(best * self.field_boosts[fieldname])
        docs, scores = _per_document(found, weighted, np.add, engine.size)
        scale = self.weight * len(self.concept.words) * engine.idf_of(len(docs))
        return docs, scores * scale


def _best_form(engine, fieldname: str, forms) -> tuple[np.ndarray, np.ndarray]:
    """The documents saying any of `forms` in `fieldname`, each with its best form's
    BM25 term-frequency part."""
    docs, parts = [], []
    for stems in forms:
        for order in {stems[i:] + stems[:i] for i in range(len(stems))}:
            found, tfs = engine.occurrences(fieldname, order)
            docs.append(found)
            parts.append(engine.saturation(fieldname, found, tfs))
    return _per_document(docs, parts, np.maximum, engine.size)


def _per_document(docs: list[np.ndarray], values: list[np.ndarray], combine,
                  size: int) -> tuple[np.ndarray, np.ndarray]:
    """Each document once, ascending, with its (positive) values combined by
    the ufunc `combine`, in order; each of `docs` ascending, without repeats."""
    if len(docs) == 1:
        return docs[0], values[0]
    if sum(map(len, docs)) * 8 < size:  # few: sorted
        docs, values = np.concatenate(docs), np.concatenate(values)
        if not len(docs):
            return docs.astype(np.int64), np.zeros(0)
        order = np.argsort(docs, kind="stable")
        docs, values = docs[order], values[order]
        first = np.flatnonzero(np.r_[True, docs[1:] != docs[:-1]])
        return docs[first], combine.reduceat(values, first)
    # Many ("abscess" is in 70,000 of 100,000): a sweep over the index, not a sort.
    combined, found = np.zeros(size), np.zeros(size, dtype=bool)
    for some, those in zip(docs, values):
        combined[some] = combine(combined[some], those)  # from 0: as from the first value
        found[some] = True
    where = np.flatnonzero(found)
    return where, combined[where]


def _reweighted(query: wq.Query, words: set[str], factor: float) -> wq.Query:
    """`query` with its text-field terms among `words` weighing `factor` times as much."""
    if factor == 1.0:
        return query
    if type(query) is wq.Term and query.fieldname in TEXT_FIELDS and query.text in words:
        changed = copy.copy(query)
        changed.boost = query.boost * factor
        return changed
    subqueries = getattr(query, "subqueries", None)
    if subqueries is None:
        return query
    changed = copy.copy(query)
    changed.subqueries = [_reweighted(sub, words, factor) for sub in subqueries]
    return changed


def _proximity(segments: list[str], boosts: dict, ranking: Ranking) -> list[wq.Query]:
    """Adjacent query-word pairs found within `slop` words (a sequential-dependence bonus)."""
    clauses = []
    for segment in segments:
        stems = [t.text for t in medical_analyzer(segment, mode="query")]
        for pair in zip(stems, stems[1:]):
            if pair[0] != pair[1]:
                clauses.append(_fields(pair, boosts, ranking.phrase, slop=ranking.slop))
    return clauses
