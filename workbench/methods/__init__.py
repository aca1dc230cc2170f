"""Self-supervised methods, one per file; importing this package fills the registry.

Adding a method: write `methods/<name>.py` with a `@register_method` subclass of `Method` (and its loss in
`losses/<name>.py`), then import it below.
"""

from workbench.methods import seed_contrastive, simclr  # noqa: F401  (registers the methods)
from workbench.methods.base import (
    Method,
    StepOutput,
    create_method,
    list_methods,
    method_class,
    register_method,
)

__all__ = ["Method", "StepOutput", "create_method", "list_methods", "method_class", "register_method"]
