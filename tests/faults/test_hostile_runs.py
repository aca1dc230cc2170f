"""Hostile run folders: a truncated or garbage checkpoint, one holding a pickle payload, one or a config from a newer
format, a hand-edited config with wrong types or unknown keys, a metrics.csv with garbage lines. `train --resume`,
`eval` and `embed` each answer one sentence naming the file (exit 2, no traceback), nothing runs from a data file,
and the run summary readers never crash."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import numpy as np
import pytest
import torch

from tests.engine.test_fit import tiny_config
from workbench.cli import main
from workbench.engine.fit import fit
from workbench.engine.run_summary import MetricsFollower, read_loss_curve, read_summary
from workbench.engine.runs import RunDir

pytestmark = pytest.mark.usefixtures("one_torch_thread")
MARKER = Path("/nonexistent")  # set per test: the file a payload would create


class Payload:
    """Unpickling this runs Path.touch(marker): what a malicious checkpoint would do."""

    def __init__(self, marker: Path):
        self.marker = marker

    def __reduce__(self):
        return (Path.touch, (self.marker,))


@pytest.fixture(scope="module")
def trained(tmp_path_factory):
    from tests.conftest import write_class_folder

    root = tmp_path_factory.mktemp("hostile")
    images = write_class_folder(root / "images", per_class=4, size=16)
    config = tiny_config(images, max_steps=2, monitor_every_epochs=0)
    config.data.image_size = 16
    fit(config, root / "run")
    return images, root / "run"


def edit_config(run: Path, edit) -> None:
    data = json.loads((run / "config.json").read_text())
    edit(data)
    (run / "config.json").write_text(json.dumps(data))


def resave(run: Path, edit) -> None:
    path = run / "checkpoints/last.pt"
    state = torch.load(path, weights_only=True)
    edit(state)
    torch.save(state, path)


def truncate(run):
    p = run / "checkpoints/last.pt"
    p.write_bytes(p.read_bytes()[: p.stat().st_size // 2])


def garbage(run):
    (run / "checkpoints/last.pt").write_bytes(np.random.default_rng(0).bytes(5000))


def payload(run):
    torch.save({"model": {}, "config": {}, "position": Payload(run.parent / "pwned")}, run / "checkpoints/last.pt")


CKPT = "Checkpoint '{run}/checkpoints/last.pt' "
CONF = "The run config '{run}/config.json' cannot be used: "
CASES = {
    "truncated checkpoint": (truncate, CKPT + "cannot be loaded: it is damaged or not a checkpoint ("),
    "garbage checkpoint": (garbage, CKPT + "cannot be loaded: it is damaged or not a checkpoint ("),
    "pickle payload": (payload, CKPT + "cannot be loaded: it holds code or objects other than weights, and "),
    "newer checkpoint": (
        lambda run: resave(run, lambda s: s.update(format=99)),
        CKPT + "was written by a newer SSL Workbench (format 99; this version reads up to 1); update",
    ),
    "newer config": (
        lambda run: edit_config(run, lambda d: d.update(format=99)),
        CONF + "the config was written by a newer SSL Workbench (config format 99; this version reads up to 1);",
    ),
    "wrong type": (
        lambda run: edit_config(run, lambda d: d["train"].update(batch_size="eight")),
        CONF + "config.train.batch_size must be a whole number, got 'eight'.",
    ),
    "unknown key": (
        lambda run: edit_config(run, lambda d: d["train"].update(learning_speed=3)),
        CONF + "config.train has unknown field(s): learning_speed.",
    ),
}
CHECKPOINT_CASES = [k for k in CASES if "checkpoint" in k or k == "pickle payload"]


@pytest.mark.slow
@pytest.mark.parametrize("case", list(CASES))
def test_each_command_answers_one_sentence_naming_the_file(case, trained, tmp_path, capsys):
    images, original = trained
    run = shutil.copytree(original, tmp_path / "run")
    mutate, expected = CASES[case]
    mutate(run)
    expected = expected.format(run=run)
    commands = {
        "train --resume": ["train", "--out", str(run), "--resume", "--max-steps", "4"],
        "eval": ["eval", str(run), "--train", str(images), "--test", str(images), "--device", "cpu"],
        "embed": ["embed", str(run), "--data", str(images), "--out", str(tmp_path / "e.npz"), "--device", "cpu"],
    }
    for name, argv in commands.items():
        assert main(argv) == 2, name
        err = capsys.readouterr().err  # progress lines (train reads the images first), then the sentence
        assert err.splitlines()[-1].startswith(f"error: {expected}"), f"{name}: {err}"
        assert err.count("error:") == 1 and "Traceback" not in err, f"{name}: {err}"
    assert not (tmp_path / "pwned").exists()  # nothing ran from the data file
    assert read_summary(run) is None or read_summary(run).name == "run"  # the runs list still shows or skips it


def test_the_payload_is_real_so_refusing_it_matters(tmp_path):
    run = tmp_path / "run"
    (run / "checkpoints").mkdir(parents=True)
    payload(run)
    torch.load(run / "checkpoints/last.pt", weights_only=False)  # what weights_only=True prevents
    assert (tmp_path / "pwned").exists()


def test_every_torch_load_in_the_product_is_weights_only():
    root = Path(__file__).resolve().parents[2] / "workbench"
    calls = [
        (p.relative_to(root.parent).as_posix(), line.strip())
        for p in root.rglob("*.py")
        for line in p.read_text(encoding="utf-8").splitlines()
        if "torch.load(" in line and not line.lstrip().startswith(("#", '"', "The "))
    ]
    assert calls and all("weights_only=True" in line for _, line in calls), calls


GARBAGE = [
    b"garbage\n",
    b"\x00\x01\xff\xfe binary\n",
    b"7,not,a,number,at,all,x\n",
    b"1,1,0.5\n",  # a repeat of step 1, cut short
    b"3,1,0.1,0.01,10,0.1,0.2,extra,cells\n",
]


def test_garbage_lines_in_metrics_csv_are_ignored_by_the_readers_and_dropped_on_resume(trained, tmp_path, capsys):
    _, original = trained
    run = shutil.copytree(original, tmp_path / "run")
    metrics = RunDir(run).metrics_path
    with open(metrics, "ab") as f:
        f.write(b"".join(GARBAGE))
    summary = read_summary(run)
    assert summary is not None and summary.step == 2
    assert read_loss_curve(run)[:, 0].tolist() == [1.0, 2.0]  # only the real rows
    assert [r["step"] for r in MetricsFollower(metrics).read()][:2] == ["1", "2"]
    assert main(["train", "--out", str(run), "--resume", "--max-steps", "4"]) == 0
    capsys.readouterr()
    steps = [r["step"] for r in MetricsFollower(metrics).read()]
    assert steps == ["1", "2", "3", "4"]  # continuous: the garbage is gone
