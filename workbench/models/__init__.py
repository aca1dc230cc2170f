"""Encoders (backbones, by registry name) and the MLP heads methods put on them.

Importing this package registers every encoder: seed-cnn, small-cnn, resnet18/34/50, vit-tiny.
"""

from workbench.models import resnet, vit  # noqa: F401  (registers the encoders they define)
from workbench.models.encoders import (
    Encoder,
    StagedConvEncoder,
    create_encoder,
    encoder_description,
    list_encoders,
    register_encoder,
)
from workbench.models.heads import MLPHead, prediction_head, projection_head

__all__ = [
    "Encoder",
    "MLPHead",
    "StagedConvEncoder",
    "create_encoder",
    "encoder_description",
    "list_encoders",
    "prediction_head",
    "projection_head",
    "register_encoder",
]
