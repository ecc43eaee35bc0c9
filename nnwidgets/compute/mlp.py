"""Small MLPs on 1-D or 2-D inputs: build them, read their layers, evaluate every unit on a grid."""

from __future__ import annotations

import itertools
from collections.abc import Sequence
from dataclasses import dataclass

import torch
from torch import nn

from nnwidgets.compute._guard import borrowed_model, model_device
from nnwidgets.compute._inputs import check_int, check_ints, check_model, check_number
from nnwidgets.compute._quantize import symmetric_codes

ACTIVATIONS = ("relu", "tanh", "sigmoid", "leaky_relu", "linear")
_MODULES = {
    "relu": nn.ReLU,
    "tanh": nn.Tanh,
    "sigmoid": nn.Sigmoid,
    "leaky_relu": nn.LeakyReLU,
    "linear": nn.Identity,
}
_ELEMENTWISE = {
    nn.ReLU: "relu",
    nn.Tanh: "tanh",
    nn.Sigmoid: "sigmoid",
    nn.LeakyReLU: "leaky_relu",
    nn.Identity: "linear",
    nn.ELU: "elu",
    nn.GELU: "gelu",
    nn.SiLU: "silu",
    nn.Softplus: "softplus",
}
_PASS_THROUGH = (nn.Dropout, nn.Flatten)
#: Gain of the initial weights per activation (as torch.nn.init.calculate_gain gives it).
_GAINS = {"relu": 2**0.5, "leaky_relu": 2**0.5, "tanh": 5 / 3, "sigmoid": 1.0, "linear": 1.0}
#: First-layer biases are uniform in [-FIRST_BIAS, FIRST_BIAS]: each unit's line crosses the data.
FIRST_BIAS = 0.5

Extent = tuple[float, float, float, float]
#: Most grid points per side of :func:`plane_points` (a 2-D grid holds its square).
MAX_RESOLUTION = 4096


def build_mlp(
    in_features: int = 2,
    hidden: Sequence[int] = (4, 4),
    out_features: int = 2,
    activation: str = "tanh",
    *,
    seed: int = 0,
) -> nn.Sequential:
    """Build ``Linear, activation, ..., Linear`` (no activation after the last layer).

    Weights start normal with standard deviation ``gain / sqrt(fan_in)`` for the activation's
    gain (tanh 5/3, ReLU sqrt 2; 1 for the output layer; He et al., 2015), so that units
    neither saturate nor fade layer after layer; PyTorch's default (``1 / sqrt(3 fan_in)``)
    leaves a tanh net nearly linear and the spirals unlearned. First-layer biases are
    uniform in +-:data:`FIRST_BIAS` (each unit's line crosses the data, which lies in
    [-1, 1]^2); the others start at zero.

    Parameters
    ----------
    in_features, out_features : int
        Input width (1 or 2 for the explorers) and number of outputs.
    hidden : sequence of int
        Units of each hidden layer; empty for a linear model.
    activation : str
        One of :data:`ACTIVATIONS`.
    seed : int
        Seed of the initial weights.
    """
    if not isinstance(activation, str) or activation not in _MODULES:
        raise ValueError(f"unknown activation {activation!r}; choose one of {ACTIVATIONS}")
    sizes = [
        check_int(in_features, "in_features"),
        *check_ints(hidden, "hidden", low=1),
        check_int(out_features, "out_features"),
    ]
    seed = check_int(seed, "seed", low=None)
    generator_state = torch.random.get_rng_state()
    torch.manual_seed(seed)
    try:
        layers: list[nn.Module] = []
        for i, (inp, out) in enumerate(itertools.pairwise(sizes)):
            linear = nn.Linear(inp, out)
            with torch.no_grad():
                last = i == len(sizes) - 2  # no activation follows the output layer
                linear.weight.normal_(0.0, (1.0 if last else _GAINS[activation]) / inp**0.5)
                if i == 0:
                    linear.bias.uniform_(-FIRST_BIAS, FIRST_BIAS)
                else:
                    linear.bias.zero_()
            layers.append(linear)
            if i < len(sizes) - 2:
                layers.append(_MODULES[activation]())
    finally:
        torch.random.set_rng_state(generator_state)
    return nn.Sequential(*layers)


@dataclass
class MLPLayer:
    """One Linear layer of a feed-forward stack and the activation that follows it."""

    name: str
    """Module name of the Linear, as ``model.named_modules()`` names it."""
    linear: nn.Linear
    activation: str | None
    """One of :data:`ACTIVATIONS` (or another elementwise name); None for the output layer."""
    activation_module: nn.Module | None
    modules: list[nn.Module]
    """The Linear, then every module up to the next Linear, in forward order."""


def mlp_layers(model: nn.Module) -> list[MLPLayer]:
    """Return the Linear layers of a feed-forward stack with 1-D or 2-D input.

    Accepts an ``nn.Sequential`` (possibly nested) of ``nn.Linear``, elementwise activations,
    Dropout and Flatten; anything else raises ValueError naming what was found and where.
    """
    if not isinstance(check_model(model), nn.Sequential):
        raise ValueError(
            f"expected a feed-forward stack (nn.Sequential of Linear layers and activations), "
            f"got a {type(model).__name__}; wrap your layers in nn.Sequential"
        )
    layers: list[MLPLayer] = []
    for name, module in model.named_modules():
        if list(module.children()):
            if not isinstance(module, nn.Sequential):
                raise ValueError(f"unsupported {type(module).__name__} at {name!r}: {_WHAT}")
            continue
        if isinstance(module, nn.Linear):
            layers.append(MLPLayer(name, module, None, None, [module]))
        elif type(module) in _ELEMENTWISE or isinstance(module, _PASS_THROUGH):
            if not layers:
                raise ValueError(f"{type(module).__name__} at {name!r} comes before any Linear")
            layers[-1].modules.append(module)
            if not isinstance(module, _PASS_THROUGH):
                if layers[-1].activation is not None:
                    raise ValueError(f"two activations in a row at {name!r}")
                layers[-1].activation = _ELEMENTWISE[type(module)]
                layers[-1].activation_module = module
        else:
            raise ValueError(f"unsupported {type(module).__name__} at {name!r}: {_WHAT}")
    if not layers:
        raise ValueError("the model has no nn.Linear layer")
    width = layers[0].linear.in_features
    if width not in (1, 2):
        raise ValueError(f"the first Linear layer takes {width} inputs; the explorer needs 1 or 2")
    return layers


_WHAT = "the MLP tools take a stack of nn.Linear layers, elementwise activations and Dropout"


def plane_points(extent: Extent, resolution: int, dims: int = 2) -> torch.Tensor:
    """Grid points over ``extent = (x_min, x_max, y_min, y_max)``.

    2-D: (R*R, 2), row-major, row 0 at ``y_max`` (the top of a picture), column 0 at
    ``x_min``. 1-D: (R, 1) from ``x_min`` to ``x_max``.
    """
    x_min, x_max, y_min, y_max = check_extent(extent)
    if not (x_min < x_max and (dims == 1 or y_min < y_max)):
        raise ValueError(
            f"extent must be (x_min, x_max, y_min, y_max) with min < max, got {extent}"
        )
    resolution = check_int(resolution, "resolution", low=2, high=MAX_RESOLUTION)
    xs = torch.linspace(x_min, x_max, resolution)
    if dims == 1:
        return xs[:, None]
    ys = torch.linspace(y_max, y_min, resolution)
    grid_y, grid_x = torch.meshgrid(ys, xs, indexing="ij")
    return torch.stack([grid_x.flatten(), grid_y.flatten()], 1)


def check_extent(extent: object) -> Extent:
    """Check ``(x_min, x_max, y_min, y_max)``: four finite numbers."""
    if isinstance(extent, (str, bytes)) or not hasattr(extent, "__len__") or len(extent) != 4:
        raise ValueError(f"extent must be (x_min, x_max, y_min, y_max), got {extent!r}")
    return tuple(check_number(v, f"extent[{i}]") for i, v in enumerate(extent))  # type: ignore[return-value]


@dataclass
class UnitMaps:
    """Every unit's response over a grid of inputs."""

    pre: list[torch.Tensor]
    """Per Linear layer: (units, R, R) pre-activations ((units, R) for 1-D input)."""
    post: list[torch.Tensor]
    """Per Linear layer: (units, R, R) post-activations (equal to ``pre`` for the output)."""
    extent: Extent
    resolution: int


def _forward_layers(layers: list[MLPLayer], x: torch.Tensor) -> tuple[list, list]:
    pre, post = [], []
    for layer in layers:
        x = layer.linear(x)
        pre.append(x)
        for module in layer.modules[1:]:
            x = module(x)
        post.append(x)
    return pre, post


def unit_maps(
    model: nn.Module, extent: Extent = (-1.0, 1.0, -1.0, 1.0), resolution: int = 64
) -> UnitMaps:
    """Evaluate every unit of every layer of an MLP on a grid, in one forward pass.

    Parameters
    ----------
    model : torch.nn.Module
        A feed-forward stack (see :func:`mlp_layers`) with 1-D or 2-D input; borrowed.
    extent : (x_min, x_max, y_min, y_max)
        Region of the input plane (for 1-D input only x matters).
    resolution : int
        Grid points per side.

    Returns
    -------
    UnitMaps
        float32 CPU maps, input units excluded (they are just x and y).
    """
    layers = mlp_layers(model)
    dims = layers[0].linear.in_features
    points = plane_points(extent, resolution, dims)
    shape = (resolution,) if dims == 1 else (resolution, resolution)
    device = model_device(model) or torch.device("cpu")
    with borrowed_model(model), torch.inference_mode():
        pre, post = _forward_layers(layers, points.to(device))
    as_maps = (
        [t.float().cpu().T.reshape(t.shape[1], *shape) for t in pre],
        [t.float().cpu().T.reshape(t.shape[1], *shape) for t in post],
    )
    return UnitMaps(as_maps[0], as_maps[1], check_extent(extent), resolution)


def _check_index(what: str, index: int, size: int) -> None:
    if not isinstance(index, int) or isinstance(index, bool) or not 0 <= index < size:
        raise ValueError(f"{what} {index!r} is out of range [0, {size})")


def _check_value(value: float) -> float:
    return check_number(value, "value", float32=True)


def set_weight(model: nn.Module, layer: int, out_unit: int, in_unit: int, value: float) -> None:
    """Set the weight from ``in_unit`` to ``out_unit`` of Linear layer ``layer`` (in place)."""
    layers = mlp_layers(model)
    _check_index("layer", layer, len(layers))
    linear = layers[layer].linear
    _check_index("out_unit", out_unit, linear.out_features)
    _check_index("in_unit", in_unit, linear.in_features)
    with torch.no_grad():
        linear.weight[out_unit, in_unit] = _check_value(value)


def set_bias(model: nn.Module, layer: int, unit: int, value: float) -> None:
    """Set the bias of ``unit`` of Linear layer ``layer`` (in place)."""
    layers = mlp_layers(model)
    _check_index("layer", layer, len(layers))
    linear = layers[layer].linear
    if linear.bias is None:
        raise ValueError(f"layer {layer} ({layers[layer].name!r}) has no bias")
    _check_index("unit", unit, linear.out_features)
    with torch.no_grad():
        linear.bias[unit] = _check_value(value)


def mlp_sizes(model: nn.Module) -> list[int]:
    """Units per layer of a feed-forward stack, input to output."""
    layers = mlp_layers(model)
    return [layers[0].linear.in_features, *(layer.linear.out_features for layer in layers)]


def flat_parameters(model: nn.Module) -> tuple[torch.Tensor, torch.Tensor]:
    """Every Linear layer's weights and biases (zeros for a layer without), each flattened."""
    layers = mlp_layers(model)
    weights = torch.cat([layer.linear.weight.detach().float().cpu().flatten() for layer in layers])
    biases = torch.cat(
        [
            layer.linear.bias.detach().float().cpu()
            if layer.linear.bias is not None
            else torch.zeros(layer.linear.out_features)
            for layer in layers
        ]
    )
    return weights, biases


def plane_extent(x: torch.Tensor) -> Extent:
    """Return a square (x_min, x_max, y_min, y_max) around points ``x``, at least +-1.05."""
    bound = max(1.0, abs(float(x.min())), abs(float(x.max()))) * 1.05
    return (-bound, bound, -bound, bound)


def prediction_map(outputs: torch.Tensor, task: str, limit: float = 1.0) -> torch.Tensor:
    """Signed prediction in [-1, 1] from the output layer's maps (K, ...).

    Regression: the output divided by ``limit`` (the largest |target|). Classification:
    P(class 1) - 1/2 doubled for one or two outputs, else the predicted class spread over
    [-1, 1].
    """
    if task == "regression":
        return (outputs[0] / max(limit, 1e-6)).clamp(-1, 1)
    if len(outputs) == 1:
        return torch.sigmoid(outputs[0]) * 2 - 1
    if len(outputs) == 2:
        return outputs.softmax(0)[1] * 2 - 1
    return outputs.argmax(0).float() / (len(outputs) - 1) * 2 - 1


def map_codes(
    maps: Sequence[torch.Tensor], prediction: torch.Tensor
) -> tuple[torch.Tensor, torch.Tensor]:
    """uint8 codes of every unit's map, then of the prediction, and the scale of each.

    Each unit's map gets a symmetric scale from its largest |value|; the prediction's is 1.
    Returns the codes (units + 1, ...) and the limits (units + 1,).
    """
    rows = torch.cat(list(maps))
    limits = rows.flatten(1).abs().amax(1).clamp(min=1e-6)
    codes = torch.cat(
        [symmetric_codes(rows, limits), symmetric_codes(prediction[None], torch.ones(1))]
    )
    return codes, torch.cat([limits, torch.ones(1)])
