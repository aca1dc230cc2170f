"""User-facing errors: each carries one clear sentence that the CLI and the GUI show as is."""


class WorkbenchError(Exception):
    """Base for every error a user can cause and fix (bad input, bad data, bad run folder)."""


class ConfigError(WorkbenchError):
    """A configuration value is invalid; the message names the field."""


class OutsideImageFolderError(ConfigError):
    """An output (run folder, export, cache) would land inside the user's image folder, which is never written to."""


class DataError(WorkbenchError):
    """An image folder cannot be used (missing, empty, only broken files)."""


class RunError(WorkbenchError):
    """A run directory is missing, not a run, or cannot be resumed."""


class TrainingError(WorkbenchError):
    """Training cannot go on (non-finite loss, out of memory)."""


class WriteError(WorkbenchError, OSError):
    """A file cannot be written (disk full, read-only, permission denied, its folder deleted); the message names the
    file and the reason. Also an OSError, so code that tolerates failed writes (caches) keeps doing so; `strerror`
    is the reason alone."""

    def __init__(self, path: object, reason: str, errno: int | None = None):
        super().__init__(f"'{path}' cannot be written: {reason}.")
        self.path, self.errno, self.strerror = path, errno, reason

    def __str__(self) -> str:
        return str(self.args[0])


class Cancelled(Exception):
    """Raised inside long work when the user asked it to stop; callers treat it as a clean stop."""


class WorkbenchWarning(UserWarning):
    """Something the user should know that does not stop the work (e.g. an optional part is off); one sentence."""
