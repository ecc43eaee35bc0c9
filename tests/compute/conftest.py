"""Small models shared by the compute tests (the model fingerprint lives in tests/conftest.py)."""

from __future__ import annotations

from collections.abc import Callable

import pytest
import torch
from torch import nn


class BNDropNet(nn.Module):
    """Conv + BatchNorm + Dropout + a linear head: train mode would change its outputs."""

    def __init__(self, channels: int = 3, classes: int = 5) -> None:
        super().__init__()
        self.conv = nn.Conv2d(channels, 8, 3, padding=1)
        self.bn = nn.BatchNorm2d(8)
        self.relu = nn.ReLU()
        self.pool = nn.AdaptiveAvgPool2d(2)
        self.drop = nn.Dropout(0.5)
        self.fc = nn.Linear(32, classes)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.pool(self.relu(self.bn(self.conv(x))))
        return self.fc(self.drop(x.flatten(1)))


class TinyPoolNet(nn.Module):
    """A patchifying conv and a global average pool: cheap on huge images of any size."""

    def __init__(self, channels: int = 3, classes: int = 4) -> None:
        super().__init__()
        self.conv = nn.Conv2d(channels, classes, 8, stride=8)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return torch.tanh(self.conv(x)).mean(dim=(2, 3))


def bn_drop_net(channels: int = 3, classes: int = 5, seed: int = 0) -> BNDropNet:
    """A BNDropNet with non-trivial running statistics."""
    torch.manual_seed(seed)
    net = BNDropNet(channels, classes)
    with torch.no_grad():
        net.bn.running_mean.uniform_(-0.5, 0.5)
        net.bn.running_var.uniform_(0.5, 2.0)
        net.bn.weight.uniform_(0.5, 1.5)
        net.bn.bias.uniform_(-0.2, 0.2)
    return net


@pytest.fixture
def make_bn_net() -> Callable[..., BNDropNet]:
    return bn_drop_net


@pytest.fixture
def make_tiny_net() -> Callable[..., TinyPoolNet]:
    def make(channels: int = 3, classes: int = 4, seed: int = 0) -> TinyPoolNet:
        torch.manual_seed(seed)
        return TinyPoolNet(channels, classes)

    return make
