"""Shared helpers for the compute tests: the model-untouched fingerprint and small models."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest
import torch
from torch import nn

_HOOK_DICTS = ("_forward_hooks", "_forward_pre_hooks", "_backward_hooks")


def model_fingerprint(model: nn.Module) -> dict[str, Any]:
    """Everything of a model that a borrower must leave as it found it."""
    return {
        "parameters": {k: v.detach().clone() for k, v in model.named_parameters()},
        "buffers": {k: v.detach().clone() for k, v in model.named_buffers()},
        "training": {k: m.training for k, m in model.named_modules()},
        "requires_grad": {k: v.requires_grad for k, v in model.named_parameters()},
        "hooks": {
            (k, name): list(getattr(m, name))
            for k, m in model.named_modules()
            for name in _HOOK_DICTS
        },
    }


def assert_same_fingerprint(before: dict[str, Any], after: dict[str, Any]) -> None:
    """Bit-identical tensors, same flags, same hook keys."""
    for kind in ("parameters", "buffers"):
        assert before[kind].keys() == after[kind].keys()
        for name, tensor in before[kind].items():
            assert torch.equal(tensor, after[kind][name]), f"{kind[:-1]} {name} changed"
    for kind in ("training", "requires_grad", "hooks"):
        assert before[kind] == after[kind], f"{kind} changed"


@pytest.fixture
def fingerprint() -> Callable[[nn.Module], dict[str, Any]]:
    return model_fingerprint


@pytest.fixture
def same_fingerprint() -> Callable[[dict[str, Any], dict[str, Any]], None]:
    return assert_same_fingerprint


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
