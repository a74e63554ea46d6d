"""The layout's rules, read from the source with ast: they fail when broken.

Only the Whoosh engine imports Whoosh; the engine-neutral packages never
import the engine; no import cycles (imports inside functions count); no
module over 450 lines.
"""

from __future__ import annotations

import ast
import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
INDEXER = REPO / "indexer"
ENGINE_PACKAGE = "indexer.whoosh_engine"
# Engine-neutral: they must not import the Whoosh engine (not even lazily).
NEUTRAL = ("indexer.pages", "indexer.query", "indexer.export", "indexer.search",
           "indexer.results", "indexer.errors")
# Poke Whoosh on purpose: the bare-Whoosh baseline and tests of Whoosh itself.
# test_snippets.py holds the snippets equal to Whoosh's own highlighter.
MAY_IMPORT_WHOOSH = {"bench/searching.py", "tests/test_whoosh_pin.py", "tests/test_scoring.py",
                     "tests/test_incremental.py", "tests/test_snippets.py",
                     "tests/test_phrases.py"}  # held equal to Whoosh's own answers
MAX_LINES = 450


def module_name(path: Path) -> str:
    parts = list(path.relative_to(REPO).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def imports(path: Path) -> set[str]:
    """Every module `path` imports, anywhere in it, as absolute dotted names."""
    name = module_name(path)
    package = name if path.name == "__init__.py" else name.rpartition(".")[0]
    found: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                anchor = package.split(".")[:len(package.split(".")) - node.level + 1]
                base = ".".join(anchor + ([base] if base else []))
            found.add(base)
            # `from package import module` imports the module too.
            found.update(f"{base}.{alias.name}" for alias in node.names)
    return found


def python_files(*folders: str) -> list[Path]:
    return sorted(p for folder in folders for p in (REPO / folder).rglob("*.py"))


def indexer_graph() -> dict[str, set[str]]:
    modules = {module_name(p): p for p in python_files("indexer")}
    return {name: {m for m in imports(path) if m in modules and m != name}
            for name, path in modules.items()}


def test_only_the_whoosh_engine_imports_whoosh():
    offenders = [
        str(p.relative_to(REPO)) for p in python_files("indexer", "webui", "bench", "tools", "tests")
        if not module_name(p).startswith(ENGINE_PACKAGE)
        and str(p.relative_to(REPO)) not in MAY_IMPORT_WHOOSH
        and any(m == "whoosh" or m.startswith("whoosh.") for m in imports(p))]
    assert offenders == []


def test_engine_neutral_modules_do_not_import_the_engine():
    offenders = {
        module_name(p): sorted(m for m in imports(p) if m.startswith(ENGINE_PACKAGE))
        for p in python_files("indexer", "webui")
        if module_name(p).startswith(NEUTRAL) or module_name(p).startswith("webui")}
    assert {name: found for name, found in offenders.items() if found} == {}


def test_only_the_seam_chooses_the_engine():
    # indexer.engine imports it, lazily, in the one function that chooses an engine.
    importers = sorted(name for name, targets in indexer_graph().items()
                       if not name.startswith(ENGINE_PACKAGE)
                       and any(t.startswith(ENGINE_PACKAGE) for t in targets))
    assert importers == ["indexer.engine"]


def test_no_import_cycles_among_indexer_modules():
    graph = indexer_graph()
    # A package imports its own modules (its __init__); that is not a cycle back.
    for name in graph:
        graph[name] = {t for t in graph[name] if not name.startswith(t + ".")}
    cycles = []
    state: dict[str, str] = {}

    def visit(node: str, path: list[str]) -> None:
        state[node] = "open"
        for target in sorted(graph[node]):
            if state.get(target) == "open":
                cycles.append(path[path.index(target):] + [target])
            elif target not in state:
                visit(target, path + [target])
        state[node] = "done"

    for name in sorted(graph):
        if name not in state:
            visit(name, [name])
    assert cycles == []


def test_no_module_is_over_450_lines():
    long = {str(p.relative_to(REPO)): n for p in python_files("indexer", "webui", "bench", "tools")
            if (n := len(p.read_text(encoding="utf-8").splitlines())) > MAX_LINES}
    assert long == {}


def test_the_folders_show_the_stages():
    packages = sorted(p.parent.name for p in INDEXER.glob("*/__init__.py"))
    assert packages == ["evaluation", "pages", "query", "semantic", "solr_engine", "whoosh_engine"]


# --- an index written before the move ------------------------------------------------

def index_of_an_older_layout(corpus_dir, root: Path) -> Path:
    """An index whose pickled analyzer names a module that no longer exists, as
    every index written before the analyzer moved into indexer.whoosh_engine does
    (those were published before checksums were recorded: no files.json)."""
    from indexer.engine import build_index

    build_index(corpus_dir, root)
    for toc in root.glob("gen-*/*.toc"):
        pickled = toc.read_bytes()
        assert b"indexer.whoosh_engine.analysis" in pickled
        # Same length: Whoosh stores the pickle behind its length.
        toc.write_bytes(pickled.replace(b"indexer.whoosh_engine.analysis",
                                        b"indexer.whoosh_engine.analysiz"))
    for listed in root.glob("gen-*/files.json"):
        listed.unlink()
    return root


def test_an_index_of_an_older_layout_says_to_rebuild(corpus_dir, tmp_path):
    root = index_of_an_older_layout(corpus_dir, tmp_path / "index")
    for command in (["search", "kyphoplasty"], ["stats"]):
        done = subprocess.run([sys.executable, "-m", "indexer", *command, "--index", str(root)],
                              capture_output=True, text=True, cwd=REPO, check=False)
        assert (done.returncode, done.stdout) == (1, "")
        assert done.stderr == (f"medsearch: the index at {root} was written by an older "
                               "medsearch: run `medsearch build`\n")


def test_serve_rebuilds_an_index_of_an_older_layout(corpus_dir, tmp_path):
    from indexer import engine, open_index

    root = index_of_an_older_layout(corpus_dir, tmp_path / "index")
    assert not engine.has_index(root)  # so `medsearch serve` (and `make serve`) builds first
    engine.build_index(corpus_dir, root)
    with_rebuilt = open_index(root)
    assert len(with_rebuilt) == 6
    with_rebuilt.close()


def test_update_rebuilds_an_index_of_an_older_layout(corpus_dir, tmp_path):
    from indexer import engine, open_index

    root = index_of_an_older_layout(corpus_dir, tmp_path / "index")
    report = engine.update_index(corpus_dir, root)
    assert report.note == "rebuilt everything: it was written by an older medsearch"
    with_rebuilt = open_index(root)
    assert len(with_rebuilt) == 6
    with_rebuilt.close()
