"""What a run learned about a folder: its embeddings under the trained encoder, the same encoder untrained, or
raw pixels, cached in the run folder. `compute_embeddings` is the one way to embed a folder with a run's encoder: the
Explore workspace and `workbench embed` both call it (their 2-D maps are in maps.py, the .npz file in export.py).

Cache: RUN/embeddings/<mode>-<folder id>-<state id>.npz. The folder id hashes the folder's path; the state id
hashes what the features depend on: every image's relative path, size and mtime, the checkpoint's size and mtime
(trained: last.pt; untrained: init.pt, the weights the run started from, or the config of an older run without one;
raw pixels: the augmentation config, whose size and normalisation prepare them) and the mode. A changed checkpoint
or a changed folder therefore computes afresh, and the stale files of that mode and folder (its UMAP layouts
included) are removed.
Nothing is ever written inside the image folder: when the run folder (or its embeddings folder, through a symbolic
link) lies inside it, nothing is cached. A cache that cannot be written (disk full, read-only run folder) is reported
and skipped; the embeddings are returned all the same.

Files that are listed but cannot be read (deleted meanwhile, truncated, replaced by something that is not an image)
are left out of the features and listed in `Embedding.skipped` with their reason, from the cache too; rows whose file
disappeared after embedding are `Embedding.missing_rows()`.

torch is imported inside functions: the GUI imports this module at start-up.
"""

from __future__ import annotations

import hashlib
import io
import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from workbench.errors import Cancelled, RunError, WriteError
from workbench.files import atomic_write_bytes, is_inside

if TYPE_CHECKING:
    from workbench.engine.report import Reporter

MODES = ("trained", "untrained", "raw")
MODE_NAMES = {"trained": "Trained encoder", "untrained": "Same encoder, untrained", "raw": "Raw pixels"}
EMBEDDINGS_DIR = "embeddings"


@dataclass
class Embedding:
    """Features of the images of one folder, row i for paths[i]."""

    root: Path  # the image folder (absolute)
    paths: list[str]  # relative posix paths, sorted as the scan found them
    labels: np.ndarray  # int64 (N,), index into class_names, -1 unlabelled
    class_names: list[str]  # first-level subfolders; [] for an unlabelled folder
    features: np.ndarray  # float32 (N, D)
    mode: str  # one of MODES
    key: str = ""  # cache stem ("" when not cached)
    run_dir: Path | None = None
    cached: bool = field(default=False, compare=False)  # loaded from the cache rather than computed
    skipped: list[tuple[str, str]] = field(default_factory=list)  # (relative path, reason) of unreadable files

    def __len__(self) -> int:
        return len(self.paths)

    @property
    def has_labels(self) -> bool:
        return len(self.class_names) > 0

    def path(self, row: int) -> Path:
        return self.root / self.paths[row]

    def label(self, row: int) -> str:
        label = int(self.labels[row])
        return self.class_names[label] if label >= 0 else "(unlabelled)"

    def missing_rows(self) -> list[int]:
        """Rows whose image file is gone now (deleted or moved after embedding): shown as missing, not opened."""
        return [i for i, rel in enumerate(self.paths) if not (self.root / rel).is_file()]

    def skipped_note(self) -> str:
        """One sentence on the files left out, or "" when none was (what Explore and `workbench embed` show)."""
        n = len(self.skipped)
        if not n:
            return ""
        first = ", ".join(f"{path} ({reason})" for path, reason in self.skipped[:3])
        more = f" and {n - 3} more" if n > 3 else ""
        files, are = ("files", "are") if n != 1 else ("file", "is")
        return f"{n} {files} could not be read and {are} left out: {first}{more}."

    def label_names(self) -> list[str]:
        """Per row: its label, or "" when unlabelled (what the exports write)."""
        names = np.array([*self.class_names, ""], dtype=object)
        return names[self.labels].tolist()  # -1 picks the trailing ""


def default_folder(run_dir: str | Path) -> Path:
    """The folder the run trained on (the built-in demo dataset when it trained on that)."""
    from workbench.data import demo_dataset_path
    from workbench.engine.runs import RunDir

    config = RunDir.open(run_dir).load_config()
    return Path(config.data.path) if config.data.path else demo_dataset_path()


def _digest(*parts: Any) -> str:
    return hashlib.sha1(json.dumps(parts, sort_keys=True, default=str).encode()).hexdigest()[:12]


def _files_fingerprint(root: Path, paths: list[str]) -> str:
    sha = hashlib.sha1()
    for rel in paths:
        try:
            st = (root / rel).stat()
        except OSError:  # deleted since the scan: decoding reports it
            sha.update(f"{rel}\0missing\n".encode())
            continue
        sha.update(f"{rel}\0{st.st_size}\0{st.st_mtime_ns}\n".encode())
    return sha.hexdigest()


def _model_fingerprint(run: Any, mode: str) -> Any:
    """What the features depend on besides the images: the checkpoint file (trained), the initial weights
    (untrained: init.pt, or the config of a run from before init.pt, whose seed rebuilds them), the input preparation
    (raw pixels: the augmentation config's size and normalisation)."""
    if mode == "raw":
        return ["prepared-centred", run.load_config().to_dict().get("augment")]
    if mode == "untrained":
        init = run.checkpoint_path(run.INIT_CHECKPOINT)
        if not init.is_file():
            return run.config_path.read_text(encoding="utf-8")
        st = init.stat()
        return ["init", st.st_size, st.st_mtime_ns]
    path = run.checkpoint_path("last")
    if not path.is_file():
        raise RunError(
            f"Run '{run.path}' has no trained weights yet (no checkpoints/last.pt); train it first, or compare "
            "with the untrained encoder or raw pixels."
        )
    st = path.stat()
    return [st.st_size, st.st_mtime_ns]


def _writable_cache(run_dir: Path, folder: Path) -> bool:
    """False when the run folder or its cache (a symbolic link, say) lies inside the image folder: nothing is written
    there."""
    return not is_inside(run_dir, folder) and not is_inside(run_dir / EMBEDDINGS_DIR, folder)


def compute_embeddings(
    run_dir: str | Path,
    folder: str | Path | None = None,
    mode: str = "trained",
    *,
    device: str = "auto",
    reporter: Reporter | None = None,
    use_cache: bool = True,
) -> Embedding:
    """The folder's features under the run's trained encoder, its untrained twin (same initialisation) or raw pixels.

    `folder` defaults to the one the run trained on. Loaded from the run's cache when nothing they depend on changed;
    otherwise decoded at the run's resolution and embedded (progress and cancellation through `reporter`) and cached
    atomically; use_cache=False neither reads nor writes the cache. Raises WorkbenchError subclasses for bad input.
    """
    from workbench.analysis.embed import embed_images, raw_pixels
    from workbench.data import load_images, scan_folder
    from workbench.engine.report import NullReporter
    from workbench.engine.runs import RunDir

    if mode not in MODES:
        raise ValueError(f"mode must be one of {', '.join(MODES)}, got '{mode}'.")
    reporter = reporter or NullReporter()
    run = RunDir.open(run_dir)
    config = run.load_config()
    folder = Path(folder).expanduser() if folder else default_folder(run_dir)
    reporter.message(f"Scanning {folder} …")
    report = scan_folder(
        folder, should_stop=reporter.should_stop, keep_duplicate_links=config.data.keep_duplicate_links
    )
    root = Path(report.root)
    stem = ""
    cache_dir = run.path / EMBEDDINGS_DIR
    if use_cache and _writable_cache(run.path, root):
        state = _digest(
            mode, _files_fingerprint(root, report.paths), _model_fingerprint(run, mode), config.data.image_size
        )
        stem = f"{mode}-{_digest(str(root))}-{state}"
        cached = _load_cached(cache_dir / f"{stem}.npz", root, mode, stem, run.path)
        if cached is not None:
            reporter.message(f"Loaded {len(cached):,} cached embeddings.")
            return cached
    elif mode != "raw":
        _model_fingerprint(run, mode)  # the same error for a run without weights, cached or not

    if mode == "raw":
        image_size = config.data.image_size
    else:
        from workbench.results.evaluate import load_encoder

        config, encoder = load_encoder(run.path, device=device, trained=mode == "trained")
        image_size = config.data.image_size
    reporter.message(f"Reading {len(report.paths):,} images …")
    data = load_images(
        root,
        image_size,
        cache_dir=config.data.cache_dir,
        workers=config.train.workers,
        progress=reporter.progress,
        should_stop=reporter.should_stop,
        report=report,
    )
    reporter.message(f"Embedding {len(data):,} images ({MODE_NAMES[mode].lower()}) …")
    if mode == "raw":
        features = raw_pixels(data.images, config.augment)  # centred on this folder's own mean
    else:
        features = embed_images(
            encoder,
            data.images,
            config.augment,
            representation=config.model.representation,
            device=next(encoder.parameters()).device,
            progress=reporter.progress,
            should_stop=reporter.should_stop,
        )
    if reporter.should_stop():
        raise Cancelled("Embedding was cancelled.")
    out = Embedding(
        root,
        list(data.paths),
        np.asarray(data.labels, np.int64),
        list(data.class_names),
        features.astype(np.float32, copy=False),
        mode,
        stem,
        run.path,
        skipped=[(s.path, s.reason) for s in data.report.skipped] + _gone_since_training(run, report),
    )
    if out.skipped:
        reporter.message(out.skipped_note())
    if stem:
        try:
            _save_cached(cache_dir, out)
        except WriteError as exc:  # a cache is a convenience: say so, and return the embeddings anyway
            reporter.message(f"The embeddings were not cached: {exc}")
            out.key = ""
    return out


def _gone_since_training(run: Any, report: Any) -> list[tuple[str, str]]:
    """(path, reason) of the images the run trained on that its folder no longer has (deleted or moved since)."""
    from workbench.engine.runs import read_json_object

    trained = read_json_object(run.scan_report_path)
    if Path(str(trained.get("root", ""))) != Path(report.root) or not isinstance(trained.get("paths"), list):
        return []  # another folder (or no scan report): nothing to compare with
    present = set(report.paths) | {s.path for s in report.skipped}
    return [(str(p), "missing: deleted or moved since training") for p in trained["paths"] if p not in present]


def _load_cached(path: Path, root: Path, mode: str, stem: str, run_dir: Path) -> Embedding | None:
    if not path.is_file():
        return None
    try:
        with np.load(path, allow_pickle=False) as f:
            return Embedding(
                root,
                f["paths"].tolist(),
                f["labels"].astype(np.int64),
                f["class_names"].tolist(),
                f["features"].astype(np.float32, copy=False),
                mode,
                stem,
                run_dir,
                cached=True,
                skipped=list(zip(f["skipped_paths"].tolist(), f["skipped_reasons"].tolist(), strict=True))
                if "skipped_paths" in f
                else [],
            )
    except (OSError, ValueError, KeyError):
        return None  # a damaged cache file is simply recomputed (and replaced)


def _save_cached(cache_dir: Path, emb: Embedding) -> None:
    buffer = io.BytesIO()
    np.savez(
        buffer,
        features=emb.features,
        paths=np.array(emb.paths, dtype=str),
        labels=emb.labels,
        class_names=np.array(emb.class_names, dtype=str),
        skipped_paths=np.array([p for p, _ in emb.skipped], dtype=str),
        skipped_reasons=np.array([r for _, r in emb.skipped], dtype=str),
    )
    atomic_write_bytes(cache_dir / f"{emb.key}.npz", buffer.getbuffer())
    same_folder = emb.key.rsplit("-", 1)[0] + "-"
    for old in cache_dir.glob(f"{same_folder}*"):  # this mode and folder, an older state: stale
        if not old.name.startswith(emb.key):
            old.unlink(missing_ok=True)
