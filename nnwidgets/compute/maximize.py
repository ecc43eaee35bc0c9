"""Activation maximization: synthesize the input that excites a unit most (Lucid-style)."""

from __future__ import annotations

import difflib
import math
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

import torch
import torch.nn.functional as F
from torch import nn

from nnwidgets.compute._guard import borrowed_model, model_device
from nnwidgets.compute._inputs import (
    ImageDataset,
    Normalization,
    check_bool,
    check_int,
    check_ints,
    check_model,
    check_number,
    conv_channels,
    int_tuple,
)
from nnwidgets.compute._outputs import check_selector, select_output

OBJECTIVES = ("auto", "channel", "neuron", "linear", "logit")

# Lucid's colour correlation (square root of the ImageNet colour covariance, from its SVD).
_COLOR_SQRT = torch.tensor([[0.26, 0.09, 0.02], [0.27, 0.00, -0.05], [0.27, -0.09, 0.03]])
_COLOR_SQRT = _COLOR_SQRT / _COLOR_SQRT.norm(dim=0).max()


class _Reached(Exception):
    """Raised by the capture hook to end a forward pass at the target layer."""

    def __init__(self, value: torch.Tensor) -> None:
        super().__init__()
        self.value = value


def find_layer(model: nn.Module, layer: str | None) -> nn.Module:
    """Return the submodule named ``layer`` (``None`` or ``"output"``: the model itself)."""
    model = check_model(model)
    if layer is not None and not isinstance(layer, str):
        raise TypeError(
            f"layer must be a layer name (a str, as model.named_modules() names it) or None, "
            f"got {layer!r}"
        )
    if layer is None or layer == "output":
        return model
    modules = dict(model.named_modules())
    if layer not in modules or layer == "":
        names = [n for n in modules if n]
        close = difflib.get_close_matches(layer, names, n=5, cutoff=0.4)
        hint = f"; did you mean {', '.join(map(repr, close))}?" if close else ""
        raise ValueError(
            f"model has no layer {layer!r}{hint} Layers are named as model.named_modules() "
            f"names them: {', '.join(names[:20])}{' ...' if len(names) > 20 else ''}"
        )
    return modules[layer]


@contextmanager
def _capture(model: nn.Module, layer: str | None) -> Iterator[Callable[[torch.Tensor], Any]]:
    """Yield ``run(x)``: the layer's output for input ``x`` (the forward stops there)."""
    module = find_layer(model, layer)

    def run(x: torch.Tensor) -> Any:
        if module is model:
            return model(x)

        def hook(_module: nn.Module, _inputs: Any, output: Any) -> None:
            raise _Reached(output)

        handle = module.register_forward_hook(hook)
        try:
            model(x)
        except _Reached as reached:
            return reached.value
        finally:
            handle.remove()
        raise RuntimeError(f"layer {layer!r} was not called by the model's forward pass")

    yield run


def _objective_for(objective: str, layer: str | None, shape: Sequence[int]) -> str:
    if objective not in OBJECTIVES:
        raise ValueError(f"objective must be one of {OBJECTIVES}, got {objective!r}")
    output = layer is None or layer == "output"
    if objective == "auto":
        return "logit" if output else ("channel" if len(shape) == 3 else "linear")
    if objective == "logit" and not output:
        raise ValueError(f"the 'logit' objective is for the model's output, not layer {layer!r}")
    if objective in ("channel", "neuron") and len(shape) != 3:
        raise ValueError(
            f"objective {objective!r} needs a layer with channels and spatial positions "
            f"(C, H, W); layer {layer!r} gives activations of shape {tuple(shape)} per input: "
            "use objective='linear'"
        )
    return objective


def _reduce(
    value: Any, objective: str, position: tuple[int, int] | None, output: Any
) -> torch.Tensor:
    """(N, units) objective values of every unit from a layer's output."""
    if objective == "logit":
        return select_output(value, output)
    if not isinstance(value, torch.Tensor):
        raise TypeError(f"the layer returned a {type(value).__name__}, not a tensor")
    if objective == "channel":
        return value.flatten(2).mean(2)
    if objective == "neuron":
        height, width = value.shape[2:]
        row, col = (height // 2, width // 2) if position is None else position
        if not (0 <= row < height and 0 <= col < width):
            raise ValueError(
                f"position {(row, col)} is outside the layer's {height}x{width} activation map"
            )
        return value[:, :, row, col]
    return value.flatten(1)


def input_channels(model: nn.Module) -> int:
    """Return the input channels a CNN expects: its first Conv2d's, else 3."""
    return conv_channels(model) or 3


def _run_layer(model: nn.Module, layer: str | None, x: torch.Tensor) -> Any:
    with _capture(model, layer) as run:
        return run(x)


def layer_units(
    model: nn.Module, layer: str | None, input_shape: Sequence[int], *, output: Any = None
) -> tuple[int, tuple[int, ...]]:
    """Return the number of units of ``layer`` and its activation shape per input.

    Units are the channels of a (C, H, W) activation, or the features of a flat one; the
    model's output (``layer`` None or ``"output"``) has one unit per class score.
    """
    find_layer(model, layer)
    shape = int_tuple(input_shape, "input_shape")
    if len(shape) != 3 or min(shape) < 1:
        raise ValueError(f"input_shape must be (C, H, W) of positive sizes, got {input_shape!r}")
    device = model_device(model) or torch.device("cpu")
    with borrowed_model(model) as borrowed, torch.inference_mode():
        try:
            value = _run_layer(borrowed, layer, torch.zeros((1, *shape), device=device))
        except (RuntimeError, ValueError, TypeError) as error:
            raise ValueError(
                f"the model fails on an input of shape {(1, *shape)} (image size "
                f"{shape[-2]}x{shape[-1]}, {shape[0]} channels): {error}. Pass the size and "
                "channels the model expects (size=..., channels=...)."
            ) from error
    if layer is None or layer == "output":
        scores = select_output(value, output)
        return int(scores.shape[1]), tuple(scores.shape[1:])
    if not isinstance(value, torch.Tensor):
        raise TypeError(f"layer {layer!r} returns a {type(value).__name__}, not a tensor")
    per_input = tuple(value.shape[1:])
    units = per_input[0] if len(per_input) == 3 else math.prod(per_input)
    return int(units), per_input


class _Image:
    """Lucid's image parameterization: a scaled Fourier spectrum, decorrelated colour, sigmoid."""

    def __init__(
        self, count: int, channels: int, size: tuple[int, int], device: torch.device, seed: int
    ) -> None:
        height, width = size
        generator = torch.Generator().manual_seed(seed)
        freqs = (
            torch.fft.fftfreq(height)[:, None] ** 2 + torch.fft.rfftfreq(width)[None, :] ** 2
        ).sqrt()
        self.scale = (1.0 / freqs.clamp(min=1.0 / max(height, width))).to(device)
        spectrum = torch.randn((count, channels, *freqs.shape, 2), generator=generator) * 0.01
        self.spectrum = spectrum.to(device).requires_grad_(True)
        self.size = size
        self.color = _COLOR_SQRT.to(device) if channels == 3 else None

    def __call__(self) -> torch.Tensor:
        spectrum = torch.view_as_complex(self.spectrum) * self.scale
        image = torch.fft.irfftn(spectrum, s=self.size, norm="ortho") / 4.0
        if self.color is not None:
            image = torch.einsum("nchw,dc->ndhw", image, self.color)
        return torch.sigmoid(image)


def _augment(image: torch.Tensor, generator: torch.Generator) -> torch.Tensor:
    """Apply a random jitter (pad and crop back), a small scaling and a small rotation."""
    height, width = image.shape[-2:]
    pad = max(1, round(min(height, width) * 12 / 224))
    padded = F.pad(image, (pad, pad, pad, pad), mode="constant", value=0.5)
    dy, dx = (int(v) for v in torch.randint(0, 2 * pad + 1, (2,), generator=generator))
    image = padded[..., dy : dy + height, dx : dx + width]
    scale = 1.0 + (float(torch.randint(-5, 6, (1,), generator=generator)) / 50.0)
    angle = math.radians(float(torch.randint(-10, 11, (1,), generator=generator)))
    cos, sin = math.cos(angle) / scale, math.sin(angle) / scale
    theta = torch.tensor([[cos, -sin, 0.0], [sin, cos, 0.0]], device=image.device)
    grid = F.affine_grid(theta.expand(len(image), 2, 3), list(image.shape), align_corners=False)
    return F.grid_sample(image, grid, padding_mode="border", align_corners=False)


def _total_variation(image: torch.Tensor) -> torch.Tensor:
    dy = (image[..., 1:, :] - image[..., :-1, :]).pow(2).mean((1, 2, 3))
    dx = (image[..., :, 1:] - image[..., :, :-1]).pow(2).mean((1, 2, 3))
    return dx + dy


def _size_pair(size: int | tuple[int, int]) -> tuple[int, int]:
    pair = int_tuple(size, "size")
    pair = pair * 2 if len(pair) == 1 else pair
    if len(pair) != 2 or min(pair) < 4:
        raise ValueError(f"size must be an int or (height, width) of at least 4, got {size!r}")
    return pair  # type: ignore[return-value]


def _position(position: Any) -> tuple[int, int] | None:
    if position is None:
        return None
    pair = int_tuple(position, "position")
    if len(pair) != 2 or min(pair) < 0:
        raise ValueError(f"position must be (row, column) of ints >= 0, got {position!r}")
    return pair  # type: ignore[return-value]


def normalizer(
    normalize: tuple[Sequence[float], Sequence[float]] | None, device: torch.device | None = None
) -> Callable[[torch.Tensor], torch.Tensor]:
    """Return the function mapping [0, 1] images to model inputs, ``(x - mean) / std``."""
    normalization = Normalization.create(normalize)
    if normalization is None:
        return lambda x: x
    return normalization.apply


def synthesize(
    model: nn.Module,
    layer: str | None,
    units: int | Sequence[int],
    *,
    objective: str = "auto",
    position: tuple[int, int] | None = None,
    maximize: bool = True,
    size: int | tuple[int, int] | None = None,
    channels: int | None = None,
    steps: int = 128,
    lr: float = 0.05,
    regularization: float = 1.0,
    transforms: bool = True,
    normalize: tuple[Sequence[float], Sequence[float]] | None = None,
    seed: int = 0,
    progress: Callable[[int, int, torch.Tensor], bool | None] | None = None,
    preview_every: int = 8,
    should_stop: Callable[[], bool] | None = None,
    output: Any = None,
) -> torch.Tensor:
    """Synthesize the input that maximally activates (or minimizes) each of ``units``.

    All units are optimized together, one image per unit in the batch dimension, so a
    whole layer costs about as many forward and backward passes as one unit. Images are
    parameterized by a scaled Fourier spectrum with decorrelated colour (for 3 channels) and
    a sigmoid, optimized with Adam under random jitter, scale and rotation, as in Lucid; the
    forward pass stops at ``layer``.

    Parameters
    ----------
    model : torch.nn.Module
        The model (borrowed: handed back exactly as it was).
    layer : str or None
        Layer name as ``model.named_modules()`` names it; None or ``"output"``: the output.
    units : int or sequence of int
        Unit (channel or feature) indices of the layer.
    objective : str
        "channel" (mean over space), "neuron" (channel at ``position``), "linear" (a unit
        of a flat layer), "logit" (a class score of the output) or "auto".
    position : (int, int), optional
        Row and column in the layer's activation map for "neuron"; default the centre.
    maximize : bool
        Maximize (default) or minimize the objective.
    size : int or (int, int), optional
        Image size; default 224.
    channels : int, optional
        Input channels; default the first Conv2d's ``in_channels`` (else 3).
    steps, lr : int, float
        Adam steps and learning rate.
    regularization : float
        Weight of a smoothness prior (total variation of the image); 0 turns it off.
    transforms : bool
        Optimize under random jitter, scale and rotation (transformation robustness).
    normalize : (mean, std), optional
        Normalization of the model's inputs, applied to the [0, 1] images.
    seed : int
        Seed of the initial spectrum and the transforms: same seed, same images.
    progress : callable, optional
        ``progress(step, steps, images)`` every ``preview_every`` steps and at the end, with
        the current images (N, C, H, W) on the CPU; returning True stops early.
    preview_every : int
        Steps between two ``progress`` calls.
    should_stop : callable, optional
        Polled after every step; True stops early (the current images are returned).
    output : int, str or callable, optional
        Output selector for the "logit" objective (see :func:`select_output`).

    Returns
    -------
    torch.Tensor
        float32 images in [0, 1] on the CPU: (C, H, W) for an int ``units``, else
        (N, C, H, W).
    """
    find_layer(model, layer)
    single = not isinstance(units, (Sequence, torch.Tensor, range))
    chosen = [check_int(units, "units", low=0)] if single else check_ints(units, "units")
    if not chosen:
        raise ValueError("units is empty: give at least one unit index")
    steps = check_int(steps, "steps")
    lr = check_number(lr, "lr", low=0, low_open=True)
    regularization = check_number(regularization, "regularization", low=0)
    preview_every = check_int(preview_every, "preview_every")
    seed = check_int(seed, "seed", low=None)
    maximize, transforms = check_bool(maximize, "maximize"), check_bool(transforms, "transforms")
    position = _position(position)
    check_selector(output)
    height, width = _size_pair(224 if size is None else size)
    channels = input_channels(model) if channels is None else check_int(channels, "channels")
    Normalization.create(normalize, channels=channels)
    count, shape = layer_units(model, layer, (channels, height, width), output=output)
    objective = _objective_for(objective, layer, shape)
    for unit in chosen:
        if not 0 <= unit < count:
            where = "the output" if layer in (None, "output") else f"layer {layer!r}"
            raise ValueError(
                f"unit {unit} is out of range: {where} has {count} units (0 to {count - 1})"
            )
    device = model_device(model) or torch.device("cpu")
    image = _Image(len(chosen), channels, (height, width), device, seed)
    generator = torch.Generator().manual_seed(seed + 1)
    normalized = normalizer(normalize, device)
    index = torch.tensor(chosen, device=device)
    rows = torch.arange(len(chosen), device=device)
    sign = -1.0 if maximize else 1.0
    optimizer = torch.optim.Adam([image.spectrum], lr=lr)
    with borrowed_model(model) as borrowed, torch.enable_grad():
        for parameter in borrowed.parameters():
            parameter.requires_grad_(False)
        for step in range(1, steps + 1):
            current = image()
            x = _augment(current, generator) if transforms else current
            values = _reduce(
                _run_layer(borrowed, layer, normalized(x)), objective, position, output
            )
            loss = sign * values[rows, index].sum()
            if regularization:
                loss = loss + regularization * _total_variation(current).sum()
            optimizer.zero_grad(set_to_none=True)
            loss.backward()
            optimizer.step()
            stop = bool(should_stop and should_stop())
            if progress is not None and (stop or step % preview_every == 0 or step == steps):
                with torch.no_grad():
                    stop = progress(step, steps, image().float().cpu()) is True or stop
            if stop:
                break
        with torch.no_grad():
            result = image().float().cpu()
    return result[0] if single else result


# -- real inputs ---------------------------------------------------------------------------
def layer_activations(
    model: nn.Module,
    layer: str | None,
    inputs: Any,
    *,
    objective: str = "auto",
    position: tuple[int, int] | None = None,
    batch_size: int = 64,
    progress: Callable[[int, int], None] | None = None,
    should_stop: Callable[[], bool] | None = None,
    output: Any = None,
) -> torch.Tensor:
    """Every unit's objective value on every input, as :func:`synthesize` maximizes it.

    Parameters
    ----------
    model : torch.nn.Module
        The model (borrowed).
    layer : str or None
        Layer name; None or ``"output"`` for the model's output.
    inputs : tensor, Dataset or DataLoader
        Floating-point images (N, C, H, W) or one (C, H, W); a Dataset of images or
        (image, label) items; a DataLoader, whose dataset is read in index order (row ``i`` of
        the result is item ``i``, also when the loader shuffles).
    objective, position, output
        As for :func:`synthesize`.
    batch_size : int
        Inputs per forward pass (tensors, Datasets, and DataLoaders without a batch size).
    progress : callable, optional
        ``progress(done, total)`` after each batch (total is None for a DataLoader over an
        IterableDataset).
    should_stop : callable, optional
        Polled between batches; True stops early with the values so far.

    Returns
    -------
    torch.Tensor
        (N, units) float32 on the CPU.
    """
    find_layer(model, layer)
    batch_size = check_int(batch_size, "batch_size")
    position = _position(position)
    check_selector(output)
    if objective not in OBJECTIVES:
        raise ValueError(f"objective must be one of {OBJECTIVES}, got {objective!r}")
    data = ImageDataset(inputs, "inputs", channels=conv_channels(model))
    device = model_device(model) or torch.device("cpu")
    total = len(data) if data.random_access else None
    rows: list[torch.Tensor] = []
    done = 0
    resolved = None
    for batch in data.batches(batch_size):
        if should_stop is not None and should_stop():
            break
        with borrowed_model(model) as borrowed, torch.inference_mode():
            try:
                value = _run_layer(borrowed, layer, batch.to(device, torch.float32))
            except (RuntimeError, ValueError) as error:
                raise ValueError(
                    f"the model fails on dataset images of shape {tuple(batch.shape[1:])}: {error}"
                ) from error
            if resolved is None:
                shape = value.shape[1:] if isinstance(value, torch.Tensor) else ()
                resolved = _objective_for(objective, layer, shape)
            rows.append(_reduce(value, resolved, position, output).float().cpu())
        done += len(batch)
        if progress is not None:
            progress(done, total)
    if not rows:
        raise ValueError("the dataset is empty")
    return torch.cat(rows)


@dataclass
class TopActivations:
    """The inputs that excite each unit most."""

    indices: torch.Tensor
    """(units, k) int64 input indices, highest activation first."""
    values: torch.Tensor
    """(units, k) their activations."""
    activations: torch.Tensor
    """(N, units) every unit's activation on every input."""


def top_activations(
    model: nn.Module, layer: str | None, dataset: Any, *, k: int = 9, **kwargs: Any
) -> TopActivations:
    """Find the ``k`` inputs of ``dataset`` that excite each unit of ``layer`` most.

    Keyword arguments are those of :func:`layer_activations`. Row ``i`` of ``activations`` and
    index ``i`` in ``indices`` are item ``i`` of ``dataset`` (also of a shuffled DataLoader's
    dataset: see :class:`~nnwidgets.compute._inputs.ImageDataset`).
    """
    k = check_int(k, "k")
    activations = layer_activations(model, layer, dataset, **kwargs)
    values, indices = activations.topk(min(k, len(activations)), dim=0)
    return TopActivations(indices.T.contiguous(), values.T.contiguous(), activations)
