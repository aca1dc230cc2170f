"""The labels a user gives to images of a run: the RUN/labels.csv format, read and written.

The file has one row per labelled image, columns `path,label,source,time`:
- path: the image's path relative to the image folder, with '/' (an absolute path inside the folder is accepted in a
  hand-written file and made relative);
- label: the class name (any non-empty text);
- source: `user` (given in Explore or written by hand) or `folder` (the image's first-level subfolder, kept when the
  user chose to use folder labels);
- time: when it was given, ISO-8601 in UTC (may be empty in a hand-written file).
The file is written atomically (workbench.files) in the run folder, never in the image folder. When a path appears
twice, the last row wins (a hand-written file may append corrections).

The app edits them through `LabelSet` (results/label_set.py).
`read_labels(path, image_root)` is what fine-tuning, propagation and export read: the labelled paths, the class names
(sorted, so ids are stable across runs) and one id per path; a file that cannot be used is one sentence (DataError):
bad columns, no rows, paths not in the image folder, a single class.

Pure Python and numpy; no Qt, no torch.
"""

from __future__ import annotations

import csv
import io
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path, PurePosixPath

import numpy as np

from workbench.errors import ConfigError, DataError
from workbench.files import atomic_write_text, ensure_outside

COLUMNS = ("path", "label", "source", "time")
SOURCES = ("user", "folder")
MAX_LABEL_LENGTH = 200


@dataclass(frozen=True)
class LabelEntry:
    """One labelled image: its relative path, its class name, who gave it (user|folder), when (ISO-8601, UTC)."""

    path: str
    label: str
    source: str = "user"
    time: str = ""


@dataclass
class Labels:
    """The labels of a file, checked: row i is `paths[i]` with class `names[ids[i]]`; `sources[i]` user|folder."""

    paths: list[str]
    names: list[str]  # sorted class names
    ids: np.ndarray  # int64 (L,)
    sources: list[str] = field(default_factory=list)

    def __len__(self) -> int:
        return len(self.paths)

    def ids_for(self, paths: Sequence[str]) -> np.ndarray:
        """int64 (N,) of `paths` (e.g. an Embedding's rows): the class id, or -1 where unlabelled."""
        index = {p: int(i) for p, i in zip(self.paths, self.ids, strict=True)}
        return np.array([index.get(p, -1) for p in paths], dtype=np.int64)


def now_iso() -> str:
    return datetime.now(UTC).isoformat(timespec="seconds")


def check_label(label: str) -> str:
    """The label stripped, or ConfigError (one sentence) when it cannot be a class name."""
    name = str(label).strip()
    if not name:
        raise ConfigError("A label cannot be empty; type a class name.")
    if len(name) > MAX_LABEL_LENGTH:
        raise ConfigError(f"A label can be at most {MAX_LABEL_LENGTH} characters long; this one has {len(name)}.")
    if any(c in name for c in "\n\r\0"):
        raise ConfigError("A label must be one line of text without control characters.")
    return name


def relative_path(path: str, image_root: Path | None) -> str:
    """`path` as a posix path relative to the image folder (absolute paths inside it are made relative)."""
    text = path.strip().replace("\\", "/")
    if image_root is not None and Path(text).is_absolute():
        try:
            return Path(text).resolve().relative_to(Path(image_root).resolve()).as_posix()
        except ValueError:
            return text  # outside the folder: reported as unknown by the caller
    return PurePosixPath(text).as_posix().removeprefix("./")


# ---- the file -------------------------------------------------------------------------------------------------------
def parse_labels_csv(text: str, name: str = "the labels file", *, allow_empty: bool = False) -> list[LabelEntry]:
    """The rows of a labels file's text (DataError naming `name` for bad columns, bad rows or no rows).

    Only `path` and `label` are required; `source` defaults to user and `time` to empty."""
    reader = csv.DictReader(io.StringIO(text.lstrip("\ufeff")))  # Excel writes a byte-order mark
    columns = [c.strip().lower() for c in reader.fieldnames or []]
    if not columns:
        raise DataError(f"{_cap(name)} is empty; it needs a header 'path,label' and one row per labelled image.")
    missing = [c for c in ("path", "label") if c not in columns]
    if missing:
        raise DataError(
            f"{_cap(name)} has the columns {', '.join(columns)} but needs {' and '.join(missing)} "
            "(columns: path,label[,source,time])."
        )
    reader.fieldnames = columns
    entries: list[LabelEntry] = []
    for line, row in enumerate(reader, start=2):
        if None in row:
            raise DataError(f"{_cap(name)} has more cells than columns on line {line}; quote labels holding commas.")
        path, label = (row.get("path") or "").strip(), (row.get("label") or "").strip()
        if not path and not label:
            continue  # a blank line
        if not path or not label:
            raise DataError(f"{_cap(name)} has no {'path' if not path else 'label'} on line {line}.")
        source = (row.get("source") or "user").strip().lower() or "user"
        if source not in SOURCES:
            raise DataError(f"{_cap(name)} has source '{source}' on line {line}; it must be user or folder.")
        entries.append(LabelEntry(path, label, source, (row.get("time") or "").strip()))
    if not entries and not allow_empty:  # the app saves a header alone once every label is undone
        raise DataError(f"{_cap(name)} has a header but no labelled images.")
    return entries


def read_entries(path: str | Path, *, allow_empty: bool = False) -> list[LabelEntry]:
    """The rows of a labels file; DataError when it is missing, unreadable or malformed (or, unless allowed, has a
    header but no rows)."""
    path = Path(path)
    try:
        text = path.read_bytes().decode("utf-8")
    except FileNotFoundError:
        raise DataError(f"Labels file '{path}' does not exist.") from None
    except IsADirectoryError:
        raise DataError(f"Labels file '{path}' is a folder, not a CSV file.") from None
    except UnicodeDecodeError:
        raise DataError(f"Labels file '{path}' is not UTF-8 text; save it as a UTF-8 CSV.") from None
    except OSError as exc:
        raise DataError(f"Labels file '{path}' cannot be read: {(exc.strerror or str(exc)).lower()}.") from None
    return parse_labels_csv(text, f"labels file '{path}'", allow_empty=allow_empty)


def labels_csv_text(entries: Iterable[LabelEntry]) -> str:
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(COLUMNS)
    for e in entries:
        writer.writerow([e.path, e.label, e.source, e.time])
    return out.getvalue()


def write_entries(path: str | Path, entries: Iterable[LabelEntry], image_root: str | Path | None = None) -> Path:
    """Write a labels file atomically; never inside the image folder (OutsideImageFolderError)."""
    target = ensure_outside(path, image_root, "the labels file")
    return atomic_write_text(target, labels_csv_text(entries))


def read_labels(
    path: str | Path,
    image_root: str | Path,
    *,
    known_paths: Iterable[str] | None = None,
    min_classes: int = 2,
) -> Labels:
    """A labels file checked against the image folder: every path must be an image of it (in `known_paths`, e.g. an
    Embedding's paths, when given; else an existing file below `image_root`) and at least `min_classes` classes.

    Each failure is one sentence (DataError). Classes are sorted by name: their ids are their positions."""
    path = Path(path)
    root = Path(image_root).expanduser()
    entries = _last_wins(read_entries(path), root)
    known = set(known_paths) if known_paths is not None else None
    unknown = [e.path for e in entries if not _is_known(e.path, root, known)]
    if unknown:
        listed = ", ".join(f"'{p}'" for p in unknown[:3]) + (
            f" and {len(unknown) - 3} more" if len(unknown) > 3 else ""
        )
        raise DataError(
            f"Labels file '{path}' names {len(unknown)} image(s) that are not in the image folder '{root}': {listed} "
            "(paths are relative to that folder)."
        )
    names = sorted({e.label for e in entries})
    if len(names) < min_classes:
        only = f"only one class ('{names[0]}')" if names else "no class"
        raise DataError(
            f"Labels file '{path}' has {only}; label images of at least {min_classes} classes to learn from."
        )
    index = {n: i for i, n in enumerate(names)}
    return Labels(
        [e.path for e in entries],
        names,
        np.array([index[e.label] for e in entries], dtype=np.int64),
        [e.source for e in entries],
    )


def _is_known(rel: str, root: Path, known: set[str] | None) -> bool:
    if known is not None:
        return rel in known
    if Path(rel).is_absolute() or ".." in PurePosixPath(rel).parts:
        return False
    return (root / rel).is_file()


def _last_wins(entries: list[LabelEntry], root: Path | None) -> list[LabelEntry]:
    """One entry per path (relative, posix), the last given; in first-seen order."""
    by_path: dict[str, LabelEntry] = {}
    for e in entries:
        rel = relative_path(e.path, root)
        by_path.pop(rel, None)  # re-inserted at the end: the order of the last word
        by_path[rel] = LabelEntry(rel, e.label, e.source, e.time)
    return list(by_path.values())


def _cap(text: str) -> str:
    return text[:1].upper() + text[1:]


__all__ = [
    "COLUMNS",
    "LabelEntry",
    "Labels",
    "check_label",
    "now_iso",
    "parse_labels_csv",
    "read_entries",
    "read_labels",
    "relative_path",
    "write_entries",
]
