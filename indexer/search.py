"""The search API: the one entry point for the CLI, the web UI and code.

    from indexer import open_index
    idx = open_index("index")
    res = idx.search("epidural blood patch", page=1, per_page=10)
"""

from __future__ import annotations

import functools
import os
import threading
import time
import weakref
from dataclasses import asdict, dataclass, field
from pathlib import Path

import numpy as np
from whoosh import query as wq
from whoosh import index as whoosh_index

from . import fastpaths, integrity, limits
from . import query as q
from .build import current_generation, read_build_info
from .columns import Columns
from .errors import ArticleNotFound, IndexMissing, QueryError
from .expand import Expander, Expansion
from .facets import FacetTable
from .ranking import DEFAULT, Ranking, build_query, feedback
from .records import Record
from .schema import from_stored
from .scoring import Engine, Node, Recent, passing, positive_terms
from .snippets import first_words, snippet
from .spelling import Speller
from .suggest import Vocabulary

SORTS = ("relevance", "newest", "oldest")
MAX_PER_PAGE = 100
FACET_LIMIT = 10
CORRECTIONS_KEPT = 20_000  # spelling look-ups remembered per generation (each an LRU)


@dataclass
class Hit:
    """One ranked result, with what a results page shows."""

    pmid: str
    title: str
    score: float
    year: int | None
    journal: str | None
    authors: list[str]
    keywords: list[str]
    url: str | None
    published: str | None
    snippet: str  # HTML: escaped text with the matched words in <mark>

    def to_dict(self) -> dict:
        return asdict(self)


@dataclass
class Results:
    """One page of ranked hits, with facet counts for the whole result set."""

    query: str
    total: int
    page: int
    per_page: int
    sort: str
    hits: list[Hit]
    facets: dict[str, list[tuple[str, int]]] = field(default_factory=dict)
    suggestion: str | None = None
    took: float = 0.0
    # Synonyms, abbreviations and spelling corrections searched besides the
    # user's words: [{"type": ..., "from": ..., "to": [...]}].
    expansions: list[dict] = field(default_factory=list)

    @property
    def pages(self) -> int:
        """How many pages the results fill."""
        return max(1, -(-self.total // self.per_page))

    def to_dict(self) -> dict:
        return {
            "query": self.query,
            "total": self.total,
            "page": self.page,
            "per_page": self.per_page,
            "pages": self.pages,
            "sort": self.sort,
            "took": round(self.took, 4),
            "hits": [h.to_dict() for h in self.hits],
            "facets": {name: [{"value": v, "count": c} for v, c in counts]
                       for name, counts in self.facets.items()},
            "suggestion": self.suggestion,
            "expansions": [dict(e) for e in self.expansions],
        }


def one_at_a_time(method):
    """Decorate an Index method: threads take turns on the shared searcher
    (the time limit starts once it is this thread's turn)."""
    @functools.wraps(method)
    def run(self, *args, **kwargs):
        with self._lock, integrity.translated(lambda: self._generation):
            return method(self, *args, **kwargs)
    return run


class Index:
    """A searchable medsearch index; follows rebuilds without reopening."""

    # Seconds one search may take before it stops with a QueryError (see indexer.limits).
    time_limit = limits.TIME_LIMIT

    def __init__(self, root: str | os.PathLike):
        self.root = Path(root)
        # One Whoosh searcher per process, shared by its threads. Whoosh's
        # postings readers seek in shared files, so calls take turns (Python
        # runs one thread at a time anyway); one reader per thread cost a
        # copy of every segment's mapped pages per thread.
        self._lock = threading.RLock()
        self._generation: Path | None = None
        self._ix = None
        self._shared = None
        self._closer = None
        self._columns: Columns | None = None
        self._mapped: integrity.MappedFiles | None = None
        self._expander = Expander()
        # Tables read once per generation (facet counts, suggest-as-you-type
        # words): name -> (generation, table).
        self._tables: dict[str, tuple[Path, object]] = {}
        self._tables_lock = threading.Lock()
        self._open_current()

    # --- generations -----------------------------------------------------

    def _open_current(self) -> None:
        generation = current_generation(self.root)
        if generation is None:
            raise IndexMissing(f"no index at {self.root}: run `medsearch build`")
        if generation != self._generation:
            # A cut file is reported before anything is read or memory-mapped.
            with integrity.translated(lambda: generation, opening=True):
                integrity.check_sizes(generation)
                self._ix = whoosh_index.open_dir(str(generation))
                # The postings as numpy columns, memory-mapped (indexer.scoring scores with them).
                self._columns = Columns.load(generation)
                self._mapped = integrity.MappedFiles(generation)
                # Synonyms and abbreviations saved by the build, read once per generation.
                self._expander = Expander.load(generation)
            self._generation = generation

    def _searcher(self):
        """The searcher on the live generation, reopened after a swap (lock held)."""
        if self._shared is None or current_generation(self.root) != self._generation:
            self._open_current()
            self._close_searcher()
            # A searcher that honours the time limit set by @limits.timed.
            with integrity.translated(lambda: self._generation, opening=True):
                self._shared = limits.searcher(self._ix, weighting=DEFAULT.weighting())
            # Its segment files are open files: closed when the Index goes,
            # even if nobody calls close().
            self._closer = weakref.finalize(self, self._shared.close)
        self._mapped.check()  # a file cut since it was mapped would kill the process
        return self._shared

    def _close_searcher(self) -> None:
        if self._shared is not None:
            self._closer()  # once only: a finalizer runs at most once
            self._shared = None

    def _engine(self, ranking: Ranking) -> Engine:
        """A scoring engine for one search on the live generation."""
        searcher = self._searcher()
        return Engine(self._columns, searcher, k1=ranking.k1, b=ranking.b,
                      field_b=dict(ranking.field_b), idf=ranking.idf,
                      phrases=self._per_generation("phrases", lambda _g: Recent()),
                      doc_terms=self._per_generation("doc_terms", lambda _g: Recent(2048)))

    @property
    def info(self) -> dict:
        """What the last build saved: counts, time, seeds folder, skipped pages."""
        with self._lock:
            self._searcher()
            return read_build_info(self._generation)

    def __len__(self) -> int:
        with self._lock:
            return self._searcher().doc_count()

    # --- searching ------------------------------------------------------------

    @one_at_a_time
    @limits.timed
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
        abbreviations or spelling fallback. `ranking` overrides the relevance
        settings (for evaluation).
        """
        started = time.perf_counter()
        if sort not in SORTS:
            raise QueryError(f"sort must be one of {', '.join(SORTS)}, not {sort!r}")
        if page < 1:
            raise QueryError(f"page must be 1 or more, not {page}")
        if not 1 <= per_page <= MAX_PER_PAGE:
            raise QueryError(f"per_page must be between 1 and {MAX_PER_PAGE}, not {per_page}")
        ranking = _settings(ranking, expand)
        engine = self._engine(ranking)
        restrict = self._filter_mask(engine, q.filters(year_from, year_to, journal, mesh))
        built, node, expansions, suggestion = self._run(engine, text, ranking, restrict)
        node = passing(node, restrict)
        table = self._facet_table(engine.searcher)
        facets = table.count(node.docs) if len(node) else {}
        docs, scores = engine.top(node, page * per_page,
                                  sort_keys=None if sort == "relevance" else table.years,
                                  reverse=(sort == "newest"))
        # The user's words and their expansions are marked, not feedback terms.
        asked = [built.user, *built.extras] if built.user is not None else [built.query]
        words = positive_terms(wq.Or(asked), "abstract", engine.searcher)
        hits = [self._hit(engine.searcher, int(d), float(sc), words)
                for d, sc in zip(docs[(page - 1) * per_page:], scores[(page - 1) * per_page:])]
        return Results(
            query=text, total=len(node), page=page, per_page=per_page, sort=sort,
            hits=hits, facets=facets, suggestion=suggestion,
            took=time.perf_counter() - started,
            expansions=[e.to_dict() for e in expansions],
        )

    @one_at_a_time
    @limits.timed
    def rank(self, text: str, k: int = 100, ranking: Ranking | None = None,
             expand: bool = True) -> list[tuple[str, float]]:
        """The top `k` (pmid, score) pairs for `text`, without snippets or facets."""
        ranking = _settings(ranking, expand)
        engine = self._engine(ranking)
        _, node, _, _ = self._run(engine, text, ranking, None)
        docs, scores = engine.top(node, k)
        stored = engine.searcher.stored_fields
        return [(stored(int(d))["pmid"], float(sc)) for d, sc in zip(docs, scores)]

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

    def _run(self, engine: Engine, text: str, ranking: Ranking, restrict
             ) -> tuple[object, Node, list, str | None]:
        """Search `text`; when nothing matches, search its spelling correction instead.

        Also returns the spelling suggestion, offered whenever a word is
        unknown, even if the others found something ("tuberclosis spine"
        finds spine articles but means tuberculosis).
        """
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

    @staticmethod
    def _hit(searcher, docnum: int, score: float, words: frozenset[str]) -> Hit:
        record = from_stored(searcher.stored_fields(docnum))
        text = record.abstract or ""
        found = snippet(text, words) if text and words else ""
        return Hit(
            pmid=record.pmid, title=record.title, score=round(score, 4),
            year=record.year, journal=record.journal, authors=record.authors,
            keywords=record.keywords, url=record.url, published=record.published,
            snippet=found or (first_words(text) if text else ""),
        )

    def _facet_table(self, searcher) -> FacetTable:
        """Year, journal and MeSH of every document, read once per generation."""
        return self._per_generation(
            "facets", lambda generation: FacetTable.load(generation, searcher.reader()))

    def _per_generation(self, name: str, load):
        """The table `name` of this thread's generation, `load(generation)` once per generation."""
        generation = self._generation
        cached = self._tables.get(name)
        if cached is None or cached[0] != generation:
            with self._tables_lock:  # one thread reads the table, the others wait
                cached = self._tables.get(name)
                if cached is None or cached[0] != generation:
                    cached = self._tables[name] = (generation, load(generation))
        return cached[1]

    def _suggest(self, searcher, text: str) -> str | None:
        """The query with unknown words replaced by the closest index words."""
        words = text.split()
        changed = False
        corrected = []
        # Each lookup is a fuzzy scan of the lexicon, slower the longer the
        # word: look up each word once, a few words per query, none too long.
        looked_up: dict[str, list] = {}
        for word in words:
            bare = word.strip("\"'()").lower()
            if (not bare.isalpha() or not 4 <= len(bare) <= limits.MAX_SUGGEST_CHARS
                    or ":" in word or self._known(searcher, bare)):
                corrected.append(word)
                continue
            if bare not in looked_up and len(looked_up) < limits.MAX_SUGGEST_WORDS:
                looked_up[bare] = self._correction(searcher, bare)
            options = looked_up.get(bare)
            if options and options[0] != bare:
                # Keep the quotes and brackets around the word as typed.
                start = word.lower().index(bare)
                corrected.append(word[:start] + options[0] + word[start + len(bare):])
                changed = True
            else:
                corrected.append(word)
        return " ".join(corrected) if changed else None

    def _correction(self, searcher, word: str) -> list[str]:
        """The closest index word to an unknown `word` (indexer.spelling),
        remembered for the generation: people misspell the same words."""
        corrections = self._per_generation("corrections", lambda _g: Recent(CORRECTIONS_KEPT))
        found = corrections.get(word)
        if found is None:
            limits.check_time()
            closest = self._speller(searcher).correct(word)
            found = corrections.put(word, [closest] if closest else [])
        return found

    def _known(self, searcher, word: str) -> bool:
        """Whether `word` is an index word (remembered for the generation)."""
        known = self._per_generation("known", lambda _g: Recent(CORRECTIONS_KEPT))
        found = known.get(word)
        if found is None:
            found = known.put(word, self._in_lexicon(searcher, word))
        return found

    @staticmethod
    def _in_lexicon(searcher, word: str) -> bool:
        reader = searcher.reader()
        return any(reader.frequency(f"spell_{f}", word) for f in ("title", "abstract", "keywords")
                   if f"spell_{f}" in searcher.schema)

    # --- export and suggestions -------------------------------------------------

    @one_at_a_time
    @limits.timed
    def records(self, text: str, limit: int = 1000, sort: str = "relevance",
                year_from: int | None = None, year_to: int | None = None,
                journal: str | None = None, mesh: str | None = None) -> list[Record]:
        """The full records of the first `limit` results, in result order (for export)."""
        if sort not in SORTS:
            raise QueryError(f"sort must be one of {', '.join(SORTS)}, not {sort!r}")
        ranking = _settings(None, True)
        engine = self._engine(ranking)
        restrict = self._filter_mask(engine, q.filters(year_from, year_to, journal, mesh))
        _, node, _, _ = self._run(engine, text, ranking, restrict)
        table = self._facet_table(engine.searcher)
        docs, _ = engine.top(node, max(1, limit), restrict,
                             sort_keys=None if sort == "relevance" else table.years,
                             reverse=(sort == "newest"))
        return [from_stored(engine.searcher.stored_fields(int(d))) for d in docs]

    @one_at_a_time
    def suggest(self, prefix: str, limit: int = 8) -> list[str]:
        """Completions of the word being typed, most frequent first (see indexer.suggest)."""
        return self._vocabulary(self._searcher()).suggest(prefix, limit)

    def _vocabulary(self, searcher) -> Vocabulary:
        return self._per_generation(
            "vocabulary", lambda generation: Vocabulary.load(generation, searcher.reader()))

    def _speller(self, searcher) -> Speller:
        vocabulary = self._vocabulary(searcher)  # first: the table lock is not re-entrant
        return self._per_generation("speller", lambda _g: Speller(vocabulary.word_counts()))

    # --- articles ---------------------------------------------------------------

    @one_at_a_time
    def article(self, pmid: str) -> Record:
        """The full record of one article."""
        stored = self._searcher().document(pmid=str(pmid))
        if stored is None:
            raise ArticleNotFound(f"no article with PMID {pmid}")
        return from_stored(stored)

    @one_at_a_time
    def similar(self, pmid: str, limit: int = 5) -> list[Hit]:
        """Articles like this one (Whoosh's more-like-this over the abstract)."""
        searcher = self._searcher()
        docnum = searcher.document_number(pmid=str(pmid))
        if docnum is None:
            raise ArticleNotFound(f"no article with PMID {pmid}")
        results = searcher.more_like(docnum, "abstract", top=limit,
                                     filter=None, numterms=20)
        if not len(results):
            results = searcher.more_like(docnum, "title", top=limit, numterms=10)
        words = positive_terms(results.q, "abstract", searcher)
        return [self._hit(searcher, hit.docnum, hit.score or 0.0, words) for hit in results]

    def close(self) -> None:
        with self._lock:
            self._close_searcher()
        if self._ix is not None:
            self._ix.close()


def _settings(ranking: Ranking | None, expand: bool) -> Ranking:
    ranking = ranking or DEFAULT
    return ranking if expand else ranking.without_expansion()


def open_index(root: str | os.PathLike = "index") -> Index:
    """Open the index at `root`; IndexMissing says to run `medsearch build`."""
    return Index(root)


__all__ = ["Hit", "Index", "Results", "open_index"]
