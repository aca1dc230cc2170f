"""What a user takes away from labelling: a curated dataset folder and a predictions table.

`curate_dataset` writes chosen images as an ImageFolder layout, OUT/<label>/<file name>, in a new (or empty) folder
outside the image folder: copies (shutil.copy2, which keeps each file's modification time), or with `link=True` hard
links where the file system allows them (os.link; across file systems, or where links are refused, a copy). A hard
link is the same file as the original: no extra space, but editing one edits the other; the --help says so. The
source folder is only ever read. OUT/manifest.csv lists every written file (source, written, label, how) and is
written last, atomically, so a folder with a manifest is complete; a cancelled export leaves none.

Names are made safe and unique deterministically: items are written in (label, path) order; a label that is not a
usable folder name has its unsafe characters replaced by '_'; two labels with the same folder name (ignoring case,
for macOS and Windows) and two files with the same name in one label get a suffix ' (2)', ' (3)', ...

`write_predictions` writes the propagation's table: path, predicted, confidence, user_label (empty when none).
"""

from __future__ import annotations

import csv
import io
import os
import re
import shutil
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path, PurePosixPath

from workbench.errors import Cancelled, ConfigError, DataError
from workbench.files import atomic_write_text, ensure_outside, write_error

MANIFEST_FILE = "manifest.csv"
MANIFEST_COLUMNS = ("source", "written", "label", "how")
PREDICTION_COLUMNS = ("path", "predicted", "confidence", "user_label")
_UNSAFE = re.compile(r'[\x00-\x1f/\\:*?"<>|]')
_RESERVED = {"con", "prn", "aux", "nul", *(f"com{i}" for i in range(1, 10)), *(f"lpt{i}" for i in range(1, 10))}


@dataclass
class CurateResult:
    out: Path
    manifest: Path
    linked: int = 0
    copied: int = 0
    skipped: list[tuple[str, str]] = field(default_factory=list)  # (relative path, reason): gone since labelling

    @property
    def written(self) -> int:
        return self.linked + self.copied


def folder_name(label: str) -> str:
    """A label as a folder name that every common file system accepts (unsafe characters -> '_')."""
    name = _UNSAFE.sub("_", label).strip().rstrip(".")[:100]
    if name in ("", ".", ".."):
        return "_"
    return f"_{name}" if name.split(".")[0].lower() in _RESERVED else name


def _unique(name: str, taken: set[str]) -> str:
    """`name`, or `stem (n).suffix` with the smallest n >= 2 not in `taken` (compared case-insensitively)."""
    stem, suffix = (name, "") if name.startswith(".") else (Path(name).stem, Path(name).suffix)
    candidate, n = name, 2
    while candidate.casefold() in taken:
        candidate, n = f"{stem} ({n}){suffix}", n + 1
    taken.add(candidate.casefold())
    return candidate


def plan_layout(items: Iterable[tuple[str, str]]) -> list[tuple[str, str, str]]:
    """(relative source path, label, written path relative to OUT) for each distinct item, in (label, path) order."""
    distinct = sorted(set(items))  # (path, label): one image twice under one label is written once
    labels = sorted({label for _, label in distinct})
    taken_folders: set[str] = {MANIFEST_FILE}
    folders = {label: _unique(folder_name(label), taken_folders) for label in labels}
    plan, taken_files = [], {label: set() for label in labels}
    for rel, label in sorted(distinct, key=lambda p: (p[1], p[0])):
        name = _unique(PurePosixPath(rel).name, taken_files[label])
        plan.append((rel, label, f"{folders[label]}/{name}"))
    return plan


def check_output_folder(out: str | Path, image_root: str | Path) -> Path:
    """`out` resolved, or ConfigError/OutsideImageFolderError (one sentence) unless it is new or empty and outside
    the image folder."""
    target = ensure_outside(out, image_root, "the curated dataset folder")
    if target.exists() and not target.is_dir():
        raise ConfigError(f"'{out}' is a file; the curated dataset needs a new or empty folder.")
    if target.is_dir() and any(target.iterdir()):
        raise ConfigError(f"'{out}' is not empty; the curated dataset needs a new or empty folder.")
    return target


def curate_dataset(
    image_root: str | Path,
    items: Sequence[tuple[str, str]],
    out: str | Path,
    *,
    link: bool = False,
    progress: Callable[[int, int], None] | None = None,
    should_stop: Callable[[], bool] | None = None,
) -> CurateResult:
    """Write the images `items` ((path relative to image_root, label) pairs) as OUT/label/name with a manifest.

    A file gone since it was labelled is skipped and listed in `skipped`; a failed write is a WriteError naming the
    file. Cancellable between files (Cancelled: no manifest)."""
    root = Path(image_root).expanduser().resolve()
    target = check_output_folder(out, root)
    pairs = [(PurePosixPath(str(rel).replace("\\", "/")).as_posix(), str(label)) for rel, label in items]
    for rel, _ in pairs:
        if PurePosixPath(rel).is_absolute() or ".." in PurePosixPath(rel).parts:
            raise DataError(f"'{rel}' is not a path inside the image folder '{root}'.")
    plan = plan_layout(pairs)
    if not plan:
        raise DataError("There are no images to write; label or select some first.")
    result = CurateResult(target, target / MANIFEST_FILE)
    rows: list[tuple[str, str, str, str]] = []
    target.mkdir(parents=True, exist_ok=True)
    for done, (rel, label, written) in enumerate(plan, start=1):
        if should_stop is not None and should_stop():
            raise Cancelled("Writing the curated dataset was cancelled.")
        source, dest = root / rel, target / written
        if not source.is_file():
            result.skipped.append((rel, "missing: deleted or moved since it was labelled"))
            continue
        dest.parent.mkdir(exist_ok=True)
        how = _link_or_copy(source, dest, link)
        result.linked += how == "link"
        result.copied += how == "copy"
        rows.append((str(source), written, label, how))
        if progress is not None:
            progress(done, len(plan))
    out_text = io.StringIO()
    writer = csv.writer(out_text, lineterminator="\n")
    writer.writerow(MANIFEST_COLUMNS)
    writer.writerows(rows)
    atomic_write_text(result.manifest, out_text.getvalue())
    return result


def _link_or_copy(source: Path, dest: Path, link: bool) -> str:
    if link:
        try:
            os.link(source, dest)
            return "link"
        except OSError:
            pass  # another file system (EXDEV), or links refused (FAT, some network mounts): copy instead
    try:
        shutil.copy2(source, dest)  # reads the source only; keeps its modification time on the copy
    except OSError as exc:
        try:
            dest.unlink(missing_ok=True)  # no half-written image left behind
        except OSError:
            pass
        raise write_error(dest, exc) from None
    return "copy"


def write_predictions(
    path: str | Path,
    paths: Sequence[str],
    names: Sequence[str],
    predicted: Sequence[int],
    confidence: Sequence[float],
    user_labels: Sequence[str | None] | None = None,
    *,
    image_root: str | Path | None = None,
) -> Path:
    """The predictions table (PREDICTION_COLUMNS), one row per image, written atomically outside the image folder."""
    target = ensure_outside(path, image_root, "the predictions file")
    n = len(paths)
    if not (len(predicted) == len(confidence) == n) or (user_labels is not None and len(user_labels) != n):
        raise ValueError(f"every column needs {n} values, one per path.")
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(PREDICTION_COLUMNS)
    for i, rel in enumerate(paths):
        user = (user_labels[i] if user_labels is not None else None) or ""
        writer.writerow([rel, names[int(predicted[i])], f"{float(confidence[i]):.4f}", user])
    return atomic_write_text(target, out.getvalue())


__all__ = [
    "MANIFEST_FILE",
    "CurateResult",
    "check_output_folder",
    "curate_dataset",
    "folder_name",
    "plan_layout",
    "write_predictions",
]
