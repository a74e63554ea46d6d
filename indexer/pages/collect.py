"""Every page under a seeds folder read into records: one per article, with the
manifest `update` compares against and the build's report.

Engine-neutral: the Whoosh and the SolrCloud builds both read pages here, so
both index the same records from the same pages and skip the same ones.
"""

from __future__ import annotations

import time
from collections.abc import Iterable
from pathlib import Path

from ..errors import BuildFailed
from ..results import BuildReport
from .records import Record, record_key
from .scan import PageFile, Progress, Workers, code_version, process_page, scan
from .sources import merge_copies
from .text import printable


# --- records ----------------------------------------------------------------------

def richness(record: Record) -> tuple:
    """How complete a record is: of two copies of one PMID the richer one wins."""
    return (
        record.abstract is not None,
        len(record.abstract or ""),
        len(record.keywords),
        len(record.authors),
        sum(v is not None for v in (record.journal, record.year, record.organisation)),
    )


def pick(records: Iterable[Record]) -> Record | None:
    """Of the copies of one article, in page order, the first of the richest,
    with the richer fields of the others (sources.merge_copies)."""
    copies = list(records)
    best = None
    for record in copies:
        if best is None or richness(record) > richness(best):
            best = record
    return merge_copies(best, copies) if best else None


def manifest_entry(page: PageFile, sha1: str | None, records: list[Record],
                   reason: str | None) -> dict:
    """What the manifest remembers of one file (a PubMed export has many keys)."""
    return {"size": page.size, "mtime_ns": page.mtime_ns, "sha1": sha1,
            "keys": [record_key(r) for r in records], "skip": reason}


def entry_keys(entries: Iterable[dict]) -> set[str]:
    """The keys the files of these manifest entries give."""
    return {key for entry in entries for key in entry["keys"]}


def new_manifest(seeds: Path, pages: dict[str, dict], scanned_ns: int) -> dict:
    # Resolved, so that `seeds` and `./seeds` are the same folder to `update`.
    return {"seeds": str(Path(seeds).resolve()), "code": code_version(), "scanned_ns": scanned_ns,
            "pages": pages}


def count_duplicates(entries: Iterable[dict]) -> int:
    """Records whose article another record (a page, or an export's entry) already gave."""
    keys = [key for e in entries for key in e["keys"]]
    return len(keys) - len(set(keys))


def collect_records(
    seeds: Path, workers: Workers, progress: Progress | None = None
) -> tuple[dict[str, Record], dict, BuildReport]:
    """Extract every page under `seeds`: one record per key, the manifest, the report."""
    seeds = Path(seeds)
    require_seeds(seeds)
    scanned_ns = time.time_ns()
    pages, skipped = scan(seeds)
    report = BuildReport(seeds=printable(str(seeds)), pages=len(pages) + len(skipped),
                         skipped=skipped)
    copies: dict[str, list[Record]] = {}
    entries: dict[str, dict] = {}
    jobs = ((page.path, None) for page in pages)
    for page, (sha1, found, reason) in zip(
            pages, workers.map(process_page, jobs, progress=progress, total=len(pages))):
        entries[page.rel] = manifest_entry(page, sha1, found, reason)
        if not found:
            report.skipped.append((printable(page.path), reason or "unknown reason"))
        for record in found:
            copies.setdefault(record_key(record), []).append(record)
    report.skipped.sort()
    report.duplicates = count_duplicates(entries.values())
    records = {key: pick(found) for key, found in copies.items()}
    return records, new_manifest(seeds, entries, scanned_ns), report


def require_seeds(seeds: Path) -> None:
    """BuildFailed unless `seeds` is a folder: checked before the index is touched."""
    if not seeds.is_dir():
        raise BuildFailed(f"no seeds folder at {printable(str(seeds))}: "
                          "pass --seeds DIR or set MEDSEARCH_SEEDS")
