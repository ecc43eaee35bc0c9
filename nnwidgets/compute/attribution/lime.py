"""LIME (Ribeiro et al.): a weighted sparse linear model of the score over superpixels.

The numbers of ``captum.attr.Lime(model).attribute(x, baselines, target, feature_mask,
n_samples)`` with Captum's defaults (a Lasso with ``alpha=0.01``, an exponential kernel
of width 1 on the cosine distance between the input and each perturbed input, features
kept or replaced by the baseline with probability 1/2 each): with ``seed=s`` the
perturbations are the ones Captum draws after ``torch.manual_seed(s)``. Where Captum
runs one perturbed input per forward pass, they run here in batches within a memory
budget. Without a ``feature_mask`` the features are superpixels of each image.
"""

from __future__ import annotations

import time

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from nnwidgets.compute._guard import borrowed_model, model_device
from nnwidgets.compute._outputs import OutputSelector, run_model
from nnwidgets.compute._progress import Progress, ShouldStop
from nnwidgets.compute.attribution._backprop import model_scores
from nnwidgets.compute.attribution._checks import Target, check_target, positive_int
from nnwidgets.compute.attribution.superpixels import superpixels as segment
from nnwidgets.compute.occlusion import Baseline, _ChunkSizer, _one_baseline

__all__ = ["FIRST_CHUNK", "feature_masks", "lime", "perturbations"]

#: Perturbed inputs in the first forward pass without a ``batch_size`` (fewer where the
#: memory budget says so); later ones double while that makes each input faster.
FIRST_CHUNK = 32


def perturbations(n_samples: int, n_features: int, generator: torch.Generator) -> torch.Tensor:
    """(n_samples, n_features) 0/1 draws, each 1 with probability 1/2, as Captum draws them."""
    return torch.bernoulli(torch.full((n_samples, n_features), 0.5), generator=generator)


def _skip_captum_fit_draws(generator: torch.Generator, n_features: int) -> None:
    """Advance ``generator`` as Captum's fit of one input advances the global RNG.

    Its DataLoader's iterator draws a seed and its ``nn.Linear(n_features, 1)`` draws
    initial weights and a bias: drawing as many keeps the next input's perturbations
    Captum's too.
    """
    torch.empty((), dtype=torch.int64).random_(generator=generator)
    torch.empty(n_features + 1).uniform_(generator=generator)


def feature_masks(
    x: torch.Tensor,
    feature_mask: torch.Tensor | None,
    superpixels: str = "auto",
    n_segments: int = 64,
) -> list[torch.Tensor]:
    """One int64 feature mask per input, broadcastable to one input's shape.

    ``feature_mask`` is shaped like one input or broadcastable to it (e.g. (H, W) for
    images), or has as many dims as ``x`` with a batch dim of 1 or N first. None:
    superpixels of each image (N, C, H, W), one label per pixel shared by the channels.
    """
    shape = tuple(x.shape[1:])
    if feature_mask is None:
        if x.ndim != 4:
            raise ValueError(
                f"x has shape {tuple(x.shape)}: superpixels are for images (N, C, H, W); "
                "pass feature_mask= (one int feature index per input element)"
            )
        n_segments = positive_int(n_segments, "n_segments")
        return [segment(image, superpixels, n_segments)[None] for image in x]
    if not isinstance(feature_mask, torch.Tensor):
        raise TypeError(f"feature_mask must be a torch.Tensor, got {type(feature_mask).__name__}")
    if feature_mask.is_floating_point() or feature_mask.dtype == torch.bool:
        raise TypeError(f"feature_mask must hold int feature indices, got {feature_mask.dtype}")
    masks = feature_mask if feature_mask.ndim == x.ndim else feature_mask[None]
    if masks.ndim > x.ndim or masks.shape[0] not in (1, len(x)):
        raise ValueError(
            f"feature_mask has shape {tuple(feature_mask.shape)}; it must be shaped like one "
            f"input {shape} (or broadcastable to it), or carry a batch dim of 1 or {len(x)}"
        )
    try:
        torch.broadcast_shapes(masks.shape[1:], shape)
    except RuntimeError as err:
        raise ValueError(
            f"feature_mask of shape {tuple(feature_mask.shape)} does not broadcast to the "
            f"input shape {shape}"
        ) from err
    if int(masks.min()) < 0:
        raise ValueError("feature_mask holds negative feature indices; number them from 0")
    masks = masks.to("cpu", torch.long)
    return [masks[0 if len(masks) == 1 else i] for i in range(len(x))]


def lime(
    model: nn.Module,
    x: torch.Tensor,
    target: Target = None,
    *,
    feature_mask: torch.Tensor | None = None,
    superpixels: str = "auto",
    n_segments: int = 64,
    n_samples: int = 25,
    kernel_width: float = 1.0,
    alpha: float = 0.01,
    baseline: Baseline = 0.0,
    seed: int = 0,
    batch_size: int | None = None,
    memory_budget: int | None = None,
    output: OutputSelector = None,
    progress: Progress | None = None,
    should_stop: ShouldStop | None = None,
) -> torch.Tensor:
    """LIME attribution: each feature's weight in a local linear model of the target score.

    Parameters
    ----------
    model : torch.nn.Module
        The user's model (borrowed, handed back untouched).
    x : torch.Tensor
        A float batch (N, ...); each input gets its own linear model.
    target : int, sequence of int or tensor, optional
        Score to explain; default each input's predicted class.
    feature_mask : torch.Tensor, optional
        Int feature index of every input element (see :func:`feature_masks`).
    superpixels : str
        Without ``feature_mask``: "slic" (scikit-image), "grid", or "auto" (SLIC where
        scikit-image is installed, else the grid).
    n_segments : int
        About how many superpixels.
    n_samples : int
        Perturbed inputs per input (Captum's default 25; a few hundred give a steadier map).
    kernel_width : float
        Width of the exponential kernel on the cosine distance (Captum's 1.0).
    alpha : float
        Lasso regularization (Captum's 0.01).
    baseline : float or torch.Tensor
        What a switched-off feature shows: a number or a tensor shaped like one input.
    seed : int
        Seed of the perturbations: Captum's after ``torch.manual_seed(seed)``.
    batch_size : int, optional
        Perturbed inputs per forward pass; default :data:`FIRST_CHUNK` first, then
        doubling while that pays, within ``memory_budget`` (as for occlusion).
    memory_budget : int, optional
        Most bytes of perturbed inputs held at once (default 256 MiB).
    output : int, str, callable or None
        Output selector.
    progress : callable, optional
        Called as ``progress(done, N * n_samples)`` after each chunk of perturbed inputs
        (``done`` counts them over all inputs).
    should_stop : callable, optional
        Checked before each chunk; when it returns True the input under way gets the
        linear model fitted to the perturbed inputs scored so far (zeros if none), and
        the inputs not reached get zeros.

    Returns
    -------
    torch.Tensor
        float32, shaped like ``x``, on its device: every element carries its feature's
        coefficient.
    """
    from sklearn.linear_model import Lasso

    n_samples = positive_int(n_samples, "n_samples")
    if not (isinstance(kernel_width, (int, float)) and kernel_width > 0):
        raise ValueError(f"kernel_width must be a positive number, got {kernel_width!r}")
    if not (isinstance(alpha, (int, float)) and alpha >= 0):
        raise ValueError(f"alpha must be a non-negative number, got {alpha!r}")
    targets = check_target(target, len(x))
    shape = tuple(x.shape[1:])
    base = _one_baseline(baseline, shape, x.dtype)
    masks = feature_masks(x, feature_mask, superpixels, n_segments)
    if targets is None:
        targets = model_scores(model, x, output).argmax(1).tolist()
    device = model_device(model) or x.device
    sizer = _ChunkSizer(x[0].numel() * x.element_size(), batch_size, memory_budget)
    if batch_size is None:  # no progress to report: start where batching pays on a CPU
        sizer.size = min(sizer.limit, max(sizer.size, FIRST_CHUNK))
    generator = torch.Generator().manual_seed(int(seed))
    result = torch.zeros(x.shape, dtype=torch.float32)
    stopped = False
    for i, (one, mask, t) in enumerate(zip(x, masks, targets, strict=True)):
        n_features = int(mask.max()) + 1
        samples = perturbations(n_samples, n_features, generator)
        _skip_captum_fit_draws(generator, n_features)
        one = one.to(device)
        fill = base.to(device, one.dtype) if isinstance(base, torch.Tensor) else base
        where = mask.to(device).expand(shape).reshape(-1)
        flat = one.reshape(-1).float()
        scores, similarity = [], []
        done = 0
        while done < n_samples:
            if should_stop is not None and should_stop():
                stopped = True
                break
            n = min(sizer.size, n_samples - done)
            start = time.perf_counter()
            keep = samples[done : done + n].to(device).bool()[:, where].view(n, *shape)
            with borrowed_model(model), torch.inference_mode():
                batch = torch.where(keep, one, fill)
                scores.append(run_model(model, batch, output)[:, t].float().cpu())
                similarity.append(F.cosine_similarity(flat[None], batch.reshape(n, -1).float()))
            sizer.update(n, time.perf_counter() - start)
            done += n
            if progress is not None:
                progress(i * n_samples + done, len(x) * n_samples)
        if done == 0:
            break
        distance = 1 - torch.cat(similarity).double().cpu()
        weights = torch.exp(-(distance**2) / (2 * float(kernel_width) ** 2)).float()
        model_fit = Lasso(alpha=alpha)
        model_fit.fit(
            samples[:done].numpy(), torch.cat(scores).numpy(), sample_weight=weights.numpy()
        )
        coefs = torch.from_numpy(np.asarray(model_fit.coef_, dtype=np.float32).reshape(-1))
        result[i] = coefs[mask.expand(shape)]
        if stopped:
            break
    return result.to(x.device)
