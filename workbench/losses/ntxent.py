"""NT-Xent, the normalised temperature-scaled cross-entropy loss of SimCLR.

Chen, Kornblith, Norouzi, Hinton (2020), "A Simple Framework for Contrastive Learning of Visual
Representations", ICML, eq. (1) and Algorithm 1.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from workbench import dist


def check_temperature(temperature: float) -> float:
    """Shared by the contrastive losses: a positive, finite number."""
    temperature = float(temperature)
    if not (temperature > 0 and temperature < float("inf")):
        raise ValueError(f"temperature must be a positive number, got {temperature}.")
    return temperature


class NTXentLoss(nn.Module):
    """NT-Xent over two views of N images: z0, z1 of shape (N, D) -> scalar.

    The 2N rows are L2-normalised; each of the 2N anchors has one positive (the other view of its image)
    and 2N - 2 negatives (every other row); its loss is the cross-entropy of picking the positive among the
    2N - 1 candidates from cosine similarities divided by the temperature. The result is the mean over all
    2N anchors, so it lies in [0, ...) and equals log(2N - 1) when every embedding is the same.

    Numerically safe where the seed article's version was not: log-softmax instead of exp (no overflow at
    low temperature), self-similarity masked with -inf (not by subtracting a large number, which breaks in
    fp16), and the similarity matrix computed in float32 even under fp16/bf16 autocast.

    Under torchrun each process passes its slice of the global batch; the rows are gathered from every process
    first (`workbench.dist.gather`, gradients kept), so the loss is the single-process loss of the global batch.
    """

    def __init__(self, temperature: float = 0.5) -> None:  # 0.5: SimCLR's CIFAR-10 setting
        super().__init__()
        self.temperature = check_temperature(temperature)

    def forward(self, z0: Tensor, z1: Tensor) -> Tensor:
        if z0.ndim != 2 or z0.shape != z1.shape:
            raise ValueError(
                f"NTXentLoss expects two (N, D) tensors of the same shape, got {tuple(z0.shape)} and {tuple(z1.shape)}."
            )
        z0, z1 = dist.gather(z0), dist.gather(z1)  # (N, D): the global batch
        n = z0.shape[0]
        with torch.autocast(device_type=z0.device.type, enabled=False):
            z = F.normalize(torch.cat([z0, z1]).float(), dim=1)  # (2N, D), unit rows
            logits = z @ z.T / self.temperature  # (2N, 2N) cosine similarity / tau
            self_mask = torch.eye(2 * n, dtype=torch.bool, device=z.device)
            logits = logits.masked_fill(self_mask, float("-inf"))  # an anchor is not its own candidate
            # Row i < N (view 0 of image i) has its positive at N + i; row N + i at i.
            idx = torch.arange(n, device=z.device)
            targets = torch.cat([idx + n, idx])  # (2N,)
            return F.cross_entropy(logits, targets)
