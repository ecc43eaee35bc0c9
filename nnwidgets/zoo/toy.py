"""2-D classification sets and 1-D regression curves, generated in code (as in TF Playground)."""

from __future__ import annotations

import math

import torch

TOY_DATASETS = ("xor", "circles", "moons", "spirals", "gaussians")
TOY_CURVES = ("step", "tower", "bump", "sine")
#: Turns of each arm of "spirals": TF Playground's 1.75 are beyond a small net fed only x and y
#: (62% after 2000 steps); 1.25 still winds past a full turn and is learned in 2000 steps.
SPIRAL_TURNS = 1.25


def _check(name: str, names: tuple[str, ...], n: int, noise: float) -> None:
    if name not in names:
        raise ValueError(f"unknown data set {name!r}; choose one of {', '.join(names)}")
    if not isinstance(n, int) or n < 2:
        raise ValueError(f"n must be an int of at least 2, got {n!r}")
    if not 0.0 <= noise <= 1.0:
        raise ValueError(f"noise must be between 0 and 1, got {noise}")


def toy_data(
    name: str, n: int = 400, noise: float = 0.0, seed: int = 0
) -> tuple[torch.Tensor, torch.Tensor]:
    """Return a 2-class 2-D data set: points ``X`` (n, 2) in [-1, 1]^2 and labels ``y`` (n,).

    Parameters
    ----------
    name : str
        One of :data:`TOY_DATASETS`: "xor", "circles", "moons", "spirals", "gaussians".
    n : int
        Number of points (half per class).
    noise : float
        Standard deviation of Gaussian noise added to the points (0 to 1; 0.1-0.3 is mild).
    seed : int
        Seed: the same arguments give the same points.

    Returns
    -------
    tuple of torch.Tensor
        ``X`` float32 (n, 2) and ``y`` int64 (n,) with values 0 and 1.
    """
    _check(name, TOY_DATASETS, n, noise)
    g = torch.Generator().manual_seed(seed)
    half = n // 2
    y = torch.cat([torch.zeros(n - half), torch.ones(half)]).long()
    u = torch.rand(n, generator=g)
    if name == "xor":
        x = torch.rand(n, 2, generator=g) * 1.8 - 0.9
        x = x + 0.05 * x.sign()  # keep a small margin around the axes
        y = (x[:, 0] * x[:, 1] > 0).long()
    elif name == "circles":
        radius = torch.where(y == 1, u * 0.45, 0.65 + u * 0.3)
        angle = torch.rand(n, generator=g) * 2 * math.pi
        x = torch.stack([radius * angle.cos(), radius * angle.sin()], 1)
    elif name == "moons":
        angle = u * math.pi
        upper = torch.stack([angle.cos(), angle.sin()], 1)
        lower = torch.stack([1 - angle.cos(), 0.5 - angle.sin()], 1)
        x = torch.where(y[:, None] == 0, upper, lower)
        x = (x - torch.tensor([0.5, 0.25])) * torch.tensor([0.6, 0.9])
    elif name == "spirals":
        r = u * 0.9 + 0.05
        angle = u * SPIRAL_TURNS * 2 * math.pi + math.pi * y
        x = torch.stack([r * angle.sin(), r * angle.cos()], 1)
    else:  # gaussians
        centre = torch.where(
            y[:, None] == 0, torch.tensor([-0.45, -0.45]), torch.tensor([0.45, 0.45])
        )
        x = centre + 0.2 * torch.randn(n, 2, generator=g)
    x = x + noise * torch.randn(n, 2, generator=g)
    order = torch.randperm(n, generator=g)  # classes interleaved, so any split has both
    return x.clamp(-1, 1).float()[order], y[order]


def toy_curve(name: str, n: int = 200, seed: int = 0) -> tuple[torch.Tensor, torch.Tensor]:
    """Return a 1-D regression target: ``x`` (n, 1) evenly spread in [-1, 1] and ``y`` (n, 1).

    Parameters
    ----------
    name : str
        One of :data:`TOY_CURVES`: "step" (0 then 1 at x = 0), "tower" (1 on [-0.3, 0.3], else
        0: what Nielsen builds from two steps), "bump" (a Gaussian), "sine".
    n : int
        Number of points.
    seed : int
        Seed of the small jitter of the x positions.
    """
    _check(name, TOY_CURVES, n, 0.0)
    g = torch.Generator().manual_seed(seed)
    x = torch.linspace(-1, 1, n) + (torch.rand(n, generator=g) - 0.5) * (1.0 / n)
    x = x.clamp(-1, 1)
    if name == "step":
        y = (x > 0).float()
    elif name == "tower":
        y = (x.abs() < 0.3).float()
    elif name == "bump":
        y = torch.exp(-(x**2) / (2 * 0.25**2))
    else:
        y = torch.sin(3 * x)
    return x[:, None].float(), y[:, None].float()
