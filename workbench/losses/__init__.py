"""Losses, one per file, each citing its paper.

Contrastive: NT-Xent (SimCLR), the seed article's InfoNCE, CMC's multi-view InfoNCE, MoCo's queue InfoNCE.
Non-contrastive: negative cosine similarity (SimSiam, BYOL), Barlow Twins, VICReg. Generative: DCGAN's losses and
masked-patch reconstruction (MAE).
"""

from workbench.losses.barlow_twins import BarlowTwinsLoss
from workbench.losses.gan import DCGANLoss
from workbench.losses.masked_reconstruction import MaskedReconstructionLoss
from workbench.losses.moco import QueueInfoNCELoss
from workbench.losses.multiview import MultiViewInfoNCELoss
from workbench.losses.negative_cosine import NegativeCosineSimilarity
from workbench.losses.ntxent import NTXentLoss
from workbench.losses.seed_contrastive import SeedContrastiveLoss
from workbench.losses.vicreg import VICRegLoss

__all__ = [
    "BarlowTwinsLoss",
    "DCGANLoss",
    "MaskedReconstructionLoss",
    "MultiViewInfoNCELoss",
    "NTXentLoss",
    "NegativeCosineSimilarity",
    "QueueInfoNCELoss",
    "SeedContrastiveLoss",
    "VICRegLoss",
]
