"""GUI-thread cost of the Train workspace's live curves, per event-loop pass, as training feeds them.

    python benchmarks/curves_paint.py [--steps 150] [--per-event 1] [--preload 20] [--size 1000x700]

Shows LiveCurves offscreen (QT_QPA_PLATFORM=offscreen unless set) and feeds it a plausible run: a falling, noisy
loss, a warm-up-then-cosine learning rate, a jittery images/s, an epoch's health values every 25 events. Each event
is what the Train view's 20 Hz timer sees: `--per-event` new steps, then the passes of the event loop that draw
them, each with the paint it causes: LiveCurves.tick until no plot is pending, as redraw_staggered does on its
timer (an older LiveCurves without tick: one redraw); one more quiet pass follows each event (nothing new). The
figures are the GUI thread's own CPU time (time.thread_time, so other processes on the machine barely move them)
and its wall time, per pass, in ms: median, 90th percentile and max, for the passes that draw new data, the quiet
ones, and all.
"""

from __future__ import annotations

import argparse
import os
import sys
import time

import numpy as np


def _rows(start: int, count: int, rng: np.random.Generator) -> np.ndarray:
    step = np.arange(start, start + count, dtype=np.float64)
    loss = 0.5 + 4.5 * np.exp(-step / 120.0) + rng.normal(0.0, 0.15, count)
    lr = np.where(step < 30, step / 30.0, 0.5 * (1 + np.cos(np.pi * np.minimum(step, 2000) / 2000))) * 3e-3
    speed = 300.0 + rng.normal(0.0, 40.0, count)
    return np.stack([step, loss, lr, speed], axis=1)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--steps", type=int, default=150, help="events with new steps (default 150)")
    parser.add_argument("--per-event", type=int, default=1, help="new steps per event (default 1)")
    parser.add_argument("--preload", type=int, default=20, help="steps drawn before the first event (default 20)")
    parser.add_argument("--size", default="1000x700", help="widget size WxH (default 1000x700)")
    args = parser.parse_args(argv)
    os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")
    from PySide6.QtWidgets import QApplication

    from workbench.gui.widgets.curves import LiveCurves

    app = QApplication.instance() or QApplication(sys.argv[:1])
    width, height = (int(v) for v in args.size.lower().split("x"))
    curves = LiveCurves()
    curves.resize(width, height)
    curves.show()
    rng = np.random.default_rng(0)
    staggered = hasattr(curves, "tick")  # LiveCurves' own timer is not started: each tick() is a pass of it

    def one_pass(push) -> tuple[float, float]:
        wall, cpu = time.perf_counter(), time.thread_time()
        push()
        for _ in range(3):  # the scene's queued update, then the widget's paint request
            app.processEvents()
        return 1000 * (time.perf_counter() - wall), 1000 * (time.thread_time() - cpu)

    curves.append_steps(_rows(0, args.preload, rng))  # a started run: its first layout is not what we measure
    curves.redraw()
    for _ in range(3):
        app.processEvents()
    after_data, quiet = [], []
    step = args.preload
    for event in range(args.steps):
        curves.append_steps(_rows(step, args.per_event, rng))
        step += args.per_event
        if event % 25 == 24:
            epoch = step // 25
            curves.append_epoch(epoch, {"alignment": 1.0 / epoch, "knn_top1_train_split": 0.1 + 0.01 * epoch})
            curves.append_epoch(epoch, {"alignment": 1.0 / epoch, "std": 0.05 + 0.001 * epoch})
        if not staggered:
            after_data.append(one_pass(curves.redraw))
        else:  # redraw_staggered's first push, then its timer's, until every plot has its points
            after_data.append(one_pass(curves.tick))
            while curves.pending():
                after_data.append(one_pass(curves.tick))
        quiet.append(one_pass(curves.tick if staggered else curves.redraw))

    def line(name: str, passes: list[tuple[float, float]]) -> str:
        wall, cpu = np.array(passes).T
        return (
            f"{name:>17}: cpu median {np.median(cpu):5.1f}  p90 {np.percentile(cpu, 90):5.1f}  max {cpu.max():5.1f}"
            f"  | wall median {np.median(wall):5.1f}  max {wall.max():5.1f}  ms"
        )

    print(f"{args.steps} events of {args.per_event} step(s), widget {width}x{height}, {step} steps drawn")
    print(line("after new data", after_data))
    print(line("quiet pass after", quiet))
    print(line("all passes", after_data + quiet))
    return 0


if __name__ == "__main__":
    sys.exit(main())
