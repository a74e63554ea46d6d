"""No file aborts a build or an update, and OS errors are one line.

Each bad file sits among good pages; the real `python -m indexer` runs over
them and must exit 0, listing the bad file with its reason.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import time
from pathlib import Path

import pytest
from lifecycle_pages import medsearch, page, run, write_corpus

from indexer.pages import extract as extract_module
from indexer import open_index
from indexer.whoosh_engine.build import build
from indexer.errors import ExtractionError, NotAnArticle
from indexer.pages.extract import MAX_PAGE_TAGS, extract_page

PUBMED_LINK = ('<p><strong>Pubmed Link :</strong> <a href="https://www.ncbi.nlm.nih.gov/pubmed/{pmid}">'
               'https://www.ncbi.nlm.nih.gov/pubmed/{pmid}</a></p>')
NO_PMID = "no PubMed ID or link: a page without one has no identity; not indexed"


def page_without_pmid(i: int) -> str:
    text = page(i)
    without = text.replace(PUBMED_LINK.format(pmid=40_000_000 + i), "")
    assert without != text
    return without


def skipped(out: str, seeds: Path) -> dict[str, str]:
    """The summary's skipped files (name relative to `seeds`) and their reasons."""
    prefix = f"  {seeds}/"
    return dict(line[len(prefix):].split(": ", 1) for line in out.splitlines()
                if line.startswith(prefix))


def build_and_update(seeds: Path, root: Path, add) -> tuple[str, str]:
    """Build, let `add` put more files in `seeds`, update: both must exit 0 silently."""
    status, built, err = run("build", "--seeds", str(seeds), "--index", str(root), "--procs", "2")
    assert (status, err) == (0, ""), err
    add(seeds)
    status, updated, err = run("update", "--seeds", str(seeds), "--index", str(root), "--procs", "2")
    assert (status, err) == (0, ""), err
    return built, updated


def indexed_pmids(root: Path) -> set[str]:
    index = open_index(root)
    try:
        return {hit.pmid for hit in index.search("", per_page=100).hits}
    finally:
        index.close()


# --- a page without a PubMed ID -----------------------------------------------------

def test_extract_reports_a_page_without_pubmed_id_as_an_error(tmp_path):
    path = tmp_path / "no-pmid.html"
    path.write_text(page_without_pmid(2), encoding="utf-8")
    status, out, err = run("extract", "--json", str(path))
    assert (status, out, err) == (1, "", f"{path}: {NO_PMID}\n")
    with pytest.raises(NotAnArticle, match="no PubMed ID"):
        extract_page(path.read_bytes())


def test_build_and_update_skip_pages_without_pubmed_id(tmp_path):
    seeds = tmp_path / "seeds"
    write_corpus(seeds, 2)
    (seeds / "no-pmid.html").write_text(page_without_pmid(2), encoding="utf-8")

    def add(folder):
        (folder / "no-pmid-2.html").write_text(page_without_pmid(3), encoding="utf-8")
        (folder / "p00004.html").write_text(page(4), encoding="utf-8")

    built, updated = build_and_update(seeds, tmp_path / "index", add)
    assert skipped(built, seeds) == {"no-pmid.html": NO_PMID}
    assert "records indexed: 2\n" in built
    assert skipped(updated, seeds) == {"no-pmid.html": NO_PMID, "no-pmid-2.html": NO_PMID}
    assert "records indexed: 3\n" in updated
    assert indexed_pmids(tmp_path / "index") == {"40000000", "40000001", "40000004"}


# --- file names that are not UTF-8 ----------------------------------------------------

def test_file_names_that_are_not_utf8_are_indexed_or_skipped_and_named_printably(tmp_path):
    seeds = tmp_path / "seeds"
    write_corpus(seeds, 1)
    raw = os.fsencode(seeds)
    with open(raw + b"/caf\xe9.html", "w", encoding="utf-8") as handle:
        handle.write(page(3))
    open(raw + b"/empty\xff.html", "wb").close()

    def add(folder):
        with open(raw + b"/\xfe\xfe.html", "w", encoding="utf-8") as handle:
            handle.write(page(5))
        open(raw + b"/empty-too\xff.html", "wb").close()

    root = tmp_path / "index"
    built, updated = build_and_update(seeds, root, add)
    assert skipped(built, seeds) == {"empty\\xff.html": "empty page"}
    assert skipped(updated, seeds) == {"empty\\xff.html": "empty page",
                                       "empty-too\\xff.html": "empty page"}
    assert "records indexed: 3\n" in updated
    assert indexed_pmids(root) == {"40000000", "40000003", "40000005"}
    index = open_index(root)
    assert index.article("40000003").source == f"{seeds}/caf\\xe9.html"
    index.close()
    status, out, err = run("stats", "--index", str(root))
    assert (status, err) == (0, "")
    assert skipped(out, seeds) == skipped(updated, seeds)
    # A second update finds nothing changed: the manifest kept the names exactly.
    status, out, err = run("update", "--seeds", str(seeds), "--index", str(root))
    assert (status, err) == (0, "")
    assert "added:           0\nchanged:         0\nremoved:         0\n" in out


# --- symbolic link loops between files ------------------------------------------------

def test_symlink_loops_between_files_are_skipped(tmp_path):
    seeds = tmp_path / "seeds"
    write_corpus(seeds, 2)
    os.symlink("b.html", seeds / "a.html")
    os.symlink("a.html", seeds / "b.html")

    def add(folder):
        os.symlink("self.html", folder / "self.html")

    loop = "symlink loop: the link leads back to itself; not followed"
    built, updated = build_and_update(seeds, tmp_path / "index", add)
    assert skipped(built, seeds) == {"a.html": loop, "b.html": loop}
    assert skipped(updated, seeds) == {"a.html": loop, "b.html": loop, "self.html": loop}
    assert "records indexed: 2\n" in updated


# --- pages over the extraction budget ---------------------------------------------------

def nested_page(i: int, tags: int) -> str:
    """Page i with its article inside `tags` nested <div>s: costly to parse."""
    half = tags // 2
    return page(i).replace("<main>", "<main>" + "<div>" * half + "<span></span>" * (tags - half)) \
                  .replace("</main>", "</div>" * half + "</main>")


def test_a_page_over_the_tag_budget_is_skipped_in_worker_processes(tmp_path):
    seeds = tmp_path / "seeds"
    write_corpus(seeds, 2)
    (seeds / "costly.html").write_text(nested_page(3, MAX_PAGE_TAGS + 10), encoding="utf-8")
    (seeds / "just-under.html").write_text(nested_page(4, MAX_PAGE_TAGS // 10), encoding="utf-8")

    def add(folder):
        (folder / "costly-2.html").write_text(nested_page(5, 4 * MAX_PAGE_TAGS), encoding="utf-8")

    too_complex = f"page too complex: over {MAX_PAGE_TAGS:,} tags; not extracted"
    built, updated = build_and_update(seeds, tmp_path / "index", add)
    assert skipped(built, seeds) == {"costly.html": too_complex}
    assert skipped(updated, seeds) == {"costly.html": too_complex, "costly-2.html": too_complex}
    assert indexed_pmids(tmp_path / "index") == {"40000000", "40000001", "40000004"}


def test_a_page_over_the_time_budget_is_skipped(tmp_path, monkeypatch):
    # A page under the tag budget that still takes longer than the time budget
    # (here made 0.3 s; the page takes about 0.8 s of CPU, a plain page 4 ms,
    # so a loaded machine's delays do not cut the plain pages short): refused,
    # in worker processes (forked with the budget) and in-process alike.
    monkeypatch.setattr(extract_module, "PAGE_SECONDS", 0.3)
    slow = nested_page(3, 30_000)
    too_slow = "page too large or complex to extract within 0.3 s; not extracted"
    with pytest.raises(ExtractionError, match=too_slow):
        extract_page(slow.encode())
    seeds = tmp_path / "seeds"
    write_corpus(seeds, 2)
    (seeds / "slow.html").write_text(slow, encoding="utf-8")
    for procs in (2, 1):
        report = build(seeds, tmp_path / "index", procs=procs)
        assert report.skipped == [(str(seeds / "slow.html"), too_slow)]
        assert report.indexed == 2
    # The alarm is off again and its handler restored: nothing later is cut short.
    assert signal.getitimer(signal.ITIMER_REAL) == (0.0, 0.0)
    assert signal.getsignal(signal.SIGALRM) == signal.SIG_DFL


def test_a_worker_killed_from_outside_is_one_line(tmp_path):
    seeds = tmp_path / "seeds"
    write_corpus(seeds, 1500)
    root = tmp_path / "index"
    proc = medsearch("build", "--seeds", str(seeds), "--index", str(root), "--procs", "2")
    children = Path(f"/proc/{proc.pid}/task/{proc.pid}/children")
    deadline = time.monotonic() + 60
    while not children.read_text().split() and proc.poll() is None and time.monotonic() < deadline:
        time.sleep(0.005)
    workers = children.read_text().split() if proc.poll() is None else []
    assert workers, "the build started no worker process"
    os.kill(int(workers[0]), signal.SIGKILL)  # as the out-of-memory killer would
    out, err = proc.communicate(timeout=60)
    assert (proc.returncode, out) == (1, "")
    assert err == ("medsearch: a worker process died (killed, or out of memory); the live index "
                   "was left as it was: run the command again\n")
    assert not (root / "current").exists() and not list(root.glob(".tmp-*"))


# --- OS errors ------------------------------------------------------------------------------

def test_missing_seeds_folder_is_one_line_and_leaves_no_lock(tmp_path):
    root = tmp_path / "index"
    for command in ("build", "update"):
        status, out, err = run(command, "--seeds", str(tmp_path / "nope"), "--index", str(root))
        assert (status, out) == (1, "")
        assert err == (f"medsearch: no seeds folder at {tmp_path / 'nope'}: "
                       "pass --seeds DIR or set MEDSEARCH_SEEDS\n")
        assert not root.exists()


def test_index_that_is_not_a_folder_is_one_line(tmp_path):
    seeds = tmp_path / "seeds"
    write_corpus(seeds, 1)
    for command in ("build", "update", "stats"):
        args = ("--seeds", str(seeds)) if command != "stats" else ()
        status, out, err = run(command, *args, "--index", "/dev/null")
        assert (status, out) == (1, "")
        expected = ("medsearch: no index at /dev/null: run `medsearch build`\n" if command == "stats"
                    else "medsearch: cannot use /dev/null as the index folder: it is not a folder; "
                         "pass --index DIR\n")
        assert err == expected


@pytest.fixture
def small_disk(tmp_path):
    """A 200 KB tmpfs (root with mount rights only): a disk that fills up."""
    mount = tmp_path / "disk"
    mount.mkdir()
    made = subprocess.run(["mount", "-t", "tmpfs", "-o", "size=200k", "tmpfs", str(mount)],
                          capture_output=True)
    if made.returncode:
        pytest.skip(f"cannot mount a tmpfs here: {made.stderr.decode().strip()}")
    yield mount
    subprocess.run(["umount", str(mount)], check=True)


def test_full_and_read_only_index_disks_are_one_line(tmp_path, small_disk):
    seeds = tmp_path / "seeds"
    write_corpus(seeds, 60)
    root = small_disk / "index"
    status, out, err = run("build", "--seeds", str(seeds), "--index", str(root))
    assert (status, out) == (1, "")
    assert err.startswith(f"medsearch: cannot write the index at {root}: No space left on device")
    assert err.endswith("; the live index was left as it was: free some space or pass "
                        "--index DIR on another disk\n")
    assert err.count("\n") == 1 and "Traceback" not in err
    assert [p.name for p in root.iterdir()] == [".lock"]

    subprocess.run(["mount", "-o", "remount,ro", str(small_disk)], check=True)
    for command in ("build", "update"):
        status, out, err = run(command, "--seeds", str(seeds), "--index", str(small_disk / "other"))
        assert (status, out) == (1, "")
        assert err == (f"medsearch: cannot write the index at {small_disk / 'other'}: "
                       "Read-only file system; the live index was left as it was: "
                       "pass --index DIR on a writable disk\n")


# --- every kind at once, beside the demo pages --------------------------------------------

def test_demo_pages_with_every_kind_of_broken_file(tmp_path):
    from conftest import REPO

    seeds = tmp_path / "seeds"
    seeds.mkdir()
    os.symlink(REPO / "seeds" / "pages", seeds / "pages-link")  # a folder link: not followed
    pages = seeds / "pages"
    pages.mkdir()
    for path in sorted((REPO / "seeds" / "pages").iterdir())[:40]:
        os.link(path, pages / path.name)
    (seeds / "no-pmid.html").write_text(page_without_pmid(2), encoding="utf-8")
    open(os.fsencode(seeds) + b"/empty\xff.html", "wb").close()
    os.symlink("loop-b.html", seeds / "loop-a.html")
    os.symlink("loop-a.html", seeds / "loop-b.html")
    (seeds / "costly.html").write_text(nested_page(3, MAX_PAGE_TAGS + 1), encoding="utf-8")

    def add(folder):
        (folder / "no-pmid-2.html").write_text(page_without_pmid(4), encoding="utf-8")
        open(os.fsencode(folder) + b"/empty-2\xff.html", "wb").close()
        os.symlink("me.html", folder / "me.html")
        (folder / "costly-2.html").write_text(nested_page(5, 2 * MAX_PAGE_TAGS), encoding="utf-8")

    built, updated = build_and_update(seeds, tmp_path / "index", add)
    assert set(skipped(built, seeds)) == {"no-pmid.html", "empty\\xff.html", "loop-a.html",
                                          "loop-b.html", "costly.html", "pages-link"}
    assert set(skipped(updated, seeds)) == set(skipped(built, seeds)) | {
        "no-pmid-2.html", "empty-2\\xff.html", "me.html", "costly-2.html"}
    assert "records indexed: 40\n" in updated
    info = json.loads((tmp_path / "index" / "current" / "build.json").read_text())
    assert len(info["skipped"]) == 10
