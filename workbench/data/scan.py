"""Find the images in a folder: a deterministic, read-only walk that says what it found and what it skipped.

Labels come from the first-level subfolders (``root/<class>/.../img.png``); images directly in the root are
unlabelled (-1). Nothing here opens an image: decode failures are added later by ``load_images``.
"""

from __future__ import annotations

import json
import os
from collections import Counter
from collections.abc import Callable
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
class ScanReport:
    root: str  # absolute path of the folder
    paths: list[str]  # usable images, posix paths relative to root, sorted
    labels: list[int]  # per image: index into class_names, -1 when unlabelled
    class_names: list[str]  # sorted first-level subfolder names that contain images; [] when none
    skipped: list[SkippedFile] = field(default_factory=list)
    formats: dict[str, int] = field(default_factory=dict)  # count per format, e.g. {"PNG": 10}
    sizes: dict[str, int] = field(default_factory=dict)  # count per original "WxH" (filled by load_images)

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
        )

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
        return "\n".join(lines)

    def save(self, path: Path) -> None:
        """Write the report as JSON atomically (workbench.files)."""
        atomic_write_text(path, json.dumps(self.to_dict(), indent=1))


def format_of(path: str) -> str:
    """Format name guessed from the extension: ".jpg" -> "JPEG", ".png" -> "PNG"."""
    ext = os.path.splitext(path)[1].lower()
    return _FORMAT_OF_EXTENSION.get(ext, ext[1:].upper())


def _walk(
    root: Path, should_stop: Callable[[], bool] | None, progress: Callable[[int, int], None] | None
) -> tuple[list[str], list[SkippedFile]]:
    """Relative posix paths of image files under root, plus unreadable folders and broken links.

    Follows symlinked folders, but each real folder is entered at most once, so link loops terminate.
    """
    found: list[str] = []
    skipped: list[SkippedFile] = []
    visited = {os.path.realpath(root)}

    def on_error(err: OSError) -> None:
        rel = Path(os.path.relpath(err.filename, root)).as_posix() if err.filename else "."
        skipped.append(SkippedFile(rel, f"folder could not be read ({err.strerror or err})"))

    for n_dirs, (dirpath, dirnames, filenames) in enumerate(os.walk(root, onerror=on_error, followlinks=True)):
        if should_stop is not None and should_stop():
            raise Cancelled("scan cancelled")
        if progress is not None and n_dirs % _PROGRESS_EVERY_DIRS == 0:
            progress(len(found), 0)  # total unknown while walking
        keep = []
        for d in sorted(dirnames):
            if d.startswith("."):
                continue
            real = os.path.realpath(os.path.join(dirpath, d))
            if real in visited:  # a link loop or a second link to the same folder
                continue
            visited.add(real)
            keep.append(d)
        dirnames[:] = keep  # os.walk descends only into these, in this order
        rel_dir = Path(os.path.relpath(dirpath, root))
        for name in filenames:
            if name.startswith(".") or os.path.splitext(name)[1].lower() not in IMAGE_EXTENSIONS:
                continue
            rel = (rel_dir / name).as_posix()
            if not os.path.exists(os.path.join(dirpath, name)):  # a symlink whose target is gone
                skipped.append(SkippedFile(rel, "broken link (the file it points to does not exist)"))
                continue
            found.append(rel)
    return found, skipped


def scan_folder(
    root: str | Path,
    *,
    progress: Callable[[int, int], None] | None = None,
    should_stop: Callable[[], bool] | None = None,
) -> ScanReport:
    """Walk `root` recursively and list its images (read-only; nothing is opened or written).

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

    found, skipped = _walk(root, should_stop, progress)
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
    return ScanReport(str(root), found, labels, class_names, skipped, formats, {})
