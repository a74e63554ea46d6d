"""The SolrCloud engine: indexer.engine's `SearchEngine` over a collection alias.

Every call is one or a few HTTP requests to the alias; Solr does the work:
edismax parsing and BM25 ranking, the unified highlighter for snippets, JSON
facets, the spellcheck component, more-like-this, the terms component for
completions, cursors for export, `timeAllowed` for the time limit. The alias
is looked up on every request by Solr itself, so a rebuild (the alias moved)
is followed without reopening.
"""

from __future__ import annotations

import os
import threading
import time
from contextlib import contextmanager
from pathlib import Path

from ..errors import ArticleNotFound, MedsearchError, QueryError
from ..pages.records import Record
from ..query.expand import Expander, Expansion
from ..query.settings import DEFAULT, Ranking
from ..query.suggest import MAX_INPUT, MAX_LIMIT, Vocabulary
from ..query import terms
from ..results import Hit, Results
from . import query as q
from .analysis import fold, once_each, query_tokens
from .build import alias_name, build_info
from .client import SolrClient
from .expansion import expanded, load_expander
from .feedback import FEEDBACK_SHOWN, feedback_clause, related
from .semantic import FIELDS as VECTOR_FIELDS, Reranker

TIME_LIMIT = 3.0  # seconds, as the Whoosh engine's
EXPORT_PAGE = 500  # documents per cursor request
STORED = "id,pmid,title,abstract,keywords,authors,journal,published,year,organisation,url,source"
HIT_FIELDS = "id,pmid,title,year,journal,authors,keywords,mesh_term,url,published,score"
# How often (seconds) a search asks which collection the alias points to, to
# load the new build's expansion resources: a rebuild's synonyms apply this soon.
RESOURCES_CHECKED_EVERY = 2.0


class SolrRefused(QueryError):
    """Solr could not parse the query (a 400): it is searched again as plain words."""


class SolrEngine:
    """The index `root` names (its alias) on the SolrCloud at `url`."""

    time_limit = TIME_LIMIT
    # Accepted and not used: Solr's threads serve each request; no search waits
    # for another one's turn in this process.
    turn_limit: float | None = None

    def __init__(self, url: str, root: str | os.PathLike):
        self.root = Path(root)
        self.alias = alias_name(root)
        self.client = SolrClient(url)
        self._local = threading.local()
        self._resources: tuple[str | None, Expander] = (None, Expander())
        self._resources_checked = -RESOURCES_CHECKED_EVERY
        self._loading = threading.Lock()
        self._semantic = Reranker()  # the semantic rerank (.semantic), as on Whoosh
        build_info(self.client, self.alias)  # IndexMissing now, not at the first search

    # --- time limits ------------------------------------------------------------

    @contextmanager
    def deadline(self):
        """One time limit for every call in the block (in this thread)."""
        outer = getattr(self._local, "until", None)
        self._local.until = outer if outer is not None else time.monotonic() + self.time_limit
        try:
            yield
        finally:
            self._local.until = outer

    def time_left(self) -> float | None:
        until = getattr(self._local, "until", None)
        return None if until is None else max(0.0, until - time.monotonic())

    def _allowed_ms(self) -> int:
        """Solr's timeAllowed for the next request: what is left of the limit."""
        left = self.time_left()
        seconds = self.time_limit if left is None else left
        if seconds <= 0:
            raise self._too_long()
        return max(1, int(seconds * 1000))

    def _too_long(self) -> QueryError:
        return QueryError(f"the search took longer than {self.time_limit:g} s and was stopped: "
                          "try more specific words or fewer wildcards")

    def _select(self, params: dict, partial_ok: bool = False) -> dict:
        """One /select on the alias, within the time limit."""
        answer = self.client.call(f"{self.alias}/select",
                                  {"timeAllowed": self._allowed_ms(), **params},
                                  timeout=self.time_limit + 30, bad_request=SolrRefused)
        if answer.get("responseHeader", {}).get("partialResults") and not partial_ok:
            raise self._too_long()
        return answer

    # --- searching --------------------------------------------------------------

    def expander(self) -> Expander:
        """The expansion resources of the collection the alias points to (.expansion)."""
        now = time.monotonic()
        if now - self._resources_checked < RESOURCES_CHECKED_EVERY:
            return self._resources[1]
        with self._loading:
            if now - self._resources_checked >= RESOURCES_CHECKED_EVERY:
                try:
                    name, _ = build_info(self.client, self.alias)
                    if name != self._resources[0]:
                        self._resources = (name, load_expander(self.client, name))
                except MedsearchError:
                    pass  # a rebuild under way or a node away: the last ones serve on
                self._resources_checked = now
        return self._resources[1]

    def live_count(self) -> int:
        """The documents searched (feedback's idf), counted again at most every
        RESOURCES_CHECKED_EVERY seconds."""
        now = time.monotonic()
        counted = getattr(self, "_counted", None)
        if counted is None or now - counted[0] >= RESOURCES_CHECKED_EVERY:
            counted = self._counted = (now, len(self))
        return counted[1]

    def _query(self, text: str, fq: list[str], sort: str, start: int, rows: int,
               extra: dict | None = None,
               ranking: Ranking | None = None,
               feedback: bool = True) -> tuple[dict, list[Expansion]]:
        """Solr's answer to the user's `text` with its expansions, and the expansions.

        A query Solr still refuses (a 400) is searched again as its plain
        words: any string gives results or one of the Whoosh engine's messages.
        """
        prepared = once_each(q.prepare(text))  # a repeated word counts once, as on Whoosh
        found: list[Expansion] = []
        if prepared:
            params, found = expanded(text, prepared, ranking or DEFAULT, self.expander())
            if feedback:
                params, notes = self._with_feedback(text, params, fq, ranking or DEFAULT)
                found += notes
        else:
            params = {"q": "*:*"}
        base = {"q.alt": "*:*", "fq": fq, "sort": q.SORTS[sort], "start": start, "rows": rows,
                **(extra or {})}
        try:
            return self._select({**base, **params}), found
        except SolrRefused:
            words = q.plain_words(prepared)
            return self._select({**base, "q": words or "*:*"}), []

    def _with_feedback(self, text: str, params: dict, fq: list[str],
                       ranking: Ranking) -> tuple[dict, list[Expansion]]:
        """`params` with pseudo-relevance feedback words (.feedback), as on Whoosh:
        they reorder the documents that have the user's words and, for plain
        words, may add the few best without them (then listed as an expansion)."""
        try:
            clause, words = feedback_clause(self, params, fq, ranking)
            plain = "bq" not in params
            added = (related(self, params, fq, clause, words, ranking)
                     if clause and plain and ranking.prf_widen else [])
        except SolrRefused:
            return params, []
        if not clause:
            return params, []
        if not plain:  # operators or quotes: the query matches as written, reordered only
            return {**params, "bq": [*params.get("bq", []), clause]}, []
        user = {"uq": params.get("uq", "{!edismax v=$ut}"), "ut": params.get("ut", params["q"])}
        found = {**params, **user, "defType": "lucene", "pq": clause,
                 "fb": "{!bool must=$uq should=$pq}",
                 # Snippets mark the user's words and expansions, not feedback words.
                 "hl.q": params["q"] if "xs" in params else "{!edismax v=$ut}"}
        shoulds = "should=$fb " + params.get("xs", "")
        notes = []
        if added:  # scoring only by the feedback words: the user's words are not in them
            found["fr"] = "{!bool must=$rid should=$pq}"
            found["rid"] = "id:(" + " ".join(q.quoted(i) for i in added) + ")^=0"
            shoulds += " should=$fr"
            notes = [Expansion("feedback", text, words[:FEEDBACK_SHOWN])]
        found["q"] = f"{{!bool {shoulds.strip()}}}"
        return found, notes

    def _searched(self, text: str, fq: list[str], sort: str, start: int, rows: int,
                  extra: dict, ranking: Ranking) -> tuple[dict, list[Expansion], str | None]:
        """`_query`, then its spelling correction instead when it finds nothing
        (as on Whoosh: `ranking.spelling`); also the suggestion itself."""
        answer, found = self._query(text, fq, sort, start, rows, extra, ranking, feedback=True)
        suggestion = _collation(answer, text)
        if ranking.spelling and suggestion and not answer["response"]["numFound"]:
            fixed, again = self._query(suggestion, fq, sort, start, rows,
                                       {**extra, "spellcheck": "false"}, ranking, feedback=True)
            if fixed["response"]["numFound"]:
                spelled = [Expansion("spelling", old, [new])
                           for old, new in zip(text.split(), suggestion.split()) if old != new]
                return fixed, spelled + again, suggestion
        return answer, found, suggestion

    def search(self, text: str, page: int = 1, per_page: int = 10, sort: str = "relevance",
               year_from: int | None = None, year_to: int | None = None,
               journal: str | None = None, mesh: str | None = None, expand: bool = True,
               ranking: Ranking | None = None) -> Results:
        """One page of ranked hits with facets and a spelling suggestion.

        `ranking`'s field weights and expansion weights apply (the BM25 k1
        and b are the configset's). `expand=False` searches the user's words
        only: no concepts, synonyms, abbreviations or spelling fallback.
        """
        started = time.perf_counter()
        ranking = _settings(ranking, expand)
        fq = q.filters(year_from, year_to, journal, mesh)
        # Reranked: the lexical top `semantic_depth` (at least up to this page),
        # with their vectors, reordered here and the page cut from them.
        depth = Reranker.depth(ranking, sort)
        extra = {"fl": HIT_FIELDS + ("," + VECTOR_FIELDS if depth else ""), "hl": "true",
                 "json.facet": q.FACETS,
                 "spellcheck": "true", "spellcheck.q": q.clean(str(text)),
                 "spellcheck.extendedResults": "true", "spellcheck.collateExtendedResults": "true"}
        first = 0 if depth else (page - 1) * per_page
        answer, found, suggestion = self._searched(text, fq, sort, first,
                                                   max(page * per_page, depth) - first,
                                                   extra, ranking)
        docs, note = self._rerank(text, suggestion, found, answer, ranking if depth else None)
        total = answer["response"]["numFound"]
        return Results(query=text, total=total, page=page, per_page=per_page, sort=sort,
                       hits=_hits(answer, docs[(page - 1) * per_page - first:][:per_page]),
                       facets=q.facet_counts(answer) if total else {},
                       suggestion=suggestion, took=time.perf_counter() - started,
                       expansions=[e.to_dict() for e in found], semantic_note=note)

    def _rerank(self, text: str, suggestion: str | None, expansions: list[Expansion],
                answer: dict, ranking: Ranking | None) -> tuple[list[dict], str]:
        """Solr's docs reranked by meaning (.semantic), of the spelling searched
        instead when there was one, each with its score and `ranked_with` parts;
        and why the rerank was off ("" when it ran or was not asked for)."""
        if suggestion and any(e.type == "spelling" for e in expansions):
            text = suggestion
        docs, scores, parts, note = self._semantic.rerank(text, answer["response"]["docs"],
                                                          ranking)
        return [{**doc, "score": score, "ranked_with": part}
                for doc, score, part in zip(docs, scores, parts)], note

    def rank(self, text: str, k: int = 100, ranking: Ranking | None = None,
             expand: bool = True) -> list[tuple[str, float]]:
        """The top `k` (pmid, score) pairs (for eval), searched as `search` does."""
        ranking = _settings(ranking, expand)
        depth = Reranker.depth(ranking)
        extra = {"fl": "id,pmid,score" + ("," + VECTOR_FIELDS if depth else ""),
                 "spellcheck": "true", "spellcheck.q": q.clean(str(text)),
                 "spellcheck.extendedResults": "true", "spellcheck.collateExtendedResults": "true"}
        answer, found, suggestion = self._searched(text, [], "relevance", 0, max(k, depth),
                                                   extra, ranking)
        docs, _ = self._rerank(text, suggestion, found, answer, ranking if depth else None)
        return [(doc.get("pmid") or doc["id"], float(doc["score"])) for doc in docs[:k]]

    def count(self, text: str, year_from: int | None = None, year_to: int | None = None,
              journal: str | None = None, mesh: str | None = None) -> int | None:
        """How many documents `search` finds; None when the time limit runs out first."""
        fq = q.filters(year_from, year_to, journal, mesh)
        try:
            answer, _ = self._query(text, fq, "relevance", 0, 0, {"sort": None})
        except QueryError:
            if self.time_left() == 0:
                return None
            raise
        return answer["response"]["numFound"]

    def records(self, text: str, limit: int = 1000, sort: str = "relevance",
                year_from: int | None = None, year_to: int | None = None,
                journal: str | None = None, mesh: str | None = None) -> list[Record]:
        """The full records of the first `limit` results, in result order (a cursor)."""
        fq = q.filters(year_from, year_to, journal, mesh)
        # In the order the results pages show: the first `semantic_depth` reranked.
        depth = Reranker.depth(DEFAULT, sort)
        fields = STORED + (",score," + VECTOR_FIELDS if depth else "")
        wanted = max(limit, depth)
        found: list[dict] = []
        cursor = "*"
        expansions: list[Expansion] = []
        while len(found) < wanted:
            answer, expansions = self._query(text, fq, sort, 0,
                                             min(EXPORT_PAGE, wanted - len(found)),
                                             {"fl": fields, "cursorMark": cursor, "start": None})
            found += answer["response"]["docs"]
            if answer.get("nextCursorMark", cursor) == cursor:
                break
            cursor = answer["nextCursorMark"]
        if depth:
            found, _ = self._rerank(text, None, expansions, {"response": {"docs": found}},
                                    DEFAULT)
        return [record_from(doc) for doc in found[:limit]]

    def suggest(self, prefix: str, limit: int = 8) -> list[str]:
        """Completions of the word being typed (the terms component on `spell`
        and `mesh_term`), put in order as on Whoosh (indexer.query.suggest)."""
        text = " ".join(str(prefix)[:MAX_INPUT].split())
        limit = max(0, min(int(limit), MAX_LIMIT))
        if not text or not limit:
            return []
        word = terms.fold(text.split()[-1].split(":")[-1].lstrip("\"'("))
        whole = terms.fold(text.lstrip("\"'("))
        words = self._terms({"terms.fl": "spell", "terms.prefix": word}, limit) if word else {}
        mesh = self._terms({"terms.fl": "mesh_term", "terms.regex": _starts_with(whole),
                            "terms.regex.flag": "case_insensitive"}, limit)
        return Vocabulary(words, mesh).suggest(text, limit)

    def _terms(self, params: dict, limit: int) -> dict[str, int]:
        """The terms component's most frequent terms of one field, across shards."""
        answer = self.client.call(f"{self.alias}/terms",
                                  {"terms.limit": limit, "terms.sort": "count", **params},
                                  timeout=self.time_limit + 30)
        return _pairs(answer.get("terms", {}).get(params["terms.fl"], []))

    # --- articles -----------------------------------------------------------------

    def article(self, pmid: str) -> Record:
        """The full record of one article."""
        docs = self._select({"q": f"pmid:{q.quoted(str(pmid))}", "defType": "lucene",
                             "fl": STORED, "rows": 1})["response"]["docs"]
        if not docs:
            raise ArticleNotFound(f"no article with PMID {pmid}")
        return record_from(docs[0])

    def similar(self, pmid: str, limit: int = 5) -> list[Hit]:
        """Articles like this one: Solr's more-like-this query parser."""
        key = self.article(pmid)  # ArticleNotFound for an unknown PMID
        if not limit:
            return []
        answer = self._select({
            "q": f"{{!mlt qf=title,abstract,keywords mintf=1 mindf=1}}{key.pmid}",
            "defType": "lucene", "fl": HIT_FIELDS, "rows": limit, "hl": "true",
            "sort": q.SORTS["relevance"]})
        return _hits(answer)

    # --- what the build saved -----------------------------------------------------

    @property
    def info(self) -> dict:
        """What the last build saved: counts, time, seeds folder, skipped pages."""
        return build_info(self.client, self.alias)[1]

    def __len__(self) -> int:
        return self._select({"q": "*:*", "defType": "lucene", "rows": 0})["response"]["numFound"]

    def close(self) -> None:
        """Nothing to release: each call is its own HTTP request."""


# --- Solr's answers as medsearch's types ---------------------------------------------

def record_from(doc: dict) -> Record:
    return Record(pmid=doc.get("pmid"), title=doc.get("title", ""), abstract=doc.get("abstract"),
                  keywords=doc.get("keywords", []), authors=doc.get("authors", []),
                  journal=doc.get("journal"), published=doc.get("published"),
                  year=doc.get("year"), organisation=doc.get("organisation"),
                  url=doc.get("url"), source=doc.get("source"))


def _hits(answer: dict, docs: list[dict] | None = None) -> list[Hit]:
    """The hits of `docs` (else the answer's), each with the highlighter's snippet
    of its abstract and what ranked it (`ranked_with`, the lexical score alone
    unless reranked: .semantic)."""
    marked = answer.get("highlighting", {})
    hits = []
    for doc in answer["response"]["docs"] if docs is None else docs:
        record = record_from(doc)
        snippets = marked.get(doc["id"], {}).get("abstract") or []
        score = round(float(doc.get("score", 0.0)), 4)
        hits.append(Hit(pmid=record.pmid, title=record.title, score=score, year=record.year,
                        journal=record.journal, authors=record.authors,
                        keywords=record.keywords, url=record.url, published=record.published,
                        snippet=" … ".join(snippets), mesh=doc.get("mesh_term", []),
                        ranked_with=doc.get("ranked_with") or {"words": score}))
    return hits


def _collation(answer: dict, text: str) -> str | None:
    """The spellcheck component's corrected query, when it corrects only words
    the index does not hold (as on Whoosh: a known word is never "corrected",
    though Solr's collator offers one when a filter leaves no hits)."""
    spellcheck = answer.get("spellcheck", {})
    flat = spellcheck.get("suggestions", [])
    # Solr's JSON lists name, value, name, value…
    unknown = {word for word, about in zip(flat[::2], flat[1::2])
               if isinstance(about, dict) and about.get("origFreq") == 0}
    collations = spellcheck.get("collations", [])
    for name, value in zip(collations[::2], collations[1::2]):
        if name == "collation" and isinstance(value, dict):
            fixed = value.get("misspellingsAndCorrections", [])[::2]
            found = value.get("collationQuery")
            if found and found != text and fixed and set(fixed) <= unknown:
                return found
    return None


def _pairs(flat: list) -> dict[str, int]:
    """Solr's flat [term, count, term, count…] as {term: count}."""
    return dict(zip(flat[::2], flat[1::2]))


def _settings(ranking: Ranking | None, expand: bool) -> Ranking:
    """The settings a call asked for, the product's by default, expansions off if asked."""
    ranking = ranking or DEFAULT
    return ranking if expand else ranking.without_expansion()


# --- the analyzer query understanding sees (indexer.query.terms) ----------------------

def install_analyzer() -> None:
    """Completions fold words as the index does (.analysis, the configset's
    analyzer); the Whoosh engine's, when loaded in this process too, stays the
    one installed: the expansions use .analysis explicitly (.expansion.solr_words)."""
    try:
        terms.fold("")
    except RuntimeError:
        terms.install(query_tokens, fold)


install_analyzer()


def _starts_with(text: str) -> str:
    """A Java regex matching what starts with `text`, taken literally."""
    return "".join("\\" + c if not c.isalnum() and c != " " else c for c in text) + ".*"
