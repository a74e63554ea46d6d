"""Packaging: `make install` is quiet, and a wheel carries every template and asset."""

from __future__ import annotations

import shutil
import subprocess
import sys
import zipfile
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent


def test_wheel_builds_without_warnings_and_holds_the_web_files(tmp_path):
    # The same build backend `pip install -e .` runs (with build isolation, as
    # `make install` does), on a copy so the work tree gets no build/ folder.
    source = tmp_path / "src"
    source.mkdir()
    for name in ("pyproject.toml", "README.md"):
        shutil.copy2(REPO / name, source / name)
    for name in ("indexer", "webui"):
        shutil.copytree(REPO / name, source / name,
                        ignore=shutil.ignore_patterns("__pycache__"))
    done = subprocess.run(
        [sys.executable, "-m", "pip", "wheel", "--no-deps", "--no-cache-dir", "-v",
         "-w", str(tmp_path / "dist"), str(source)],
        capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, done.stdout[-2000:] + done.stderr[-2000:]
    output = done.stdout + done.stderr
    assert "BuildBackendWarning" not in output
    assert "is absent from the `packages` configuration" not in output
    [wheel] = (tmp_path / "dist").glob("medsearch-*.whl")
    names = set(zipfile.ZipFile(wheel).namelist())
    web_files = {str(p.relative_to(REPO)) for folder in ("webui/templates", "webui/static")
                 for p in (REPO / folder).iterdir() if p.is_file()}
    assert web_files and web_files <= names, web_files - names
