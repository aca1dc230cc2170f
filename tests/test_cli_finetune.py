"""`workbench finetune`, `workbench predict` and `workbench export` of a fine-tuned run, headless: the same steps as
the app, with bad labels files answered in one sentence and exit code 2."""

from __future__ import annotations

import csv

import pytest
import torch

from tests.conftest import write_class_folder
from tests.results.test_finetune import write_labels
from tests.results.test_interop import encoder_run
from workbench.cli import EXIT_USER_ERROR, main
from workbench.engine.runs import RunDir

SIZE = 16
TINY = ["--steps", "4", "--batch-size", "8", "--device", "cpu", "--patience", "0"]


def run_cli(capsys, *argv: str) -> tuple[int, str, str]:
    code = main(list(argv))
    out, err = capsys.readouterr()
    return code, out, err


@pytest.fixture(scope="module")
def parent(tmp_path_factory):
    base = tmp_path_factory.mktemp("cli-finetune")
    folder = write_class_folder(base / "images", per_class=6, size=SIZE)
    return folder, encoder_run(folder, base / "parent", "small-cnn", steps=1)


def test_finetune_predict_and_export_from_the_command_line(parent, tmp_path, capsys, one_torch_thread):
    folder, run = parent
    labels = write_labels(tmp_path / "labels.csv", folder)
    code, out, err = run_cli(
        capsys, "finetune", str(run), "--labels", str(labels), "--out", str(tmp_path / "r2"), *TINY
    )
    assert code == 0, err
    assert "status: finished" in out and "steps: 4" in out
    code, out, err = run_cli(
        capsys, "predict", str(tmp_path / "r2"), "--data", str(folder), "--out", str(tmp_path / "p.csv"),
        "--labels", str(labels), "--device", "cpu",
    )  # fmt: skip
    assert code == 0, err
    with open(tmp_path / "p.csv", newline="") as f:
        rows = list(csv.DictReader(f))
    assert sorted(r["path"] for r in rows) == sorted(p.relative_to(folder).as_posix() for p in folder.rglob("*.png"))
    assert all(r["user_label"] == r["path"].split("/")[0] for r in rows)  # every image was labelled by its folder
    # (without --onnx, which takes ~8 s a model here: tests/results/test_classifier_export.py checks the ONNX file)
    code, out, err = run_cli(capsys, "export", str(tmp_path / "r2"), "--out", str(tmp_path / "x"))
    assert code == 0, err
    names = {p.name for p in (tmp_path / "x").iterdir()}
    assert names == {"classifier.pt", "classifier.torchscript.pt", "encoder.pt", "encoder.torchscript.pt"}
    code, out, err = run_cli(capsys, "finetune", str(run), "--out", str(tmp_path / "r2"), "--resume", "--steps", "6")
    assert code == 0, err
    assert "steps: 6" in out


@pytest.mark.parametrize(
    ("rows", "match"),
    [
        ("path,label\nnot/here.png,circle\ncircle/000.png,square\n", "that are not in the image folder"),
        ("path,label\ncircle/000.png,circle\n", "only one class ('circle')"),
        ("", "is empty"),
    ],
    ids=["unknown-path", "one-class", "empty"],
)
def test_a_bad_labels_file_is_one_sentence(parent, tmp_path, capsys, rows, match):
    _, run = parent
    bad = tmp_path / "bad.csv"
    bad.write_text(rows, encoding="utf-8")
    code, out, err = run_cli(capsys, "finetune", str(run), "--labels", str(bad), "--out", str(tmp_path / "r"), *TINY)
    assert code == EXIT_USER_ERROR and match in err and "Traceback" not in err
    assert err.startswith("error: ") and err.strip().count("\n") == 0 and err.count(". ") == 0
    assert not (tmp_path / "r").exists()


def test_predicting_with_an_ssl_run_and_finetuning_without_labels_are_one_sentence(parent, tmp_path, capsys):
    folder, run = parent
    code, _, err = run_cli(capsys, "predict", str(run), "--data", str(folder), "--out", str(tmp_path / "p.csv"))
    assert code == EXIT_USER_ERROR and "not a fine-tuned one" in err and not (tmp_path / "p.csv").exists()
    code, _, err = run_cli(capsys, "finetune", str(run), "--out", str(tmp_path / "r"))
    assert code == EXIT_USER_ERROR and "needs --labels" in err


def test_predict_and_export_use_the_best_checkpoint_unless_told(parent, tmp_path, capsys, monkeypatch):
    from tests.results.test_finetune_best import Scripted
    from workbench.engine import fit as fit_module
    from workbench.methods.classifier import Classifier

    folder, run = parent
    labels = write_labels(tmp_path / "labels.csv", folder)
    allows = fit_module.Overheads.allows
    monkeypatch.setattr(fit_module.Overheads, "allows", lambda s, e, kind: kind == "monitor" or allows(s, e, kind))
    script = Scripted([0.5, 0.9, 0.5, 0.5])  # best at step 1, then two passes without improvement
    monkeypatch.setattr(Classifier, "monitor_values", lambda self, spec: script(self, spec))
    r2 = tmp_path / "r2"
    flags = ["--steps", "10", "--batch-size", "8", "--device", "cpu", "--patience", "2"]
    code, out, err = run_cli(capsys, "finetune", str(run), "--labels", str(labels), "--out", str(r2), *flags)
    assert code == 0, err
    assert "steps: 3" in out and "stopped early" in out and "at step 1" in out
    best, last = (torch.load(r2 / f"checkpoints/{n}.pt", weights_only=True)["model"] for n in ("best", "last"))
    confidences = {}
    for choice in ("default", "last"):
        extra = ["--checkpoint", choice] if choice != "default" else []
        csv_path = tmp_path / f"{choice}.csv"
        argv = ["predict", str(r2), "--data", str(folder), "--out", str(csv_path), "--device", "cpu", *extra]
        code, out, err = run_cli(capsys, *argv)
        assert code == 0, err
        assert f"checkpoint '{'best' if choice == 'default' else 'last'}'" in out
        with open(csv_path, newline="") as f:
            confidences[choice] = [r["confidence"] for r in csv.DictReader(f)]
    assert confidences["default"] != confidences["last"]
    for choice, expected in (("default", best), ("last", last)):
        extra = ["--checkpoint", choice] if choice != "default" else []
        code, _, err = run_cli(capsys, "export", str(r2), "--out", str(tmp_path / f"x-{choice}"), *extra)
        assert code == 0, err
        exported = torch.load(tmp_path / f"x-{choice}/classifier.pt", weights_only=True)["state_dict"]
        encoder = torch.load(tmp_path / f"x-{choice}/encoder.pt", weights_only=True)["state_dict"]
        assert exported.keys() and all(torch.equal(v, expected[k]) for k, v in exported.items())
        assert encoder.keys() and all(torch.equal(v, expected[f"encoder.{k}"]) for k, v in encoder.items())


def test_bad_patience_and_a_best_checkpoint_that_was_never_kept_are_one_sentence(parent, tmp_path, capsys):
    folder, run = parent
    labels = write_labels(tmp_path / "labels.csv", folder)
    out = str(tmp_path / "r")
    code, _, err = run_cli(capsys, "finetune", str(run), "--labels", str(labels), "--out", out, "--patience", "-1")
    assert code == EXIT_USER_ERROR and "--patience must be 0" in err and not (tmp_path / "r").exists()
    flags = ["--holdout", "0", "--steps", "2", "--batch-size", "8", "--device", "cpu"]
    assert run_cli(capsys, "finetune", str(run), "--labels", str(labels), "--out", out, *flags)[0] == 0
    argv = ["predict", out, "--data", str(folder), "--out", str(tmp_path / "p.csv"), "--checkpoint", "best"]
    code, _, err = run_cli(capsys, *argv)
    assert code == EXIT_USER_ERROR and "kept no best checkpoint" in err and "Traceback" not in err
    code, _, err = run_cli(capsys, "export", out, "--out", str(tmp_path / "x"), "--checkpoint", "best")
    assert code == EXIT_USER_ERROR and "has no 'best' checkpoint" in err


def test_self_training_from_the_command_line(parent, tmp_path, capsys, one_torch_thread):
    folder, run = parent
    labels = tmp_path / "labels.csv"  # 3 of each class's 6 images labelled: 6 left for self-training
    labels.write_text(
        "path,label\n" + "".join(f"{c}/{i:03d}.png,{c}\n" for c in ("circle", "square") for i in range(3)),
        encoding="utf-8",
    )
    out_dir = tmp_path / "r2"
    code, out, err = run_cli(capsys, "finetune", str(run), "--labels", str(labels), "--out", str(out_dir), *TINY)
    assert code == 0, err  # self-training is the default
    assert "Self-training: 6 unlabelled images learn the start probe's predictions." in out + err
    assert RunDir.open(out_dir).load_config().finetune.self_training
    code, _, err = run_cli(capsys, "finetune", str(run), "--out", str(out_dir), "--resume", "--no-self-training")
    assert code == EXIT_USER_ERROR and "keeps its settings" in err and "Traceback" not in err
    plain = tmp_path / "r3"
    code, out, err = run_cli(
        capsys, "finetune", str(run), "--labels", str(labels), "--out", str(plain), "--no-self-training", *TINY
    )
    assert code == 0, err
    assert "Self-training" not in out + err and not RunDir.open(plain).load_config().finetune.self_training
