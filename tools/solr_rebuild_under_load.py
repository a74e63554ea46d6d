"""Rebuild on SolrCloud again and again while the site serves; count failed searches.

    python tools/solr_rebuild_under_load.py --solr URL [--rebuilds 10] [--threads 3]

Builds the literal test corpus (tests/conftest.py) into the alias
`rebuild-under-load` (2 shards × 2 replicas), serves it with `medsearch
serve`, sends `/api/search` from --threads threads while `medsearch build`
replaces the collection --rebuilds times, and prints how many searches
were answered and every failure. The repeated form of
tests/test_solr_lifecycle.py's test_rebuilding_while_the_site_serves_fails_no_request,
for failures too rare for one rebuild to show (docs/solr.md).
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import threading
import time
import urllib.error
import urllib.parse
import urllib.request
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO / "tests"))

from conftest import ARTICLES, clinic_page  # noqa: E402
from webui_fixtures import running_site  # noqa: E402


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--solr", required=True, help="a SolrCloud URL (medsearch cluster up)")
    parser.add_argument("--rebuilds", type=int, default=10)
    parser.add_argument("--threads", type=int, default=3)
    args = parser.parse_args()
    os.environ["MEDSEARCH_SOLR"] = args.solr
    with tempfile.TemporaryDirectory() as tmp:
        seeds, root = Path(tmp) / "seeds", Path(tmp) / "rebuild-under-load"
        seeds.mkdir()
        for article in ARTICLES:
            (seeds / f"{article[0]}.html").write_text(clinic_page(*article), encoding="utf-8")
        command = [sys.executable, "-m", "indexer", "build", "--seeds", str(seeds),
                   "--index", str(root), "--shards", "2", "--replicas", "2"]

        def build() -> None:
            started = time.monotonic()
            done = subprocess.run(command, cwd=REPO, capture_output=True, text=True)
            print(f"build exit {done.returncode} in {time.monotonic() - started:.1f} s "
                  f"{done.stderr.strip()}", flush=True)

        build()
        answered, failures = [], []
        stop = threading.Event()

        def hammer(site: str) -> None:
            query = urllib.parse.urlencode({"q": "vertebroplasty OR sacroiliac"})
            while not stop.is_set():
                try:
                    with urllib.request.urlopen(f"{site}/api/search?{query}",
                                                timeout=30) as response:
                        answered.append(json.load(response)["total"])
                except urllib.error.HTTPError as exc:
                    failures.append(f"{exc.code} {exc.read()[:200]!r}")
                except Exception as exc:  # noqa: BLE001 - every failure is the finding
                    failures.append(repr(exc))

        with running_site(root, workers=2) as site:
            threads = [threading.Thread(target=hammer, args=(site,))
                       for _ in range(args.threads)]
            for thread in threads:
                thread.start()
            try:
                for _ in range(args.rebuilds):
                    build()
            finally:
                stop.set()
                for thread in threads:
                    thread.join()
    print(f"{len(answered)} searches answered, {len(failures)} failed")
    for failure in failures:
        print(f"  {failure}")
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
