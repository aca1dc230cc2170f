"""Train → Run on a cluster…: the form's experiment as a config file, and the torchrun / Slurm lines to copy."""

from __future__ import annotations

from pathlib import Path

from PySide6.QtGui import QGuiApplication
from PySide6.QtWidgets import QLabel

from tests.gui.test_train_view import runs_dir, train_window  # noqa: F401  (runs_dir is a fixture)
from workbench.cluster import SHARED_FILESYSTEM_NOTE, torchrun_commands
from workbench.config import load_config


def shown_lines(edit) -> list[str]:
    """The command lines of a block, without the comments and blank lines that separate the machines."""
    return [line for line in edit.toPlainText().split("\n") if line and not line.startswith("#")]


def open_dialog(qtbot, view):
    view.form.batch_size.setValue(8)
    dialog = view.open_cluster_dialog()
    assert dialog is not None and dialog.isVisible()
    qtbot.waitUntil(lambda: "looking" not in dialog.gpu_info.text(), timeout=10_000)  # the GPU count, off-thread
    return dialog


def test_the_dialog_shows_the_forms_commands_and_follows_the_spin_boxes(qtbot, make_window, image_folder, runs_dir):  # noqa: F811
    _, view = train_window(qtbot, make_window, image_folder)
    dialog = open_dialog(qtbot, view)
    run, config_path = dialog.run_dir(), dialog.config_path()
    assert run.parent == runs_dir and run.name.endswith("-simclr-" + view.config().model.encoder)
    assert config_path == runs_dir / f"{run.name}.json" and not config_path.exists()  # nothing written yet
    n = dialog.gpus.value()
    assert n >= 1 and (n == 2) == ("no CUDA GPU" in dialog.gpu_info.text())
    cpus = n * (view.config().train.workers + 1)
    expected = torchrun_commands(config_path, run, nproc_per_node=n, nnodes=2, cpus_per_task=cpus)
    assert dialog.single.text.toPlainText() == expected.single_machine
    assert shown_lines(dialog.multi.text) == expected.multi_machine.split("\n")
    assert "# on machine 0 (HOST):\n" in dialog.multi.text.toPlainText()  # each line under its machine's name
    assert dialog.slurm.text.toPlainText() == expected.slurm_script.replace("workbench\n", "workbench-simclr\n", 1)
    assert dialog.single.resume.toPlainText().endswith(f"--out {run} --resume")
    assert "global batch" in dialog.batch_note.text() and not dialog.problem.isVisible()
    assert SHARED_FILESYSTEM_NOTE in [label.text() for label in dialog.findChildren(QLabel)]

    dialog.gpus.setValue(3)  # 8 images over 3 x 2 processes: a warning line
    assert "--nproc_per_node=3" in dialog.single.text.toPlainText()
    assert "⚠" in dialog.batch_note.text() and "multiple of 6" in dialog.batch_note.text()
    dialog.nodes.setValue(4)
    lines = shown_lines(dialog.multi.text)
    assert len(lines) == 4 and all(f"--nnodes=4 --node_rank={r} --nproc_per_node=3" in lines[r] for r in range(4))
    assert "#SBATCH --nodes=4" in dialog.slurm.text.toPlainText() and "multiple of 12" in dialog.batch_note.text()
    dialog.gpus.setValue(2)
    dialog.nodes.setValue(2)
    assert "⚠" not in dialog.batch_note.text() and "2 images each" in dialog.batch_note.text()
    dialog.endpoint.setText("gpu01:4000")
    assert "--rdzv_endpoint=gpu01:4000" in dialog.multi.text.toPlainText()
    assert '"$head:4000"' in dialog.slurm.text.toPlainText()


def test_copy_saves_the_forms_config_and_the_image_folder_is_refused(
    qtbot,
    make_window,
    image_folder,
    runs_dir,  # noqa: F811
    tmp_path,
):
    _, view = train_window(qtbot, make_window, image_folder)
    view.form.lr.setValue(0.01)
    dialog = open_dialog(qtbot, view)
    before = sorted(image_folder.rglob("*"))
    dialog.config_edit.setText(str(image_folder / "exp.json"))
    assert dialog.problem.isVisible() and "inside the image folder" in dialog.problem.text()
    assert not dialog.save_button.isEnabled() and not dialog.single.copy_button.isEnabled()
    assert not dialog.save()
    dialog.config_edit.setText(str(tmp_path / "shared dir" / "exp.json"))
    dialog.run_edit.setText(str(image_folder / "run"))
    assert "run folder" in dialog.problem.text() and not dialog.save_button.isEnabled()
    assert sorted(image_folder.rglob("*")) == before

    shared = tmp_path / "shared dir"
    dialog.run_edit.setText(str(shared / "run 1"))
    assert not dialog.problem.isVisible() and dialog.save_button.isEnabled()
    assert f"--config '{shared / 'exp.json'}' --out '{shared / 'run 1'}'" in dialog.single.text.toPlainText()
    dialog.single.copy_button.click()  # copying a launch line saves its config first
    assert QGuiApplication.clipboard().text() == dialog.single.text.toPlainText()
    saved = load_config(shared / "exp.json")  # what `workbench train --config` reads
    form = view.config()
    form.data.path = str(Path(form.data.path).resolve())
    assert saved.to_dict() == form.to_dict() and saved.optim.lr == 0.01 and saved.data.path == str(image_folder)
    assert "Saved" in dialog.saved_note.text() and "Copied" in dialog.saved_note.text()
    assert sorted(p.name for p in shared.iterdir()) == ["exp.json"]  # the run folder is training's to create
    dialog.multi.copy_button.click()
    assert QGuiApplication.clipboard().text() == dialog.multi.text.toPlainText()  # as shown: under machine names
    dialog.slurm.copy_resume_button.click()
    assert QGuiApplication.clipboard().text().startswith("srun torchrun ")
    assert QGuiApplication.clipboard().text().endswith(f"--out '{shared / 'run 1'}' --resume")
    dialog.close()
