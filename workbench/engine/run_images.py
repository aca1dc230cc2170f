"""What a resumed run says when images it started with are gone: one line among the run's messages, e.g. "12 of the
1,000 images this run started with are gone; training goes on with 988."

A new run records its images in RUN/start_images.json (written once, atomically): their count and a digest of their
sorted paths, a few bytes whatever the folder's size. RUN/scan_report.json lists the images the previous process
trained on (each start or resume rewrites it), so at a resume, before it is rewritten, the images gone since are
exact; with the record they are counted against the images the run started with, across any number of resumes.
Runs from before the record count from their scan report alone; a run with neither says nothing.
"""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
from pathlib import Path

from workbench.engine.runs import START_IMAGES_FILE, RunDir, read_json_object


def paths_digest(paths: Sequence[str]) -> str:
    """sha1 of the sorted relative paths, one per line: the same image list gives the same digest."""
    h = hashlib.sha1()
    for p in sorted(paths):
        h.update(p.encode("utf-8", "surrogateescape") + b"\n")
    return h.hexdigest()


def record_start_images(run: RunDir, root: str | Path, paths: Sequence[str]) -> None:
    """Record the images a new run starts with (atomic; never rewritten by a resume)."""
    run.save_json(START_IMAGES_FILE, {"root": str(root), "count": len(paths), "digest": paths_digest(paths)})


def images_gone_message(run: RunDir, root: str | Path, paths: Sequence[str]) -> str | None:
    """At a resume, before the scan report is rewritten: the sentence saying how many of the images the run started
    with are gone, or None when none is (or the run recorded nothing to compare with, or another folder)."""
    start = read_json_object(run.path / START_IMAGES_FILE)
    previous = read_json_object(run.scan_report_path)
    now = set(paths)
    prev_paths = previous.get("paths")
    same_root = Path(str(previous.get("root", ""))) == Path(str(root))
    count = start.get("count")
    if not isinstance(count, int) or isinstance(count, bool) or Path(str(start.get("root", ""))) != Path(str(root)):
        count = None
    if isinstance(prev_paths, list) and same_root:
        prev = [str(p) for p in prev_paths]
        gone_since = sum(p not in now for p in prev)
        if count is None:  # a run from before the record: its last scan is what it started with, as far as we know
            count = len(prev)
        # the images of the start already gone before the previous process (an earlier resume said so) plus those
        # gone since; the previous list is the start's itself when the digests agree
        earlier = 0 if start.get("digest") == paths_digest(prev) else max(count - len(prev), 0)
        gone = min(earlier + gone_since, count)
    elif count is not None:
        gone = max(count - len(now), 0)  # no usable scan report: by the count alone
    else:
        return None
    if gone <= 0:
        return None
    return (
        f"{gone:,} of the {count:,} image{'s' if count != 1 else ''} this run started with "
        f"{'is' if gone == 1 else 'are'} gone; training goes on with {len(paths):,}."
    )


__all__ = ["START_IMAGES_FILE", "images_gone_message", "paths_digest", "record_start_images"]
