"""Does training inside the app cost speed, and does the window stay responsive while it trains?

Trains the same config twice headless (fit() with no reporter output) and twice inside the real main window's
Train workspace (offscreen unless --display is given), alternating, so machine noise hits both. Inside the
window a QTimer heartbeat on the GUI thread fires every HEARTBEAT_MS; a stall is how much later than its interval
a beat arrives. Images/s come from each run's metrics.csv (steps after the first few, so start-up is excluded).
Prints a table, then as its last line one JSON object with at least `max_stall_ms` (goal <= 50) and
`gui_vs_headless` (goal >= 0.95).

Where the stalls come from: a watchdog thread samples the GUI thread's stack (`sys._current_frames()`) whenever a
beat is more than WATCHDOG_LATE_MS late, and the innermost frames of the other threads (a training thread holding the
GIL stalls the window too); the most frequent places are printed before the JSON line. Each stall over GOAL_MS is
listed with its time since Start, what the progress bar and status bar said and the places sampled during it; pressing
Start and the second after the run ends count too. `--native-dumps N` adds a py-spy dump (C++ frames, which thread
holds the GIL) of up to N stalls over NATIVE_DUMP_MS: a diagnostic, it pauses the process and lengthens the stalls.
The window trains only once it has opened --data (its scan done) and its background work is over.

    .venv/bin/python benchmarks/gui_responsiveness.py --data /tmp/fm/train [--steps 60] [--display :99]
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import tempfile
import threading
import time
import traceback
from collections import Counter
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

HEARTBEAT_MS = 10
SKIP_STEPS = 5  # warm-up steps left out of images/s (allocator, first batches)
WATCHDOG_LATE_MS = 30  # sample the stacks when a beat is this much later than due
WATCHDOG_EVERY_S = 0.005
GOAL_MS = 50
END_TAIL_MS = 1000  # heartbeats measured after training ended
NATIVE_DUMP_MS = 150  # with --native-dumps: a stall this long gets one py-spy dump


class StallWatchdog(threading.Thread):
    """Samples where the GUI thread (and every other thread) is while the GUI thread's heartbeat is late."""

    def __init__(self, gui_thread_id: int, native_dumps: int = 0):
        super().__init__(daemon=True, name="stall-watchdog")
        self.gui = gui_thread_id
        self.dumps_left = native_dumps  # py-spy dumps (C++ frames, who holds the GIL) of stalls over NATIVE_DUMP_MS
        self.dumps: list[tuple[float, float, str, float]] = []  # (perf_counter, ms late, py-spy's text, beat)
        self.last_beat = float("inf")  # no heartbeat yet: nothing is late
        self.gui_places: Counter[str] = Counter()
        self.other_places: Counter[str] = Counter()
        self.samples = 0
        self.timeline: list[tuple[float, str, tuple[str, ...]]] = []  # (perf_counter, GUI place, other places)
        self.done = threading.Event()
        self.collections: list[tuple[float, int, float, str]] = []  # (perf_counter, generation, ms, thread) > LATE
        self._gc_began = 0.0
        import gc

        gc.callbacks.append(self._gc)  # a collection holds the GIL: no thread (the watchdog included) runs meanwhile

    def _gc(self, phase: str, info: dict) -> None:
        now = time.perf_counter()
        if phase == "start":
            self._gc_began = now
        elif 1000 * (now - self._gc_began) > WATCHDOG_LATE_MS:
            self.collections.append(
                (now, info["generation"], 1000 * (now - self._gc_began), threading.current_thread().name)
            )

    def beat(self) -> None:
        self.last_beat = time.perf_counter()

    def run(self) -> None:
        while not self.done.wait(WATCHDOG_EVERY_S):
            beat = self.last_beat
            late_ms = 1000 * (time.perf_counter() - beat) - HEARTBEAT_MS
            if late_ms < WATCHDOG_LATE_MS:
                continue
            self.samples += 1
            gui, others = "", []
            for ident, frame in sys._current_frames().items():
                if ident == threading.get_ident():
                    continue
                place = _place(frame)
                (self.gui_places if ident == self.gui else self.other_places)[place] += 1
                if ident == self.gui:
                    gui = place
                else:
                    others.append(place)
            self.timeline.append((time.perf_counter(), gui, tuple(others)))
            if late_ms > NATIVE_DUMP_MS and self.dumps_left > 0 and (not self.dumps or self.dumps[-1][3] != beat):
                self.dumps_left -= 1
                self.dumps.append((time.perf_counter(), late_ms, _native_dump(), beat))

    def during(self, end: float, ms: float, top: int = 3) -> str:
        """The most frequent places sampled in the stall that ended at `end` (perf_counter) and lasted `ms`."""
        begin = end - (ms + HEARTBEAT_MS) / 1000
        chosen = [(gui, others) for t, gui, others in self.timeline if begin <= t <= end]
        gui = Counter(g for g, _ in chosen).most_common(top)
        other = Counter(o for _, others in chosen for o in others).most_common(top)
        lines = [f"        GUI {count:3d}  {place}" for place, count in gui]
        return "\n".join(lines + [f"        oth {count:3d}  {place}" for place, count in other])

    def report(self, top: int = 8) -> str:
        lines = [f"stall samples: {self.samples} (every {WATCHDOG_EVERY_S * 1e3:g} ms while a beat was late)"]
        lines += [f"  gc gen {g} {ms:.0f} ms on {name}" for _, g, ms, name in self.collections[-top:]]
        for title, places in (("GUI thread", self.gui_places), ("other threads", self.other_places)):
            lines.append(f"  {title}:")
            lines += [f"    {count:5d}  {place}" for place, count in places.most_common(top)]
        return "\n".join(lines)


def _native_dump() -> str:
    """Every thread's stack with its C/C++ frames and GIL state, from py-spy (a diagnostic: it pauses the process)."""
    import subprocess

    spy = Path(sys.executable).with_name("py-spy")
    try:
        done = subprocess.run(
            [str(spy), "dump", "--native", "--pid", str(os.getpid())], capture_output=True, text=True, timeout=20
        )
    except (OSError, subprocess.TimeoutExpired) as exc:
        return f"(py-spy failed: {exc})"
    return done.stdout + done.stderr


def _place(frame) -> str:
    """The innermost frame of our own code (else the innermost frame), with the one it was called from."""
    stack = traceback.extract_stack(frame)
    ours = [f for f in stack if "/workbench/" in f.filename] or stack
    inner = ours[-1]
    where = f"{Path(inner.filename).name}:{inner.lineno} {inner.name}"
    if stack[-1] is not inner:
        where += f" -> {Path(stack[-1].filename).name}:{stack[-1].lineno} {stack[-1].name}"
    return where


def make_config(data: str, steps: int, batch_size: int):
    from workbench.config import ExperimentConfig

    config = ExperimentConfig()  # the default recipe
    config.model.encoder = "small-cnn"
    config.data.path = data
    config.train.max_steps = steps
    config.train.batch_size = batch_size
    config.train.monitor_every_epochs = 0  # the same work in both modes: steps only
    config.train.device = "cpu"
    return config


def images_per_s(run_dir: Path, batch_size: int) -> float:
    from workbench.engine.run_summary import MetricsFollower
    from workbench.engine.runs import RunDir

    rows = [(int(r["step"]), float(r["time_s"])) for r in MetricsFollower(RunDir(run_dir).metrics_path).read()]
    (s0, t0), (s1, t1) = rows[SKIP_STEPS - 1], rows[-1]
    return (s1 - s0) * batch_size / (t1 - t0)


def headless(config, out: Path, images) -> float:
    from workbench.engine.fit import fit

    fit(config, out, images=images)
    return images_per_s(out, config.train.batch_size)


def in_window(app, config, out: Path, watchdog: StallWatchdog) -> tuple[float, float, list[float]]:
    """Train from the Train workspace with the window shown; (images/s, max stall ms, all stalls ms)."""
    from PySide6.QtCore import QEventLoop, QSettings, QTimer

    from workbench.gui.app import MainWindow
    from workbench.gui.worker import active_threads

    os.environ["WORKBENCH_RUNS_DIR"] = str(out)
    store = QSettings(str(out.with_suffix(".ini")), QSettings.Format.IniFormat)  # a first launch, not the user's
    window = MainWindow(config.data.path, store=store, warm_up=False)
    window.resize(1400, 900)
    window.show()
    view = window.train_view
    window.tabs.setCurrentWidget(view)
    loop = QEventLoop()
    deadline = time.monotonic() + 120
    # Like a user: wait for the folder scan, thumbnails, preview and the registries (background work) to finish. The
    # folder reaches the Train workspace only once its scan is in: until then Start would train the demo dataset.
    want = Path(config.data.path).resolve()

    def settling() -> bool:
        return view.catalog is None or not view.folder or Path(view.folder).resolve() != want or active_threads() > 0

    while settling() and time.monotonic() < deadline:
        app.processEvents(QEventLoop.ProcessEventsFlag.AllEvents, 50)
        time.sleep(0.01)
    if not view.folder or Path(view.folder).resolve() != want:
        raise SystemExit(f"the window did not open {want} within 120 s")
    busy = f", {active_threads()} background task(s) still running" if active_threads() else ""
    print(f"  training on {view.folder} in the window{busy}", flush=True)
    view.form.set_config(config)
    beats: list[float] = []
    heartbeat = QTimer(interval=HEARTBEAT_MS)
    late: list[tuple[float, float, str]] = []  # (s since Start, stall ms, what the window said then)

    def beat() -> None:
        now = time.perf_counter()
        if beats and 1000 * (now - beats[-1]) - HEARTBEAT_MS > GOAL_MS:
            said = f"{view.progress.text()} | {window.status_text.text()}"
            late.append((now, 1000 * (now - beats[-1]) - HEARTBEAT_MS, said[:70]))
        beats.append(now)
        watchdog.beat()

    heartbeat.timeout.connect(beat)
    # The end of the run counts too (the last redraw, the runs list, the buttons): beats go on for a second after it.
    view.training_changed.connect(lambda running: None if running else QTimer.singleShot(END_TAIL_MS, loop.quit))
    heartbeat.start()
    watchdog.beat()
    began = time.perf_counter()
    beats.append(began)  # pressing Start counts too: the window is frozen while start() runs
    if not view.start():
        raise SystemExit("the Train workspace did not start training")
    loop.exec()  # the real event loop, as in the app, until training ends
    heartbeat.stop()
    watchdog.last_beat = float("inf")  # closing the window is not measured
    # Beats while the first images are read and the model is built count too: the window must never freeze.
    stalls = [1000 * (b - a) - HEARTBEAT_MS for a, b in zip(beats, beats[1:], strict=False)]
    print(f"  stalls over {GOAL_MS} ms (of a {beats[-1] - began:.0f} s run), at s since Start:", flush=True)
    for at, ms, said in sorted(late, key=lambda item: -item[1])[:8]:
        print(f"    {at - began:7.2f} s  {ms:6.0f} ms  {said}", flush=True)
        print(watchdog.during(at, ms), flush=True)
    for at, ms, text, _beat in watchdog.dumps:
        if at >= began:
            print(f"  py-spy dump {at - began:.2f} s since Start, {ms:.0f} ms late:\n{text}", flush=True)
    run_dir = view.run_dir
    window.train_view.shutdown()
    window.close()
    window.deleteLater()
    app.processEvents()
    return images_per_s(run_dir, config.train.batch_size), max(stalls, default=0.0), stalls


def bare_control(app, seconds: float) -> tuple[float, float]:
    """The floor of this machine: the same heartbeat while a plain thread trains a small CNN, no window and no code of
    ours; (max, p99) stall ms. What the window shows above this is ours to fix."""
    import torch
    from PySide6.QtCore import QEventLoop, QTimer

    net = torch.nn.Sequential(
        torch.nn.Conv2d(3, 32, 3, padding=1), torch.nn.BatchNorm2d(32), torch.nn.ReLU(), torch.nn.MaxPool2d(2),
        torch.nn.Conv2d(32, 64, 3, padding=1), torch.nn.BatchNorm2d(64), torch.nn.ReLU(),
        torch.nn.AdaptiveAvgPool2d(1), torch.nn.Flatten(), torch.nn.Linear(64, 10),
    )  # fmt: skip
    opt, stop = torch.optim.SGD(net.parameters(), 0.1), threading.Event()

    def train() -> None:
        x = torch.randn(256, 3, 32, 32)
        while not stop.is_set():
            loss = net(x).square().mean()
            opt.zero_grad()
            loss.backward()
            opt.step()

    worker = threading.Thread(target=train, daemon=True)
    worker.start()
    beats: list[float] = []
    heartbeat, loop = QTimer(interval=HEARTBEAT_MS), QEventLoop()
    heartbeat.timeout.connect(lambda: beats.append(time.perf_counter()))
    heartbeat.start()
    QTimer.singleShot(int(seconds * 1000), loop.quit)
    loop.exec()
    heartbeat.stop()
    stop.set()
    worker.join()
    stalls = sorted(1000 * (b - a) - HEARTBEAT_MS for a, b in zip(beats, beats[1:], strict=False))
    return (stalls[-1], stalls[int(0.99 * (len(stalls) - 1))]) if stalls else (0.0, 0.0)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", required=True, help="image folder (e.g. the Fashion-MNIST split's train folder)")
    parser.add_argument("--steps", type=int, default=60)
    parser.add_argument("--batch-size", type=int, default=256)
    parser.add_argument("--repeats", type=int, default=2)
    parser.add_argument("--switch-interval", type=float, help="sys.setswitchinterval for this run (s), to compare")
    parser.add_argument("--bare", type=float, default=0, help="also measure the machine's floor for N s (no app)")
    parser.add_argument("--native-dumps", type=int, default=0, help="py-spy dumps of up to N long stalls (slows)")
    parser.add_argument("--display", help="an X display (e.g. :99 from Xvfb); default: Qt's offscreen platform")
    args = parser.parse_args()
    if args.display:
        os.environ.update(DISPLAY=args.display, QT_QPA_PLATFORM="xcb")
    else:
        os.environ["QT_QPA_PLATFORM"] = "offscreen"

    from PySide6.QtWidgets import QApplication

    from workbench.engine.fit import load_data
    from workbench.engine.report import NullReporter
    from workbench.gui.gc_policy import install_gui_collector

    if args.switch_interval:
        sys.setswitchinterval(args.switch_interval)
    app = QApplication.instance() or QApplication([])
    install_gui_collector(app)  # as run_app does
    config = make_config(args.data, args.steps, args.batch_size)
    images = load_data(config, NullReporter())  # decoded once for the headless runs (the window reads its own)
    gui_speeds, head_speeds, stalls, max_stalls = [], [], [], []
    watchdog = StallWatchdog(threading.get_ident(), args.native_dumps)
    watchdog.start()
    with tempfile.TemporaryDirectory() as tmp:
        for i in range(args.repeats):
            head_speeds.append(headless(config, Path(tmp) / f"headless-{i}", images))
            speed, worst, all_stalls = in_window(app, config, Path(tmp) / f"gui-{i}", watchdog)
            gui_speeds.append(speed)
            max_stalls.append(worst)
            stalls += all_stalls
            print(
                f"round {i + 1}: headless {head_speeds[-1]:.0f} img/s, window {speed:.0f} img/s, "
                f"longest stall {worst:.0f} ms",
                flush=True,
            )
    watchdog.done.set()
    bare = bare_control(app, args.bare) if args.bare else None
    if bare is not None:
        print(f"bare control ({args.bare:g} s, no app): max stall {bare[0]:.0f} ms, p99 {bare[1]:.1f} ms", flush=True)
    print(watchdog.report(), flush=True)
    stalls.sort()
    result = {
        "steps": args.steps,
        "batch_size": args.batch_size,
        "headless_images_per_s": round(statistics.mean(head_speeds), 1),
        "gui_images_per_s": round(statistics.mean(gui_speeds), 1),
        "gui_vs_headless": round(statistics.mean(gui_speeds) / statistics.mean(head_speeds), 3),
        "max_stall_ms": round(max(max_stalls), 1),
        "p99_stall_ms": round(stalls[int(0.99 * (len(stalls) - 1))], 1) if stalls else 0.0,
        "heartbeats": len(stalls) + args.repeats,
        "platform": os.environ["QT_QPA_PLATFORM"],
    }
    if bare is not None:
        result["bare_max_stall_ms"], result["bare_p99_stall_ms"] = round(bare[0], 1), round(bare[1], 1)
    print(json.dumps(result))


if __name__ == "__main__":
    main()
