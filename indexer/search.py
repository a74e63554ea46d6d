"""The search API: the one entry point for the CLI, the web UI and code.

    from indexer import open_index
    idx = open_index("index")
    res = idx.search("epidural blood patch", page=1, per_page=10)
"""

from __future__ import annotations

import os
import threading
import time
from dataclasses import asdict, dataclass, field
from html import escape
from pathlib import Path

from whoosh import highlight
from whoosh import index as whoosh_index

from . import fastpaths, limits
from . import query as q
from .build import current_generation, read_build_info
from .errors import ArticleNotFound, IndexMissing, QueryError
from .expand import Expander, Expansion
from .facets import FacetTable
from .ranking import DEFAULT, Ranking, build_query, feedback
from .records import Record
from .schema import from_stored
from .suggest import Vocabulary

SORTS = ("relevance", "newest", "oldest")
MAX_PER_PAGE = 100
FACET_LIMIT = 10
SNIPPET_WORDS = 40


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


class MarkFormatter(highlight.Formatter):
    """Marks matched words with <mark>, escaping all text around them."""

    between = " … "

    def format_token(self, text, token, replace=False):
        return "<mark>" + escape(highlight.get_text(text, token, replace)) + "</mark>"

    def _text(self, text):
        return escape(text)


def _first_words(text: str, count: int = SNIPPET_WORDS) -> str:
    words = text.split()
    return escape(" ".join(words[:count]) + (" …" if len(words) > count else ""))


class Index:
    """A searchable medsearch index; follows rebuilds without reopening."""

    # Seconds one search may take before it stops with a QueryError (see indexer.limits).
    time_limit = limits.TIME_LIMIT

    def __init__(self, root: str | os.PathLike):
        self.root = Path(root)
        self._lock = threading.Lock()
        self._generation: Path | None = None
        self._ix = None
        self._expander = Expander()
        self._local = threading.local()
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
            self._ix = whoosh_index.open_dir(str(generation))
            # Synonyms and abbreviations saved by the build, read once per generation.
            self._expander = Expander.load(generation)
            self._generation = generation

    def _searcher(self):
        """This thread's searcher on the live generation, reopened after a swap."""
        with self._lock:
            if current_generation(self.root) != self._generation:
                self._open_current()
            ix, generation = self._ix, self._generation
        local = self._local
        if getattr(local, "generation", None) != generation:
            if getattr(local, "searcher", None) is not None:
                local.searcher.close()
            # A searcher that honours the time limit set by @limits.timed.
            local.searcher = limits.searcher(ix, weighting=DEFAULT.weighting())
            local.generation = generation
        return local.searcher

    @property
    def info(self) -> dict:
        """What the last build saved: counts, time, seeds folder, skipped pages."""
        self._searcher()
        return read_build_info(self._generation)

    def __len__(self) -> int:
        return self._searcher().doc_count()

    # --- searching ------------------------------------------------------------

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
        searcher = self._weighted(self._searcher(), ranking)
        # The filter's documents, found once for the feedback, ranked and facet passes.
        restrict = fastpaths.filter_set(searcher, q.filters(year_from, year_to, journal, mesh))
        sortedby = None if sort == "relevance" else "year"
        built, results, expansions = self._run(
            searcher, text, ranking, restrict,
            limit=page * per_page, sortedby=sortedby, reverse=(sort == "newest"), terms=True,
        )
        # len(results) would re-run the query without the filter (Whoosh's
        # block-skipping collector keeps no count), so the total comes from
        # the match set that the facets count.
        total, facets = self._facets(searcher, built.query, restrict)
        results.fragmenter = highlight.ContextFragmenter(maxchars=300, surround=60)
        results.formatter = MarkFormatter()
        hits = [self._hit(h) for h in results[(page - 1) * per_page: page * per_page]]
        # Offered whenever a word is unknown, even if the others found something:
        # "tuberclosis spine" finds spine articles but means tuberculosis.
        suggestion = self._suggest(searcher, text)
        return Results(
            query=text, total=total, page=page, per_page=per_page, sort=sort,
            hits=hits, facets=facets, suggestion=suggestion,
            took=time.perf_counter() - started,
            expansions=[e.to_dict() for e in expansions],
        )

    @limits.timed
    def rank(self, text: str, k: int = 100, ranking: Ranking | None = None,
             expand: bool = True) -> list[tuple[str, float]]:
        """The top `k` (pmid, score) pairs for `text`, without snippets or facets."""
        ranking = _settings(ranking, expand)
        searcher = self._weighted(self._searcher(), ranking)
        _, results, _ = self._run(searcher, text, ranking, None, limit=k)
        return [(hit["pmid"], hit.score or 0.0) for hit in results]

    @staticmethod
    def _weighted(searcher, ranking: Ranking):
        """`searcher`, or one over the same reader when `ranking` sets other BM25 parameters."""
        if ranking.weighting_key() == DEFAULT.weighting_key():
            return searcher
        return limits.BoundedSearcher(searcher.reader(), weighting=ranking.weighting(),
                                      closereader=False)

    def _run(self, searcher, text: str, ranking: Ranking, restrict, **kwargs):
        """Search `text`; when nothing matches, search its spelling correction instead."""
        built = feedback(searcher, build_query(text, ranking, self._expander), ranking, restrict)
        results = _search(searcher, built.query, filter=restrict, **kwargs)
        if not ranking.spelling or fastpaths.matches_any(searcher, built.query, results, restrict):
            return built, results, built.expansions
        corrected = self._suggest(searcher, text)
        if not corrected:
            return built, results, built.expansions
        fixed = feedback(searcher, build_query(corrected, ranking, self._expander),
                         ranking, restrict)
        again = _search(searcher, fixed.query, filter=restrict, **kwargs)
        if not fastpaths.matches_any(searcher, fixed.query, again, restrict):
            return built, results, built.expansions
        spelled = [Expansion("spelling", old, [new])
                   for old, new in zip(text.split(), corrected.split()) if old != new]
        return fixed, again, spelled + fixed.expansions

    def _hit(self, hit) -> Hit:
        stored = hit.fields()
        record = from_stored(stored)
        snippet = hit.highlights("abstract", top=2) if record.abstract else ""
        if not snippet and record.abstract:
            snippet = _first_words(record.abstract)
        return Hit(
            pmid=record.pmid, title=record.title, score=round(hit.score or 0.0, 4),
            year=record.year, journal=record.journal, authors=record.authors,
            keywords=record.keywords, url=record.url, published=record.published,
            snippet=snippet,
        )

    def _facets(self, searcher, user_query, restrict) -> tuple[int, dict]:
        """The number of matches, and their counts by year, journal and MeSH keyword."""
        # Posting blocks read whole and combined as sets (indexer.fastpaths).
        matches = fastpaths.filtered_match_set(searcher, user_query, restrict)
        if not matches:
            return 0, {}
        # Counted from a per-generation table, not by reading each match
        # (indexer.facets; the same counts, checked by tests).
        return len(matches), self._facet_table(searcher).count(matches)

    def _facet_table(self, searcher) -> FacetTable:
        """Year, journal and MeSH of every document, read once per generation."""
        return self._per_generation(
            "facets", lambda _generation: FacetTable.from_reader(searcher.reader()))

    def _per_generation(self, name: str, load):
        """The table `name` of this thread's generation, `load(generation)` once per generation."""
        generation = self._local.generation
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
                limits.check_time()
                options = searcher.suggest("abstract", bare, limit=1, maxdist=2)
                looked_up[bare] = options or searcher.suggest("title", bare, limit=1, maxdist=2)
            options = looked_up.get(bare)
            if options and options[0] != bare:
                # Keep the quotes and brackets around the word as typed.
                start = word.lower().index(bare)
                corrected.append(word[:start] + options[0] + word[start + len(bare):])
                changed = True
            else:
                corrected.append(word)
        return " ".join(corrected) if changed else None

    @staticmethod
    def _known(searcher, word: str) -> bool:
        reader = searcher.reader()
        return any(reader.frequency(f"spell_{f}", word) for f in ("title", "abstract", "keywords")
                   if f"spell_{f}" in searcher.schema)

    # --- export and suggestions -------------------------------------------------

    @limits.timed
    def records(self, text: str, limit: int = 1000, sort: str = "relevance",
                year_from: int | None = None, year_to: int | None = None,
                journal: str | None = None, mesh: str | None = None) -> list[Record]:
        """The full records of the first `limit` results, in result order (for export)."""
        if sort not in SORTS:
            raise QueryError(f"sort must be one of {', '.join(SORTS)}, not {sort!r}")
        ranking = _settings(None, True)
        restrict = q.filters(year_from, year_to, journal, mesh)
        searcher = self._weighted(self._searcher(), ranking)
        _, results, _ = self._run(searcher, text, ranking, restrict, limit=max(1, limit),
                                  sortedby=None if sort == "relevance" else "year",
                                  reverse=(sort == "newest"))
        return [from_stored(hit.fields()) for hit in results][:limit]

    def suggest(self, prefix: str, limit: int = 8) -> list[str]:
        """Completions of the word being typed, most frequent first (see indexer.suggest)."""
        searcher = self._searcher()
        vocabulary = self._per_generation(
            "vocabulary", lambda generation: Vocabulary.load(generation, searcher.reader()))
        return vocabulary.suggest(prefix, limit)

    # --- articles ---------------------------------------------------------------

    def article(self, pmid: str) -> Record:
        """The full record of one article."""
        stored = self._searcher().document(pmid=str(pmid))
        if stored is None:
            raise ArticleNotFound(f"no article with PMID {pmid}")
        return from_stored(stored)

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
        results.fragmenter = highlight.ContextFragmenter(maxchars=300, surround=60)
        results.formatter = MarkFormatter()
        return [self._hit(h) for h in results]

    def close(self) -> None:
        if getattr(self._local, "searcher", None) is not None:
            self._local.searcher.close()
        if self._ix is not None:
            self._ix.close()


def _search(searcher, query, terms: bool = False, **kwargs):
    """searcher.search(); with `terms`, matched terms recorded for the top N only."""
    if terms:
        return fastpaths.search_with_terms(searcher, query, **kwargs)
    return searcher.search(query, **kwargs)


def _settings(ranking: Ranking | None, expand: bool) -> Ranking:
    ranking = ranking or DEFAULT
    return ranking if expand else ranking.without_expansion()


def open_index(root: str | os.PathLike = "index") -> Index:
    """Open the index at `root`; IndexMissing says to run `medsearch build`."""
    return Index(root)


__all__ = ["Hit", "Index", "Results", "open_index"]
