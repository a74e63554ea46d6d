"""Query-time MeSH concepts, synonyms and abbreviations on SolrCloud, as on Whoosh.

The build computes the same resources the Whoosh build writes beside its
generation (indexer.query.expand: the MeSH concepts whose forms the
collection can find, the abbreviations mined from its abstracts), with the
collection's own term list as the vocabulary, and stores them IN the
collection as one document (`RESOURCE_ID`, a stored-only JSON field) that
the /select handler filters out. Why a document: it goes live, is replicated
and is dropped with its collection, so the alias always points at the
resources of the documents it serves, with no second thing to move or clean
up; a configset file or an alias property would sit in ZooKeeper, which
caps a node at 1 MB and is shared by every collection.

Per query, indexer.query finds the concepts, synonyms and abbreviations
(with this engine's analyzer, .analysis) and this module writes them as
Lucene clauses with the `Ranking` weights as boosts: a form is a phrase of
its written words in title, keywords and abstract, with the field weights.
Plain words: the user's words OR the expansions (an expansion may find
documents: a lay term finds the MeSH term), the words a concept stands for
weighing less; words with syntax: the expansions only reorder (`bq`).
"""

from __future__ import annotations

import json

from ..pages.records import Record
from ..query import concepts as concept_lookup
from ..query import mesh, terms
from ..query.expand import (
    Expander, Expansion, abbreviation_table, describe, plain_segments, resources_payload,
)
from ..query.settings import Ranking
from ..query.text import clean
from .analysis import fold, query_tokens
from .client import SolrClient
from .query import quoted

RESOURCE_ID = "_medsearch_resources"
TEXT_FIELDS = ("title", "keywords", "abstract")
MAX_ROTATED = 3  # forms of up to this many words are also searched rotated


def solr_words():
    """Query understanding through this engine's analyzer (even with Whoosh loaded)."""
    return terms.analyzer(query_tokens, fold)


# --- build time ------------------------------------------------------------------------

def collection_terms(client: SolrClient, collection: str) -> set[str]:
    """Every term of the collection's text fields (the terms component, all shards)."""
    answer = client.call(f"{collection}/terms",
                         {"terms.fl": list(TEXT_FIELDS), "terms.limit": -1,
                          "terms.sort": "index", "terms.mincount": 1}, timeout=600)
    found: set[str] = set()
    for flat in answer.get("terms", {}).values():
        found.update(flat[::2])
    return found


def write_resources(client: SolrClient, collection: str, records: list[Record],
                    vocabulary: mesh.Vocabulary) -> dict:
    """Compute the expansion resources of the committed `collection` and store them
    in it (committed too); returns the build summary's `vocabulary` lines."""
    vocab = collection_terms(client, collection)
    with solr_words():
        # analyzed() caches by path, whichever analyzer was installed: not reused here.
        forms = mesh.analyzed.__wrapped__(vocabulary.path)
        synonyms = mesh.synonym_table(forms, vocab)
        abbreviations = abbreviation_table(records, vocab)
    payload = resources_payload(synonyms, abbreviations, vocabulary)
    document = {"id": RESOURCE_ID, "resources": json.dumps(payload, separators=(",", ":"))}
    client.call(f"{collection}/update", body=json.dumps([document]).encode(), timeout=300)
    client.call(f"{collection}/update", {"commit": "true", "waitSearcher": "true"},
                timeout=300)
    return describe(payload)


def read_resources(client: SolrClient, collection: str) -> dict | None:
    """The resources stored in `collection`; None for one built before they were."""
    answer = client.call(f"{collection}/get", {"id": RESOURCE_ID, "fl": "resources"})
    document = answer.get("doc")
    return json.loads(document["resources"]) if document else None


def load_expander(client: SolrClient, collection: str) -> Expander:
    data = read_resources(client, collection)
    return Expander(data.get("synonyms"), data.get("abbreviations")) if data else Expander()


# --- query time ------------------------------------------------------------------------

def qf(ranking: Ranking) -> str:
    """Edismax's fields and weights, from the settings."""
    boosts = dict(ranking.boosts)
    return " ".join(f"{name}^{boosts[name]:g}" for name in TEXT_FIELDS)


def expanded(text: str, prepared: str, ranking: Ranking,
             expander: Expander) -> tuple[dict, list[Expansion]]:
    """Solr parameters searching `prepared` (the user's query as edismax reads
    it) with the expansions of `text`, and the expansions applied."""
    params = {"q": prepared, "qf": qf(ranking)}
    if not expander or not (ranking.concepts or ranking.synonyms or ranking.abbreviations):
        return params, []
    with solr_words():
        segments, structured = plain_segments(clean(text))
        clauses, expansions, user = _clauses(segments, structured, prepared, ranking, expander)
    if not clauses:
        return params, []
    if structured:  # the query must still match as written: expansions only reorder
        return {**params, "bq": clauses}, expansions
    # One parameter per expansion, each a SHOULD clause of the bool query
    # (`xs` lists them, for .feedback and the highlighter).
    extras = {f"x{i}": clause for i, clause in enumerate(clauses)}
    shoulds = " ".join(f"should=${name}" for name in extras)
    return {**params, "q": f"{{!bool should=$uq {shoulds}}}", "defType": "lucene",
            "uq": "{!edismax v=$ut}", "ut": user, "xs": shoulds, **extras}, expansions


def _clauses(segments: list[str], structured: bool, prepared: str, ranking: Ranking,
             expander: Expander) -> tuple[list[str], list[Expansion], str]:
    boosts = dict(ranking.boosts)
    clauses: list[str] = []
    expansions: list[Expansion] = []
    user = prepared
    found = concept_lookup.find_concepts(expander, segments) if ranking.concepts else []
    if found:
        # As on Whoosh (whoosh_engine.ranking.ConceptQuery): a concept counts by
        # how much of the query it is and scores like one word per word it maps.
        asked = sum(len(terms.query_tokens(segment)) for segment in segments)
        for concept in found:
            weight = ranking.concepts * len(concept.words) ** 2 / asked
            clauses.append(_best_form(_concept_forms(expander, concept), boosts, weight))
        expansions += [c.expansion() for c in found]
        if not structured:
            mapped = {w for c in found for w in c.words}
            share = sum(len(c.words) for c in found) / asked
            user = _reweighted(prepared, mapped, 1 - (1 - ranking.concept_words) * share)
    if ranking.synonyms or ranking.abbreviations:
        sources = {c.source for c in found}
        more = expander.expand(segments, synonyms=bool(ranking.synonyms),
                               abbreviations=bool(ranking.abbreviations))
        # A phrase searched as its concept already searches the synonyms.
        more = [e for e in more if not (e.type == "synonym" and e.source in sources)]
        for exp in more:
            weight = ranking.synonyms if exp.type == "synonym" else ranking.abbreviations
            forms = [(written, len(stems)) for written, stems in zip(exp.targets, exp.stems)]
            clauses.append(_any_form(forms, boosts, weight * exp.size))
        expansions += more
    return [c for c in clauses if c], expansions, user


def _concept_forms(expander: Expander, concept) -> list[tuple[str, int]]:
    """(written words, how many terms) of a concept's forms, the user's phrase
    among them, multi-word forms also rotated (MeSH's "Tuberculosis, Spinal")."""
    key = " ".join(concept.words)
    entry = expander.concepts[concept_lookup._best(expander, key)]
    written = {tuple(stems): text for text, stems in entry["forms"]}
    written.setdefault(concept.words, concept.source)
    forms: dict[str, int] = {}
    for stems in concept.forms:
        text = written.get(tuple(stems))
        if not text:
            continue
        words = text.split()
        for i in range(len(words) if 1 < len(words) <= MAX_ROTATED else 1):
            forms.setdefault(" ".join(words[i:] + words[:i]), len(stems))
    return list(forms.items())


def _best_form(forms: list[tuple[str, int]], boosts: dict, weight: float) -> str:
    """A concept: its best-scoring form counts, not the sum of all it says
    (`{!maxscore}`, Lucene's DisjunctionMaxQuery, as ConceptQuery on Whoosh)."""
    groups = [_any_form([form], boosts, weight) for form in forms]
    groups = [g for g in groups if g]
    return "{!maxscore tie=0}" + " ".join(groups) if groups else ""


def _any_form(forms: list[tuple[str, int]], boosts: dict, weight: float) -> str:
    """Any of `forms` as a phrase in any text field. A form stands in for the
    words it replaces: its weight is shared among its terms (a Lucene phrase
    scores the sum of its terms' idf), so a long form does not outweigh them."""
    parts = [f"{name}:{quoted(text)}^{boosts[name] * weight / max(size, 1):.4g}"
             for text, size in forms for name in TEXT_FIELDS if weight > 0]
    return f"({' '.join(parts)})" if parts else ""


def _reweighted(prepared: str, mapped: set[str], factor: float) -> str:
    """The plain words whose terms a concept maps weighing `factor` times as much."""
    if factor == 1.0:
        return prepared
    words = []
    for word in prepared.split():
        stems = terms.stems(word)
        if stems and "^" not in word and set(stems) <= mapped:
            word = f"{word}^{factor:.4g}"
        words.append(word)
    return " ".join(words)
