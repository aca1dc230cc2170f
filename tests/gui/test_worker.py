"""The worker helper's plumbing: results on the GUI thread, cooperative cancel, latest wins, errors, shutdown."""

from __future__ import annotations

import sys
import threading
import time

import pytest

from workbench.errors import Cancelled, DataError
from workbench.gui.worker import TaskRunner, active_threads, failure_sentence, user_message


@pytest.fixture
def runner(qtbot):
    r = TaskRunner()
    yield r
    assert r.shutdown(5000)
    assert active_threads() == 0


def _until_cancelled(state):
    """Work that only ends when asked to: polls should_stop like the engine's loops do."""
    while not state.should_stop():
        state.progress(1, 10)
        time.sleep(0.005)
    raise Cancelled("stopped")


def test_result_arrives_on_the_gui_thread(qtbot, runner):
    seen = {}

    def work(state):
        seen["work"] = threading.current_thread() is threading.main_thread()
        return 42

    with qtbot.waitSignal(runner.running_changed, check_params_cb=lambda busy: not busy, timeout=5000):
        runner.start(work, lambda result: seen.update(result=result, gui=threading.current_thread()))
    assert seen["result"] == 42
    assert seen["work"] is False and seen["gui"] is threading.main_thread()


def test_progress_then_cancel_drops_the_result(qtbot, runner):
    results = []
    with qtbot.waitSignal(runner.progress, timeout=5000) as progress:
        task = runner.start(_until_cancelled, results.append)
    assert progress.args == [1, 10]
    with qtbot.waitSignal(runner.cancelled, timeout=5000):
        runner.cancel()
    qtbot.waitUntil(lambda: task.finished, timeout=5000)
    assert task.state.should_stop() and results == []


def test_a_new_task_cancels_the_old_one_and_only_the_newest_result_arrives(qtbot, runner):
    results = []
    old = runner.start(_until_cancelled, results.append)
    runner.start(lambda state: "new", results.append)
    qtbot.waitUntil(lambda: results == ["new"] and old.finished, timeout=5000)
    assert old.state.should_stop()


@pytest.mark.parametrize(
    ("error", "sentence"),
    [
        (DataError("Folder 'x' contains no image files."), "Folder 'x' contains no image files."),
        (RuntimeError("boom"), "Unexpected error (RuntimeError: boom); details were written to the log."),
    ],
)
def test_errors_become_one_sentence(qtbot, runner, error, sentence):
    def work(state):
        raise error

    with qtbot.waitSignal(runner.failed, timeout=5000) as failed:
        runner.start(work)
    assert failed.args == [sentence] and user_message(error) == sentence


def test_pool_tasks_and_the_training_thread_share_one_sentence_and_one_log(tmp_path, caplog):
    """A bug is logged with its traceback and shown as the same sentence, whether a pool task or training failed;
    a user error is shown as is and logs nothing."""
    from workbench.config import ExperimentConfig
    from workbench.gui.train_job import TrainingJob

    config = ExperimentConfig()
    config.data.path = str(tmp_path / "missing")
    job = TrainingJob(config, tmp_path / "run")
    with caplog.at_level("ERROR"):
        job.start()
        assert job.wait(30)
    assert job.error is not None and "does not exist" in job.error
    assert not caplog.records  # bad input: a sentence, no traceback

    with caplog.at_level("ERROR"):
        assert failure_sentence(RuntimeError("boom"), "training") == user_message(RuntimeError("boom"))
    assert [r.getMessage().splitlines()[0] for r in caplog.records] == ["training failed:"]
    assert "RuntimeError: boom" in caplog.records[0].getMessage()


def test_shutdown_cancels_and_waits(qtbot, runner):
    with qtbot.waitSignal(runner.progress, timeout=5000):
        task = runner.start(_until_cancelled)
    assert runner.shutdown(5000)
    assert task.state.should_stop() and active_threads() == 0


def test_thousands_of_emissions_leave_true_alone():
    """PySide6 6.12 on Python 3.11 leaks a reference to True per emit(); our emit() gives it back."""
    from PySide6.QtCore import QObject, Signal

    from workbench.gui.signals import emit

    class Source(QObject):
        ping = Signal()

    source, before = Source(), sys.getrefcount(True)
    for _ in range(5000):
        emit(source.ping)
    assert sys.getrefcount(True) >= before - 2
