"""How a seeds folder differs from a manifest of the pages last indexed, and the
record each affected key then has: what `update` sends, on either engine.

Engine-neutral: the Whoosh update reads its manifest from the live
generation's folder, the SolrCloud update rebuilds it from the documents'
fingerprints (solr_engine.update); both compare and pick here, as a build
would pick (collect.pick).
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from .collect import manifest_entry, pick
from .records import Record, record_key
from .scan import PageFile, Progress, Workers, process_page

if TYPE_CHECKING:
    from ..query import mesh

# A page modified this close to the last scan may have changed again within
# the same mtime tick: compare its content, not just size and mtime.
RACY_NS = 2_000_000_000


@dataclass
class Changes:
    """How the seeds folder differs from the live generation's manifest."""

    entries: dict[str, dict] = field(default_factory=dict)  # new manifest, scan order
    fresh: dict[str, list[Record]] = field(default_factory=dict)  # just extracted, by file
    affected: set[str] = field(default_factory=set)         # keys to delete and re-pick
    added: int = 0
    changed: int = 0
    removed: int = 0
    touched: int = 0  # stat changed, content not

    @property
    def any(self) -> bool:
        return bool(self.added or self.changed or self.removed or self.touched)


def compare(pages: list[PageFile], manifest: dict, workers: Workers,
            progress: Progress | None = None) -> Changes:
    """Sort pages into unchanged, added and changed (reading only those whose
    size or mtime moved), and find the removed ones."""
    old: dict[str, dict] = manifest["pages"]
    racy = manifest.get("scanned_ns", 0) - RACY_NS
    changes = Changes()
    suspects: list[tuple[PageFile, dict | None]] = []
    for page in pages:
        entry = old.get(page.rel)
        if entry and entry["sha1"] and (entry["size"], entry["mtime_ns"]) == (
                page.size, page.mtime_ns) and entry["mtime_ns"] < racy:
            changes.entries[page.rel] = entry
        else:
            changes.entries[page.rel] = {}  # keeps scan order; filled below
            suspects.append((page, entry))
    jobs = [(page.path, entry["sha1"] if entry else None) for page, entry in suspects]
    for (page, entry), (sha1, found, reason) in zip(
            suspects, workers.map(process_page, jobs, progress=progress)):
        if entry and sha1 is not None and sha1 == entry["sha1"] and not found:
            changes.entries[page.rel] = {**entry, "size": page.size, "mtime_ns": page.mtime_ns}
            changes.touched += 1
            continue
        new = manifest_entry(page, sha1, found, reason)
        changes.entries[page.rel] = new
        if found:
            changes.fresh[page.rel] = found
        _note_change(changes, entry, new)
    for rel, entry in old.items():
        if rel not in changes.entries:
            changes.removed += 1
            _note_change(changes, entry, None)
    return changes


def _note_change(changes: Changes, old: dict | None, new: dict | None) -> None:
    if old is None:
        changes.added += 1
    elif new is not None:
        changes.changed += 1
    for entry in (old, new):
        if entry:
            changes.affected.update(entry["keys"])


def pick_winners(changes: Changes, pages: dict[str, PageFile], workers: Workers) -> list[Record]:
    """The record each affected key now has, chosen as a build would choose it.

    A key's other pages (the same article reposted elsewhere) were not re-read;
    they are extracted again here, so the richest copy wins as in a build.
    """
    holders: dict[str, list[str]] = {}
    for rel, entry in changes.entries.items():
        for key in dict.fromkeys(entry["keys"]):  # an export may list an article twice
            if key in changes.affected:
                holders.setdefault(key, []).append(rel)
    needed = {rel for rels in holders.values() for rel in rels}
    missing = [rel for rel in changes.entries if rel in needed and rel not in changes.fresh]
    jobs = [(pages[rel].path, None) for rel in missing]
    found = dict(changes.fresh)
    for rel, (_, records, _) in zip(missing, workers.map(process_page, jobs)):
        found[rel] = records
    # Each key's copies in scan order, as a build sees them.
    winners = [pick(r for rel in rels for r in found.get(rel, []) if record_key(r) == key)
               for key, rels in holders.items()]
    return sorted((w for w in winners if w is not None), key=record_key)


def vocabulary_key(vocabulary: "mesh.Vocabulary") -> list:
    """What the manifest remembers of the vocabulary: a different one makes
    `update` rebuild everything, as the rejoined headings depend on it."""
    try:
        info = os.stat(vocabulary.path)
    except OSError:
        return [vocabulary.kind, vocabulary.path, None]
    return [vocabulary.kind, vocabulary.path, [info.st_size, info.st_mtime_ns]]
