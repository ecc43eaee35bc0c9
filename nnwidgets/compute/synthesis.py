"""Activation maximization: synthesize the input that excites a unit most (Lucid-style).

The image parameterization (a scaled Fourier spectrum with decorrelated colour), the random
transforms it is optimized under, and :func:`synthesize`, which optimizes a batch of them.
"""

from __future__ import annotations

import inspect
import math
import warnings
from collections.abc import Callable, Sequence
from typing import Any

import torch
import torch.nn.functional as F
from torch import nn

from nnwidgets.compute._guard import borrowed_model, model_device
from nnwidgets.compute._inputs import (
    Normalization,
    check_bool,
    check_int,
    check_ints,
    check_number,
    int_tuple,
)
from nnwidgets.compute._outputs import check_selector
from nnwidgets.compute._timing import StepTimer, about
from nnwidgets.compute.layers import (
    check_position,
    declared_input_size,
    find_layer,
    input_channels,
    layer_units,
    resolve_objective,
    run_layer,
    unit_values,
)

__all__ = ["normalizer", "synthesize"]

#: Image side used when neither ``size`` nor the model says what the model takes.
FALLBACK_SIZE = 224

#: Without a ``progress`` callback, an estimate above this many seconds (after the first steps)
#: is reported once with a warning, naming what makes it faster.
SLOW_SECONDS = 10.0

#: The step after which that estimate is made (the first step is warm-up, left out of the pace).
ESTIMATE_STEP = 3

# Lucid's colour correlation (square root of the ImageNet colour covariance, from its SVD).
_COLOR_SQRT = torch.tensor([[0.26, 0.09, 0.02], [0.27, 0.00, -0.05], [0.27, -0.09, 0.03]])
_COLOR_SQRT = _COLOR_SQRT / _COLOR_SQRT.norm(dim=0).max()


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


def _default_size(model: nn.Module) -> tuple[int, int]:
    """Return the model's declared input size, else :data:`FALLBACK_SIZE` (with a warning)."""
    declared = declared_input_size(model)
    if declared is not None:
        return declared
    warnings.warn(
        f"synthesize: the model declares no input size (an input_size attribute, (H, W) or "
        f"(C, H, W)), so images are {FALLBACK_SIZE}x{FALLBACK_SIZE} px, slow on a CPU; pass "
        "size= with the size the model takes (e.g. size=32)",
        stacklevel=3,
    )
    return (FALLBACK_SIZE, FALLBACK_SIZE)


def _takes_remaining(progress: Callable[..., Any]) -> bool:
    """Whether ``progress`` accepts a ``remaining=`` keyword (else it gets the 3 arguments)."""
    try:
        parameters = inspect.signature(progress).parameters.values()
    except (TypeError, ValueError):  # a builtin without a signature
        return False
    return any(
        p.kind is p.VAR_KEYWORD
        or (p.name == "remaining" and p.kind in (p.KEYWORD_ONLY, p.POSITIONAL_OR_KEYWORD))
        for p in parameters
    )


def _warn_if_slow(
    seconds: float, count: int, size: tuple[int, int], steps: int, device: torch.device
) -> None:
    """Warn once that the work will take long, and what makes it faster."""
    if seconds > SLOW_SECONDS:
        warnings.warn(
            f"synthesize: {count} images of {size[0]}x{size[1]} px, {steps} steps on "
            f"{device.type}: {about(seconds)} left. A smaller size=, fewer steps= or fewer "
            "units is faster; progress= gets the time left as it goes (remaining=)",
            stacklevel=3,
        )


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
    progress: Callable[..., bool | None] | None = None,
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
        Image size. Default: the size the model declares, its ``input_size`` attribute ((H, W)
        or (C, H, W), set on the zoo models: 16x16 digits, 32x32 shapes) or timm's
        ``pretrained_cfg["input_size"]``; else 224, with a warning naming ``size=``.
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
        the current images (N, C, H, W) on the CPU; returning True stops early. A callback
        that accepts a ``remaining`` keyword also gets the estimated seconds left (None until
        the first steps have set a pace; 0 at the end). Without a callback, work estimated
        at over 10 s after the first steps says how long with one warning.
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
    position = check_position(position)
    check_selector(output)
    height, width = _default_size(model) if size is None else _size_pair(size)
    channels = input_channels(model) if channels is None else check_int(channels, "channels")
    Normalization.create(normalize, channels=channels)
    count, shape = layer_units(model, layer, (channels, height, width), output=output)
    objective = resolve_objective(objective, layer, shape)
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
    timer = StepTimer(steps)
    with_remaining = progress is not None and _takes_remaining(progress)
    with borrowed_model(model) as borrowed, torch.enable_grad():
        for parameter in borrowed.parameters():
            parameter.requires_grad_(False)
        for step in range(1, steps + 1):
            current = image()
            x = _augment(current, generator) if transforms else current
            values = unit_values(
                run_layer(borrowed, layer, normalized(x)), objective, position, output
            )
            loss = sign * values[rows, index].sum()
            if regularization:
                loss = loss + regularization * _total_variation(current).sum()
            optimizer.zero_grad(set_to_none=True)
            loss.backward()
            optimizer.step()
            timer.tick(step)
            if progress is None and step == ESTIMATE_STEP and steps > ESTIMATE_STEP:
                _warn_if_slow(timer.remaining(), len(chosen), (height, width), steps, device)
            stop = bool(should_stop and should_stop())
            if progress is not None and (stop or step % preview_every == 0 or step == steps):
                with torch.no_grad():
                    images = image().float().cpu()
                    extra = {"remaining": timer.remaining()} if with_remaining else {}
                    stop = progress(step, steps, images, **extra) is True or stop
            if stop:
                break
        with torch.no_grad():
            result = image().float().cpu()
    return result[0] if single else result
