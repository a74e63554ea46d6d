"""The Whoosh engine: the `indexer.engine.SearchEngine` that medsearch runs today.

Opens the live generation (indexer.whoosh_engine.generations), parses with
.parse, scores whole posting lists with numpy (.scoring over .columns) and
asks Whoosh itself for positions, stored fields, facets and more-like-this.
"""

from __future__ import annotations

import os
import threading
import time
import weakref
from pathlib import Path

import numpy as np
from whoosh import query as wq

from ..errors import ArticleNotFound, Busy, IndexMissing
from ..pages.records import Record
from ..query.expand import Expander, Expansion
from ..query.settings import DEFAULT, Ranking
from ..query.spelling import Speller
from ..query.suggest import Vocabulary
from ..results import Hit, Results
from . import fastpaths, integrity, limits, turns
from . import parse as q
from .postings import Columns
from .corrections import suggestion
from ..semantic.rerank import reranked
from .embedding import Semantic
from .facets import FacetTable
from .generations import current_generation, open_generation, read_build_info
from .memory import DEEPEST_KEPT, QUERIES_KEPT, PerGeneration, Ranked, Recent
from .feedback import feedback
from .ranking import build_query, weighting
from .schema import from_stored, stored_mesh
from .nodes import Node, passing
from .scoring import Engine
from .snippets import first_words, positive_terms, snippet
from .vocabulary import load_vocabulary


class WhooshEngine:
    """A Whoosh index's generations, searched; follows rebuilds without reopening."""

    # Seconds one search may take before it stops with a QueryError (see .limits).
    time_limit = limits.TIME_LIMIT
    # Seconds one call may hold a searcher that other threads wait for (None: no bound).
    turn_limit: float | None = None
    # Searches remembered per generation, twice over: the query each decided
    # on and its ranked hits (0: none; the benchmark's first-time cost).
    queries_kept = QUERIES_KEPT

    def __init__(self, root: str | os.PathLike):
        self.root = Path(root)
        # One Whoosh searcher per process for searches, shared by its threads,
        # and one "desk" searcher for articles and suggestions. Whoosh's
        # readers seek in shared files, so calls take turns on each
        # (indexer.turns; Python runs one thread at a time anyway); one reader
        # per thread cost a copy of every segment's mapped pages per thread.
        self._lock = threading.RLock()
        self._desk_lock = threading.RLock()
        self._desk = None  # (generation, searcher, closer)
        self._generation: Path | None = None
        self._ix = self._shared = self._closer = None
        self._columns: Columns | None = None
        self._names: Columns | None = None
        self._mapped: integrity.MappedFiles | None = None
        self._expander = Expander()
        self._semantic = Semantic()  # the generation's vectors, for the semantic rerank
        self._memory = PerGeneration()  # tables and memories, each per generation
        self._open_current()

    # --- generations -----------------------------------------------------

    def _open_current(self) -> None:
        generation = current_generation(self.root)
        if generation is None:
            raise IndexMissing(f"no index at {self.root}: run `medsearch build`")
        if generation != self._generation:
            # Whoosh's index; the postings (text, names) as numpy columns, memory-mapped
            # and watched; synonyms and abbreviations saved by the build.
            self._ix, self._columns, self._names, self._mapped, self._expander = (
                integrity.open_checked(generation, lambda g: open_generation(self.root, g),
                                       Columns.load, Columns.load_names, integrity.MappedFiles,
                                       Expander.load))
            self._generation = generation

    def _searcher(self):
        """The searcher on the live generation, reopened after a swap (lock held)."""
        if self._shared is None or current_generation(self.root) != self._generation:
            self._open_current()
            self._close_searcher()
            # A searcher that honours the time limit of the call (.turns).
            with integrity.translated(lambda: self._generation, opening=True):
                self._shared = limits.searcher(self._ix, weighting=weighting(DEFAULT))
            # Its segment files are open files: closed when the engine goes,
            # even if nobody calls close().
            self._closer = weakref.finalize(self, self._shared.close)
        self._mapped.check()  # a file cut since it was mapped would kill the process
        return self._shared

    def _close_searcher(self) -> None:
        if self._shared is not None:
            self._closer()  # once only: a finalizer runs at most once
            self._shared = None

    def _desk_searcher(self):
        """The desk's searcher on the live generation (desk turn held)."""
        if current_generation(self.root) != self._generation:
            with turns.turn(self._lock):  # only the searches' side swaps generations
                self._searcher()
        generation, ix = self._generation, self._ix  # ix first swapped, generation last
        if self._desk is None or self._desk[0] != generation:
            if self._desk is not None:
                self._desk[2]()
            desk = limits.searcher(ix, weighting=weighting(DEFAULT))
            self._desk = (generation, desk, weakref.finalize(self, desk.close))
        return self._desk[1]

    def _engine(self, ranking: Ranking) -> Engine:
        """A scoring engine for one search on the live generation."""
        searcher = self._searcher()
        return Engine(self._columns, searcher, names=self._names, k1=ranking.k1, b=ranking.b,
                      field_b=dict(ranking.field_b), idf=ranking.idf,
                      phrases=self._per_generation("phrases", lambda _g: Recent()),
                      doc_terms=self._per_generation("doc_terms", lambda _g: Recent(2048)),
                      spans=self._per_generation("spans", lambda _g: {}),
                      norms=self._per_generation("norms", lambda _g: {}))

    @property
    @turns.at_desk
    def info(self) -> dict:
        """What the last build saved: counts, time, seeds folder, skipped pages."""
        self._desk_searcher()
        return read_build_info(self._generation)

    @turns.at_desk
    def __len__(self) -> int:
        return self._desk_searcher().doc_count()

    # --- searching ------------------------------------------------------------

    @turns.searching
    def search(
        self,
        text: str,
        page: int = 1,
        per_page: int = 10,
        sort: str = "relevance",
        year_from: int | None = None,
        year_to: int | None = None,
        journal: str | None = None,
        mesh: str | None = None,
        expand: bool = True,
        ranking: Ranking | None = None,
    ) -> Results:
        """Ranked results for `text`, one page of them, with facets and a suggestion.

        `expand=False` searches the user's words only: no synonyms,
        abbreviations or spelling fallback (the semantic rerank of what they
        find stays on). `ranking` overrides the relevance settings (for
        evaluation).
        """
        started = time.perf_counter()
        ranking = _settings(ranking, expand)
        engine = self._engine(ranking)
        wanted = q.filters(year_from, year_to, journal, mesh)
        depth = max(page * per_page, _depth(ranking) if sort == "relevance" else 0)
        ranked = self._ranked(engine, text, ranking, wanted, sort, depth)
        shown = slice((page - 1) * per_page, page * per_page)
        hits = [self._hit(engine.searcher, int(d), float(sc), ranked.words, part)
                for d, sc, part in zip(ranked.docs[shown], ranked.scores[shown],
                                       ranked.parts[shown])]
        return Results(
            query=text, total=ranked.total, page=page, per_page=per_page, sort=sort,
            # Copies: the caller may change its Results, not the memory's.
            hits=hits, facets={name: list(counts) for name, counts in ranked.facets.items()},
            suggestion=ranked.suggestion,
            took=time.perf_counter() - started,
            expansions=[e.to_dict() for e in ranked.expansions], semantic_note=ranked.note,
        )

    def _ranked(self, engine: Engine, text: str, ranking: Ranking, wanted, sort: str,
                depth: int) -> Ranked:
        """The first `depth` hits of a search in order, with its total, facets
        and words to mark, remembered per generation: people page through,
        the site's page and its JSON twin ask alike, popular searches come
        back. The same search on the same documents and vectors ranks the
        same, so only the shown page's hits are read again; a new generation,
        or new vectors, starts an empty memory."""
        key = (text, ranking, wanted, sort, self._semantic.stamp(self._generation))
        remembered = self._searches("pages", key)
        if remembered is None:
            return self._rank_afresh(engine, text, ranking, wanted, sort, depth)
        found = remembered.get(key)
        if found is None or (len(found.docs) < depth and len(found.docs) < found.total):
            found = self._rank_afresh(engine, text, ranking, wanted, sort, depth)
            if depth <= DEEPEST_KEPT:
                remembered.put(key, found)
        return found

    def _searches(self, name: str, key) -> Recent | None:
        """The generation's memory of searches `name`, or None when there is no
        memory or `key` cannot be one (a setting that is a list)."""
        if not self.queries_kept:
            return None
        try:
            hash(key)
        except TypeError:
            return None
        return self._per_generation(name, lambda _g: Recent(self.queries_kept))

    def _rank_afresh(self, engine: Engine, text: str, ranking: Ranking, wanted, sort: str,
                     depth: int) -> Ranked:
        restrict = self._filter_mask(engine, wanted)
        built, node, expansions, suggestion = self._run(engine, text, ranking, restrict, wanted)
        node = passing(node, restrict)
        table = self._facet_table(engine.searcher)
        facets = table.count(node.docs) if len(node) else {}
        relevance = sort == "relevance"
        docs, scores = engine.top(node, depth, sort_keys=None if relevance else table.years,
                                  reverse=(sort == "newest"))
        docs, scores, parts, note = self._rerank(text, suggestion, expansions, docs, scores,
                                                 ranking if relevance else None)
        # The user's words and their expansions are marked, not feedback terms.
        asked = [built.user, *built.extras] if built.user is not None else [built.query]
        words = positive_terms(wq.Or(asked), "abstract", engine.searcher)
        return Ranked(docs, scores, parts, len(node), facets, suggestion, expansions, note, words)

    @turns.searching
    def rank(self, text: str, k: int = 100, ranking: Ranking | None = None,
             expand: bool = True) -> list[tuple[str, float]]:
        """The top `k` (pmid, score) pairs for `text`, without snippets or facets."""
        ranking = _settings(ranking, expand)
        engine = self._engine(ranking)
        _, node, expansions, corrected = self._run(engine, text, ranking, None)
        docs, scores = engine.top(node, max(k, _depth(ranking)))
        docs, scores, _, _ = self._rerank(text, corrected, expansions, docs, scores, ranking)
        docs, scores = docs[:k], scores[:k]
        stored = engine.searcher.stored_fields
        return [(stored(int(d))["pmid"], float(sc)) for d, sc in zip(docs, scores)]

    def count(self, text: str, year_from: int | None = None, year_to: int | None = None,
              journal: str | None = None, mesh: str | None = None) -> int | None:
        """How many documents `search` finds (its total), unranked; None when the
        time limit (a caller's `deadline()` if any) runs out first."""
        with self.deadline():
            try:
                return self._count(text, q.filters(year_from, year_to, journal, mesh))
            except (limits.TimeLimit, Busy):
                return None

    @turns.searching
    def _count(self, text: str, restrict) -> int:
        engine = self._engine(DEFAULT)
        mask = self._filter_mask(engine, restrict)
        return len(passing(self._run(engine, text, DEFAULT, mask, restrict)[1], mask))

    def deadline(self):
        """One time limit for every call in the block (in this thread), e.g. a web page's."""
        return limits.deadline(self.time_limit)

    @staticmethod
    def time_left() -> float | None:
        """Seconds left of this thread's time limit, None outside one."""
        return limits.time_left()

    def _filter_mask(self, engine: Engine, restrict) -> np.ndarray | None:
        """The documents a filter query lets through, as a boolean array (kept per reader)."""
        if restrict is None:
            return None
        reader = engine.searcher.reader()
        cache = reader.__dict__.setdefault("_medsearch_masks", {})
        found = cache.get(restrict)
        if found is None:
            if len(cache) >= fastpaths.FILTERS_KEPT:
                cache.clear()
            found = cache[restrict] = engine.mask(
                sorted(fastpaths.match_set(engine.searcher, restrict)))
        return found

    def _run(self, engine: Engine, text: str, ranking: Ranking, restrict, wanted=False
             ) -> tuple[object, Node, list, str | None]:
        """Search `text`; when nothing matches, search its spelling correction instead.

        Also returns the spelling suggestion, offered whenever a word is
        unknown, even if the others found something ("tuberclosis spine"
        finds spine articles but means tuberculosis).

        `wanted`, the filter query that `restrict` is the mask of, keys a
        per-generation memory of what the search decided (the final query,
        after the feedback pass and spelling): the same search again (a
        second page, another sort, the site and its JSON twin, a popular
        query) only evaluates that query. What it decided depends on nothing
        but the text, the settings, the filter and the generation's
        documents, so the results are the same; a new generation starts an
        empty memory.
        """
        key = (text, ranking, wanted)
        remembered = None if wanted is False else self._searches("queries", key)  # False: no key
        if remembered is None:
            return self._decide(engine, text, ranking, restrict)
        decided = remembered.get(key)
        if decided is None:
            built, node, expansions, suggestion = self._decide(engine, text, ranking, restrict)
            remembered.put(key, (built, expansions, suggestion))
            return built, node, expansions, suggestion
        built, expansions, suggestion = decided
        return built, engine.evaluate(built.query), expansions, suggestion

    def _decide(self, engine: Engine, text: str, ranking: Ranking, restrict
                ) -> tuple[object, Node, list, str | None]:
        """_run's work: feedback, the spelling fallback, the final query evaluated."""
        built = feedback(engine, build_query(text, ranking, self._expander), ranking, restrict)
        node = engine.evaluate(built.query)
        corrected = self._suggest(engine.searcher, text)
        if not ranking.spelling or not corrected or len(passing(node, restrict)):
            return built, node, built.expansions, corrected
        fixed = feedback(engine, build_query(corrected, ranking, self._expander),
                         ranking, restrict)
        again = engine.evaluate(fixed.query)
        if not len(passing(again, restrict)):
            return built, node, built.expansions, corrected
        spelled = [Expansion("spelling", old, [new])
                   for old, new in zip(text.split(), corrected.split()) if old != new]
        return fixed, again, spelled + fixed.expansions, corrected

    def _rerank(self, text: str, corrected: str | None, expansions: list, docs, scores,
                ranking: Ranking | None):
        """The hits reranked by meaning (.embedding.Semantic.rerank), of the
        spelling searched instead when there was one."""
        if corrected and any(e.type == "spelling" for e in expansions):
            text = corrected
        weight = ranking.semantic if ranking is not None and reranked(text) else 0.0
        return self._semantic.rerank(self._generation, text, docs, scores, weight,
                                     _depth(ranking) if ranking is not None else 0,
                                     ranking.semantic_norm if ranking is not None else "max")

    @staticmethod
    def _hit(searcher, docnum: int, score: float, words: frozenset[str],
             ranked_with: dict | None = None) -> Hit:
        fields = searcher.stored_fields(docnum)
        record = from_stored(fields)
        text = record.abstract or ""
        found = snippet(text, words) if text and words else ""
        return Hit(
            pmid=record.pmid, title=record.title, score=round(score, 4),
            year=record.year, journal=record.journal, authors=record.authors,
            keywords=record.keywords, url=record.url, published=record.published,
            snippet=found or (first_words(text) if text else ""),
            mesh=stored_mesh(fields),
            ranked_with=dict(ranked_with) if ranked_with else {"words": round(score, 4)},
        )

    def _facet_table(self, searcher) -> FacetTable:
        """Year, journal and MeSH of every document, read once per generation."""
        return self._per_generation("facets", lambda generation: FacetTable.load(
            generation, searcher.reader(), self._memory.segment_facets))

    def _per_generation(self, name: str, load):
        """The table `name` of this thread's generation, `load(generation)` once per generation."""
        return self._memory.table(name, self._generation, load)

    def _suggest(self, searcher, text: str) -> str | None:
        """The query with unknown words replaced by the closest index words."""
        return suggestion(text, searcher, self._generation, self._memory,
                          lambda: self._speller(searcher))

    # --- export and suggestions -------------------------------------------------

    @turns.searching
    def records(self, text: str, limit: int = 1000, sort: str = "relevance",
                year_from: int | None = None, year_to: int | None = None,
                journal: str | None = None, mesh: str | None = None) -> list[Record]:
        """The full records of the first `limit` results, in result order (for export)."""
        ranking = _settings(None, True)
        engine = self._engine(ranking)
        wanted = q.filters(year_from, year_to, journal, mesh)
        restrict = self._filter_mask(engine, wanted)
        _, node, expansions, corrected = self._run(engine, text, ranking, restrict, wanted)
        table = self._facet_table(engine.searcher)
        relevance = sort == "relevance"
        docs, scores = engine.top(node, max(1, limit, _depth(ranking) if relevance else 0),
                                  restrict, sort_keys=None if relevance else table.years,
                                  reverse=(sort == "newest"))
        if relevance:  # in the order the results pages show
            docs = self._rerank(text, corrected, expansions, docs, scores, ranking)[0]
        return [from_stored(engine.searcher.stored_fields(int(d))) for d in docs[:limit]]

    @turns.at_desk
    def suggest(self, prefix: str, limit: int = 8) -> list[str]:
        """Completions of the word being typed, most frequent first (see indexer.query.suggest)."""
        return self._vocabulary(self._desk_searcher()).suggest(prefix, limit)

    def _vocabulary(self, searcher) -> Vocabulary:
        return self._per_generation(
            "vocabulary", lambda generation: load_vocabulary(generation, searcher.reader()))

    def _speller(self, searcher) -> Speller:
        vocabulary = self._vocabulary(searcher)  # first: the table lock is not re-entrant
        return self._per_generation("speller", lambda _g: Speller(vocabulary.word_counts()))

    # --- articles ---------------------------------------------------------------

    @turns.at_desk
    def article(self, pmid: str) -> Record:
        """The full record of one article."""
        stored = self._desk_searcher().document(pmid=str(pmid))
        if stored is None:
            raise ArticleNotFound(f"no article with PMID {pmid}")
        return from_stored(stored)

    @turns.at_desk
    def similar(self, pmid: str, limit: int = 5) -> list[Hit]:
        """Articles like this one (Whoosh's more-like-this over the abstract)."""
        searcher = self._desk_searcher()
        docnum = searcher.document_number(pmid=str(pmid))
        if docnum is None:
            raise ArticleNotFound(f"no article with PMID {pmid}")
        if not limit:
            return []
        results = searcher.more_like(docnum, "abstract", top=limit,
                                     filter=None, numterms=20)
        if not len(results):
            results = searcher.more_like(docnum, "title", top=limit, numterms=10)
        words = positive_terms(results.q, "abstract", searcher)
        return [self._hit(searcher, hit.docnum, hit.score or 0.0, words) for hit in results]

    def close(self) -> None:
        with self._lock:
            self._close_searcher()
        with self._desk_lock:
            if self._desk is not None:
                self._desk[2]()
        if self._ix is not None:
            self._ix.close()


def _depth(ranking: Ranking) -> int:
    """How many lexical hits the semantic rerank reorders (0: it is off)."""
    return ranking.semantic_depth if ranking.semantic else 0


def _settings(ranking: Ranking | None, expand: bool) -> Ranking:
    """The settings a call asked for, the product's by default, expansions off if asked."""
    ranking = ranking or DEFAULT
    return ranking if expand else ranking.without_expansion()
