"""What a run learned about a folder: its embeddings under the trained encoder, the same encoder untrained, or
raw pixels, cached in the run folder. `compute_embeddings` is the one way to embed a folder with a run's encoder: the
Explore workspace and `workbench embed` both call it (their 2-D maps are in maps.py, the .npz file in export.py).

Cache: RUN/embeddings/<mode>-<folder id>-<state id>.features.npy (float32, memory-mapped) + .meta.npz, streamed
batch by batch and resumable after Cancel (embedding_store.py describes the files). The folder id hashes the
folder's path; the state id hashes what the features depend on: every image's relative path, size and mtime, the
checkpoint's size and mtime (trained: last.pt; untrained: init.pt, the weights the run started from, or the config
of an older run without one; raw pixels: the augmentation config, whose size and normalisation prepare them) and the
mode. A changed checkpoint or a changed folder therefore computes afresh, and the stale files of that mode and folder
(its UMAP layouts and partial files included) are removed.
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
import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from workbench.errors import RunError, WriteError
from workbench.files import is_inside

if TYPE_CHECKING:
    from workbench.data import ImageSet
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
    images: ImageSet | None = None,
) -> Embedding:
    """The folder's features under the run's trained encoder, its untrained twin (same initialisation) or raw pixels.

    `folder` defaults to the one the run trained on. Loaded from the run's cache when nothing they depend on changed;
    otherwise streamed (embedding_store.py: batch by batch into a memory-mapped file, progress, ETA and cancellation
    through `reporter`, resumed after a Cancel) and cached; use_cache=False neither reads nor writes the cache.
    `images`: the folder already decoded at the run's resolution (training's uint8 store): its rows are used instead
    of decoding the files again. Features are a read-only float32 memory map. Raises WorkbenchError subclasses for
    bad input.
    """
    from workbench.data import scan_folder
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
        cached = _load_cached(cache_dir, root, mode, stem, run.path)
        if cached is not None:
            reporter.message(f"Loaded {len(cached):,} cached embeddings.")
            return cached
    elif mode != "raw":
        _model_fingerprint(run, mode)  # the same error for a run without weights, cached or not
    try:
        return _stream(run, config, root, report, mode, stem, device, reporter, images)
    except WriteError as exc:  # a cache is a convenience: say so, and embed without it
        if not stem:
            raise
        from workbench.results.embedding_store import store_files

        for leftover in store_files(cache_dir, stem):  # this attempt's partial rows: space is short already
            leftover.unlink(missing_ok=True)
        reporter.message(f"The embeddings were not cached: {exc}")
        return _stream(run, config, root, report, mode, "", device, reporter, images)


def _stream(
    run: Any,
    config: Any,
    root: Path,
    report: Any,
    mode: str,
    stem: str,
    device: str,
    reporter: Reporter,
    images: ImageSet | None,
) -> Embedding:
    """Embed the scanned rows with embedding_store.stream_features; `stem` "" embeds into a temporary folder."""
    from workbench.analysis.embed import embed_images, prepared_pixels
    from workbench.results.embedding_store import decode_source, memory_source, save_meta, stream_features

    if mode == "raw":
        spec = config.augment

        def featurize(batch):
            return prepared_pixels(batch, spec, batch_size=max(len(batch), 1))  # centred at the end, on all rows

    else:
        from workbench.results.evaluate import load_encoder

        config, encoder = load_encoder(run.path, device=device, trained=mode == "trained")
        on = next(encoder.parameters()).device
        spec, representation = config.augment, config.model.representation

        def featurize(batch):
            return embed_images(
                encoder, batch, spec, representation=representation, batch_size=max(len(batch), 1), device=on
            )

    cache_dir = run.path / EMBEDDINGS_DIR
    image_size = config.data.image_size
    paths, labels = report.paths, np.asarray(report.labels, np.int64)
    scan_skipped = [(s.path, s.reason) for s in report.skipped] + _gone_since_training(run, report)
    decode_cache = config.data.cache_dir or None

    def skipped_with(failed: list[tuple[int, str]]) -> list[tuple[str, str]]:
        return sorted(scan_skipped + [(paths[i], reason) for i, reason in failed])

    def write_meta(kept: list[int], failed: list[tuple[int, str]]) -> None:
        if stem:
            save_meta(cache_dir, stem, [paths[i] for i in kept], labels[kept], report.class_names, skipped_with(failed))

    reuse = images is not None and Path(images.root) == root and images.image_size == image_size
    reporter.message(f"Embedding {len(paths):,} images ({MODE_NAMES[mode].lower()}) …")
    with decode_source(root, paths, image_size, workers=config.train.workers, decode_cache=decode_cache) as decode:
        source = memory_source(images, paths, decode) if reuse else decode
        features, kept, failed = stream_features(
            cache_dir if stem else None,
            stem,
            len(paths),
            source,
            featurize,
            centre=mode == "raw",
            reporter=reporter,
            before_final=write_meta,
        )
    if stem:
        _remove_stale(cache_dir, stem)
    out = Embedding(
        root,
        [paths[i] for i in kept],
        labels[kept],
        list(report.class_names),
        features,
        mode,
        stem,
        run.path,
        skipped=skipped_with(failed),
    )
    if out.skipped:
        reporter.message(out.skipped_note())
    return out


def embed_after_training(run_dir: str | Path, images: ImageSet, reporter: Reporter | None = None) -> Embedding | None:
    """At the end of training: the trained embeddings of the training folder from `images` (the uint8 store fit()
    trained on: nothing is decoded again), into the run's cache, so that Explore opens the run at once. Says in the
    run's messages how long it took; a failure or a stop is a message too (training itself succeeded), and a stopped
    embedding resumes where it stopped when Explore opens the run. Returns None then."""
    import time

    from workbench.engine.report import NullReporter
    from workbench.engine.runs import RunDir
    from workbench.errors import Cancelled, WorkbenchError

    reporter = reporter or NullReporter()
    started = time.monotonic()
    try:
        device = RunDir.open(run_dir).load_config().train.device  # where it trained
        emb = compute_embeddings(run_dir, images.root, "trained", device=device, reporter=reporter, images=images)
    except Cancelled:
        reporter.message("Embedding the training images for Explore was stopped; Explore continues it.")
        return None
    except WorkbenchError as exc:
        reporter.message(f"The training images were not embedded for Explore: {exc}")
        return None
    reporter.message(
        f"Embedded the {len(emb):,} training images for Explore in {time.monotonic() - started:.1f} s "
        "(cached with the run)."
    )
    return emb


def _gone_since_training(run: Any, report: Any) -> list[tuple[str, str]]:
    """(path, reason) of the images the run trained on that its folder no longer has (deleted or moved since)."""
    from workbench.engine.runs import read_json_object

    trained = read_json_object(run.scan_report_path)
    if Path(str(trained.get("root", ""))) != Path(report.root) or not isinstance(trained.get("paths"), list):
        return []  # another folder (or no scan report): nothing to compare with
    present = set(report.paths) | {s.path for s in report.skipped}
    return [(str(p), "missing: deleted or moved since training") for p in trained["paths"] if p not in present]


def _load_cached(cache_dir: Path, root: Path, mode: str, stem: str, run_dir: Path) -> Embedding | None:
    from workbench.results.embedding_store import load_store

    (cache_dir / f"{stem}.npz").unlink(missing_ok=True)  # the format before streaming: recomputed once
    stored = load_store(cache_dir, stem)
    if stored is None:
        return None
    meta, features = stored
    return Embedding(
        root,
        meta["paths"],
        meta["labels"],
        meta["class_names"],
        features,
        mode,
        stem,
        run_dir,
        cached=True,
        skipped=meta["skipped"],
    )


def _remove_stale(cache_dir: Path, key: str) -> None:
    """Remove the files of this mode and folder from an older state (their UMAP layouts and neighbour graphs too)."""
    same_folder = key.rsplit("-", 1)[0] + "-"
    for old in cache_dir.glob(f"{same_folder}*"):
        if not old.name.startswith(key):
            old.unlink(missing_ok=True)
