"""Take docs/screenshot-results.png: the results page over the demo pages.

    .venv/bin/python tools/screenshot.py [--seeds seeds] [--query "..."] [--out PATH]

Builds the demo index from the seeds folder into a temporary folder, serves
it with `medsearch serve` (the real server), and photographs the results
page with Debian's chromium through Playwright.
"""

from __future__ import annotations

import argparse
import subprocess
import sys
import tempfile
from pathlib import Path
from urllib.parse import urlencode

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO / "tests"))
sys.path.insert(0, str(REPO))

from webui_fixtures import launch_chromium, running_site  # noqa: E402


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seeds", default=str(REPO / "seeds"))
    parser.add_argument("--query", default="vertebroplasty cement leakage")
    parser.add_argument("--out", default=str(REPO / "docs" / "screenshot-results.png"))
    parser.add_argument("--width", type=int, default=1280)
    parser.add_argument("--height", type=int, default=1100)
    args = parser.parse_args(argv)

    from playwright.sync_api import sync_playwright

    with tempfile.TemporaryDirectory() as tmp:
        index = Path(tmp) / "index"
        subprocess.run([sys.executable, "-m", "indexer", "build", "--seeds", args.seeds,
                        "--index", str(index)], cwd=REPO, check=True)
        with running_site(index, workers=2) as url, sync_playwright() as p:
            browser = launch_chromium(p)
            page = browser.new_page(viewport={"width": args.width, "height": args.height})
            page.goto(f"{url}/?{urlencode({'q': args.query})}")
            page.wait_for_selector("ol.hits mark")
            Path(args.out).parent.mkdir(parents=True, exist_ok=True)
            page.screenshot(path=args.out)
            browser.close()
    print(f"saved {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
