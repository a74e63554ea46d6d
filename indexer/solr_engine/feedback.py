"""Pseudo-relevance feedback on SolrCloud, as the Whoosh engine's (RM3-style).

The Whoosh engine (whoosh_engine.feedback.feedback) takes the words of the
first pass's top documents, each weighed by the document's score above the
cut and by its share of the document, times its idf, leaves out words in
more than `prf_max_df` of the documents, and adds the best `prf_terms` to
the query below the user's words. Here the same arithmetic runs over the
stored title and abstract of the top documents (one /select), with document
frequencies from the terms component (one /terms for the candidates), and the
chosen words go back to Solr as written in those documents (Solr analyses
them to the same terms). Feedback reorders the documents that have the
user's words; with `prf_widen` (plain words only) it may also add the few
documents without them that it ranks best, each having at least
`prf_widen_min` of the feedback words (one more /select), as on Whoosh.
"""

from __future__ import annotations

import math
from collections import Counter

from ..query.settings import Ranking
from .analysis import TOKEN, fold, query_tokens

PRF_CANDIDATES = 4  # document frequencies looked up for this many times prf_terms
TEXT_FIELDS = ("title", "keywords", "abstract")


FEEDBACK_SHOWN = 5  # feedback words named in Results.expansions when documents were added


def feedback_clause(engine, user_params: dict, fq: list[str],
                    ranking: Ranking) -> tuple[str, list[str]]:
    """A Lucene clause of weighted feedback words for the query in `user_params`
    (what `expansion.expanded` gives), and the words, best first; ("", []) when none."""
    if not ranking.prf:
        return "", []
    first = engine._select({**user_params, "fq": fq, "rows": ranking.prf_docs + 1,
                            "fl": "id,pmid,title,abstract,score", "sort": "score desc,id asc",
                            "spellcheck": "false"})
    docs = first["response"]["docs"]
    if not docs:
        return "", []
    scores = [float(d["score"]) for d in docs]
    used = docs[:ranking.prf_docs]
    floor = scores[ranking.prf_docs] if len(scores) > ranking.prf_docs else 0.0
    weights: dict[str, float] = {}
    written: dict[str, Counter] = {}
    for doc, score in zip(used, scores):
        doc_weight = score - floor
        if doc_weight <= 0:
            continue
        text = " ".join(s for s in (doc.get("title"), doc.get("abstract")) if s)
        found = Counter()
        for stem, start, end in query_tokens(text):
            found[stem] += 1
            written.setdefault(stem, Counter())[fold(text[start:end])] += 1
        length = sum(found.values()) or 1
        for term in sorted(found):
            if _feedback_word(term):
                weights[term] = weights.get(term, 0.0) + doc_weight * found[term] / length
    candidates = sorted(weights.items(), key=lambda kv: (-kv[1], kv[0]))
    candidates = candidates[:max(ranking.prf_terms * PRF_CANDIDATES, 1)]
    if not candidates:
        return "", []
    total, frequency = _document_frequencies(engine, [t for t, _ in candidates])
    scored = []
    for term, weight in candidates:
        df = frequency.get(term, 0)
        if df / max(total, 1) > ranking.prf_max_df:
            continue
        if ranking.prf_idf:
            weight *= math.log(1 + max(total, 1) / max(df, 1))
        scored.append((weight, term))
    scored.sort(key=lambda wt: (-wt[0], wt[1]))
    cut = scored[ranking.prf_terms][0] if len(scored) > ranking.prf_terms else 0.0
    chosen = [(term, w - cut) for w, term in scored[:ranking.prf_terms] if w > cut]
    if not chosen:
        return "", []
    top = chosen[0][1]
    boosts = dict(ranking.boosts)
    parts, words = [], []
    for term, weight in chosen:
        # The most frequent written form; ties by the word itself (a fixed choice).
        word = min(written[term].items(), key=lambda wc: (-wc[1], wc[0]))[0]
        if not TOKEN.fullmatch(word) or "-" in word or "/" in word:
            continue
        words.append(word)
        for name in TEXT_FIELDS:
            parts.append(f"{name}:{word}^{boosts[name] * ranking.prf * weight / top:.4g}")
    return (f"({' '.join(parts)})", words) if parts else ("", [])


def related(engine, params: dict, fq: list[str], clause: str, words: list[str],
            ranking: Ranking) -> list[str]:
    """The ids of the `prf_widen` documents without the user's words that the
    feedback clause ranks best, each with at least `prf_widen_min` feedback words."""
    answer = engine._select({
        "q": "{!bool must=$pq filter=$enough must_not=$uq}", "defType": "lucene",
        "pq": clause, "uq": params.get("uq", "{!edismax v=$ut}"),
        "ut": params.get("ut", params["q"]), "qf": params["qf"],
        "enough": "{!edismax v=$pw mm=$pm}", "pw": " ".join(words),
        "pm": ranking.prf_widen_min, "fq": fq, "rows": ranking.prf_widen,
        "fl": "id", "sort": "score desc,id asc", "spellcheck": "false"})
    return [doc["id"] for doc in answer["response"]["docs"]]


def _document_frequencies(engine, stems: list[str]) -> tuple[int, dict[str, int]]:
    """The live document count and each stem's documents in title plus abstract
    (as the Whoosh engine counts them)."""
    answer = engine.client.call(f"{engine.alias}/terms",
                                {"terms.fl": ["title", "abstract"], "terms.list": ",".join(stems),
                                 "terms.limit": len(stems)}, timeout=engine.time_limit + 30)
    found: dict[str, int] = {}
    for flat in answer.get("terms", {}).values():
        for term, count in zip(flat[::2], flat[1::2]):
            found[term] = found.get(term, 0) + int(count)
    return engine.live_count(), found


def _feedback_word(term: str) -> bool:
    """Not a number, a one- or two-letter token, or NFCorpus's "num" placeholder."""
    return len(term) > 2 and not any(c.isdigit() for c in term) and term != "num"
