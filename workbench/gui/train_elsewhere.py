"""The Train workspace's actions for runs another process trains (a part of TrainView, kept apart for size): Run on a
cluster… saves the recipe as a config file and shows the torchrun / Slurm lines; Follow run… shows a run that the
CLI or torchrun writes, live, read-only, until it ends."""

from __future__ import annotations

from pathlib import Path

from workbench.errors import WorkbenchError
from workbench.gui.signals import emit
from workbench.gui.widgets.cluster_dialog import ClusterDialog
from workbench.gui.widgets.run_follow import pick_run_folder


class ElsewhereActions:
    """Mixed into TrainView, whose `following`, `display`, `runs`, `runs_dir`, `run_dir`, `cluster_dialog`,
    `config()`, `is_training()`, `refresh_runs()` and signals (`failed`, `status`) it uses."""

    # ---- a run on a cluster
    def open_cluster_dialog(self) -> ClusterDialog | None:
        """Save what Start would train as a config file and show the torchrun lines (None: the recipe is invalid)."""
        try:
            config = self.config()
            config.validate()
        except WorkbenchError as exc:
            emit(self.failed, str(exc))
            return None
        if self.cluster_dialog is not None:  # a new dialog on the form's current settings
            self.cluster_dialog.close()
            self.cluster_dialog.deleteLater()
        self.cluster_dialog = ClusterDialog.for_recipe(config, self.runs_dir, self)
        return self.cluster_dialog

    # ---- following a run that another process writes
    @property
    def followed(self) -> Path | None:
        """The run another process writes whose curves are shown (still polled while `is_following()`)."""
        return self.following.path

    def is_following(self) -> bool:
        return self.following.is_following()

    def follow(self, run_dir: str | Path) -> bool:
        """Show a run that another process writes, live, reading only; False while this window trains."""
        if self.is_training():
            if Path(run_dir) != self.run_dir:
                emit(self.status, "Stop the training in this window to follow another run.")
            return False
        self.display.reset_health()
        self.following.follow(run_dir)
        self.runs.select(Path(run_dir))
        return True

    def _follow_clicked(self) -> None:
        if self.following.is_following():
            self.following.stop()
            return
        if folder := pick_run_folder(self, self.runs_dir):
            self.follow(folder)

    def _follow_ended(self, run_dir: Path) -> None:
        self.refresh_runs()
        self.runs.select(run_dir)
