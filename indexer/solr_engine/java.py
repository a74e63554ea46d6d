"""Java and Solr's jars for the local SolrCloud (indexer.solr_engine.cluster).

The nodes run from Solr's Maven artifacts (solr/pom.xml) and the launcher in
solr/src; Maven fetches and builds them once per pom and launcher, into
~/.m2 and ~/.cache/medsearch. `python -m indexer.solr_engine.java` (`make solr`)
does it ahead of time.
"""

from __future__ import annotations

import hashlib
import os
import re
import shutil
import subprocess
from pathlib import Path

from ..errors import ClusterError

SOLR_PROJECT = Path(__file__).resolve().parents[2] / "solr"
MIN_JAVA = 11


def find_java() -> str:
    """The `java` to run (JAVA_HOME's, else the PATH's), checked to be new enough."""
    home = os.environ.get("JAVA_HOME")
    java = str(Path(home) / "bin" / "java") if home else shutil.which("java")
    if not java or not os.access(java, os.X_OK):
        raise ClusterError("Java is missing: install Java 17 (`make solr`, or "
                           "apt-get install openjdk-17-jdk-headless)")
    done = subprocess.run([java, "-version"], capture_output=True, text=True, check=False)
    found = re.search(r'version "(\d+)(?:\.(\d+))?', done.stderr)
    major = int(found.group(1)) if found else 0
    if major == 1 and found.group(2):  # "1.8.0" is Java 8
        major = int(found.group(2))
    if major < MIN_JAVA:
        raise ClusterError(f"Solr 9 needs Java {MIN_JAVA} or newer, {java} is "
                           f"{major or 'unknown'}: install Java 17 (`make solr`)")
    return java


def _build_stamp() -> str:
    """What the cached build depends on: the pom and the launcher's source."""
    digest = hashlib.sha256()
    for path in [SOLR_PROJECT / "pom.xml", *sorted((SOLR_PROJECT / "src").rglob("*.java"))]:
        digest.update(path.read_bytes())
    return digest.hexdigest()[:16]


def build_cache() -> Path:
    """Where the launcher and the classpath of this pom and source are kept:
    ~/.cache/medsearch (or $XDG_CACHE_HOME/medsearch), shared by every cluster."""
    base = Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache")
    return base / "medsearch" / f"solr-{_build_stamp()}"


def resolve_classpath(log_file: Path) -> str:
    """The JVMs' classpath: the compiled launcher and Solr's jars in ~/.m2.

    Maven runs once per pom and launcher (downloading into ~/.m2 the first
    time); later calls read the cached list without starting Maven.
    """
    if not (SOLR_PROJECT / "pom.xml").exists():
        raise ClusterError(f"{SOLR_PROJECT}/pom.xml is missing: run medsearch from a "
                           "clone of its repository")
    cache = build_cache()
    listing = cache / "classpath.txt"
    if listing.exists():
        jars = listing.read_text().strip().split(os.pathsep)
        if all(Path(jar).exists() for jar in jars):
            return os.pathsep.join([str(cache / "classes"), *jars])
    mvn = shutil.which("mvn")
    if not mvn:
        raise ClusterError("Maven is missing: install it (`make solr`, or apt-get install maven)")
    # Built aside and renamed into place: two clusters starting at once
    # never read a half-written cache.
    building = cache.with_name(f"{cache.name}.{os.getpid()}")
    shutil.rmtree(building, ignore_errors=True)
    building.mkdir(parents=True)
    log_file.parent.mkdir(parents=True, exist_ok=True)
    with open(log_file, "wb") as log:
        done = subprocess.run(
            [mvn, "-B", "-q", "-f", str(SOLR_PROJECT / "pom.xml"),
             f"-Dmedsearch.build={building}", "compile", "dependency:build-classpath",
             f"-Dmdep.outputFile={building / 'classpath.txt'}"],
            stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL, check=False)
    if done.returncode != 0 or not (building / "classpath.txt").exists():
        shutil.rmtree(building, ignore_errors=True)
        raise ClusterError(f"Maven could not fetch Solr's jars or build the launcher: see "
                           f"{log_file} (is Maven Central reachable?)")
    shutil.rmtree(cache, ignore_errors=True)  # a cache whose jars were deleted from ~/.m2
    try:
        building.rename(cache)
    except OSError:  # another process put its (identical) build there first
        shutil.rmtree(building, ignore_errors=True)
    return resolve_classpath(log_file)


def prepare() -> None:
    """`make solr`: fetch Solr's jars and build the launcher ahead of time."""
    try:
        resolve_classpath(build_cache().parent / "maven.log")
    except ClusterError as exc:
        raise SystemExit(f"medsearch: {exc}") from None
