"""What a user takes away from labelling: a curated dataset folder and a predictions table.

`curate_dataset` writes chosen images as an ImageFolder layout, OUT/<label>/<file name>, in a new (or empty) folder
outside the image folder: copies (shutil.copy2, which keeps each file's modification time), or with `link=True` hard
links where the file system allows them (os.link; across file systems, or where links are refused, a copy). A hard
link is the same file as the original: no extra space, but editing one edits the other; the --help says so. The
source folder is only ever read. OUT/manifest.csv lists every written file (source, written, label, how,
label_source: user|predicted, confidence: the prediction's, empty for a user's label) and is written last,
atomically, so a folder with a manifest is complete; a cancelled export leaves none.

Predicted labels can fill in what the user did not label: `predictions` (the CSV `write_predictions` writes, or its
rows from `read_predictions`) adds each image's predicted label when its confidence is at least `min_confidence`.
A user's label wins where both exist: the `items` given, then the file's own user_label column.

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
MANIFEST_COLUMNS = ("source", "written", "label", "how", "label_source", "confidence")
PREDICTION_COLUMNS = ("path", "predicted", "confidence", "user_label")
USER, PREDICTED = "user", "predicted"  # the manifest's label_source
_UNSAFE = re.compile(r'[\x00-\x1f/\\:*?"<>|]')
_RESERVED = {"con", "prn", "aux", "nul", *(f"com{i}" for i in range(1, 10)), *(f"lpt{i}" for i in range(1, 10))}


@dataclass
class CurateResult:
    out: Path
    manifest: Path
    linked: int = 0
    copied: int = 0
    skipped: list[tuple[str, str]] = field(default_factory=list)  # (relative path, reason): gone since labelling
    by_source: dict[str, int] = field(default_factory=dict)  # images written per label source (user, predicted)

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
    predictions: str | Path | Sequence[Prediction] | None = None,
    min_confidence: float = 0.0,
) -> CurateResult:
    """Write the images `items` ((path relative to image_root, label) pairs: the user's labels) as OUT/label/name
    with a manifest; with `predictions` (a predictions CSV or its rows), also every other image predicted with a
    confidence of at least `min_confidence`.

    A file gone since it was labelled is skipped and listed in `skipped`; a failed write is a WriteError naming the
    file. Cancellable between files (Cancelled: no manifest)."""
    root = Path(image_root).expanduser().resolve()
    target = check_output_folder(out, root)
    pairs = [(_relative(rel, root), str(label)) for rel, label in items]
    if predictions is not None:
        rows = read_predictions(predictions, root) if isinstance(predictions, str | Path) else predictions
        chosen = merge_predictions(pairs, rows, min_confidence)
    else:
        chosen = [(rel, label, USER, None) for rel, label in pairs]
    origin = {(rel, label): (source, confidence) for rel, label, source, confidence in chosen}
    plan = plan_layout((rel, label) for rel, label, _, _ in chosen)
    if not plan:
        raise DataError("There are no images to write; label or select some first.")
    result = CurateResult(target, target / MANIFEST_FILE)
    rows: list[tuple[str, ...]] = []
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
        label_source, confidence = origin[(rel, label)]
        result.by_source[label_source] = result.by_source.get(label_source, 0) + 1
        rows.append((str(source), written, label, how, label_source, "" if confidence is None else f"{confidence:.4f}"))
        if progress is not None:
            progress(done, len(plan))
    out_text = io.StringIO()
    writer = csv.writer(out_text, lineterminator="\n")
    writer.writerow(MANIFEST_COLUMNS)
    writer.writerows(rows)
    atomic_write_text(result.manifest, out_text.getvalue())
    return result


@dataclass(frozen=True)
class Prediction:
    """One row of a predictions CSV."""

    path: str  # relative to the image folder, posix
    predicted: str
    confidence: float  # in [0, 1]
    user_label: str | None = None


def _relative(rel: str, root: Path) -> str:
    path = PurePosixPath(str(rel).replace("\\", "/"))
    if path.is_absolute() or ".." in path.parts:
        raise DataError(f"'{rel}' is not a path inside the image folder '{root}'.")
    return path.as_posix()


def read_predictions(path: str | Path, image_root: str | Path | None = None) -> list[Prediction]:
    """The rows of a predictions CSV (PREDICTION_COLUMNS; user_label optional); a bad file is one sentence
    (DataError): missing, unreadable, empty, without the columns, with a bad row, or (given `image_root`) naming no
    image of that folder."""
    file = Path(path).expanduser()
    name = f"The predictions file '{path}'"
    if not file.is_file():
        raise DataError(f"{name} does not exist.")
    try:
        text = file.read_text(encoding="utf-8-sig")
    except (OSError, UnicodeDecodeError) as exc:
        raise DataError(f"{name} cannot be read as UTF-8 text ({type(exc).__name__}).") from None
    reader = csv.DictReader(io.StringIO(text))
    if not reader.fieldnames:
        raise DataError(f"{name} is empty.")
    missing = [c for c in PREDICTION_COLUMNS[:3] if c not in reader.fieldnames]
    if missing:
        raise DataError(
            f"{name} has no column {', '.join(missing)}; it needs path,predicted,confidence[,user_label], as "
            "`workbench propagate` and `workbench predict` write it."
        )
    rows: list[Prediction] = []
    seen: set[str] = set()
    for line, row in enumerate(reader, start=2):
        rel, label = (row.get("path") or "").strip(), (row.get("predicted") or "").strip()
        if not rel or not label:
            raise DataError(f"{name} has a row without a path or a predicted label (line {line}).")
        raw = (row.get("confidence") or "").strip()
        try:
            confidence = float(raw)
        except ValueError:
            confidence = float("nan")
        if not 0 <= confidence <= 1:
            raise DataError(f"{name} has the confidence '{raw}' on line {line}, not a number from 0 to 1.")
        rel = _relative(rel, Path(image_root or "."))
        if rel in seen:
            raise DataError(f"{name} names '{rel}' twice (again on line {line}).")
        seen.add(rel)
        rows.append(Prediction(rel, label, confidence, (row.get("user_label") or "").strip() or None))
    if not rows:
        raise DataError(f"{name} has a header but no predictions.")
    if image_root is not None and not any((Path(image_root) / r.path).is_file() for r in rows):
        raise DataError(f"{name} names no image of '{image_root}'; it was made for another folder.")
    return rows


def merge_predictions(
    items: Sequence[tuple[str, str]], predictions: Sequence[Prediction], min_confidence: float = 0.0
) -> list[tuple[str, str, str, float | None]]:
    """(path, label, label source, confidence) of what to write: the user's `items` (source user), then each image
    they do not label by its row's user_label (user) or, with a confidence >= `min_confidence`, its prediction
    (predicted)."""
    if not 0 <= min_confidence <= 1:
        raise ConfigError(f"The minimum confidence must be from 0 to 1, got {min_confidence}.")
    chosen: list[tuple[str, str, str, float | None]] = [(rel, label, USER, None) for rel, label in items]
    labelled = {rel for rel, _ in items}
    for p in predictions:
        if p.path in labelled:
            continue
        if p.user_label:
            chosen.append((p.path, p.user_label, USER, None))
        elif p.confidence >= min_confidence:
            chosen.append((p.path, p.predicted, PREDICTED, p.confidence))
    return chosen


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
    "PREDICTED",
    "USER",
    "CurateResult",
    "Prediction",
    "check_output_folder",
    "curate_dataset",
    "folder_name",
    "merge_predictions",
    "plan_layout",
    "read_predictions",
    "write_predictions",
]
