"""Find the images in a folder: a deterministic, read-only walk that says what it found and what it skipped.

Labels come from the first-level subfolders (``root/<class>/.../img.png``); images directly in the root are
unlabelled (-1). Nothing here opens an image: decode failures are added later by ``load_images``.

A symbolic link to a file the scan already lists (or two links to one file) is the same image twice: by default
only one copy is kept (the real file where it is in the folder) and the others are reported as duplicate links.
"""

from __future__ import annotations

import json
import os
import stat
from collections import Counter
from collections.abc import Callable, Collection
from dataclasses import asdict, dataclass, field
from pathlib import Path

from workbench.errors import Cancelled, DataError
from workbench.files import atomic_write_text

IMAGE_EXTENSIONS = frozenset({".jpg", ".jpeg", ".png", ".bmp", ".gif", ".webp", ".tif", ".tiff"})

# Extension -> format name used in ScanReport.formats (the decoder later recounts by the real format).
_FORMAT_OF_EXTENSION = {".jpg": "JPEG", ".jpeg": "JPEG", ".tif": "TIFF", ".tiff": "TIFF"}
_SUMMARY_MAX_SKIPPED = 20
_PROGRESS_EVERY_DIRS = 16  # folders between progress calls during the walk


@dataclass
class SkippedFile:
    path: str  # posix path relative to the root
    reason: str  # one short human sentence, e.g. "truncated image file"


@dataclass
class DuplicateLink:
    path: str  # the symbolic link, posix path relative to the root
    same_as: str  # the listed image it resolves to (relative to the root)


@dataclass
class ScanReport:
    root: str  # absolute path of the folder
    paths: list[str]  # usable images, posix paths relative to root, sorted
    labels: list[int]  # per image: index into class_names, -1 when unlabelled
    class_names: list[str]  # sorted first-level subfolder names that contain images; [] when none
    skipped: list[SkippedFile] = field(default_factory=list)
    formats: dict[str, int] = field(default_factory=dict)  # count per format, e.g. {"PNG": 10}
    sizes: dict[str, int] = field(default_factory=dict)  # count per original "WxH" (filled by load_images)
    duplicate_links: list[DuplicateLink] = field(default_factory=list)  # links to an image listed under another name
    duplicate_links_kept: bool = False  # True: those links are in `paths` too (scan_folder's keep_duplicate_links)
    excluded: list[str] = field(default_factory=list)  # images left out by the run's exclusion list (data.exclude)

    @property
    def has_labels(self) -> bool:
        return len(self.class_names) > 0

    def to_dict(self) -> dict:
        return asdict(self)

    @classmethod
    def from_dict(cls, d: dict) -> ScanReport:
        return cls(
            root=str(d["root"]),
            paths=[str(p) for p in d["paths"]],
            labels=[int(x) for x in d["labels"]],
            class_names=[str(c) for c in d["class_names"]],
            skipped=[SkippedFile(path=str(s["path"]), reason=str(s["reason"])) for s in d.get("skipped", [])],
            formats={str(k): int(v) for k, v in d.get("formats", {}).items()},
            sizes={str(k): int(v) for k, v in d.get("sizes", {}).items()},
            duplicate_links=[
                DuplicateLink(path=str(x["path"]), same_as=str(x["same_as"])) for x in d.get("duplicate_links", [])
            ],
            duplicate_links_kept=bool(d.get("duplicate_links_kept", False)),
            excluded=[str(p) for p in d.get("excluded", [])],
        )

    def duplicate_links_note(self) -> str:
        """One sentence about links to images listed under another name, or "" when there are none."""
        n = len(self.duplicate_links)
        if not n:
            return ""
        what = f"{n} symbolic link{'s' if n != 1 else ''} to images already in the folder"
        if self.duplicate_links_kept:
            return f"{what} kept as separate images (each is an exact duplicate)."
        return f"{what} left out (exact duplicates; each image counts once)."

    def summary(self) -> str:
        """Human text for the CLI: images found, per-label counts, and every skipped file with its reason."""
        n = len(self.paths)
        lines = [f"Found {n} image{'s' if n != 1 else ''} in '{self.root}'."]
        counts = Counter(self.labels)
        if self.has_labels:
            lines.append(f"{len(self.class_names)} labels (first-level folders):")
            width = max(len(c) for c in [*self.class_names, "(unlabelled)" if counts.get(-1) else ""])
            lines += [f"  {name:<{width}}  {counts.get(i, 0)}" for i, name in enumerate(self.class_names)]
            if counts.get(-1, 0):
                lines.append(f"  {'(unlabelled)':<{width}}  {counts[-1]}")
        else:
            lines.append("No labels (no subfolders with images).")
        if self.formats:
            lines.append("Formats: " + ", ".join(f"{k} {v}" for k, v in sorted(self.formats.items())))
        if self.skipped:
            lines.append(f"Skipped {len(self.skipped)} file{'s' if len(self.skipped) != 1 else ''}:")
            lines += [f"  {s.path}: {s.reason}" for s in self.skipped[:_SUMMARY_MAX_SKIPPED]]
            if len(self.skipped) > _SUMMARY_MAX_SKIPPED:
                lines.append(f"  ... and {len(self.skipped) - _SUMMARY_MAX_SKIPPED} more")
        else:
            lines.append("Skipped 0 files.")
        if self.excluded:
            n_ex = len(self.excluded)
            lines.append(f"Excluded {n_ex} image{'s' if n_ex != 1 else ''} (the run's exclusion list, data.exclude).")
        if self.duplicate_links:
            lines.append(self.duplicate_links_note()[:-1] + ":")
            lines += [f"  {x.path} -> {x.same_as}" for x in self.duplicate_links[:_SUMMARY_MAX_SKIPPED]]
            if len(self.duplicate_links) > _SUMMARY_MAX_SKIPPED:
                lines.append(f"  ... and {len(self.duplicate_links) - _SUMMARY_MAX_SKIPPED} more")
        return "\n".join(lines)

    def save(self, path: Path) -> None:
        """Write the report as JSON atomically (workbench.files)."""
        atomic_write_text(path, json.dumps(self.to_dict(), indent=1))


def format_of(path: str) -> str:
    """Format name guessed from the extension: ".jpg" -> "JPEG", ".png" -> "PNG"."""
    ext = os.path.splitext(path)[1].lower()
    return _FORMAT_OF_EXTENSION.get(ext, ext[1:].upper())


@dataclass
class _Walked:
    """What the walk found, as flat lists of strings (no object per file: 100,000 small objects would survive into
    the collector's oldest generation and trigger a full collection, which holds the GIL, on the scan's thread)."""

    rels: list[str] = field(default_factory=list)  # posix paths relative to the root, in walk order
    reals: list[str] = field(default_factory=list)  # the file each one is (links resolved), case-normalised
    links: set[int] = field(default_factory=set)  # indices of the symbolic links


def _walk(
    root: Path, should_stop: Callable[[], bool] | None, progress: Callable[[int, int], None] | None
) -> tuple[_Walked, list[SkippedFile]]:
    """Image files under root (with the file each one really is), plus unreadable folders and broken links.

    Follows symlinked folders, but each real folder is entered at most once, so link loops terminate.
    One lstat per file, as the old exists() check cost: a link's target is resolved only for links. Folders and
    the files in each are visited in sorted order, so the final sort of the paths finds them (nearly) sorted.
    """
    walked = _Walked()
    rels, reals = walked.rels, walked.reals
    skipped: list[SkippedFile] = []
    visited = {os.path.realpath(root)}
    normcase, join, lstat, splitext = os.path.normcase, os.path.join, os.lstat, os.path.splitext

    def on_error(err: OSError) -> None:
        rel = Path(os.path.relpath(err.filename, root)).as_posix() if err.filename else "."
        skipped.append(SkippedFile(rel, f"folder could not be read ({err.strerror or err})"))

    for n_dirs, (dirpath, dirnames, filenames) in enumerate(os.walk(root, onerror=on_error, followlinks=True)):
        if should_stop is not None and should_stop():
            raise Cancelled("scan cancelled")
        if progress is not None and n_dirs % _PROGRESS_EVERY_DIRS == 0:
            progress(len(rels), 0)  # total unknown while walking
        keep = []
        for d in sorted(dirnames):
            if d.startswith("."):
                continue
            real = os.path.realpath(join(dirpath, d))
            if real in visited:  # a link loop or a second link to the same folder
                continue
            visited.add(real)
            keep.append(d)
        dirnames[:] = keep  # os.walk descends only into these, in this order
        rel_dir = Path(os.path.relpath(dirpath, root)).as_posix()
        prefix = "" if rel_dir == "." else rel_dir + "/"
        real_dir = os.path.realpath(dirpath)
        for name in sorted(filenames):
            if name.startswith(".") or splitext(name)[1].lower() not in IMAGE_EXTENSIONS:
                continue
            full = join(dirpath, name)
            try:
                is_link = stat.S_ISLNK(lstat(full).st_mode)
            except OSError:  # removed while we walk
                continue
            if is_link:
                if not os.path.exists(full):  # a symlink whose target is gone
                    skipped.append(SkippedFile(prefix + name, "broken link (the file it points to does not exist)"))
                    continue
                walked.links.add(len(rels))
                reals.append(normcase(os.path.realpath(full)))
            else:
                reals.append(normcase(join(real_dir, name)))
            rels.append(prefix + name)
    return walked, skipped


def _split_duplicate_links(walked: _Walked) -> tuple[list[str], list[DuplicateLink]]:
    """(one path per real file, the links to a file listed under another name). The copy kept is the real file
    when it is in the folder, else the first link in path order."""
    rels, reals, links = walked.rels, walked.reals, walked.links
    order = sorted(range(len(rels)), key=rels.__getitem__)  # walk order is nearly sorted: cheap
    if not links:  # no symbolic links: every file is itself (the usual folder)
        return [rels[i] for i in order], []
    kept: dict[str, int] = {}  # real file -> index of the copy kept
    for i in order:
        k = kept.get(reals[i])
        if k is None or (k in links and i not in links):  # the first copy, or the first real file after links
            kept[reals[i]] = i
    unique = sorted(rels[k] for k in kept.values())
    duplicates = [DuplicateLink(rels[i], rels[kept[reals[i]]]) for i in order if kept[reals[i]] != i]
    return unique, duplicates


def scan_folder(
    root: str | Path,
    *,
    progress: Callable[[int, int], None] | None = None,
    should_stop: Callable[[], bool] | None = None,
    keep_duplicate_links: bool = False,
    exclude: Collection[str] = (),
) -> ScanReport:
    """Walk `root` recursively and list its images (read-only; nothing is opened or written).

    `exclude`: relative posix paths left out of `paths` (the run's exclusion list; the files are never touched); the
    ones found are listed in `excluded`, names not in the folder are ignored.

    Symbolic links to an image listed under another name go to `duplicate_links`; they are left out of `paths`
    unless keep_duplicate_links is True (then each link counts as an image of its own, as a copied file would).

    progress(found, 0) is called while the walk runs (total 0: not known yet) and progress(n, n) at the
    end; should_stop() is polled once per folder. Raises DataError for a missing, unreadable or image-less folder and
    Cancelled when should_stop() returns True.
    """
    root = Path(root).expanduser()
    if not root.exists():
        raise DataError(f"Folder '{root}' does not exist.")
    if not root.is_dir():
        raise DataError(f"'{root}' is not a folder.")
    root = root.resolve()
    try:
        os.listdir(root)
    except OSError as e:
        raise DataError(f"Folder '{root}' cannot be read ({e.strerror or e}).") from e

    walked, skipped = _walk(root, should_stop, progress)
    unique, duplicates = _split_duplicate_links(walked)
    found = list(walked.rels) if keep_duplicate_links else unique
    excluded: list[str] = []
    if exclude:
        drop = set(exclude)
        excluded = sorted(p for p in found if p in drop)
        found = [p for p in found if p not in drop]
        if excluded and not found:
            raise DataError(f"Every image in '{root}' is in the exclusion list (data.exclude); nothing is left to use.")
    if not found:
        if skipped:
            first = skipped[0]
            raise DataError(
                f"Folder '{root}' has no readable images: all {len(skipped)} image files were skipped "
                f"(first: {first.path}: {first.reason})."
            )
        exts = ", ".join(sorted(IMAGE_EXTENSIONS))
        raise DataError(f"Folder '{root}' contains no image files ({exts}).")

    found.sort()
    skipped.sort(key=lambda s: s.path)
    top = [p.split("/", 1)[0] if "/" in p else None for p in found]
    class_names = sorted({t for t in top if t is not None})
    index = {name: i for i, name in enumerate(class_names)}
    labels = [index[t] if t is not None else -1 for t in top]
    formats = dict(sorted(Counter(format_of(p) for p in found).items()))
    if progress is not None:
        progress(len(found), len(found))
    duplicates.sort(key=lambda x: x.path)
    return ScanReport(
        str(root), found, labels, class_names, skipped, formats, {}, duplicates, keep_duplicate_links, excluded
    )
