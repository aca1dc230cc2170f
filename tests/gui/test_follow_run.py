"""Train → Follow run…: the curves of a run that another process writes, live, read off the GUI thread, and nothing
written into its folder."""

from __future__ import annotations

import json
import threading
from pathlib import Path

import pytest

import workbench.methods  # noqa: F401  (registries: the catalog worker then imports nothing)
from tests.gui.conftest import assert_no_work_left
from tests.gui.test_train_view import runs_dir, tiny, train_window, wait_idle  # noqa: F401  (runs_dir is a fixture)
from workbench.config import ExperimentConfig
from workbench.gui.train_tasks import RunFollower

HEADER = "step,epoch,loss,lr,images_per_s,time_s\n"


def row(step: int) -> str:
    return f"{step},{(step - 1) // 4},{2.0 / step:.4f},0.001,100,{0.5 * step}\n"


class Writer:
    """Writes a run folder by hand, as another process would, and remembers every file's (size, mtime)."""

    def __init__(self, path: Path):
        self.path = path
        self.stamps: dict[str, tuple[int, int]] = {}
        config = ExperimentConfig()
        config.train.max_steps, config.train.batch_size = 8, 4
        path.mkdir(parents=True)
        self.write("config.json", json.dumps(config.to_dict(), indent=2))
        self.status("running")
        self.write("scan_report.json", json.dumps({"paths": [f"{i}.png" for i in range(16)]}))
        self.write("metrics.csv", HEADER + row(1) + row(2))

    def write(self, name: str, text: str, append: bool = False) -> None:
        with open(self.path / name, "a" if append else "w", encoding="utf-8") as f:
            f.write(text)
        st = (self.path / name).stat()
        self.stamps[name] = (st.st_size, st.st_mtime_ns)

    def status(self, status: str, message: str = "") -> None:
        self.write("run.json", json.dumps({"status": status, "step": 0, "message": message}))

    def untouched(self) -> bool:
        """Every file is as this writer left it, and no file was added."""
        files = {p.name: (p.stat().st_size, p.stat().st_mtime_ns) for p in self.path.iterdir()}
        return files == self.stamps


def steps(view) -> list[int]:
    return [int(s) for s in view.curves.steps()]


def test_following_a_run_draws_its_complete_rows_until_it_finishes(
    qtbot,
    make_window,
    image_folder,
    runs_dir,  # noqa: F811
    monkeypatch,
):
    threads = set()
    real_poll = RunFollower.poll

    def poll(self, state=None):
        threads.add(threading.current_thread() is threading.main_thread())
        return real_poll(self, state)

    monkeypatch.setattr(RunFollower, "poll", poll)
    run = Writer(runs_dir / "20260101-120000-simclr-small-cnn")
    window = make_window(image_folder)
    view = window.train_view
    window.tabs.setCurrentWidget(view)
    assert view.runs.runs[0].status == "running"
    assert view.follow(run.path) and view.is_following() and view.follow_button.text() == "Stop following"
    qtbot.waitUntil(lambda: steps(view) == [1, 2], timeout=10_000)
    assert "following 20260101-120000-simclr-small-cnn · running" in view.progress.format()
    assert "step 2/8" in view.progress.format() and view.progress.maximum() == 8  # 16 images / batch 4, max 8 steps

    run.write("metrics.csv", row(3) + row(4)[:5], append=True)  # one row and half of the next
    qtbot.waitUntil(lambda: steps(view) == [1, 2, 3], timeout=10_000)
    polls = view.following.poller.polls
    qtbot.waitUntil(
        lambda: view.following.poller.polls >= polls + 2, timeout=10_000
    )  # two more reads: the half line waits
    assert steps(view) == [1, 2, 3]
    run.write("metrics.csv", row(4)[5:] + row(5), append=True)
    qtbot.waitUntil(lambda: steps(view) == [1, 2, 3, 4, 5], timeout=10_000)
    assert list(view.curves.series["loss"].view) == pytest.approx([2.0 / s for s in range(1, 6)], abs=1e-4)
    run.write("epochs.csv", "epoch,step,time_s,loss,std,knn_top1\n0,4,2.0,0.9,0.12,0.75\n")
    qtbot.waitUntil(lambda: [e for e, _ in view.curves.epochs] == [0], timeout=10_000)
    assert "kNN (train split) 75.0%" in view.health.text()  # an old run's knn_top1 column, read as the new name

    run.write("metrics.csv", row(6) + row(7) + row(8), append=True)
    run.status("finished", "finished 8 steps")
    qtbot.waitUntil(lambda: not view.is_following(), timeout=10_000)
    assert steps(view) == list(range(1, 9))
    assert view.progress.format() == "20260101-120000-simclr-small-cnn finished 8 steps (followed)"
    assert view.follow_button.text() == "Follow run…" and view.runs.selected_runs()[0].status == "finished"
    assert not view.following.poller.timer.isActive() and not view.following.poller.runner.is_running()  # no more reads
    assert threads == {False}  # every read ran on a worker thread
    assert run.untouched()
    window.close()
    assert_no_work_left()
    assert run.untouched()


def test_a_folder_that_is_not_a_run_is_one_sentence(qtbot, make_window, image_folder, runs_dir, tmp_path):  # noqa: F811
    window = make_window(image_folder)
    view = window.train_view
    (tmp_path / "notes").mkdir()
    with qtbot.waitSignal(view.failed, timeout=10_000) as failed:
        view.follow(tmp_path / "notes")
    assert failed.args[0] == f"'{tmp_path / 'notes'}' is not a run folder (it has no config.json)."
    qtbot.waitUntil(lambda: not view.is_following(), timeout=5_000)
    assert failed.args[0] in window.banner.text() and list((tmp_path / "notes").iterdir()) == []


def test_double_click_follows_a_running_run_and_start_stops_following(
    qtbot,
    make_window,
    image_folder,
    runs_dir,  # noqa: F811
):
    run = Writer(runs_dir / "20260101-120000-simclr-small-cnn")
    window, view = train_window(qtbot, make_window, image_folder)
    view.runs.select(run.path)
    view.runs.itemDoubleClicked.emit(view.runs.topLevelItem(0), 0)
    assert view.is_following() and view.followed == run.path
    qtbot.waitUntil(lambda: steps(view) == [1, 2], timeout=10_000)
    assert not view.runs_panel.resume_button.isEnabled()  # another process writes it: never resumed meanwhile
    tiny(view, epochs=1, max_steps=1)
    view.start_button.click()  # training in this window stops following
    assert not view.is_following() and view.followed is None and view.is_training()
    wait_idle(qtbot, view)
    assert steps(view) == [1] and run.untouched()


def test_the_follower_redraws_when_a_resume_trims_the_log_and_never_writes(tmp_path):
    run = Writer(tmp_path / "run")
    follower = RunFollower(run.path)
    first = follower.poll()
    assert [int(s) for s in first.rows[:, 0]] == [1, 2] and not first.restarted and first.total_steps == 8
    assert first.epochs is None and first.preview is None and not first.ended
    run.write("metrics.csv", row(3) + row(4), append=True)
    later = follower.poll()
    assert [int(s) for s in later.rows[:, 0]] == [3, 4] and later.eta_s == pytest.approx(2.0)  # 4 steps left, 2/s
    trimmed = run.path / "metrics.tmp"  # a resumed run replaces the log, trimmed to its last checkpoint
    trimmed.write_text(HEADER + row(1) + row(2) + row(3))
    trimmed.replace(run.path / "metrics.csv")
    run.stamps.pop("metrics.tmp", None)
    run.write("metrics.csv", "", append=True)
    again = follower.poll()
    assert again.restarted and [int(s) for s in again.rows[:, 0]] == [1, 2, 3]
    assert follower.poll().rows.shape == (0, 4) and run.untouched()
