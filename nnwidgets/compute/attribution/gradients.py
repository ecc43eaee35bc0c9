"""Plain-gradient attributions: saliency, input x gradient, integrated gradients."""

from __future__ import annotations

import numpy as np
import torch
from torch import nn

from nnwidgets.compute._outputs import OutputSelector
from nnwidgets.compute._progress import Progress, ShouldStop
from nnwidgets.compute.attribution._backprop import backprop, model_scores
from nnwidgets.compute.attribution._checks import Target, check_target, positive_int
from nnwidgets.compute.occlusion import DEFAULT_MEMORY_BUDGET, Baseline, _one_baseline

__all__ = ["input_x_gradient", "integrated_gradients", "saliency"]


def saliency(
    model: nn.Module,
    x: torch.Tensor,
    target: Target = None,
    *,
    abs: bool = True,
    output: OutputSelector = None,
) -> torch.Tensor:
    """Return the gradient of the target score (its size for ``abs=True``), as Captum's Saliency."""
    grad = backprop(model, x, check_target(target, len(x)), output).input_grad
    return (grad.abs() if abs else grad).to(x.device)


def input_x_gradient(
    model: nn.Module, x: torch.Tensor, target: Target = None, *, output: OutputSelector = None
) -> torch.Tensor:
    """Return the input times the gradient of the target score, as Captum's InputXGradient."""
    grad = backprop(model, x, check_target(target, len(x)), output).input_grad
    return (x.to(grad.device) * grad).to(x.device)


def _baselines(baseline: Baseline | None, x: torch.Tensor) -> torch.Tensor:
    """Return a baseline batch shaped like ``x``: a number, one input's shape, or x's shape."""
    if baseline is None:
        return torch.zeros_like(x)
    if isinstance(baseline, torch.Tensor) and tuple(baseline.shape) == tuple(x.shape):
        return baseline.to(x.device, x.dtype)
    one = _one_baseline(baseline, tuple(x.shape[1:]), x.dtype)
    if isinstance(one, float):
        return torch.full_like(x, one)
    return one.to(x.device, x.dtype).expand_as(x)


def integrated_gradients(
    model: nn.Module,
    x: torch.Tensor,
    target: Target = None,
    *,
    baseline: Baseline | None = None,
    n_steps: int = 50,
    internal_batch_size: int | None = None,
    memory_budget: int | None = None,
    output: OutputSelector = None,
    progress: Progress | None = None,
    should_stop: ShouldStop | None = None,
) -> torch.Tensor:
    """Integrated gradients along the straight path from ``baseline`` to ``x``.

    The numbers of ``captum.attr.IntegratedGradients(model).attribute(x, baselines,
    target, n_steps=n_steps)`` with its default ``method="gausslegendre"``. The
    ``n_steps * N`` scaled inputs run in chunks of whole steps: ``internal_batch_size``
    rows at most if given (as Captum's), else as many as fit ``memory_budget`` bytes
    (default 256 MiB) of scaled inputs plus the activations autograd keeps for them,
    measured on the first chunk (one step).

    Parameters
    ----------
    model : torch.nn.Module
        The user's model (borrowed, handed back untouched).
    x : torch.Tensor
        A float batch (N, ...).
    target : int, sequence of int or tensor, optional
        Score to explain; default each input's predicted class.
    baseline : float or torch.Tensor, optional
        Start of the path: a number, a tensor shaped like one input or like ``x``;
        default zeros (Captum's).
    n_steps : int
        Gauss-Legendre nodes on the path (Captum's default 50).
    internal_batch_size : int, optional
        Most rows (steps x inputs) per forward pass, at least N.
    memory_budget : int, optional
        Bytes for one chunk when ``internal_batch_size`` is not given.
    output : int, str, callable or None
        Output selector.
    progress : callable, optional
        Called as ``progress(steps_done, n_steps)`` after each chunk of path steps.
    should_stop : callable, optional
        Checked before each chunk; when it returns True the sum stops there and the
        result is the integral over the part of the path swept so far (the nodes run
        from the baseline towards ``x``): zeros if stopped before the first chunk, and
        no longer summing to the score difference (completeness) once stopped.

    Returns
    -------
    torch.Tensor
        Shaped like ``x``, in its dtype, on its device.
    """
    n_steps = positive_int(n_steps, "n_steps")
    budget = (
        DEFAULT_MEMORY_BUDGET
        if memory_budget is None
        else positive_int(memory_budget, "memory_budget")
    )
    if internal_batch_size is not None:
        internal_batch_size = positive_int(internal_batch_size, "internal_batch_size")
    targets = check_target(target, len(x))
    baselines = _baselines(baseline, x)
    if targets is None:
        targets = model_scores(model, x, output).argmax(1).tolist()
    nodes, weights = np.polynomial.legendre.leggauss(n_steps)
    alphas = (0.5 * (1 + nodes)).tolist()
    step_sizes = torch.tensor((0.5 * weights).tolist()).float()  # as Captum rounds them
    diff = x - baselines
    n = len(x)
    total = torch.zeros((n, *x.shape[1:]), dtype=x.dtype, device=x.device)
    steps_per_chunk = 1 if internal_batch_size is None else max(1, internal_batch_size // n)
    done = 0
    while done < n_steps:
        if should_stop is not None and should_stop():
            break
        chunk = alphas[done : done + steps_per_chunk]
        scaled = torch.cat([baselines + alpha * diff for alpha in chunk])
        result = backprop(model, scaled, targets * len(chunk), output, count_saved=done == 0)
        grads = result.input_grad.to(x.device).reshape(len(chunk), n, -1)
        scale = step_sizes[done : done + len(chunk)].to(grads.device).view(-1, 1, 1)
        total += (grads * scale).sum(0).reshape(total.shape)
        if done == 0 and internal_batch_size is None:
            per_step = result.saved_bytes + scaled.numel() * scaled.element_size()
            steps_per_chunk = max(1, budget // max(1, per_step))
        done += len(chunk)
        if progress is not None:
            progress(done, n_steps)
    return total * diff
