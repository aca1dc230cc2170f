"""The seed article's SimCLR-style example as a plain PyTorch loop (the baseline of benchmarks/seed_speed.py).

    python benchmarks/seed_reference.py FOLDER --steps 60

Reproduces the article's code: torchvision ImageFolder, the CIFAR transform_train (RandomResizedCrop(32), flip,
ColorJitter(0.4, 0.4, 0.4, 0.1) p=0.8, grayscale 0.2, ToTensor, Normalize), DataLoader(batch 256, shuffle,
num_workers=2), the 4-conv Encoder and contrastive_loss, Adam. Two fixes, both needed for it to run at all at
32 px: the flatten goes through AdaptiveAvgPool2d(4) (the article's view(-1, 512*4*4) only fits 64 px), and the
loss subtracts the row maximum before exp (the article's exp overflows to NaN within a few steps).
"""

from __future__ import annotations

import argparse
import time

import torch
import torch.nn as nn
import torch.nn.functional as F
import torchvision
import torchvision.transforms as transforms


class Encoder(nn.Module):
    def __init__(self):
        super().__init__()
        self.conv1 = nn.Conv2d(3, 64, kernel_size=3, stride=1, padding=1)
        self.conv2 = nn.Conv2d(64, 128, kernel_size=3, stride=1, padding=1)
        self.conv3 = nn.Conv2d(128, 256, kernel_size=3, stride=1, padding=1)
        self.conv4 = nn.Conv2d(256, 512, kernel_size=3, stride=1, padding=1)
        self.pool = nn.AdaptiveAvgPool2d(4)
        self.fc1 = nn.Linear(512 * 4 * 4, 256)
        self.fc2 = nn.Linear(256, 128)

    def forward(self, x):
        x = F.max_pool2d(F.relu(self.conv1(x)), 2, 2)
        x = F.max_pool2d(F.relu(self.conv2(x)), 2, 2)
        x = F.max_pool2d(F.relu(self.conv3(x)), 2, 2)
        x = F.max_pool2d(F.relu(self.conv4(x)), 2, 2, ceil_mode=True)
        x = torch.flatten(self.pool(x), 1)
        return self.fc2(F.relu(self.fc1(x)))


def contrastive_loss(z1, z2, tau=0.5, eps=1e-8):
    sim = torch.mm(z1, z2.t()) / tau
    sim = sim - sim.max(dim=1, keepdim=True).values.detach()
    sim_exp = torch.exp(sim)
    norm = sim_exp / (sim_exp.sum(dim=1, keepdim=True) + eps)
    return -torch.log(torch.diagonal(norm)).mean()


class TwoViews:
    def __init__(self, transform):
        self.transform = transform

    def __call__(self, x):
        return self.transform(x), self.transform(x)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("folder")
    parser.add_argument("--steps", type=int, default=60)
    args = parser.parse_args()
    transform_train = transforms.Compose(
        [
            transforms.RandomResizedCrop(32),
            transforms.RandomHorizontalFlip(p=0.5),
            transforms.RandomApply([transforms.ColorJitter(0.4, 0.4, 0.4, 0.1)], p=0.8),
            transforms.RandomGrayscale(p=0.2),
            transforms.ToTensor(),
            transforms.Normalize((0.4914, 0.4822, 0.4465), (0.2023, 0.1994, 0.2010)),
        ]
    )
    trainset = torchvision.datasets.ImageFolder(
        args.folder, transform=TwoViews(transform_train), loader=lambda p: torchvision.datasets.folder.pil_loader(p)
    )
    loader = torch.utils.data.DataLoader(trainset, batch_size=256, shuffle=True, num_workers=2, drop_last=True)
    model = Encoder()
    optimizer = torch.optim.Adam(model.parameters(), lr=1e-3)
    step, started = 0, time.perf_counter()
    while step < args.steps:
        for (x1, x2), _ in loader:
            loss = contrastive_loss(model(x1), model(x2))
            optimizer.zero_grad()
            loss.backward()
            optimizer.step()
            step += 1
            if step >= args.steps:
                break
    print(
        f"seed loop: {step} steps, {step * 256 / (time.perf_counter() - started):.0f} images/s, loss {loss.item():.4f}"
    )


if __name__ == "__main__":
    main()
