"""`workbench runs`: the Train workspace's runs list as a table, checked against the run files themselves, and
`--compare A B`: the dotted config keys two runs differ in, with both values; bad input is one sentence."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from tests.conftest import write_class_folder
from tests.engine.test_fit import StopAfter, tiny_config
from workbench.cli import main
from workbench.engine.fit import fit
from workbench.engine.run_table import RUN_COLUMNS, RUNS_DIR_ENV, config_differences, default_runs_dir, flatten
from workbench.engine.runs import read_csv

pytestmark = pytest.mark.usefixtures("one_torch_thread")


@pytest.fixture(scope="module")
def root(tmp_path_factory) -> Path:
    """Two runs that differ in the seed and the learning rate: one finished, one stopped."""
    base = tmp_path_factory.mktemp("runs")
    data = write_class_folder(base / "images", per_class=8)
    runs = base / "runs"
    fit(tiny_config(data, max_steps=4), runs / "run-20260101-000000")
    config = tiny_config(data, max_steps=4, seed=7)
    config.optim.lr = 0.01
    fit(config, runs / "run-20260102-000000", reporter=StopAfter(3))
    return runs


def run_cli(capsys, *argv: str) -> tuple[int, str, str]:
    code = main(list(argv))
    out, err = capsys.readouterr()
    return code, out, err


def table_rows(out: str) -> list[dict[str, str]]:
    """The table's rows as {title: cell}, cut at the header's column starts (cells hold no double spaces)."""
    header, rule, *lines = out.rstrip("\n").splitlines()
    starts = [i for i, ch in enumerate(rule) if ch == "-" and (i == 0 or rule[i - 1] == " ")]
    bounds = [*starts[1:], None]
    cut = lambda line: [line[a:b].strip() for a, b in zip(starts, bounds, strict=True)]  # noqa: E731
    assert cut(header) == [c.title for c in RUN_COLUMNS]
    return [dict(zip(cut(header), cut(line), strict=True)) for line in lines]


def test_the_table_shows_what_the_run_files_hold(root, capsys):
    code, out, err = run_cli(capsys, "runs", "--root", str(root))
    assert code == 0 and not err
    rows = table_rows(out)
    assert [r["Run"] for r in rows] == ["run-20260102-000000", "run-20260101-000000"]  # newest first
    for row in rows:
        run = root / row["Run"]
        config = json.loads((run / "config.json").read_text())
        status = json.loads((run / "run.json").read_text())
        metrics = read_csv(run / "metrics.csv")
        knn = [r["knn_top1_train_split"] for r in read_csv(run / "epochs.csv") if r.get("knn_top1_train_split")]
        assert row["Status"] == status["status"]
        assert row["Method"] == config["method"]["name"] and row["Encoder"] == config["model"]["encoder"]
        assert row["Images"] == str(len(json.loads((run / "scan_report.json").read_text())["paths"]))
        assert row["Step"] == metrics[-1]["step"] == str(status["step"])
        assert row["Final loss"] == f"{status['loss']:.4f}"
        assert row["kNN (train split)"] == (f"{float(knn[-1]):.1%}" if knn else "-")
        assert row["Best held-out"] == "-"  # an SSL run keeps no best checkpoint
    assert [r["Status"] for r in rows] == ["stopped", "finished"] and [r["Step"] for r in rows] == ["3", "4"]


def test_a_fine_tuned_run_shows_its_best_held_out_accuracy_and_step(tmp_path, capsys, monkeypatch):
    """The best pass of the held-out curve (untrained.json's start, then epochs.csv; a tie keeps the earlier step)
    is what the runs list shows, in `workbench runs` as in the app's list (run_cells: the same columns)."""
    from tests.results.test_finetune import write_labels
    from tests.results.test_interop import encoder_run
    from workbench.engine import fit as fit_module
    from workbench.engine.run_summary import read_summary
    from workbench.engine.run_table import run_cells
    from workbench.results.finetune import finetune

    allows = fit_module.Overheads.allows  # a held-out pass at every epoch end, whatever the machine's speed
    monkeypatch.setattr(
        fit_module.Overheads, "allows", lambda self, t, kind: kind == "monitor" or allows(self, t, kind)
    )
    folder = write_class_folder(tmp_path / "images", per_class=12, size=16)
    runs = tmp_path / "runs"
    parent = encoder_run(folder, runs / "20260101-000000-simclr", "small-cnn", steps=1, image_size=16)
    tuned = runs / "20260101-000000-simclr-finetune-1"
    finetune(parent, write_labels(tmp_path / "labels.csv", folder), tuned, steps=4, batch_size=16, device="cpu")

    code, out, err = run_cli(capsys, "runs", "--root", str(runs))
    assert code == 0 and not err
    rows = {r["Run"]: r for r in table_rows(out)}
    start = json.loads((tuned / "untrained.json").read_text())["holdout_acc"]
    curve = [(0, start), *((int(r["step"]), float(r["holdout_acc"])) for r in read_csv(tuned / "epochs.csv"))]
    top = max(acc for _, acc in curve)
    step = min(s for s, acc in curve if acc == top)
    assert rows[tuned.name]["Best held-out"] == f"{top:.1%} at step {step}"
    assert rows[tuned.name]["Method"] == "classifier" and rows[parent.name]["Best held-out"] == "-"
    assert dict(zip([c.title for c in RUN_COLUMNS], run_cells(read_summary(tuned)), strict=True)) == {
        title: "" if cell == "-" else cell for title, cell in rows[tuned.name].items()
    }


def test_the_default_root_is_the_apps_runs_folder(root, capsys, monkeypatch):
    monkeypatch.setenv(RUNS_DIR_ENV, str(root))
    code, out, _ = run_cli(capsys, "runs")
    assert code == 0 and [r["Run"] for r in table_rows(out)] == ["run-20260102-000000", "run-20260101-000000"]


@pytest.mark.parametrize("xdg", [None, "data-home"])
def test_without_the_variable_it_is_the_folder_the_app_itself_uses(monkeypatch, tmp_path, xdg):
    pytest.importorskip("PySide6")
    from PySide6.QtCore import QCoreApplication, QStandardPaths

    from workbench.gui.app import APPLICATION, ORGANIZATION

    def app_runs_dir():  # where Qt itself puts the app's data
        return Path(QStandardPaths.writableLocation(QStandardPaths.StandardLocation.AppDataLocation)) / "runs"

    monkeypatch.delenv(RUNS_DIR_ENV, raising=False)
    if xdg:
        monkeypatch.setenv("XDG_DATA_HOME", str(tmp_path / xdg))
    else:
        monkeypatch.delenv("XDG_DATA_HOME", raising=False)
    names = QCoreApplication.organizationName(), QCoreApplication.applicationName()
    QCoreApplication.setOrganizationName(ORGANIZATION)
    QCoreApplication.setApplicationName(APPLICATION)
    try:
        assert default_runs_dir() == app_runs_dir()
    finally:
        QCoreApplication.setOrganizationName(names[0])
        QCoreApplication.setApplicationName(names[1])


def test_compare_prints_the_keys_that_differ_with_both_values(root, capsys):
    a, b = "run-20260101-000000", str(root / "run-20260102-000000")  # a name under --root, and a folder path
    code, out, err = run_cli(capsys, "runs", "--root", str(root), "--compare", a, b)
    assert code == 0 and not err
    header, _, *lines = out.strip().splitlines()
    assert header.split() == ["Config", "key", a, "run-20260102-000000"]
    saved = json.loads((root / a / "config.json").read_text())  # the values shown are config.json's
    lr, seed = json.dumps(saved["optim"]["lr"]), json.dumps(saved["train"]["seed"])
    assert sorted(line.split() for line in lines) == [["optim.lr", lr, "0.01"], ["train.seed", seed, "7"]]


def test_compare_of_a_run_with_itself_says_they_are_the_same(root, capsys):
    code, out, _ = run_cli(capsys, "runs", "--root", str(root), "--compare", *["run-20260101-000000"] * 2)
    assert code == 0 and "are the same" in out


def test_differences_open_nested_objects_and_lists_of_objects():
    a = {"train": {"seed": 0}, "augment": {"views": [{"crop": {"scale": [0.3, 1.0]}}, {"p": 1}], "mean": [0.5]}}
    b = {"train": {"seed": 0, "epochs": 5}, "augment": {"views": [{"crop": {"scale": [0.2, 1.0]}}], "mean": [0.4]}}
    assert flatten(a) == {
        "train.seed": 0,
        "augment.views.0.crop.scale": [0.3, 1.0],
        "augment.views.1.p": 1,
        "augment.mean": [0.5],
    }
    assert config_differences(a, b) == [
        ("augment.views.0.crop.scale", [0.3, 1.0], [0.2, 1.0]),
        ("augment.views.1.p", 1, "(missing)"),
        ("augment.mean", [0.5], [0.4]),
        ("train.epochs", "(missing)", 5),
    ]


def test_an_empty_runs_folder_says_so(tmp_path, capsys):
    code, out, _ = run_cli(capsys, "runs", "--root", str(tmp_path))
    assert code == 0 and out.strip() == f"No runs in {tmp_path}."


@pytest.mark.parametrize(
    "argv, fragment",
    [
        (["--root", "{tmp}/missing"], "does not exist"),
        (["--compare", "run-20260101-000000", "nope"], "'nope' is neither a run folder nor the name of a run"),
        (["--compare", "{tmp}", "run-20260101-000000"], "is not a run folder"),
    ],
)
def test_bad_input_is_one_sentence_and_exit_2(root, tmp_path, capsys, argv, fragment):
    argv = [a.replace("{tmp}", str(tmp_path)) for a in argv]
    code, out, err = run_cli(capsys, "runs", *(["--root", str(root)] if "--root" not in argv else []), *argv)
    assert code == 2 and not out and "Traceback" not in err
    lines = err.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: ") and fragment in lines[0], err
