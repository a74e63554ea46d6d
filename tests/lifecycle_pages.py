"""Corpora of clinic pages for the index lifecycle tests (build, update, crashes).

Pages are the conftest layout with generated PMIDs and a distinct word in
each title and abstract, so each page is its own article.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from pathlib import Path

from conftest import ARTICLES, REPO, clinic_page

# Made-up words (none is English or medical) that make each page distinct.
_SYLLABLES = ["ka", "lo", "mi", "nu", "pe", "ro", "su", "ti", "va", "ze"]


def word(i: int) -> str:
    """A distinct made-up word for page number i: 3 -> 'kakanu'."""
    return "".join(_SYLLABLES[int(d)] for d in f"{i:04d}")


def page(i: int, pmid: str | None = None, extra: str = "") -> str:
    """Page number i: article i % 6 of conftest, with its own PMID and word."""
    _, title, abstract, *rest = ARTICLES[i % len(ARTICLES)]
    pmid = pmid or str(40_000_000 + i)
    # Pages of one base article differ in length too, so their scores differ:
    # equal scores come in index order, which an update does not keep.
    own = " ".join([word(i)] * (1 + i // len(ARTICLES)))
    abstract = f"{abstract or ''} {own} {extra}".strip()
    return clinic_page(pmid, f"{title} {word(i)}", abstract, *rest)


def write_corpus(folder: Path, count: int, start: int = 0) -> list[Path]:
    """`count` pages p00000.html ... in `folder`."""
    folder.mkdir(parents=True, exist_ok=True)
    paths = []
    for i in range(start, start + count):
        path = folder / f"p{i:05d}.html"
        path.write_text(page(i), encoding="utf-8")
        paths.append(path)
    return paths


def medsearch(*args: str, **kwargs) -> subprocess.Popen:
    """Start `python -m indexer ARGS` as a user would, in its own process group."""
    env = dict(os.environ, PYTHONPATH=str(REPO))
    return subprocess.Popen([sys.executable, "-m", "indexer", *args], cwd=REPO, env=env,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                            start_new_session=True, preexec_fn=ctrl_c_as_at_a_terminal,
                            **kwargs)


def ctrl_c_as_at_a_terminal() -> None:
    """Ctrl-C's default action in a child: a suite started in the background
    (`make test &`) hands its children Ctrl-C ignored, and Python keeps it so."""
    signal.signal(signal.SIGINT, signal.SIG_DFL)


def run(*args: str, timeout: float = 60) -> tuple[int, str, str]:
    """Run `python -m indexer ARGS` to the end: (exit status, stdout, stderr)."""
    proc = medsearch(*args)
    out, err = proc.communicate(timeout=timeout)
    return proc.returncode, out, err


def pmids(index, query: str) -> list[str]:
    return [hit.pmid for hit in index.search(query, per_page=100).hits]
