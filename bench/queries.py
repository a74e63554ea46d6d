"""The benchmark's fixed query set, drawn from the real records' vocabulary.

`python -m bench.queries` rewrites bench/queries.json (committed, so every run
asks the same questions). Each query is {"q": text, plus keyword arguments of
Index.search: year_from, year_to, journal, mesh, sort, page}.
"""

from __future__ import annotations

import json
import random
import re
from collections import Counter
from pathlib import Path

from bench.corpus import REPO, Vocabulary

QUERIES = Path(__file__).resolve().parent / "queries.json"
SEED = "medsearch-bench-queries-v1"
STOP = set("""a an and are as at be by for from has have in is it its of on or that the their
this to was were with we our after than between during among into all who which not no
study patients results methods conclusions background using used may can been also both""".split())
_WORD = re.compile(r"[A-Za-z][A-Za-z-]{2,}")


def _words(texts) -> list[str]:
    counts = Counter(w.lower() for t in texts for w in _WORD.findall(t) if w.lower() not in STOP)
    # Mostly the words people search for: frequent enough to matter, not the commonest.
    return [w for w, n in counts.most_common() if n >= 3][:3000]


def _typo(word: str, rng: random.Random) -> str:
    i = rng.randrange(1, len(word) - 1)
    return word[:i] + word[i + 1] + word[i] + word[i + 2:] if rng.random() < 0.5 else \
        word[:i] + word[i + 1:]


def make_queries(data: Path) -> list[dict]:
    rng = random.Random(SEED)
    v = Vocabulary(data)
    words = _words(v.titles + [e.record.abstract for e in v.with_abstract] + v.med_titles)
    head = words[:600]
    descriptors = sorted({d for d, _ in v.headings})
    journals = sorted(set(v.journals))
    surnames = sorted({a.split()[0] for a in v.authors if a.split()})
    queries: list[dict] = []

    for n, count in ((1, 60), (2, 50), (3, 30), (4, 20)):  # plain words
        for _ in range(count):
            queries.append({"q": " ".join(rng.sample(head if n > 1 else words[:1500], n))})
    for _ in range(25):  # phrases from titles
        title = [w for w in _WORD.findall(rng.choice(v.titles))]
        if len(title) >= 3:
            i = rng.randrange(len(title) - 1)
            queries.append({"q": f'"{title[i].lower()} {title[i + 1].lower()}"'})
    for _ in range(25):  # field prefixes
        kind = rng.choice(["title", "mesh", "author", "journal", "abstract"])
        if kind == "mesh":
            term = rng.choice(descriptors).split(",")[0]
            q = f'mesh:"{term}"' if " " in term else f"mesh:{term}"
        elif kind == "author":
            q = f"author:{rng.choice(surnames)}"
        elif kind == "journal":
            q = f"journal:{rng.choice(_WORD.findall(rng.choice(journals)) or ['spine'])}"
        else:
            q = f"{kind}:{rng.choice(head)}"
        if rng.random() < 0.5:
            q += " " + rng.choice(head)
        queries.append({"q": q})
    for _ in range(30):  # filtered, as the results page's facet links make them
        q = {"q": " ".join(rng.sample(head, rng.randint(1, 2)))}
        kind = rng.choice(["year", "journal", "mesh", "year+mesh"])
        if "year" in kind:
            start = rng.randint(1990, 2015)
            q.update(year_from=start, year_to=start + rng.randint(0, 9))
        if kind == "journal":
            q["journal"] = rng.choice(v.journals)
        if "mesh" in kind:
            q["mesh"] = rng.choice(v.headings)[0]
        queries.append(q)
    for _ in range(10):  # sorted by date, and second pages
        q = {"q": " ".join(rng.sample(head, rng.randint(1, 3)))}
        q.update({"sort": "newest"} if rng.random() < 0.5 else {"page": 2})
        queries.append(q)
    for _ in range(10):  # misspelt: the page then offers "did you mean"
        word = rng.choice([w for w in head if len(w) >= 6])
        queries.append({"q": _typo(word, rng)})
    return queries


def load_queries() -> list[dict]:
    return json.loads(QUERIES.read_text())


if __name__ == "__main__":
    qs = make_queries(REPO.parent / "shared" / "data")
    QUERIES.write_text(json.dumps(qs, indent=0, ensure_ascii=False) + "\n")
    print(f"wrote {len(qs)} queries to {QUERIES}")
