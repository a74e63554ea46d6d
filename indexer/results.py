"""What the engine returns, whichever engine it is: `Results` and `Hit`s, a `BuildReport`."""

from __future__ import annotations

from dataclasses import dataclass, field

SORTS = ("relevance", "newest", "oldest")
MAX_PER_PAGE = 100


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
    # The MeSH descriptors among `keywords` (whole, no qualifiers, no site
    # tags): what the chips show and the `mesh` filter takes.
    mesh: list[str] = field(default_factory=list)
    # What ranked it: each signal's part of `score` ("words": the lexical
    # score, "meaning": the semantic rerank's), adding up to it.
    ranked_with: dict[str, float] = field(default_factory=dict)

    def to_dict(self) -> dict:
        """What dataclasses.asdict gives (its lists and dict copied), written
        out: asdict's generic deep copy was most of a JSON answer's own cost."""
        return {
            "pmid": self.pmid, "title": self.title, "score": self.score, "year": self.year,
            "journal": self.journal, "authors": list(self.authors),
            "keywords": list(self.keywords), "url": self.url, "published": self.published,
            "snippet": self.snippet, "mesh": list(self.mesh),
            "ranked_with": dict(self.ranked_with),
        }


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
    # Why the semantic rerank did not run when the settings asked for it
    # (model not installed, no vectors yet): one line; "" otherwise.
    semantic_note: str = ""

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
            "semantic_note": self.semantic_note,
        }


@dataclass
class BuildReport:
    """What a build or update did: the summary the CLI prints and `stats` shows."""

    seeds: str
    command: str = "build"
    pages: int = 0
    indexed: int = 0
    duplicates: int = 0
    skipped: list[tuple[str, str]] = field(default_factory=list)
    seconds: float = 0.0
    built_at: str = ""
    generation: str = ""
    # Only for `update`: how the pages compare with the previous generation.
    added: int = 0
    changed: int = 0
    removed: int = 0
    unchanged: int = 0
    note: str = ""
    # Which synonyms and abbreviations the index has (indexer.query.expand.describe).
    vocabulary: dict[str, str] = field(default_factory=dict)
    # How many records have vectors for the semantic rerank (embedded after
    # the generation went live; not in its build.json).
    vectors: str = ""

    def to_dict(self) -> dict:
        data = {
            "seeds": self.seeds,
            "command": self.command,
            "pages": self.pages,
            "indexed": self.indexed,
            "duplicates": self.duplicates,
            "skipped": [{"source": s, "reason": r} for s, r in self.skipped],
            "seconds": round(self.seconds, 3),
            "built_at": self.built_at,
            "generation": self.generation,
            "vocabulary": self.vocabulary,
        }
        if self.vectors:
            data["vectors"] = self.vectors
        if self.command == "update":
            data.update(added=self.added, changed=self.changed, removed=self.removed,
                        unchanged=self.unchanged, note=self.note)
        return data


@dataclass
class IndexCheck:
    """What `medsearch check` found: the live index's files against what was recorded."""

    generation: str
    files: int  # files recorded when it was published
    damaged: list[str] | None  # one line per damaged file; None: nothing was recorded
    message: str = ""  # the one-line IndexDamaged message, when any is damaged
    vectors: str = ""  # the semantic rerank's vectors: how many, or why they are ignored
    summary: str = ""  # what a sound index is reported as, when not the files line
