"""The labels of one image folder while a user edits them in Explore (LabelSet): user labels over folder labels, with
undo/redo; saved as RUN/labels.csv through results/labels.py. Pure Python and numpy; no Qt, no torch."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from pathlib import Path

import numpy as np

from workbench.results.labels import LabelEntry, check_label, now_iso, write_entries

# ---- ---------------------------------------------------------------------------------------
_Change = tuple[str, "tuple[str, str] | None", "tuple[str, str] | None"]  # path, (label, time) before, after


class LabelSet:
    """The labels of one image folder while a user edits them: user labels over the folder labels (the first-level
    subfolders), which can be used or ignored; every assign/remove is one step of an undo/redo history.

    Rows are positions in `paths` (an Embedding's rows); methods take rows or relative paths. Pure Python.
    """

    def __init__(
        self,
        paths: Sequence[str],
        folder_names: Sequence[str] = (),
        folder_ids: Sequence[int] | np.ndarray | None = None,
        *,
        use_folder: bool = False,
        rows: dict[str, int] | None = None,
    ):
        # No Python object per row here: at 1,000,000 images a dict per row cost ~0.7 s of the first map (issue
        # 13). The folder labels stay an int array; the path -> row index is the caller's (`rows`, which Find
        # builds anyway) or is built on the first lookup by path.
        self.paths = list(paths)
        ids = np.full(len(self.paths), -1) if folder_ids is None else np.asarray(folder_ids).reshape(-1)
        if len(ids) != len(self.paths):
            raise ValueError(f"folder_ids has {len(ids)} entries for {len(self.paths)} paths.")
        self._folder_ids = ids.astype(np.int64, copy=False)
        self._folder_names = [str(n) for n in folder_names]
        self._has_folder = bool((self._folder_ids >= 0).any())
        if rows is not None and len(rows) != len(self.paths):
            raise ValueError(f"rows has {len(rows)} entries for {len(self.paths)} paths.")
        self._row_index = rows
        self.use_folder = use_folder and self._has_folder
        self._user: dict[str, tuple[str, str]] = {}  # path -> (label, time given)
        self._undo: list[list[_Change]] = []
        self._redo: list[list[_Change]] = []
        self.revision = 0  # bumped by every change: views redraw when it moved

    @classmethod
    def from_embedding(cls, emb: object, *, use_folder: bool = False, rows: dict[str, int] | None = None) -> LabelSet:
        """For an Embedding (results/embeddings.py): its paths, and its subfolder classes as folder labels; `rows`
        (path -> row, e.g. MapData.rows_by_path) spares building that index again."""
        return cls(emb.paths, emb.class_names, emb.labels, use_folder=use_folder, rows=rows)  # type: ignore[attr-defined]

    @property
    def _rows(self) -> dict[str, int]:
        if self._row_index is None:
            self._row_index = {p: i for i, p in enumerate(self.paths)}
        return self._row_index

    def _folder_label(self, row: int) -> str | None:
        i = int(self._folder_ids[row])
        return self._folder_names[i] if i >= 0 else None

    @property
    def has_folder_labels(self) -> bool:
        return self._has_folder

    def set_use_folder(self, use: bool) -> None:
        """Count the folder labels as labels (where the user gave none) or ignore them."""
        use = use and self.has_folder_labels
        if use != self.use_folder:
            self.use_folder = use
            self.revision += 1

    # ---- editing ----------------------------------------------------------------------------------------------
    def assign(self, items: Iterable[int | str], label: str) -> int:
        """Give `label` to the rows or paths; one undo step. Returns how many images changed."""
        name, time = check_label(label), now_iso()
        return self._apply([(p, self._user.get(p), (name, time)) for p in self._paths_of(items)])

    def remove(self, items: Iterable[int | str]) -> int:
        """Take the user's label off the rows or paths (a folder label, if used, shows again); one undo step."""
        return self._apply([(p, self._user[p], None) for p in self._paths_of(items) if p in self._user])

    def load(self, entries: Iterable[LabelEntry]) -> int:
        """Take a labels file's user rows (folder rows switch folder labels on); not an undo step, the history is
        cleared. Returns how many rows name images that are not in this folder (they are left out)."""
        self._user.clear()
        self._undo.clear()
        self._redo.clear()
        outside = 0
        for e in entries:
            if e.path not in self._rows:
                outside += 1
            elif e.source == "folder":
                self.use_folder = self.has_folder_labels
            else:
                self._user[e.path] = (check_label(e.label), e.time)
        self.revision += 1
        return outside

    @property
    def can_undo(self) -> bool:
        return bool(self._undo)

    @property
    def can_redo(self) -> bool:
        return bool(self._redo)

    def undo(self) -> bool:
        if not self._undo:
            return False
        step = self._undo.pop()
        self._set([(p, before) for p, before, _ in step])
        self._redo.append(step)
        return True

    def redo(self) -> bool:
        if not self._redo:
            return False
        step = self._redo.pop()
        self._set([(p, after) for p, _, after in step])
        self._undo.append(step)
        return True

    def _apply(self, changes: list[_Change]) -> int:
        changes = [c for c in changes if (c[1] or ("",))[0] != (c[2] or ("",))[0]]  # a label given again: no step
        if not changes:
            return 0
        self._set([(p, after) for p, _, after in changes])
        self._undo.append(changes)
        self._redo.clear()
        return len(changes)

    def _set(self, values: list[tuple[str, tuple[str, str] | None]]) -> None:
        for path, value in values:
            if value is None:
                self._user.pop(path, None)
            else:
                self._user[path] = value
        self.revision += 1

    def _paths_of(self, items: Iterable[int | str]) -> list[str]:
        out: dict[str, None] = {}
        for item in np.asarray(list(items), dtype=object).reshape(-1).tolist():
            if isinstance(item, str):
                if item not in self._rows:
                    raise ValueError(f"'{item}' is not an image of this folder.")
                out[item] = None
            elif 0 <= int(item) < len(self.paths):  # not Python's negative indices: -1 is "no row" elsewhere
                out[self.paths[int(item)]] = None
            else:
                raise ValueError(f"row {item} is out of range for {len(self.paths)} images.")
        return list(out)

    # ---- reading ----------------------------------------------------------------------------------------------
    def label_of(self, item: int | str) -> str | None:
        row = self._rows.get(item, -1) if isinstance(item, str) else int(item)
        path = self.paths[row] if not isinstance(item, str) else item
        if path in self._user:
            return self._user[path][0]
        return self._folder_label(row) if self.use_folder and row >= 0 else None

    def entries(self) -> list[LabelEntry]:
        """What labels.csv holds: every labelled image in row order, user labels over folder labels (if used)."""
        if self.use_folder:  # every folder-labelled row, in row order, with the user's labels over them
            labelled = self._folder_ids >= 0
            if self._user:
                labelled[[self._rows[p] for p in self._user]] = True
            rows = np.flatnonzero(labelled).tolist()
        else:  # only the user's: no pass over every row
            rows = sorted(self._rows[p] for p in self._user)
        out = []
        for row in rows:
            p = self.paths[row]
            if p in self._user:
                label, time = self._user[p]
                out.append(LabelEntry(p, label, "user", time))
            else:
                out.append(LabelEntry(p, self._folder_names[self._folder_ids[row]], "folder", ""))
        return out

    def names(self) -> list[str]:
        return sorted({e.label for e in self.entries()})

    def row_ids(self) -> tuple[np.ndarray, list[str]]:
        """(int64 (N,) class id per row, -1 unlabelled; sorted class names): for colouring and propagation."""
        names = self.names()
        index = {n: i for i, n in enumerate(names)}
        ids = np.full(len(self.paths), -1, dtype=np.int64)
        for e in self.entries():
            ids[self._rows[e.path]] = index[e.label]
        return ids, names

    def counts(self) -> dict[str, int]:
        """Labelled images per class name (the legend's counts)."""
        counts: dict[str, int] = {}
        for e in self.entries():
            counts[e.label] = counts.get(e.label, 0) + 1
        return dict(sorted(counts.items()))

    def __len__(self) -> int:
        return len(self.entries())

    def snapshot(self) -> LabelSet:
        """A copy of the current labels, without history, that another thread can read (save, propagate) while
        this one is edited."""
        copy = LabelSet.__new__(LabelSet)
        copy.__dict__.update(self.__dict__, _user=dict(self._user), _undo=[], _redo=[])
        return copy

    def save(self, path: str | Path, image_root: str | Path | None = None) -> Path:
        return write_entries(path, self.entries(), image_root)
