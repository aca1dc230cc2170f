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


class Cancelled(Exception):
    """Raised inside long work when the user asked it to stop; callers treat it as a clean stop."""
