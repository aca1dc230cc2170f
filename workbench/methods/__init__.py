"""Self-supervised methods, one per file; importing this package fills the registry.

Adding a method: write `methods/<name>.py` with a `@register_method` subclass of `Method` (and its loss in
`losses/<name>.py`), then import it below. The registration order is the order of the CLI and GUI lists.
"""

# Registration order is the order of the CLI and GUI lists: contrastive, non-contrastive, then generative and
# context prediction (part B of the zoo).
from workbench.methods import simclr, seed_contrastive, cmc, moco  # noqa: F401  # isort: skip
from workbench.methods import byol, simsiam, barlow_twins, vicreg  # noqa: F401  # isort: skip
from workbench.methods import autoencoder, gan, mae, rotation  # noqa: F401  # isort: skip  (the zoo, part B)
from workbench.methods import classifier  # noqa: F401  # isort: skip  (supervised: fine-tuning; not listed)
from workbench.methods.base import (
    HyperParameter,
    Method,
    StepNoise,
    StepOutput,
    create_method,
    hyperparameters,
    list_methods,
    method_class,
    method_defaults,
    register_method,
    resolve_config,
)

__all__ = [
    "HyperParameter",
    "Method",
    "StepNoise",
    "StepOutput",
    "create_method",
    "hyperparameters",
    "list_methods",
    "method_class",
    "method_defaults",
    "register_method",
    "resolve_config",
]
