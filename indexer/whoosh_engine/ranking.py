"""How a query is ranked in Whoosh: BM25F weighting, proximity, feedback and expansions.

The settings themselves (`Ranking`, `DEFAULT`) are engine-neutral and live in
indexer.query.settings; this module turns them into Whoosh queries.
"""

from __future__ import annotations

import copy
import math
from collections import Counter
from itertools import groupby
from operator import itemgetter
from dataclasses import dataclass, field, replace

import numpy as np
from whoosh import matching
from whoosh import query as wq
from whoosh.scoring import BM25F

from . import parse as q
from .analysis import medical_analyzer, terms_at
from ..query import terms
from ..query.concepts import Concept, find_concepts
from ..query.expand import Expansion, Expander, plain_segments
from ..query.settings import Ranking
from .schema import TEXT_FIELDS
from .postings import among


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


# --- pseudo-relevance feedback ---------------------------------------------------

def feedback(engine, built: Built, ranking: Ranking, restrict=None) -> Built:
    """Built with RM3-style feedback terms from the top documents of a first pass.

    `engine` is an .scoring.Engine; `restrict` a boolean array of the
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
    doc_weights = _doc_weights([score for score, _ in top], ranking)
    stored = engine.searcher.stored_fields
    weights: dict[str, float] = {}
    for (_, docnum), doc_weight in zip(top, doc_weights):
        if doc_weight <= 0:
            continue
        counted = engine.doc_terms.get(docnum)
        if counted is None:
            counted = engine.doc_terms.put(docnum, _term_counts(stored(docnum)))
        words, length = counted
        for term, count in words:
            weights[term] = weights.get(term, 0.0) + doc_weight * count / length
    docs = engine.live_count or 1
    scored = []
    # Look up document frequencies only for the likeliest terms, then keep
    # the best after idf.
    candidates = sorted(weights.items(), key=lambda kv: (-kv[1], kv[0]))
    candidates = candidates[:max(ranking.prf_terms * PRF_CANDIDATES, 1)]
    words = [term for term, _ in candidates]
    in_abstracts = engine.doc_frequencies("abstract", words)
    in_titles = engine.doc_frequencies("title", words)
    for (term, weight), df in zip(candidates, map(sum, zip(in_abstracts, in_titles))):
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
        related = set(candidates[~among(candidates, engine.evaluate(user).docs)].tolist())
        if related:
            found = wq.Or([wq.AndMaybe(user, clause), wq.AndMaybe(Documents(related), clause)])
            words = _surface_forms([stored(docnum) for _, docnum in top[:ranking.prf_docs]],
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


def _feedback_docs(engine, query, count: int, restrict) -> list[tuple[float, int]]:
    """The scores and numbers of the top `count` + 1 documents, ties by PMID.

    One document more than used: "linear" weights are measured from its score.
    """
    docs, scores = engine.top(engine.evaluate(query), count + 1 + PRF_TIE_MARGIN, restrict)
    return _ties_by_pmid(engine.searcher, docs, scores)[:count + 1]


def _ties_by_pmid(searcher, docs: np.ndarray, scores: np.ndarray) -> list[tuple[float, int]]:
    """(score, document) of Engine.top's documents (by score) with those tied
    on score put in PMID order. A PMID is read from the stored fields, which
    cost a decompression each: only those of tied documents are read."""
    ranked = []
    for _, tied in groupby(zip(scores.tolist(), docs.tolist()), key=itemgetter(0)):
        tied = list(tied)
        if len(tied) > 1:
            tied.sort(key=lambda sd: searcher.stored_fields(sd[1]).get("pmid", ""))
        ranked += tied
    return ranked


def _top_docnums(engine, query, count: int, restrict, words: list[str],
                 least: int) -> list[int]:
    """The `count` best documents for `query` (ties by PMID) that have at
    least `least` of `words` (one shared word is too little to call a
    document related)."""
    docs, scores = engine.top(engine.evaluate(query), count + PRF_TIE_MARGIN, restrict)
    ranked = _ties_by_pmid(engine.searcher, docs, scores)
    if least > 1 and ranked:
        wanted = np.array([docnum for _, docnum in ranked], dtype=np.int64)
        found = np.zeros(len(wanted), dtype=np.int64)
        for word in words:
            has = np.zeros(len(wanted), dtype=bool)
            for fieldname in TEXT_FIELDS:
                has |= engine.has_term(fieldname, word, wanted)
            found += has
        ranked = [sd for sd, n in zip(ranked, found) if n >= least]
    return [docnum for _, docnum in ranked[:count]]


# Feedback words named in `Results.expansions` when feedback added documents.
FEEDBACK_SHOWN = 5


def _surface_forms(docs: list[dict], stems: list[str]) -> list[str]:
    """Each stem as the word most often written for it in the feedback documents."""
    wanted = set(stems)
    seen: dict[str, Counter] = {stem: Counter() for stem in stems}
    for stored in docs:
        text = " ".join(s for s in (stored.get("title"), stored.get("abstract")) if s)
        for term, start, end in terms_at(text, mode="query"):
            if term in wanted:
                seen[term][text[start:end].lower()] += 1
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


def _term_counts(stored: dict) -> tuple[tuple[tuple[str, int], ...], int]:
    """A feedback document's candidate words with their counts, in a fixed
    order (the same sums to the last bit), and the length of its title and
    abstract in words (RM3's P(w|D) is count / length): what feedback keeps
    per document and generation, so a document's words are sorted and
    filtered once, not at every search that uses it."""
    text = " ".join(s for s in (stored.get("title"), stored.get("abstract")) if s)
    counts = Counter(term for term, _, _ in terms_at(text, mode="query"))
    return (tuple((term, counts[term]) for term in sorted(counts) if _feedback_word(term)),
            sum(counts.values()) or 1)


def _feedback_word(term: str) -> bool:
    """Not a number, a one- or two-letter token, or NFCorpus's "num" placeholder."""
    return len(term) > 2 and not any(c.isdigit() for c in term) and term != "num"
