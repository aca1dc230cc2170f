"""kill -9 at random moments of training, inside a checkpoint write and inside a metrics row: every run resumes, no
checkpoint is ever torn, metrics.csv holds each step once, and the final weights equal an uninterrupted run's.
(benchmarks/faults.py runs the same loop with 50 kills.)"""

from __future__ import annotations

import os

import pytest
import torch

from tests.conftest import write_class_folder
from tests.faults.killing import kill_config, kill_loop, logged_steps
from workbench.engine.fit import fit

pytestmark = [
    pytest.mark.usefixtures("one_torch_thread"),
    pytest.mark.skipif(not hasattr(os, "fork"), reason="the kill loop forks the training process (POSIX)"),
]


@pytest.mark.slow
def test_five_kills_lose_nothing_and_end_with_the_uninterrupted_weights(tmp_path):
    data = write_class_folder(tmp_path / "images", per_class=8, size=16)
    config = kill_config(data, max_steps=16)
    straight = fit(config, tmp_path / "straight")
    assert straight.step == 16

    tally = kill_loop(config, tmp_path / "run", kills=5, seed=1, max_delay_s=0.5)

    assert sum(tally.kills.values()) >= 4, tally  # a random moment may come after the end of training
    assert tally.kills["checkpoint"] >= 1 and tally.kills["metrics"] >= 1, tally
    assert tally.finished and not tally.torn_files and tally.torn_bytes == 0, tally
    assert tally.leftover_temporaries == 0, tally
    assert logged_steps(tmp_path / "run") == list(range(1, 17))  # continuous: no gap, no repeat, no torn row
    a = torch.load(tmp_path / "straight/checkpoints/last.pt", weights_only=True)
    b = torch.load(tmp_path / "run/checkpoints/last.pt", weights_only=True)
    assert a["position"] == {**b["position"], "time_s": a["position"]["time_s"]}
    differ = [k for k in a["model"] if not torch.equal(a["model"][k], b["model"][k])]
    assert not differ, f"the killed and resumed run's weights differ in {differ}"
