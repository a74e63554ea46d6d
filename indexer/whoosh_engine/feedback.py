"""Pseudo-relevance feedback in Whoosh: RM3-style terms from a first pass's top documents.

The settings (`Ranking.prf*`) are engine-neutral (indexer.query.settings);
the SolrCloud engine's twin is indexer.solr_engine.feedback.
"""

from __future__ import annotations

import math
import sys
from bisect import bisect_left
from collections import Counter
from dataclasses import replace
from itertools import groupby
from operator import itemgetter
from typing import NamedTuple

import numpy as np
from whoosh import matching
from whoosh import query as wq

from ..query.expand import Expansion
from ..query.settings import Ranking
from .analysis import terms_at
from .postings import among
from .ranking import Built, Sum, with_extras
from .schema import TEXT_FIELDS


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
    weights: dict[str, float] = {}
    for (_, docnum), doc_weight in zip(top, doc_weights):
        if doc_weight <= 0:
            continue
        words, length, _ = _counted(engine, docnum)
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
            words = _surface_forms([_counted(engine, d) for _, d in top[:ranking.prf_docs]],
                                   [term for term, _ in chosen[:FEEDBACK_SHOWN]])
            note = Expansion("feedback", built.text, words)
            return replace(built, query=with_extras(found, built.extras, False),
                           expansions=[*built.expansions, note])
    # Otherwise feedback reorders documents that match the user's own words;
    # it adds none, and gives nothing to those found only through a synonym
    # (which would let feedback terms lift them above the user's words).
    user = wq.AndMaybe(built.user or built.query, clause)
    return replace(built, query=with_extras(user, built.extras, built.structured))


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


def _surface_forms(docs: list[Counted], stems: list[str]) -> list[str]:
    """Each stem as the word most often written for it in the feedback documents."""
    seen: dict[str, Counter] = {stem: Counter() for stem in stems}
    for counted in docs:
        words = counted.words
        for stem in stems:
            at = bisect_left(words, stem, key=itemgetter(0))
            if at < len(words) and words[at][0] == stem:
                written = counted.written[at]
                if isinstance(written, str):  # written one way: as often as the word
                    seen[stem][written] += words[at][1]
                else:
                    seen[stem].update(dict(written))
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


class Counted(NamedTuple):
    """A feedback document's words, analysed once per generation (Engine.doc_terms)."""

    # Candidate words with their counts, by word: a fixed order (the same
    # sums to the last bit) that a word is looked up in by bisection.
    words: tuple[tuple[str, int], ...]
    length: int  # of title and abstract in words (RM3's P(w|D) is count / length)
    # How each of `words` is written: one lowercase form, or (form, count) pairs.
    written: tuple[str | tuple[tuple[str, int], ...], ...]


def _counted(engine, docnum: int) -> Counted:
    """A document's Counted, kept per generation: the same documents come
    back at the top, search after search."""
    counted = engine.doc_terms.get(docnum)
    if counted is None:
        counted = engine.doc_terms.put(docnum, _term_counts(engine.searcher.stored_fields(docnum)))
    return counted


def _term_counts(stored: dict) -> Counted:
    """A document's Counted, from its stored title and abstract."""
    text = " ".join(s for s in (stored.get("title"), stored.get("abstract")) if s)
    forms = Counter((term, text[start:end].lower())
                    for term, start, end in terms_at(text, mode="query"))
    counts: Counter = Counter()
    written: dict[str, list] = {}
    for (term, form), count in forms.items():
        counts[term] += count
        # Interned: a form is one string however many documents write it.
        written.setdefault(term, []).append((sys.intern(form), count))
    kept = [term for term in sorted(counts) if _feedback_word(term)]
    return Counted(tuple((term, counts[term]) for term in kept), sum(counts.values()) or 1,
                   tuple(written[t][0][0] if len(written[t]) == 1 else tuple(written[t])
                         for t in kept))


def _feedback_word(term: str) -> bool:
    """Not a number, a one- or two-letter token, or NFCorpus's "num" placeholder."""
    return len(term) > 2 and not any(c.isdigit() for c in term) and term != "num"
