"""Losses, one per file, each citing its paper: NT-Xent (SimCLR) and the seed article's contrastive loss."""

from workbench.losses.ntxent import NTXentLoss
from workbench.losses.seed_contrastive import SeedContrastiveLoss

__all__ = ["NTXentLoss", "SeedContrastiveLoss"]
