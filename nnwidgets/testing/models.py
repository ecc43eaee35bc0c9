"""Small random-weight models the tests and benchmarks share."""

from __future__ import annotations

import torch
from torch import nn

__all__ = [
    "BNDropNet",
    "BasicBlock",
    "CountingModel",
    "ResNet18",
    "TinyPoolNet",
    "bn_drop_net",
    "tiny_pool_net",
]


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
        """Return the class scores (N, classes) of images (N, C, H, W)."""
        x = self.pool(self.relu(self.bn(self.conv(x))))
        return self.fc(self.drop(x.flatten(1)))


class TinyPoolNet(nn.Module):
    """A patchifying conv and a global average pool: cheap on huge images of any size."""

    def __init__(self, channels: int = 3, classes: int = 4) -> None:
        super().__init__()
        self.conv = nn.Conv2d(channels, classes, 8, stride=8)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Return the class scores (N, classes) of images (N, C, H, W)."""
        return torch.tanh(self.conv(x)).mean(dim=(2, 3))


def bn_drop_net(channels: int = 3, classes: int = 5, seed: int = 0) -> BNDropNet:
    """Return a seeded BNDropNet with non-trivial running statistics."""
    torch.manual_seed(seed)
    net = BNDropNet(channels, classes)
    with torch.no_grad():
        net.bn.running_mean.uniform_(-0.5, 0.5)
        net.bn.running_var.uniform_(0.5, 2.0)
        net.bn.weight.uniform_(0.5, 1.5)
        net.bn.bias.uniform_(-0.2, 0.2)
    return net


def tiny_pool_net(channels: int = 3, classes: int = 4, seed: int = 0) -> TinyPoolNet:
    """Return a seeded TinyPoolNet."""
    torch.manual_seed(seed)
    return TinyPoolNet(channels, classes)


class CountingModel(nn.Module):
    """Wraps a model and records the batch size of every forward: did the model run, and how."""

    def __init__(self, inner: nn.Module) -> None:
        super().__init__()
        self.inner = inner
        self.calls: list[int] = []

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Record ``len(x)`` and return the inner model's output."""
        self.calls.append(len(x))
        return self.inner(x)


class BasicBlock(nn.Module):
    """torchvision's ResNet basic block: two 3x3 convs with BatchNorm and a skip connection."""

    def __init__(self, inp: int, out: int, stride: int) -> None:
        super().__init__()
        self.conv1 = nn.Conv2d(inp, out, 3, stride, 1, bias=False)
        self.bn1 = nn.BatchNorm2d(out)
        self.conv2 = nn.Conv2d(out, out, 3, 1, 1, bias=False)
        self.bn2 = nn.BatchNorm2d(out)
        self.relu = nn.ReLU(inplace=True)
        self.downsample = (
            nn.Sequential(nn.Conv2d(inp, out, 1, stride, bias=False), nn.BatchNorm2d(out))
            if stride != 1 or inp != out
            else nn.Identity()
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Return the block's output for feature maps ``x``."""
        y = self.relu(self.bn1(self.conv1(x)))
        return self.relu(self.bn2(self.conv2(y)) + self.downsample(x))


class ResNet18(nn.Module):
    """torchvision's resnet18 layout (BasicBlock, [2, 2, 2, 2]), random weights."""

    def __init__(self, classes: int = 1000) -> None:
        super().__init__()
        self.conv1 = nn.Conv2d(3, 64, 7, 2, 3, bias=False)
        self.bn1 = nn.BatchNorm2d(64)
        self.relu = nn.ReLU(inplace=True)
        self.maxpool = nn.MaxPool2d(3, 2, 1)
        layers, inp = [], 64
        for out, stride in ((64, 1), (128, 2), (256, 2), (512, 2)):
            layers.append(nn.Sequential(BasicBlock(inp, out, stride), BasicBlock(out, out, 1)))
            inp = out
        self.layer1, self.layer2, self.layer3, self.layer4 = layers
        self.avgpool = nn.AdaptiveAvgPool2d(1)
        self.fc = nn.Linear(512, classes)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Return the class scores (N, classes) of images (N, 3, H, W)."""
        x = self.maxpool(self.relu(self.bn1(self.conv1(x))))
        x = self.layer4(self.layer3(self.layer2(self.layer1(x))))
        return self.fc(torch.flatten(self.avgpool(x), 1))
