"""BM25F over a whole query at once: Whoosh's scores, computed with numpy.

Whoosh walks a tree of matchers one document at a time and scores each
posting with a Python call. The `Engine` here evaluates the same query tree
over the generation's columns (.columns, read by .postings): each term's postings are
scored in one vectorized step with Whoosh's BM25F formula and statistics
(the term-frequency part read from the build's .impacts where it was
written for these settings), and each node of the tree combines its children's (documents, scores)
arrays the way Whoosh's matcher for that node combines them:

- Or sums the scores of its children over the union of their documents and,
  with a coordination `scale` (the parser's OrGroup), applies Whoosh's SQR
  bonus for the number of matched terms (whoosh.matching.CoordMatcher);
- And intersects (its Not children subtract), AndMaybe adds the optional
  side where it matches, AndNot subtracts;
- a Phrase's documents come from the columns' word positions (.phrases)
  and score the sum of its words' scores, as Whoosh's phrase matcher does;
- any other query (prefix, wildcard, range, Every, a field the columns do
  not hold) is handed to Whoosh whole and its (document, score) pairs taken
  as they come.

The columns hold the text fields and, in generations written since they
were added, the author and journal names (.columns.SETS).

Equal to Whoosh's scores (tests/test_scoring.py) on a one-segment index;
over several segments Whoosh counts coordination per segment, here over the
whole index (the same for every document, as a ranking should be).
"""

from __future__ import annotations

import math

import numpy as np
from whoosh import query as wq

from . import impacts, limits
from .memory import Recent
from .nodes import EMPTY, NO_DOCS, Node, and_maybe, passing, swept, union, without
from .phrases import phrase_documents
from .postings import Columns, among
from .ranking import POOLED_FIELDS, pooled_idf


# Terms' places in the columns kept per generation (about 200 bytes each).
SPANS_KEPT = 50_000
# Length normalisations kept per generation: one per text field and setting.
NORMS_KEPT = 12


class Engine:
    """Scores queries over one generation's columns with one Whoosh searcher's settings.

    `columns` hold the text fields, `names` (if the generation has them) the
    author and journal names; `searcher` answers what they do not hold (other
    fields, stored fields, phrases with a slop); `k1`, `b` and `field_b` are BM25F's.
    """

    def __init__(self, columns: Columns, searcher, k1: float = 1.2, b: float = 0.75,
                 field_b: dict | None = None, phrases: Recent | None = None,
                 doc_terms: Recent | None = None, idf: str = "whoosh",
                 spans: dict | None = None, norms: dict | None = None,
                 names: Columns | None = None):
        self.columns = columns
        # Each field's columns: the fields scored here, the rest by Whoosh.
        self._holding = {f: kept for kept in (columns, names) if kept is not None
                         for f in kept.fields}
        self.fields = frozenset(self._holding)
        self.pooled = idf == "pooled"
        self.phrases = phrases if phrases is not None else Recent()
        self.doc_terms = doc_terms if doc_terms is not None else Recent()
        self.searcher = searcher
        self.size = columns.doc_count_all
        self.k1 = k1
        self._b = {f: (field_b or {}).get(f, b) for f in self.fields}
        self._avg = {f: kept.avg_length(f) or 1 for f, kept in self._holding.items()}
        # The build's term-frequency parts, per field, where they were
        # computed with these settings (the product's); else computed here.
        self._impacts = {f: parts for f, kept in self._holding.items()
                         if (parts := kept.impacts_for(f, k1, self._b[f])) is not None}
        self._norms = norms if norms is not None else {}
        # Documents not deleted (feedback's idf counts these, as Whoosh's reader does).
        self.live_count = self.size - int(np.count_nonzero(columns.deleted))
        # Nodes already evaluated in this search: the feedback pass, the
        # final query and the snippets share sub-queries (kept by identity).
        self._memo: dict[int, tuple[wq.Query, Node]] = {}
        # Each term's scores without a boost, and as a node, in this search.
        self._scores: dict[tuple, tuple[np.ndarray, np.ndarray] | None] = {}
        self._leaves: dict[tuple, Node] = {}
        self._read: dict = {}  # positions read by this search (.phrases)
        # Where each term's postings are, kept for the generation in `spans`:
        # a search asks for the same (field, term) several times (feedback's
        # document frequencies, the pooled idf, the postings, has_term), and
        # feedback's candidates are the field's common words, looked up by
        # one search after another.
        self._spans = spans if spans is not None else {}

    # --- postings ---------------------------------------------------------------

    def _span(self, fieldname: str, text) -> tuple[int, int]:
        span = self._spans.get((fieldname, text))
        if span is None:
            span = self._learn((fieldname, text), self._holding[fieldname].span(fieldname, text))
        return span

    def _learn(self, key: tuple, span: tuple[int, int]) -> tuple[int, int]:
        if len(self._spans) >= SPANS_KEPT:
            self._spans.clear()  # rarely: the common words come back at once
        self._spans[key] = span
        return span

    def postings(self, fieldname: str, text) -> tuple[np.ndarray, np.ndarray]:
        """Document numbers (ascending) and weights of a term; empty if absent."""
        return self._holding[fieldname].postings_at(*self._span(fieldname, text))

    def doc_frequency(self, fieldname: str, text) -> int:
        """Documents with the term, deleted ones included (as Whoosh counts)."""
        start, end = self._span(fieldname, text)
        return end - start

    def doc_frequencies(self, fieldname: str, texts: list) -> list[int]:
        """doc_frequency of many terms, those not yet looked up found together."""
        missing = [t for t in dict.fromkeys(texts) if (fieldname, t) not in self._spans]
        for text, span in zip(missing, self._holding[fieldname].spans(fieldname, missing)):
            self._learn((fieldname, text), span)
        return [self.doc_frequency(fieldname, t) for t in texts]

    # --- evaluation -------------------------------------------------------------

    def evaluate(self, query: wq.Query) -> Node:
        """Every document `query` matches, with Whoosh's BM25F score (do not modify it)."""
        seen = self._memo.get(id(query))
        if seen is not None and seen[0] is query:
            return seen[1]
        limits.check_time()  # a search past its time limit stops between nodes
        node = self._evaluate(query)
        self._memo[id(query)] = (query, node)
        return node

    def _evaluate(self, query: wq.Query) -> Node:
        kind = type(query)
        scored = getattr(query, "score_in", None)  # a query that scores itself (ranking.Concept)
        if scored is not None:
            docs, scores = scored(self)
            return Node(docs, scores, np.ones(len(docs), dtype=np.int32), 1, single=True)
        if kind is wq.Term and query.fieldname in self.fields:
            return self._term(query.fieldname, query.text, query.boost)
        if isinstance(query, wq.Or) and not query.minmatch:
            return self._or(query)
        if kind is wq.And:
            return self._and(query)
        if kind is wq.AndMaybe:
            return and_maybe(self.evaluate(query.a), self.evaluate(query.b), self.size)
        if kind is wq.AndNot:
            node = self.evaluate(query.a)
            return without(node, self.evaluate(query.b).docs) if len(node) else node
        if kind is wq.Phrase and query.fieldname in self.fields:
            return self._phrase(query)
        if query is wq.NullQuery or kind is type(wq.NullQuery):
            return EMPTY
        docnums = getattr(query, "docnums", None)
        if isinstance(docnums, frozenset):  # feedback.Documents: matches, scores 0
            docs = np.array(sorted(docnums), dtype=np.int64)
            return Node(docs, np.zeros(len(docs)), np.zeros(len(docs), dtype=np.int32), 0)
        return self._by_whoosh(query)

    def _term(self, fieldname: str, text, boost: float = 1.0) -> Node:
        key = (fieldname, text)
        node = self._leaves.get(key)
        if node is None:
            scored = self._scored(fieldname, text)
            node = self._leaves[key] = EMPTY if scored is None else self._leaf(*scored)
        if boost == 1.0 or not len(node):
            return node
        return Node(node.docs, node.scores * boost, node.counts, 1, single=True)

    def _scored(self, fieldname: str, text, boost: float = 1.0
                ) -> tuple[np.ndarray, np.ndarray] | None:
        """A term's live documents (as the columns hold them) and scores; None if absent.

        Scored once per search: the user's words, their proximity pairs,
        the concepts' forms and feedback ask for the same terms again."""
        key = (fieldname, text)
        if key not in self._scores:
            docs, tfs, df, parts = self._live(fieldname, text)
            self._scores[key] = None
            if df:
                idf = self._idf(fieldname, text, df)
                if parts is None:
                    scores = self.saturation(fieldname, docs, tfs)
                    scores *= idf
                else:
                    scores = parts * idf
                self._scores[key] = (docs, scores)
        scored = self._scores[key]
        if scored is None or boost == 1.0:
            return scored
        return scored[0], scored[1] * boost

    def _live(self, fieldname: str, text
              ) -> tuple[np.ndarray, np.ndarray, int, np.ndarray | None]:
        """A term's postings in live documents, its document frequency
        (deleted documents counted, as Whoosh counts), and their saved
        term-frequency parts (None where not saved for these settings)."""
        start, end = self._span(fieldname, text)
        docs, tfs = self._holding[fieldname].postings_at(start, end)
        saved = self._impacts.get(fieldname)
        parts = None if saved is None or start == end else saved[start:end]
        if self.columns.has_deletions and end > start:
            keep = ~self.columns.deleted.take(docs)  # int32 numbers: see saturation
            docs, tfs = docs[keep], tfs[keep]
            parts = None if parts is None else parts[keep]
        return docs, tfs, end - start, parts

    def _terms(self, terms: list[wq.Term]) -> Node:
        """The union of terms the columns hold: union of their nodes, summed straight
        from their postings when they are many (feedback's 60 terms), without
        a node each."""
        scored = [self._scored(t.fieldname, t.text, t.boost) for t in terms]
        live = [s for s in scored if s is not None and len(s[0])]
        if len(live) < 2 or sum(len(docs) for docs, _ in live) * 8 < self.size:
            return union([EMPTY if s is None else self._leaf(*s) for s in scored], self.size)
        # As int64 (np.bincount's own type): the columns' int32 would be converted there again.
        return swept(np.concatenate([docs for docs, _ in live], dtype=np.int64),
                     np.concatenate([s for _, s in live]), self.size,
                     sum(s is not None for s in scored))

    @staticmethod
    def _leaf(docs: np.ndarray, scores: np.ndarray) -> Node:
        return Node(docs.astype(np.int64), scores, np.ones(len(docs), dtype=np.int32), 1,
                    single=True)

    def saturation(self, fieldname: str, docs: np.ndarray, tfs: np.ndarray) -> np.ndarray:
        """BM25's term-frequency part for counts `tfs` in `docs` (the score over the idf)."""
        # take(), not [docs]: indexing by the columns' int32 numbers converts
        # them first, and was twice as slow over feedback's 150,000 postings.
        return impacts.saturate(tfs, self._norm(fieldname).take(docs), self.k1)

    def _norm(self, fieldname: str) -> np.ndarray:
        """BM25's length normalisation k1 * (1 - b + b * length / average) of
        every document, kept for the generation (`norms`): computed per
        posting it was a fifth of scoring feedback's terms."""
        k1, b = self.k1, self._b[fieldname]
        key = (fieldname, k1, b)
        norm = self._norms.get(key)
        if norm is None:
            if len(self._norms) >= NORMS_KEPT:
                self._norms.clear()  # settings tried one after another (tools/tune_*)
            norm = self._norms[key] = impacts.length_norms(
                self._holding[fieldname].lengths[fieldname], k1, b, self._avg[fieldname])
        return norm

    def idf_of(self, df: int) -> float:
        """The idf of something (a concept) found in `df` documents."""
        return pooled_idf(self.size, df) if self.pooled else math.log(self.size / (df + 1)) + 1

    def occurrences(self, fieldname: str, words: tuple[str, ...]) -> tuple[np.ndarray, np.ndarray]:
        """The live documents with `words` side by side in `fieldname`, and a
        bound on how often: the count of the rarest word."""
        if len(words) == 1:  # the word's own counts (saturation makes them float64)
            docs, tfs, _, _ = self._live(fieldname, words[0])
            return docs.astype(np.int64), tfs
        docs = self._phrase(wq.Phrase(fieldname, list(words))).docs
        tfs = np.full(len(docs), np.iinfo(np.int64).max, dtype=np.int64)
        for word in words if len(docs) else ():
            found, counts = self.postings(fieldname, word)
            tfs = np.minimum(tfs, counts[np.searchsorted(found, docs)])
        return docs, tfs

    def _idf(self, fieldname: str, text, df: int) -> float:
        """Whoosh's idf, or the pooled one (indexer.query.settings.Ranking.idf)."""
        if not self.pooled:
            return math.log(self.size / (df + 1)) + 1
        if fieldname in POOLED_FIELDS:
            df = max(self.doc_frequency(f, text) for f in POOLED_FIELDS)
        return pooled_idf(self.size, df)

    def _or(self, query: wq.Or) -> Node:
        subqueries = query.subqueries
        if len(subqueries) > 1 and all(type(sub) is wq.Term and sub.fieldname in self.fields
                                       for sub in subqueries):
            node = self._terms(subqueries)
        else:
            node = union([self.evaluate(sub) for sub in subqueries], self.size)
        if query.boost != 1.0:
            node.scores *= query.boost
        scale = getattr(query, "scale", None)
        if scale and node.terms > 1 and node.terms != scale:
            # whoosh.matching.CoordMatcher's SQR bonus.
            n = node.terms
            node.scores = (node.scores + (node.counts - 1) / (n - scale) ** 2) * ((n - 1) / n)
        return node

    def _and(self, query: wq.And) -> Node:
        positive = [s for s in query.subqueries if type(s) is not wq.Not]
        negative = [s.query for s in query.subqueries if type(s) is wq.Not]
        if not positive:
            return self._by_whoosh(query)
        nodes = [self.evaluate(s) for s in positive]
        node = nodes[0]
        terms = sum(n.terms for n in nodes)
        for other in nodes[1:]:
            if not len(node):
                break
            _, mine, theirs = np.intersect1d(node.docs, other.docs, assume_unique=True,
                                             return_indices=True)
            node = Node(node.docs[mine], node.scores[mine] + other.scores[theirs],
                        node.counts[mine] + other.counts[theirs], 0)
        for sub in negative:
            if len(node):
                node = without(node, self.evaluate(sub).docs)
        scores = node.scores * query.boost if query.boost != 1.0 else node.scores
        return Node(node.docs, scores, node.counts, terms)

    def _phrase(self, query: wq.Phrase) -> Node:
        words = list(query.words)
        parts = [self._term(query.fieldname, w) for w in words]
        if any(not len(p) for p in parts):
            return EMPTY
        # Positions are read only for documents holding every word (synonym
        # phrases mostly have none), and the result kept for the generation.
        key = (query.fieldname, tuple(words), query.slop)
        docs = self.phrases.get(key)
        if docs is None:
            candidates = parts[0].docs
            for part in parts[1:]:
                # A binary search of the fewer documents in the others' (intersect1d sorts both).
                fewer, more = sorted((candidates, part.docs), key=len)
                candidates = fewer[among(fewer, more)]
            docs = NO_DOCS if not len(candidates) else self.phrases.put(key, phrase_documents(
                self.searcher, query, candidates, self._read, self._holding[query.fieldname],
                lambda word: self._span(query.fieldname, word)))
        if not len(docs):
            return Node(NO_DOCS, np.zeros(0), np.zeros(0, dtype=np.int32), len(words))
        scores = np.zeros(len(docs))
        for part in parts:
            scores += part.scores[np.searchsorted(part.docs, docs)]
        if query.boost != 1.0:
            scores *= query.boost
        return Node(docs, scores, np.full(len(docs), len(words), dtype=np.int32), len(words))

    def _by_whoosh(self, query: wq.Query) -> Node:
        results = self.searcher.search(query, limit=None)
        pairs = sorted((docnum, score or 0.0) for score, docnum in results.top_n)
        if not pairs:
            return Node(NO_DOCS, np.zeros(0), np.zeros(0, dtype=np.int32), 1)
        docs = np.fromiter((d for d, _ in pairs), dtype=np.int64, count=len(pairs))
        scores = np.fromiter((s for _, s in pairs), dtype=np.float64, count=len(pairs))
        return Node(docs, scores, np.ones(len(docs), dtype=np.int32), 1, single=True)

    def has_term(self, fieldname: str, text: str, docs: np.ndarray) -> np.ndarray:
        """Which of `docs` hold the term (deleted documents never do)."""
        found = among(docs, self.postings(fieldname, text)[0])
        if self.columns.has_deletions:
            found &= ~self.columns.deleted[docs]
        return found

    # --- results -----------------------------------------------------------------

    def top(self, node: Node, k: int | None, restrict: np.ndarray | None = None,
            sort_keys: np.ndarray | None = None, reverse: bool = False
            ) -> tuple[np.ndarray, np.ndarray]:
        """The best `k` (all if None) of `node`'s documents passing `restrict`:
        document numbers and scores, by score (ties: lower document number
        first, as Whoosh), or by `sort_keys[doc]` (ascending, or descending
        with `reverse`)."""
        node = passing(node, restrict)
        docs, scores = node.docs, node.scores
        if sort_keys is not None:
            keys = np.asarray(sort_keys)[docs]
            ranked = -keys if reverse else keys
            if k is not None and len(docs) > k:
                # Everything sorting at least as high as the k-th, then sorted
                # exactly: sorting all 67,000 matches of a broad search by
                # year took 5 ms, as long as the rest of its search.
                kth = np.partition(ranked, k - 1)[k - 1]
                keep = np.flatnonzero(ranked <= kth)
                docs, scores, ranked = docs[keep], scores[keep], ranked[keep]
            order = np.lexsort((docs, ranked))
            if k is not None:
                order = order[:k]
            return docs[order], scores[order]
        if k is not None and len(docs) > k:
            # Everything scoring at least the k-th best, then sorted exactly.
            kth = np.partition(scores, len(scores) - k)[len(scores) - k]
            keep = np.flatnonzero(scores >= kth)
            docs, scores = docs[keep], scores[keep]
        order = np.lexsort((docs, -scores))
        if k is not None:
            order = order[:k]
        return docs[order], scores[order]

    def mask(self, docs) -> np.ndarray:
        """A boolean array over the index, true at `docs`."""
        found = np.zeros(self.size, dtype=bool)
        if len(docs):
            found[np.fromiter(docs, dtype=np.int64, count=len(docs))
                  if not isinstance(docs, np.ndarray) else docs] = True
        return found
