"""Image helpers shared by the widgets: display conversion, blur, resizing."""

from __future__ import annotations

from collections.abc import Callable, Sequence

import torch
import torch.nn.functional as F

from nnwidgets.compute._inputs import Normalization

#: Longest side, in pixels, of images and maps sent to the browser.
MAX_DISPLAY_SIDE = 1024

DisplaySpec = (
    Callable[[torch.Tensor], torch.Tensor] | tuple[Sequence[float], Sequence[float]] | None
)


def display_transform(
    image: torch.Tensor, display: DisplaySpec
) -> Callable[[torch.Tensor], torch.Tensor]:
    """Return a function mapping model-space (C, H, W) tensors to displayable ones in [0, 1].

    ``display`` is ``None`` (inputs in [0, 1] are shown as they are, others are rescaled by
    the image's own minimum and maximum), a ``(mean, std)`` pair that undoes a normalization,
    or a callable.
    """
    if callable(display):
        return display
    if display is not None:
        normalization = Normalization(display, "display", channels=int(image.shape[0]))
        return lambda t: normalization.undo(t.float().cpu())
    low, high = float(image.min()), float(image.max())
    if low >= 0.0 and high <= 1.0:
        return lambda t: t.float().cpu()
    span = max(high - low, 1e-12)
    return lambda t: (t.float().cpu() - low) / span


def to_rgb8(image: torch.Tensor) -> torch.Tensor:
    """Convert a (C, H, W) tensor in [0, 1] with 1 or 3 channels to (H, W, 3) uint8."""
    if image.ndim != 3 or image.shape[0] not in (1, 3):
        raise ValueError(
            f"cannot display an image of shape {tuple(image.shape)}: pass display= a function "
            "returning (1 or 3, H, W) values in [0, 1]"
        )
    rgb = image.expand(3, -1, -1) if image.shape[0] == 1 else image
    return (rgb.clamp(0, 1) * 255).round().to(torch.uint8).permute(1, 2, 0).contiguous()


def display_size(height: int, width: int) -> tuple[int, int]:
    """Size at which an image is sent to the browser (at most MAX_DISPLAY_SIDE per side)."""
    scale = min(1.0, MAX_DISPLAY_SIDE / max(height, width))
    return max(1, round(height * scale)), max(1, round(width * scale))


def resize(image: torch.Tensor, size: tuple[int, int]) -> torch.Tensor:
    """Area-resize a (C, H, W) or (H, W) tensor to ``size``; NaN-aware for maps."""
    if tuple(image.shape[-2:]) == tuple(size):
        return image
    batch = image.reshape(1, -1, *image.shape[-2:]).float()
    valid = (~batch.isnan()).float()
    summed = F.interpolate(batch.nan_to_num(0.0), size=size, mode="area")
    weight = F.interpolate(valid, size=size, mode="area")
    out = summed / weight
    return out.reshape(*image.shape[:-2], *size)


def gaussian_blur(image: torch.Tensor, sigma: float) -> torch.Tensor:
    """Blur a (C, H, W) tensor with a separable Gaussian of standard deviation ``sigma`` pixels."""
    radius = max(1, round(3 * sigma))
    offsets = torch.arange(-radius, radius + 1, dtype=image.dtype, device=image.device)
    kernel = torch.exp(-0.5 * (offsets / sigma) ** 2)
    kernel = kernel / kernel.sum()
    channels = image.shape[0]
    out = F.pad(image[None], (radius, radius, radius, radius), mode="replicate")
    out = F.conv2d(out, kernel.expand(channels, 1, 1, -1), groups=channels)
    out = F.conv2d(out, kernel.reshape(-1, 1).expand(channels, 1, -1, 1), groups=channels)
    return out[0]
