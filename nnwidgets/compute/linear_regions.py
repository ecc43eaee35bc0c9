"""Linear regions of piecewise-linear (ReLU) MLPs on a 1-D or 2-D input: counted exactly."""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import torch
from torch import nn

from nnwidgets.compute._guard import borrowed_model
from nnwidgets.compute.mlp import Extent, MLPLayer, build_mlp, mlp_layers, plane_points

#: Activations whose nets are piecewise linear (their linear regions can be counted).
PIECEWISE = ("relu", "leaky_relu", "linear")


@dataclass
class LinearRegions:
    """The activation-pattern regions of a ReLU network over a region of its input."""

    labels: torch.Tensor
    """int64 (R, R) ((R,) for 1-D input): region id of each grid point, 0 .. count_on_grid-1."""
    count: int
    """Number of linear regions (distinct activation patterns) inside the extent."""
    exact: bool
    """True when ``count`` comes from exact enumeration, False when counted on the grid."""
    count_on_grid: int
    """Number of regions that contain at least one grid point."""


def _clip(piece: np.ndarray, normal: np.ndarray, offset: float, sign: float) -> np.ndarray:
    """Cut a convex polygon (or interval) to where ``sign * (normal . x + offset) >= 0``.

    A unit constant on the piece (all its inputs off) does not cut it: it is on (sign +1)
    where the constant is positive and off otherwise, as the grid's pattern ``x > 0`` reads it.
    """
    if not normal.any():
        return piece if (offset > 0) == (sign > 0) else piece[:0]
    values = sign * (piece @ normal + offset)
    if piece.shape[1] == 1:  # an interval [lo, hi]
        lo, hi = piece[:, 0]
        slope = sign * normal[0]
        root = -offset / normal[0]
        lo, hi = (max(lo, root), hi) if slope > 0 else (lo, min(hi, root))
        return np.array([[lo], [hi]]) if hi > lo else piece[:0]
    out = []
    count = len(piece)
    for i in range(count):
        p, q = piece[i], piece[(i + 1) % count]
        vp, vq = values[i], values[(i + 1) % count]
        if vp >= 0:
            out.append(p)
        if (vp >= 0) != (vq >= 0):
            t = vp / (vp - vq)
            out.append(p + t * (q - p))
    return np.array(out) if len(out) >= 3 else piece[:0]


def _size(piece: np.ndarray) -> float:
    if len(piece) == 0:
        return 0.0
    if piece.shape[1] == 1:
        return float(piece[1, 0] - piece[0, 0])
    x, y = piece[:, 0], piece[:, 1]
    return 0.5 * abs(float(x @ np.roll(y, 1) - y @ np.roll(x, 1)))


def _slopes(layer: MLPLayer) -> tuple[float, float]:
    """Slope of the activation for negative and positive pre-activations."""
    if layer.activation == "relu":
        return 0.0, 1.0
    if layer.activation == "leaky_relu":
        return float(layer.activation_module.negative_slope), 1.0
    return 1.0, 1.0


def _enumerate(layers: list[MLPLayer], extent: Extent, limit: int) -> int | None:
    """Count the pieces of the input where the activation pattern is fixed; None past limit."""
    dims = layers[0].linear.in_features
    x_min, x_max, y_min, y_max = extent
    if dims == 1:
        start = np.array([[x_min], [x_max]], dtype=np.float64)
    else:
        start = np.array([[x_min, y_min], [x_max, y_min], [x_max, y_max], [x_min, y_max]], float)
    tiny = 1e-12 * _size(start)
    pieces = [(start, np.eye(dims), np.zeros(dims))]  # (piece, A, b): layer input = A x + b
    for layer in layers[:-1]:
        weight = layer.linear.weight.detach().double().cpu().numpy()
        bias = layer.linear.bias
        bias = np.zeros(len(weight)) if bias is None else bias.detach().double().cpu().numpy()
        negative, positive = _slopes(layer)
        split = negative != positive
        next_pieces = []
        for piece, a, b in pieces:
            z, z0 = weight @ a, weight @ b + bias
            parts = [(piece, [])]
            for unit in range(len(weight)) if split else ():
                refined = []
                for part, signs in parts:
                    for sign in (1.0, -1.0):
                        cut = _clip(part, z[unit], z0[unit], sign)
                        if _size(cut) > tiny:
                            refined.append((cut, [*signs, sign > 0]))
                parts = refined
            for part, signs in parts:
                slope = np.array([positive if s else negative for s in signs]) if split else 1.0
                slope = np.broadcast_to(slope, z0.shape)
                next_pieces.append((part, slope[:, None] * z, slope * z0))
            if len(next_pieces) > limit:
                return None
        pieces = next_pieces
    return len(pieces)


def _check_piecewise(layers: list[MLPLayer]) -> None:
    for layer in layers[:-1]:
        if layer.activation not in PIECEWISE and layer.activation is not None:
            raise ValueError(
                f"linear regions need piecewise-linear activations (ReLU, leaky ReLU); layer "
                f"{layer.name!r} is followed by {layer.activation}"
            )


def linear_regions(
    model: nn.Module,
    extent: Extent = (-1.0, 1.0, -1.0, 1.0),
    resolution: int = 128,
    *,
    max_exact: int = 20000,
) -> LinearRegions:
    """Count the linear regions of a ReLU MLP over ``extent`` and label a grid by region.

    A region is a set of inputs sharing one activation pattern (which hidden units are on);
    on each the network is affine. The count is exact: the extent is cut by every first-layer
    unit's line, then each piece by the next layer's (affine on that piece) lines, and so on.
    Above ``max_exact`` pieces it falls back to counting the distinct patterns on the grid.

    Parameters
    ----------
    model : torch.nn.Module
        A feed-forward stack with ReLU, leaky ReLU or no activations; borrowed.
    extent : (x_min, x_max, y_min, y_max)
        Region of the input (1-D input: only x matters).
    resolution : int
        Grid points per side for ``labels``.
    max_exact : int
        Most pieces enumerated exactly.
    """
    layers = mlp_layers(model)
    _check_piecewise(layers)
    dims = layers[0].linear.in_features
    points = plane_points(extent, resolution, dims)
    with borrowed_model(model), torch.inference_mode():
        count = _enumerate(layers, tuple(float(v) for v in extent), max_exact)
        patterns = []
        x = points.to(layers[0].linear.weight.device, layers[0].linear.weight.dtype)
        for layer in layers:
            x = layer.linear(x)
            if layer.activation in ("relu", "leaky_relu"):
                patterns.append(x > 0)
            for module in layer.modules[1:]:
                x = module(x)
    if patterns:
        _, labels = torch.unique(torch.cat(patterns, 1).cpu(), dim=0, return_inverse=True)
    else:
        labels = torch.zeros(len(points), dtype=torch.long)
    on_grid = int(labels.max()) + 1
    shape = (resolution,) if dims == 1 else (resolution, resolution)
    exact = count is not None
    return LinearRegions(labels.reshape(shape), count if exact else on_grid, exact, on_grid)


def max_regions_one_layer(units: int, dims: int = 2) -> int:
    """Most linear regions one hidden layer of ``units`` ReLUs can cut a ``dims``-D input into.

    Each unit is one line (a point in 1-D, a hyperplane in general); ``units`` hyperplanes
    in general position cut space into ``sum_{i <= dims} C(units, i)`` pieces and no
    arrangement makes more (Zaslavsky, 1975): 1 + n + n(n-1)/2 on the plane.
    """
    _check_count("units", units, low=0)
    _check_count("dims", dims)
    return sum(math.comb(units, i) for i in range(dims + 1))


def sawtooth_mlp(depth: int, in_features: int = 2) -> nn.Sequential:
    """Build a ReLU net of ``depth`` small layers with ``2 ** depth`` regions along each axis.

    Every hidden layer computes the tent map t(u) = 2u on [0, 1/2], 2 - 2u on [1/2, 1]
    (from two ReLUs: ``2 relu(u + 1/4) - 4 relu(u - 1/2) - 1/2``) of each coordinate, mapped
    from [-1, 1] to [0, 1]; ``depth`` layers fold the axis ``depth`` times, into ``2 ** depth``
    linear pieces (Montufar et al., 2014; Telgarsky, 2016). On the plane (2 units per axis
    per layer, ``4 * depth`` units) that is ``4 ** depth`` regions over [-1, 1]^2, far more
    than one hidden layer with the same units can make (:func:`max_regions_one_layer`).
    The output is the sum of the folded coordinates, minus 1 on the plane (a logit whose
    sign flips from cell to cell, like a checkerboard).
    """
    _check_count("depth", depth)
    if in_features not in (1, 2):
        raise ValueError(f"in_features must be 1 or 2, got {in_features!r}")
    eye = torch.eye(in_features)
    # a tent unit pair per axis: rows (on, fold) read u = 2 h_on - 4 h_fold - 1/2
    pair_in = torch.tensor([[1.0], [1.0]])
    fold = torch.tensor([[2.0, -4.0]])
    layers: list[nn.Module] = []
    for index in range(depth):
        linear = nn.Linear(in_features if index == 0 else 2 * in_features, 2 * in_features)
        with torch.no_grad():
            if index == 0:  # u = (x + 1) / 2, so u + 1/4 = x/2 + 3/4 and u - 1/2 = x/2
                linear.weight.copy_(torch.kron(eye, pair_in) / 2)
                linear.bias.copy_(torch.tensor([0.75, 0.0]).repeat(in_features))
            else:  # the previous tent's value t = 2 h_on - 4 h_fold - 1/2, then t + 1/4, t - 1/2
                linear.weight.copy_(torch.kron(eye, pair_in @ fold))
                linear.bias.copy_(torch.tensor([-0.25, -1.0]).repeat(in_features))
        layers += [linear, nn.ReLU()]
    out = nn.Linear(2 * in_features, 1)
    with torch.no_grad():
        out.weight.copy_(fold.repeat(1, in_features))
        out.bias.fill_(-0.5 * in_features - (in_features - 1))
    return nn.Sequential(*layers, out)


def _check_count(name: str, value: object, *, low: int = 1) -> None:
    if not isinstance(value, int) or isinstance(value, bool) or value < low:
        raise ValueError(f"{name} must be an int of at least {low}, got {value!r}")


def compare_depth_width(
    total_units: int = 12,
    shapes: Sequence[Sequence[int]] | None = None,
    *,
    trials: int = 5,
    extent: Extent = (-1.0, 1.0, -1.0, 1.0),
    seed: int = 0,
) -> list[tuple[tuple[int, ...], float, int]]:
    """Linear regions of randomly initialized ReLU nets with the same number of hidden units.

    Returns ``(hidden shape, mean count, max count)`` per shape over ``trials`` initializations
    (:func:`build_mlp`'s); by default one to four equal layers of ``total_units`` units in all.

    Depth *can* cut the input into exponentially more regions than width for the same units
    (Montufar et al., 2014; :func:`sawtooth_mlp` is such a net), but random networks do not:
    at initialization the count grows with the number of units, not with depth (Hanin &
    Rolnick, 2019), and narrow deep nets, whose units often sit dead, have fewer.
    """
    _check_count("total_units", total_units)
    _check_count("trials", trials)
    _check_count("seed", seed, low=0)
    if shapes is None:
        shapes = [(total_units // d,) * d for d in (1, 2, 3, 4) if total_units % d == 0]
    if isinstance(shapes, str | bytes) or not isinstance(shapes, Sequence) or not shapes:
        raise ValueError(f"shapes must be a non-empty list of hidden layer sizes, got {shapes!r}")
    for shape in shapes:
        if isinstance(shape, str | bytes) or not isinstance(shape, Sequence) or not shape:
            raise ValueError(f"each of shapes must be a non-empty list of ints, got {shape!r}")
        for units in shape:
            _check_count("a hidden layer size in shapes", units)
    plane_points(extent, 2)  # checks the extent
    results = []
    for shape in shapes:
        counts = []
        for trial in range(trials):
            model = build_mlp(2, tuple(shape), 1, "relu", seed=seed + trial)
            counts.append(linear_regions(model, extent, resolution=8).count)
        results.append((tuple(shape), sum(counts) / len(counts), max(counts)))
    return results
