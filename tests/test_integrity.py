"""A damaged index says so: one line and exit 1 in the CLI, a 503 on the site.

Each test builds the literal corpus into tmp_path, damages one file of the
live generation as a full disk, a bad copy or a careless hand would, and
acts through the CLI (a subprocess, so a crash shows as a signal) or HTTP.
"""

from __future__ import annotations

import gzip
import json
import os
import re
import subprocess
import sys
import urllib.error
import urllib.request
from pathlib import Path

import pytest
from conftest import clinic_page
from lifecycle_pages import REPO, run
from webui_fixtures import running_site

from indexer.whoosh_engine.build import build
from webui import create_app


@pytest.fixture
def root(corpus_dir, tmp_path, monkeypatch) -> Path:
    """The literal corpus built into tmp_path (no MeSH data: the same output anywhere)."""
    monkeypatch.setenv("MEDSEARCH_DATA", str(tmp_path / "no-data"))
    folder = tmp_path / "index"
    build(corpus_dir, folder)
    return folder


def live(root: Path) -> Path:
    return root / os.readlink(root / "current")


def one(generation: Path, pattern: str) -> Path:
    (found,) = generation.glob(pattern)
    return found


def cut_in_half(path: Path) -> tuple[int, int]:
    """Truncate `path` to half its size: (new size, old size)."""
    size = path.stat().st_size
    os.truncate(path, size // 2)
    return size // 2, size


def message(root: Path, details: str) -> str:
    return f"medsearch: the index at {root} is damaged ({details}): rebuild with `medsearch build`\n"


KINDS = {
    "postings": "MAIN_*.pst",
    "columns": "columns-docs.npy",
    "names": "names-docs.npy",
    "toc": "_MAIN_*.toc",
    "terms": "MAIN_*.trm",
    "expansions": "expansions.json",
    "stored": "MAIN_*._stored.col",
}


@pytest.mark.parametrize("kind", KINDS)
def test_a_cut_file_is_one_line_and_exit_1_in_every_command(root, kind):
    path = one(live(root), KINDS[kind])
    now, was = cut_in_half(path)
    error = message(root, f"{path.name}: wrong size ({now} bytes, expected {was})")
    # Plain words, a phrase, a wildcard and a year: Whoosh reads different files for each.
    for query in ("cement leakage", '"cement leakage"', "verteb*", "year:2015"):
        assert run("search", query, "--index", str(root)) == (1, "", error), query
    assert run("stats", "--index", str(root)) == (1, "", error)
    assert run("stats", "--json", "--index", str(root)) == (1, "", error)
    assert run("check", "--index", str(root)) == (
        1, f"{path.name}: wrong size ({now} bytes, expected {was})\n", error)


def test_a_deleted_file_is_named_as_missing(root):
    path = one(live(root), "MAIN_*.vps")
    path.unlink()
    error = message(root, f"{path.name}: missing")
    assert run("search", "cement leakage", "--index", str(root)) == (1, "", error)
    assert run("check", "--index", str(root)) == (1, f"{path.name}: missing\n", error)


def test_a_changed_byte_is_a_wrong_checksum_for_stats_and_check(root):
    generation = live(root)
    path = one(generation, "MAIN_*.pst")
    data = bytearray(path.read_bytes())
    data[len(data) // 2] ^= 0xFF
    path.write_bytes(bytes(data))
    error = message(root, f"{path.name}: wrong checksum")
    assert run("stats", "--index", str(root)) == (1, "", error)
    assert run("check", "--index", str(root)) == (1, f"{path.name}: wrong checksum\n", error)


def test_several_damaged_files_are_all_listed_by_check(root):
    generation = live(root)
    names = sorted(p.name for p in generation.glob("columns-*.npy"))
    for name in names:
        (generation / name).unlink()
    status, out, err = run("check", "--index", str(root))
    assert (status, out) == (1, "".join(f"{name}: missing\n" for name in names))
    shown = "; ".join(f"{name}: missing" for name in names[:3])
    assert err == message(root, f"{shown} and {len(names) - 3} more")


def test_a_sound_index_passes_check_and_stats_says_verified(root):
    generation = live(root)
    listed = json.loads((generation / "files.json").read_text())["files"]
    # The vectors are written after the swap: vectors.json records them (test_semantic.py).
    on_disk = {p.name for p in generation.iterdir()} - {"files.json", "MAIN_WRITELOCK",
                                                         "vectors.npy", "vectors.json"}
    assert set(listed) == on_disk
    assert run("check", "--index", str(root)) == (
        0, f"{generation.name}: {len(listed)} files, sizes and checksums as published\n"
           "vectors: 6 of 6 records (all-MiniLM-L6-v2-onnx-int8-256), checksum verified\n", "")
    status, out, err = run("stats", "--index", str(root))
    assert (status, err) == (0, "")
    assert f"checksums:       verified, {len(listed)} files\n" in out


@pytest.fixture
def seeds(corpus_dir, tmp_path) -> Path:
    """A copy of the literal corpus that a test may add pages to."""
    folder = tmp_path / "seeds"
    folder.mkdir()
    for page in corpus_dir.iterdir():
        (folder / page.name).write_bytes(page.read_bytes())
    return folder


def add_page(seeds: Path) -> None:
    article = ("30000099", "Sacroiliac joint fusion", "Fusion relieved sacroiliac pain.",
               "Sacroiliac Joint", "Doe J;", "Spine", "2022")
    (seeds / "30000099.html").write_text(clinic_page(*article), encoding="utf-8")


def test_an_update_lists_its_linked_files_with_the_live_checksums(root, seeds):
    build(seeds, root)
    before = live(root)
    add_page(seeds)
    assert run("update", "--seeds", str(seeds), "--index", str(root))[0] == 0
    after = live(root)
    assert after != before
    old = json.loads((before / "files.json").read_text())["files"]
    new = json.loads((after / "files.json").read_text())["files"]
    linked = [n for n in new if n.startswith("MAIN_") and n in old]
    assert linked and all(new[n] == old[n] for n in linked)
    assert set(new) == {p.name for p in after.iterdir()} - {"files.json", "MAIN_WRITELOCK",
                                                             "vectors.npy", "vectors.json"}
    assert run("check", "--index", str(root))[0] == 0


def test_an_update_over_a_cut_live_index_rebuilds_everything(root, seeds):
    build(seeds, root)
    path = one(live(root), "MAIN_*.pst")
    now, was = cut_in_half(path)
    add_page(seeds)
    status, out, err = run("update", "--seeds", str(seeds), "--index", str(root))
    assert (status, err) == (0, "")
    assert (f"note:            rebuilt everything: the live index is damaged "
            f"({path.name}: wrong size ({now} bytes, expected {was}))\n") in out
    assert run("check", "--index", str(root))[0] == 0
    assert "Sacroiliac joint fusion" in run("search", "sacroiliac", "--index", str(root))[1]


def test_an_update_does_not_pass_a_changed_linked_file_for_sound(root, seeds):
    build(seeds, root)
    path = one(live(root), "MAIN_*.pst")
    data = bytearray(path.read_bytes())
    data[len(data) // 2] ^= 0xFF
    path.write_bytes(bytes(data))  # in place: the update links this very file
    add_page(seeds)
    assert run("update", "--seeds", str(seeds), "--index", str(root))[0] == 0
    assert run("check", "--index", str(root)) == (
        1, f"{path.name}: wrong checksum\n", message(root, f"{path.name}: wrong checksum"))


# --- generations published before checksums --------------------------------------------

def test_a_generation_without_checksums_opens_and_says_so(root):
    generation = live(root)
    (generation / "files.json").unlink()
    status, out, _ = run("search", "cement leakage", "--index", str(root))
    assert status == 0 and "Cement leakage after percutaneous vertebroplasty" in out
    status, out, err = run("stats", "--index", str(root))
    assert (status, err) == (0, "")
    assert ("checksums:       none (built before checksums were recorded): "
            "rebuild to add them\n") in out
    assert run("check", "--index", str(root)) == (
        0, f"{generation.name}: no checksums (built before checksums were recorded): "
           "rebuild to add them\n", "")


def test_without_checksums_a_cut_toc_is_still_damage_not_a_traceback(root):
    generation = live(root)
    (generation / "files.json").unlink()
    cut_in_half(one(generation, "_MAIN_*.toc"))
    # What the cut TOC makes pickle raise depends on where the cut falls.
    damage = re.escape(f"medsearch: the index at {root} is damaged (") + \
        r"(UnpicklingError|EOFError): [^\n]+\): rebuild with `medsearch build`\n"
    for command in (["search", "cement leakage"], ["stats"]):
        status, out, err = run(*command, "--index", str(root))
        assert (status, out) == (1, ""), command
        assert re.fullmatch(damage, err), err


def test_without_checksums_a_cut_postings_file_fails_a_search_reading_it_as_damage(root):
    generation = live(root)
    (generation / "files.json").unlink()
    path = one(generation, "MAIN_*.pst")
    cut_in_half(path)
    # A prefix is answered from Whoosh's postings (phrases from the columns).
    status, out, err = run("search", "cement*", "--index", str(root))
    assert (status, out) == (1, "")
    assert err.startswith(f"medsearch: the index at {root} is damaged (CorruptIndexError: ")
    assert err.endswith("): rebuild with `medsearch build`\n") and err.count("\n") == 1


def test_a_truncated_expansions_file_fails_loudly_without_checksums(root):
    generation = live(root)
    (generation / "files.json").unlink()
    cut_in_half(generation / "expansions.json")
    error = message(root, "expansions.json: unreadable")
    assert run("search", "PVP", "--index", str(root)) == (1, "", error)


# --- the site ------------------------------------------------------------------------

@pytest.mark.parametrize("kind", ["postings", "columns", "toc", "expansions"])
def test_the_site_answers_503_with_the_message(root, kind):
    path = one(live(root), KINDS[kind])
    now, was = cut_in_half(path)
    text = (f"the index at {root} is damaged ({path.name}: wrong size ({now} bytes, "
            f"expected {was})): rebuild with `medsearch build`")
    client = create_app({"INDEX": str(root)}).test_client()
    for url in ("/api/search?q=cement", '/api/search?q="cement+leakage"',
                "/api/suggest?q=vert", "/api/article/30000001"):
        response = client.get(url)
        assert (response.status_code, response.get_json()) == (503, {"error": text}), url
    for url in ("/?q=cement", "/?q=verteb*", "/article/30000001", "/"):
        response = client.get(url)
        assert response.status_code == 503, url
        assert text.replace("`", "&#96;") in response.get_data(as_text=True) or \
            text in response.get_data(as_text=True), url


@pytest.mark.parametrize("name", ["columns-docs.npy", "names-docs.npy"])
def test_a_columns_file_cut_after_it_was_mapped_is_damage_not_sigbus(root, name):
    docs = live(root) / name
    script = (
        "import os, sys\n"
        "from indexer import open_index\n"
        f"idx = open_index({str(root)!r})\n"
        "print(idx.search('cement leakage').total)\n"
        f"os.truncate({str(docs)!r}, 0)\n"
        "for _ in range(2):\n"
        "    try:\n"
        "        idx.search('cement leakage')\n"
        "    except Exception as exc:\n"
        "        print(type(exc).__name__, exc)\n")
    size = docs.stat().st_size
    done = subprocess.run([sys.executable, "-c", script], cwd=REPO, capture_output=True,
                          text=True, timeout=60, env=dict(os.environ, PYTHONPATH=str(REPO)))
    line = message(root, f"{name}: wrong size (0 bytes, expected {size})")
    line = line.replace("medsearch: ", "IndexDamaged ")
    assert (done.returncode, done.stdout, done.stderr) == (0, "2\n" + line * 2, "")


def test_a_served_worker_survives_a_columns_file_cut_under_it(root):
    docs = live(root) / "columns-docs.npy"
    size = docs.stat().st_size
    text = (f"the index at {root} is damaged (columns-docs.npy: wrong size (0 bytes, "
            f"expected {size})): rebuild with `medsearch build`")
    with running_site(root, workers=1) as url:
        with urllib.request.urlopen(url + "/api/search?q=cement+leakage", timeout=30) as ok:
            assert json.load(ok)["total"] == 2
        os.truncate(docs, 0)
        for _ in range(3):  # the same worker answers each: it was not killed
            with pytest.raises(urllib.error.HTTPError) as answer:
                urllib.request.urlopen(url + "/api/search?q=cement+leakage", timeout=30)
            assert answer.value.code == 503
            assert json.load(answer.value) == {"error": text}


# --- which vocabulary ------------------------------------------------------------------

def test_build_and_stats_say_there_are_no_synonyms_without_mesh_data(corpus_dir, tmp_path):
    missing = tmp_path / "no-data"
    env = {"MEDSEARCH_DATA": str(missing)}
    status, out, err = run_env(env, "build", "--seeds", str(corpus_dir),
                               "--index", str(tmp_path / "index"))
    line = (f"synonyms:        none (no MeSH data found at {missing}/mesh-ctd-diseases/"
            "CTD_diseases.tsv.gz: set MEDSEARCH_DATA and rebuild)\n")
    assert (status, err) == (0, "")
    assert out.endswith(line + "abbreviations:   2 mined from the abstracts\n")
    status, out, err = run_env(env, "stats", "--index", str(tmp_path / "index"))
    assert (status, err) == (0, "") and line in out


def test_build_and_stats_name_the_mesh_vocabulary(corpus_dir, tmp_path):
    data = tmp_path / "data"
    ctd = data / "mesh-ctd-diseases" / "CTD_diseases.tsv.gz"
    ctd.parent.mkdir(parents=True)
    with gzip.open(ctd, "wt", encoding="utf-8") as handle:
        handle.write("# CTD diseases\n")
        handle.write("Tuberculosis, Spinal\tMESH:D014399\t\t\t\t\t\tPott Disease|Pott's Disease\n")
    env = {"MEDSEARCH_DATA": str(data)}
    status, out, err = run_env(env, "build", "--seeds", str(corpus_dir),
                               "--index", str(tmp_path / "index"))
    line = f"synonyms:        MeSH/CTD diseases, 1 concept (from {ctd})\n"
    assert (status, err) == (0, "") and line in out
    status, out, err = run_env(env, "stats", "--index", str(tmp_path / "index"))
    assert (status, err) == (0, "") and line in out


def run_env(env: dict, *args: str) -> tuple[int, str, str]:
    done = subprocess.run([sys.executable, "-m", "indexer", *args], cwd=REPO, capture_output=True,
                          text=True, timeout=120,
                          env=dict(os.environ, PYTHONPATH=str(REPO), **env))
    return done.returncode, done.stdout, done.stderr
