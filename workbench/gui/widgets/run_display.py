"""What the Train workspace shows of one run: its curves, its preview (generative methods), the per-epoch health line
and the progress bar. A run being trained here is drawn from the training job's buffer (`draw`); a run about to
resume is first drawn whole from its logs (`show_run`), so its per-epoch plots continue instead of restarting."""

from __future__ import annotations

from pathlib import Path

from PySide6.QtWidgets import QLabel, QProgressBar

from workbench.engine.run_summary import read_loss_curve
from workbench.engine.runs import RunDir
from workbench.gui.train_tasks import StepBuffer, health_text, read_epochs, read_untrained
from workbench.gui.widgets.curves import HEALTH_KEYS, LiveCurves
from workbench.gui.widgets.sample_preview import SamplePreview

NO_HEALTH_YET = "Per-epoch health appears after the first epoch."
COLLAPSE_WARNING = " <b style='color:#b00'>Collapse warning: the std of the embeddings is falling towards zero.</b>"


class RunDisplay:
    """The widgets one run is drawn in (the Train workspace owns them) and the best std seen, for the warning."""

    def __init__(self, curves: LiveCurves, samples: SamplePreview, progress: QProgressBar, health: QLabel):
        self.curves, self.samples, self.progress, self.health = curves, samples, progress, health
        self._best_std = 0.0

    def show_run(self, run_dir: Path | None) -> None:
        """Clear everything; then draw what `run_dir` has logged so far: steps, epochs and its untrained level."""
        self.curves.clear()
        self.samples.clear()
        self.reset_health()
        if run_dir is None:
            return
        self.curves.append_steps(read_loss_curve(run_dir))
        epochs = read_epochs(RunDir(run_dir).epochs_path) or []
        self.curves.set_epochs(epochs)
        self.curves.set_untrained(read_untrained(run_dir))
        self.show_epochs(epochs)
        self.curves.redraw()

    def draw(self, buffer: StepBuffer, run_dir: Path | None) -> tuple[int, int]:
        """Draw what the training thread buffered since the last call; (new steps, new epochs)."""
        rows, _values, epochs = buffer.drain()
        self.curves.append_steps(rows)
        if (preview := buffer.take_preview()) is not None:
            self.samples.set_image(*preview)
        if epochs and not self.curves.untrained and run_dir is not None:  # written before the first step
            self.curves.set_untrained(read_untrained(run_dir))
        for epoch, values in epochs:
            self.curves.append_epoch(epoch, values)
            self.show_health(epoch, values)
        return len(rows), len(epochs)

    # ---- the health line
    def reset_health(self) -> None:
        self._best_std = 0.0
        self.health.setText(NO_HEALTH_YET)

    def show_epochs(self, epochs: list[tuple[int, dict[str, float]]]) -> None:
        """Every epoch so far (a followed or resumed run's epochs.csv): the line ends at the last one."""
        self._best_std = 0.0
        for epoch, values in epochs:
            self.show_health(epoch, values)

    def show_health(self, epoch: int, values: dict[str, float]) -> None:
        """The line for an epoch the monitor measured; an epoch it skipped (it runs within a time share) leaves the
        previous line."""
        if not any(key in values for key in HEALTH_KEYS):
            return
        self._best_std = max(self._best_std, values.get("std", 0.0))
        text, collapsing = health_text(values, self._best_std)
        self.health.setText(f"Epoch {epoch}: {text}{COLLAPSE_WARNING if collapsing else ''}")

    # ---- the progress bar
    def set_progress(self, maximum: int, value: int, text: str) -> None:
        self.progress.setRange(0, max(maximum, 1))
        self.progress.setValue(value)
        self.progress.setFormat(text)

    def add_note(self, note: str, present: bool = True) -> None:
        """Append (or remove) a note such as " — paused" to the bar's text."""
        text = self.progress.format().replace(note, "")
        self.progress.setFormat(text + (note if present else ""))
