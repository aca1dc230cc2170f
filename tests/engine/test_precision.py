"""train.precision = "auto": what it chooses, that its start-up check leaves the run untouched, and that a resumed
run keeps the choice; train.compile reports its compile time."""

from __future__ import annotations

import pytest
import torch

from tests.engine.test_fit import tiny_config
from workbench.engine import precision as precision_module
from workbench.engine.fit import fit
from workbench.engine.precision import choose_precision, decide
from workbench.engine.report import NullReporter
from workbench.engine.runs import RunDir
from workbench.engine.trainer import Trainer, build_method


class Messages(NullReporter):
    def __init__(self) -> None:
        self.seen: list[str] = []

    def message(self, text: str) -> None:
        self.seen.append(text)


def test_bf16_only_when_finite_and_clearly_faster():
    assert decide(1.0, 0.5, True).dtype == torch.bfloat16
    assert decide(1.0, 0.95, True).dtype is None  # 1.05x: within timing noise, not worth the precision
    assert decide(1.0, 0.5, False).dtype is None
    assert "2.00x faster" in decide(1.0, 0.5, True).reason
    assert "not finite" in decide(1.0, 0.5, False).reason


def test_the_check_takes_the_fastest_of_alternating_trials(image_folder, monkeypatch):
    """A burst of other load in one trial (here 5 s in fp32's second, 3 s in bf16's third) decides nothing."""
    monkeypatch.setattr(precision_module, "cpu_native_bf16", lambda: True)
    seconds = [9.0, 9.0, 1.0, 0.5, 5.0, 0.5, 1.0, 3.0]  # warm-ups, then fp32 and bf16 in turn
    clock = iter([t for s in seconds for t in (0.0, s)])
    model = build_method(tiny_config(image_folder))
    model.set_dataset_size(16)
    views = [torch.rand(8, 3, 16, 16) for _ in range(model.n_views)]
    choice = choose_precision("auto", torch.device("cpu"), model, views, timer=lambda: next(clock))
    assert choice.dtype == torch.bfloat16
    assert "1000 ms in fp32 and 500 ms in bf16" in choice.reason


def test_explicit_precisions_are_used_as_asked():
    cpu = torch.device("cpu")
    assert choose_precision("fp32", cpu, None, []).dtype is None
    assert choose_precision("bf16", cpu, None, []).dtype == torch.bfloat16
    assert choose_precision("fp16", cpu, None, []).dtype == torch.float16


def test_auto_is_fp32_on_a_cpu_without_native_bf16(monkeypatch):
    monkeypatch.setattr(precision_module, "cpu_native_bf16", lambda: False)
    choice = choose_precision("auto", torch.device("cpu"), None, [])
    assert choice.dtype is None and "no native bf16" in choice.reason


@pytest.mark.parametrize("method", ["moco-v2", "gan"])  # a queue and BatchNorm statistics; the step's own noise
def test_the_start_up_check_leaves_weights_buffers_and_random_streams_untouched(method, image_folder, monkeypatch):
    monkeypatch.setattr(precision_module, "cpu_native_bf16", lambda: True)  # run the check even on this CPU
    config = tiny_config(image_folder)
    config.method = type(config.method)(name=method)
    torch.manual_seed(0)
    model = build_method(config)
    model.set_dataset_size(16)
    before = {k: v.clone() for k, v in model.state_dict().items()}
    views = [torch.rand(8, 3, 16, 16) for _ in range(model.n_views)]
    rng = torch.get_rng_state()
    choice = choose_precision("auto", torch.device("cpu"), model, views)
    assert choice.dtype in (None, torch.bfloat16) and "ms in fp32" in choice.reason
    assert torch.equal(torch.get_rng_state(), rng)
    after = model.state_dict()
    assert before.keys() == after.keys()
    assert all(torch.equal(before[k], after[k]) for k in before)  # BatchNorm statistics and queues included
    assert all(p.grad is None for p in model.parameters())


def test_the_choice_is_reported_and_a_resume_keeps_it(image_folder, tmp_path):
    reporter = Messages()
    fit(tiny_config(image_folder, max_steps=2, precision="auto"), tmp_path / "run", reporter=reporter)
    state = RunDir(tmp_path / "run").load_checkpoint()
    assert state["precision"] in ("fp32", "bf16")  # bf16 only on a CPU with native bf16 that the check found faster
    assert any(text.startswith(f"Precision {state['precision']} (auto") for text in reporter.seen)

    state["precision"] = "bf16"  # as if "auto" had chosen bf16 on the machine that started the run
    resumed = Messages()
    trainer = Trainer(tiny_config(image_folder, precision="auto"), torch.device("cpu"), 16, notify=resumed.message)
    trainer.load_state_dict(state)
    assert trainer.amp_dtype == torch.bfloat16
    assert resumed.seen == ["Precision bf16 (auto, as chosen when the run started)."]


@pytest.mark.slow
def test_compile_trains_and_reports_its_compile_time(image_folder, tmp_path):
    reporter = Messages()
    result = fit(tiny_config(image_folder, max_steps=2, compile=True), tmp_path / "run", reporter=reporter)
    assert result.status == "finished" and result.step == 2
    assert any(text.startswith("torch.compile: the first step took") for text in reporter.seen)
