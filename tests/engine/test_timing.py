"""The time budget holds everything between steps, and evaluation takes a bounded share of the time.

fit() runs with a fake clock (engine/timing.py `now`) that only the steps and the monitor move: each step "takes"
STEP_S and each monitor pass a chosen cost, so the schedule is checked exactly, without wall-clock asserts. The steps
are fakes that skip the optimisation (the schedule, not the learning, is under test); the last test trains for real.
"""

from __future__ import annotations

import io

import pytest
import torch

from tests.engine.test_fit import tiny_config
from workbench.console import ConsoleReporter
from workbench.engine import fit as fit_module
from workbench.engine import monitor as monitor_module
from workbench.engine import timing
from workbench.engine.fit import fit
from workbench.engine.report import NullReporter, StepReport
from workbench.engine.runs import read_csv
from workbench.engine.timing import Overheads, TrainClock
from workbench.engine.trainer import StepResult, Trainer

pytestmark = pytest.mark.usefixtures("one_torch_thread")
STEP_S = 1.0  # fake seconds a step takes; 16 images at batch 8: an epoch is 2 steps, 2 s


class FakeTime:
    def __init__(self) -> None:
        self.t = 1000.0

    def __call__(self) -> float:
        return self.t


class Recorder(NullReporter):
    def __init__(self) -> None:
        self.reports: list[StepReport] = []

    def step(self, report: StepReport) -> None:
        self.reports.append(report)


@pytest.fixture
def fake(monkeypatch):
    """The fake clock, fake steps of STEP_S and a monitor whose pass costs `fake.monitor_s` (its start times are
    recorded in `fake.passes`)."""
    clock = FakeTime()
    clock.monitor_s, clock.passes = 4.0, []

    def step(self, views, progress, step):
        clock.t += STEP_S
        return StepResult(loss=1.0 / (step + 1), values={}, lr=0.1 * (1 - progress))

    def metrics(method, data, spec, config, device):
        clock.passes.append(clock.t)
        clock.t += clock.monitor_s
        return {"std": 0.5, "knn_top1_train_split": 0.75}

    monkeypatch.setattr(timing, "now", clock)
    monkeypatch.setattr(Trainer, "step", step)
    monkeypatch.setattr(monitor_module, "epoch_metrics", metrics)
    monkeypatch.setattr(fit_module, "epoch_metrics", metrics)  # the untrained pass before the first step
    return clock


def budget_config(image_folder, budget_s: float, **train):
    return tiny_config(image_folder, time_budget_s=budget_s, epochs=100_000, checkpoint_every_epochs=0, **train)


def elapsed(fake: FakeTime, start: float = 1000.0) -> float:
    return fake.t - start


def test_the_monitor_takes_its_share_of_the_time_not_every_epoch(fake, image_folder, tmp_path) -> None:
    result = fit(budget_config(image_folder, 100.0), tmp_path / "run")
    total = elapsed(fake)
    charged_s = (len(fake.passes) - 1) * fake.monitor_s  # the untrained reference pass is not charged to the share
    assert result.status == "finished" and "time budget" in result.message
    # the untrained pass, two during training, the final one; with a pass after every epoch there would be ~20
    assert len(fake.passes) == 4 and charged_s <= 0.1 * total + fake.monitor_s  # the share, plus the final weights
    epochs = read_csv(tmp_path / "run" / "epochs.csv")
    measured = [row for row in epochs if row.get("std")]
    assert len(epochs) == result.step // 2 and len(measured) == 3  # every epoch's loss, three measured
    assert int(measured[-1]["step"]) == result.step and epochs[-1] is measured[-1]  # the final weights' row


def test_the_budget_holds_an_expensive_monitor_and_the_run_ends_inside_an_epoch(fake, image_folder, tmp_path) -> None:
    fake.monitor_s = 10.0
    reporter = Recorder()
    result = fit(budget_config(image_folder, 41.0), tmp_path / "run", reporter=reporter)
    # the last step starts only if it, then the final monitor pass, ends within the budget: 10 + 21 steps + 10
    assert result.step == 21 and elapsed(fake) == 41.0 and result.time_s == pytest.approx(41.0)
    assert fake.passes == [1000.0, 1031.0]  # the untrained weights and the final ones: no room for more
    epochs = read_csv(tmp_path / "run" / "epochs.csv")
    assert [int(r["epoch"]) for r in epochs] == list(range(1, 12))  # the 11th epoch's row is the partial last one
    assert int(epochs[-1]["step"]) == 21 and epochs[-1]["std"] == "0.5"
    saved = torch.load(tmp_path / "run" / "checkpoints" / "last.pt", weights_only=True)["position"]
    assert saved["step"] == 21 and saved["time_s"] == pytest.approx(41.0)  # the final pass is in the saved time
    # progress: non-decreasing, below 1 until the last step, which reports the run done in full
    progress = [r.progress for r in reporter.reports]
    assert progress == sorted(progress) and progress[-1] == 1.0 and max(progress[:-1]) < 1.0
    assert reporter.reports[-1].eta_s == 0.0

    # extended, the run trims the partial epoch's row and continues the same epochs
    fake.passes.clear()
    resumed = fit(budget_config(image_folder, 101.0), tmp_path / "run", resume=True)
    # a pass at the first epoch end (step 22: its cost is not known yet in this process), then steps to 91, the final
    assert fake.passes == [1042.0, 1091.0] and resumed.step == 61 and resumed.time_s == pytest.approx(101.0)
    epochs = read_csv(tmp_path / "run" / "epochs.csv")
    assert [int(r["epoch"]) for r in epochs] == list(range(1, 32))
    assert [int(r["step"]) for r in epochs if r.get("std")] == [22, 61]


def test_progress_reaches_one_when_the_steps_end_the_run(fake, image_folder, tmp_path) -> None:
    reporter = Recorder()
    fit(tiny_config(image_folder, max_steps=5), tmp_path / "run", reporter=reporter)
    assert [r.progress for r in reporter.reports] == [0.2, 0.4, 0.6, 0.8, 1.0]


@pytest.mark.parametrize("off", [{"monitor_share": 0.0}, {"monitor_every_epochs": 0}])
def test_with_the_monitor_off_rows_hold_the_loss_alone(off, fake, image_folder, tmp_path) -> None:
    fit(tiny_config(image_folder, max_steps=5, **off), tmp_path / "run")
    epochs = read_csv(tmp_path / "run" / "epochs.csv")
    assert fake.passes == [] and [r["epoch"] for r in epochs] == ["1", "2"]  # no partial row without a pass
    assert set(epochs[0]) == {"epoch", "step", "time_s", "loss"}
    assert not (tmp_path / "run" / "untrained.json").exists()


def test_the_monitor_leaves_the_training_unchanged(image_folder, tmp_path) -> None:
    """Measured after every epoch or never, a run ends with the same weights: the monitor draws from no generator
    and touches no state that training uses (so its time-dependent schedule keeps resumes exact)."""
    fit(tiny_config(image_folder, max_steps=4, monitor_share=1.0), tmp_path / "always")
    fit(tiny_config(image_folder, max_steps=4, monitor_share=0.0), tmp_path / "never")
    assert len([r for r in read_csv(tmp_path / "always" / "epochs.csv") if r.get("std")]) == 2
    a = torch.load(tmp_path / "always/checkpoints/last.pt", weights_only=True)
    b = torch.load(tmp_path / "never/checkpoints/last.pt", weights_only=True)
    for part in ("model", "optimizer"):
        assert a[part].keys() == b[part].keys()
    for key in a["model"]:
        assert torch.equal(a["model"][key], b["model"][key]), key


def test_overheads_rules() -> None:
    clock = TrainClock(0.0, 0, 100.0)
    o = Overheads(budget_s=100.0, share=0.1)
    assert o.allows(0.0, "monitor")  # nothing measured yet: the first pass runs (and is then measured)
    o.cost.update(step=1.0, monitor=4.0, preview=0.5, checkpoint=0.5)
    assert o.reserve_s() == 5.0
    assert o.fits(94.0, "step") and not o.fits(94.5, "step")  # 94 + 1 + the final 5 = 100
    o.evaluation_s = 4.0
    assert not o.allows(75.0, "monitor") and o.allows(76.0, "monitor")  # 4 + 4 <= 0.1 * (76 + 4)
    assert o.allows(90.0, "monitor") and not o.allows(91.0, "monitor")  # 91 + 4, a step and the final 5 > 100
    assert not Overheads(None, 0.0).allows(50.0, "monitor") and Overheads(None, 0.0).fits(1e9, "step")
    copy = Overheads(100.0, 0.1)
    copy.set_shared(o.shared())
    assert copy.cost == {**o.cost, "step": 0.0} and copy.evaluation_s == 4.0  # the step time is agreed apart
    resumed = Overheads(100.0, 0.1, elapsed_s=50.0)
    assert resumed.evaluation_s == 5.0  # a resumed run counts its share as used
    with o.measure("preview", clock, active=False):
        pass
    assert o.cost["preview"] == 0.5 and o.evaluation_s == 4.0


def test_console_always_shows_the_last_step_with_a_full_bar() -> None:
    stream = io.StringIO()  # not a terminal: a line every 10 s
    console = ConsoleReporter(stream)
    report = dict(epoch=1, total_steps=None, loss=1.0, lr=0.1, images_per_s=10.0, time_s=1.0, eta_s=5.0)
    console.step(StepReport(step=1, progress=0.5, **report))
    console.step(StepReport(step=2, progress=0.75, **report))  # within 10 s of the last line: not shown
    console.step(StepReport(step=3, progress=1.0, **report))
    lines = stream.getvalue().splitlines()
    assert len(lines) == 2 and "step 1 " in lines[0] and "[" + "#" * 10 + "." * 10 + "]" in lines[0]
    assert "step 3 " in lines[1] and "[" + "#" * 20 + "]" in lines[1]
