"""The Python API's arguments: a wrong type or value is a one-line QueryError naming it."""

from __future__ import annotations

import os
import subprocess
import sys

import pytest

from conftest import REPO
from indexer import IndexMissing, QueryError, open_index


@pytest.mark.parametrize("call, message", [
    (lambda i: i.search("spine", page="2"), "page must be a whole number of 1 or more, not '2'"),
    (lambda i: i.search("spine", page=0), "page must be a whole number of 1 or more, not 0"),
    (lambda i: i.search("spine", page=True), "page must be a whole number of 1 or more, not True"),
    (lambda i: i.search("spine", page=2.0), "page must be a whole number of 1 or more, not 2.0"),
    (lambda i: i.search("spine", per_page=None),
     "per_page must be a whole number from 1 to 100, not None"),
    (lambda i: i.search("spine", per_page=101),
     "per_page must be a whole number from 1 to 100, not 101"),
    (lambda i: i.search("spine", year_from="x"),
     "year_from must be a year such as 2015, or None, not 'x'"),
    (lambda i: i.search("spine", year_to=10**30),
     f"year_to must be a year such as 2015, or None, not {10**30}"),
    (lambda i: i.search("spine", journal=5), "journal must be text or None, not 5"),
    (lambda i: i.search("spine", mesh=["Spine"]), "mesh must be text or None, not list"),
    (lambda i: i.search("spine", sort=None),
     "sort must be one of relevance, newest, oldest, not None"),
    (lambda i: i.search("spine", expand="no"), "expand must be True or False, not 'no'"),
    (lambda i: i.search("spine", ranking="bm25"),
     "ranking must be an indexer.ranking.Ranking or None, not 'bm25'"),
    (lambda i: i.search("spine", pages=2), "search: got an unexpected keyword argument 'pages'"),
    (lambda i: i.search(), "search: missing a required argument: 'text'"),
    (lambda i: i.search(b"spine"), "the query must be text, not b'spine'"),
    (lambda i: i.rank(None), "the query must be text, not None"),
    (lambda i: i.rank("spine", k="5"), "k must be a whole number of 1 or more, not '5'"),
    (lambda i: i.records("spine", limit=None),
     "limit must be a whole number of 0 or more, not None"),
    (lambda i: i.records("spine", sort="best"),
     "sort must be one of relevance, newest, oldest, not 'best'"),
    (lambda i: i.article(None), "pmid must be a PubMed ID such as '21349964', not None"),
    (lambda i: i.article(""), "pmid must be a PubMed ID such as '21349964', not ''"),
    (lambda i: i.similar(["21349964"]), "pmid must be a PubMed ID such as '21349964', not list"),
    (lambda i: i.similar("21349964", limit=-1),
     "limit must be a whole number of 0 or more, not -1"),
    (lambda i: i.suggest(None), "the prefix must be text, not None"),
    (lambda i: i.suggest("sp", limit="3"), "limit must be a whole number of 0 or more, not '3'"),
])
def test_wrong_arguments_are_query_errors_naming_the_parameter(idx, call, message):
    with pytest.raises(QueryError) as error:
        call(idx)
    assert str(error.value) == message


def test_right_arguments_of_every_kind_still_work(idx):
    assert idx.search("vertebroplasty", page=1, per_page=1, year_from=2016, year_to=None,
                      journal="Spine", mesh=None, expand=False).total == 1
    assert idx.article(21349964).pmid == "21349964"  # a PMID may be a number
    assert idx.rank("spine", k=1) == [("30000005", pytest.approx(idx.rank("spine")[0][1]))]
    assert (idx.similar("21349964", limit=0), idx.records("spine", limit=0),
            idx.suggest("s", limit=0)) == ([], [], [])


@pytest.mark.parametrize("root, message", [
    (5, "the index must be a folder path such as 'index', not 5"),
    (b"index", "the index must be a folder path such as 'index', not b'index'"),
    ("", "the index must be a folder path such as 'index', not ''"),
])
def test_open_index_wants_a_folder(root, message):
    with pytest.raises(QueryError) as error:
        open_index(root)
    assert str(error.value) == message


def test_open_index_without_a_path_opens_the_default_location(index_dir, tmp_path):
    # Run where there is no index/ folder, as a caller's script would.
    script = ("from indexer import open_index, IndexMissing\n"
              "for index in (lambda: open_index(), lambda: open_index(None)):\n"
              "    try:\n"
              "        print(len(index()))\n"
              "    except IndexMissing as error:\n"
              "        print(error)\n")
    for env_value, expected in ((None, "no index at index: run `medsearch build`\n" * 2),
                                (str(index_dir), "6\n6\n")):
        env = dict(os.environ, PYTHONPATH=str(REPO))
        env.pop("MEDSEARCH_INDEX", None)
        if env_value:
            env["MEDSEARCH_INDEX"] = env_value
        proc = subprocess.run([sys.executable, "-c", script], cwd=tmp_path, env=env,
                              capture_output=True, text=True, timeout=60)
        assert (proc.stdout, proc.stderr) == (expected, "")


def test_open_index_of_a_missing_folder_says_what_to_do(tmp_path):
    with pytest.raises(IndexMissing) as error:
        open_index(tmp_path / "none")
    assert str(error.value) == f"no index at {tmp_path / 'none'}: run `medsearch build`"
