"""Does the window stay responsive during the long jobs other than training (benchmarks/gui_responsiveness.py)?

Opens the real main window (offscreen unless --display) and runs, one after the other, each long job a user starts:
scanning a folder of --files files, the data checks the scan starts (waited for: they end before the next job),
embedding a folder with a run's encoder (the first Explore map), the UMAP map,
colouring by outlier score (the neighbour graph) and the duplicate search. A QTimer heartbeat on the GUI thread fires
every HEARTBEAT_MS; a stall is how much later than its interval a beat arrives. The stall watchdog of
gui_responsiveness.py samples where the GUI thread (and the others) were while a beat was late.

Prints, per job, its wall time and max / p99 stall, the watchdog's top places for jobs with a stall over the goal,
and as its last line one JSON object {job: {"s", "max_stall_ms", "p99_stall_ms"}}. Goal for every job: max <= 50 ms.

    .venv/bin/python benchmarks/gui_jobs.py --data /tmp/fm/train [--files 100000] [--display :99]

--data is the folder embedded in Explore (a 2-step run is trained on it first, outside the window); the scan job
reads a folder of --files copies of its images, written to a temporary folder (or --scan-folder, kept and reused).
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from benchmarks.gui_responsiveness import HEARTBEAT_MS, StallWatchdog  # noqa: E402

GOAL_MS = 50
JOB_TIMEOUT_S = 1800


def scan_folder_of(files: int, source: Path, out: Path) -> Path:
    """`files` image files in 100 subfolders, copies of the source folder's images in turn (real files: hard links
    to one inode would be one image to the scan)."""
    images = [p for p in sorted(source.rglob("*")) if p.suffix.lower() in (".png", ".jpg", ".jpeg")]
    for i in range(files):
        image = images[i % len(images)]
        target = out / f"c{i % 100:02d}" / f"{i:07d}{image.suffix}"
        if not target.exists():
            target.parent.mkdir(parents=True, exist_ok=True)
            shutil.copyfile(image, target)
    return out


def tiny_run(data: Path, run_dir: Path) -> Path:
    from workbench.config import ExperimentConfig
    from workbench.engine.fit import fit

    config = ExperimentConfig()
    config.data.path = str(data)
    config.model.encoder = "small-cnn"
    config.train.max_steps, config.train.batch_size, config.train.device = 2, 64, "cpu"
    config.train.monitor_every_epochs = 0
    fit(config, run_dir)
    return run_dir


def settle(app, timeout_s: float = 120) -> None:
    """Pump events until no worker has been busy for 0.3 s."""
    from PySide6.QtCore import QEventLoop

    from workbench.gui.worker import active_threads

    deadline, idle_since = time.monotonic() + timeout_s, None
    while time.monotonic() < deadline:
        app.processEvents(QEventLoop.ProcessEventsFlag.AllEvents, 20)
        if active_threads() == 0:
            idle_since = idle_since or time.monotonic()
            if time.monotonic() - idle_since > 0.3:
                return
        else:
            idle_since = None
        time.sleep(0.002)


def measure(app, name: str, start, done, watchdog: StallWatchdog, idle=None) -> dict:
    """Run one job (start()), pumping the real event loop until done() and idle() (default: no worker is busy) hold
    for 0.3 s; its stalls."""
    from PySide6.QtCore import QEventLoop, QTimer

    from workbench.gui.worker import active_threads

    idle = idle or (lambda: active_threads() == 0)

    beats: list[float] = []
    heartbeat = QTimer(interval=HEARTBEAT_MS)
    heartbeat.timeout.connect(lambda: (beats.append(time.perf_counter()), watchdog.beat()))
    watchdog.gui_places.clear(), watchdog.other_places.clear()
    watchdog.collections.clear()  # the report names this job's long collections only, not those of earlier jobs
    watchdog.samples = 0
    heartbeat.start()
    watchdog.beat()
    began = time.perf_counter()
    start()
    deadline, idle_since = time.monotonic() + JOB_TIMEOUT_S, None
    while time.monotonic() < deadline:
        app.processEvents(QEventLoop.ProcessEventsFlag.AllEvents, 20)
        if done() and idle():
            idle_since = idle_since or time.monotonic()
            if time.monotonic() - idle_since > 0.3:
                break
        else:
            idle_since = None
        time.sleep(0.002)
    else:
        raise SystemExit(f"{name} did not finish within {JOB_TIMEOUT_S} s")
    heartbeat.stop()
    watchdog.last_beat = float("inf")
    stalls = [1000 * (b - a) - HEARTBEAT_MS for a, b in zip(beats, beats[1:], strict=False)]
    result = {
        "s": round(time.perf_counter() - began, 2),
        "max_stall_ms": round(max(stalls, default=0.0), 1),
        "p99_stall_ms": round(float(np.percentile(stalls, 99)) if stalls else 0.0, 1),
    }
    worst = int(np.argmax(stalls)) if stalls else 0
    at = f"   (longest {beats[worst] - began:.1f} s after the start)" if stalls else ""
    line = f"max stall {result['max_stall_ms']:7.1f} ms   p99 {result['p99_stall_ms']:6.1f} ms{at}"
    print(f"{name:12s} {result['s']:8.1f} s   {line}")
    if result["max_stall_ms"] > GOAL_MS:
        print(watchdog.report())
    return result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", required=True, help="image folder embedded in Explore (e.g. /tmp/fm/train)")
    parser.add_argument("--files", type=int, default=100_000, help="files in the folder the scan job reads")
    parser.add_argument("--scan-folder", type=Path, help="reuse (or fill) this folder for the scan job")
    parser.add_argument("--display", help="an X display (e.g. :99 from Xvfb); default: Qt's offscreen platform")
    parser.add_argument(
        "--skip", nargs="*", default=[], help="jobs to leave out: scan checks embed umap outliers duplicates"
    )
    args = parser.parse_args()
    if args.display:
        os.environ["DISPLAY"] = args.display
    else:
        os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")
    import threading

    from PySide6.QtCore import QSettings
    from PySide6.QtWidgets import QApplication

    from workbench.gui.app import MainWindow

    app = QApplication.instance() or QApplication(sys.argv[:1])
    from workbench.gui.gc_policy import install_gui_collector

    install_gui_collector(app)  # as run_app does: garbage is collected on the GUI thread's timer, never on a worker
    work = Path(tempfile.mkdtemp(prefix="gui-jobs-"))
    data = Path(args.data).resolve()
    scan_dir = scan_folder_of(args.files, data, args.scan_folder or work / "scan") if "scan" not in args.skip else None
    run_dir = tiny_run(data, work / "run")
    os.environ["WORKBENCH_RUNS_DIR"] = str(work / "runs")
    store = QSettings(str(work / "settings.ini"), QSettings.Format.IniFormat)  # a first launch, not the user's
    window = MainWindow(None, store=store, warm_up=False)
    window.resize(1400, 900)
    window.show()
    watchdog = StallWatchdog(threading.get_ident())
    watchdog.start()
    explore = window.explore_view
    results: dict[str, dict] = {}
    state = {"scanned": None, "checks": None, "maps": [], "colours": None, "duplicates": None}
    window.data_view.folder_opened.connect(lambda folder: state.__setitem__("scanned", folder))
    explore.map_ready.connect(state["maps"].append)
    explore.colours_ready.connect(lambda mode: state.__setitem__("colours", mode))
    explore.duplicates_ready.connect(lambda n: state.__setitem__("duplicates", n))
    failures: list[str] = []  # a job that fails is reported and ends, never waited for
    for view in (window.data_view, explore):
        view.failed.connect(lambda text: (failures.append(text), print(f"failed: {text}", flush=True)))
    data_view = window.data_view
    data_view.checks_ready.connect(lambda checks: state.__setitem__("checks", checks.root))
    settle(app)  # the demo folder a first launch opens, and its checks: not part of any job
    state["scanned"] = state["checks"] = None
    if scan_dir is not None:
        # The scan ends with the report, the summary and the first thumbnails on screen; the data checks it starts
        # are the next job (they run on while nothing else is started, as when a user looks at the report).
        scanned = lambda: not data_view.runner.is_running() and not data_view.model.busy()  # noqa: E731
        start_scan = lambda: window.open_folder(scan_dir)  # noqa: E731
        results["scan"] = measure(app, "scan", start_scan, lambda: state["scanned"] is not None, watchdog, idle=scanned)
        if "checks" not in args.skip:
            results["checks"] = measure(
                app, "checks", lambda: None, lambda: state["checks"] == state["scanned"], watchdog
            )
        else:
            data_view.checks_runner.cancel()
    window.tabs.setCurrentWidget(explore)
    kinds = explore.controls.map_kind
    kinds.setCurrentIndex(kinds.findData("pca"))  # the first map alone; UMAP is the next job
    jobs = {
        "embed": (lambda: explore.open_run(run_dir, data), lambda: "PCA" in state["maps"]),
        "umap": (lambda: kinds.setCurrentIndex(kinds.findData("umap")), lambda: "UMAP" in state["maps"]),
        "outliers": (lambda: explore.set_colour_mode("outlier", 10), lambda: state["colours"] == "outlier"),
        "duplicates": (lambda: explore.find_duplicates(0.995), lambda: state["duplicates"] is not None),
    }
    for name, (start, done) in jobs.items():
        if name not in args.skip:
            failures.clear()
            results[name] = measure(app, name, start, lambda done=done: done() or bool(failures), watchdog)
            if failures:
                results[name]["failed"] = failures[0]
    watchdog.done.set()
    window.close()
    shutil.rmtree(work, ignore_errors=True)
    print(json.dumps(results))


if __name__ == "__main__":
    main()
