"""Turn whatever a model returns into an (N, K) tensor of scores, and check it."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

import torch
from torch import nn

from nnwidgets.compute._guard import borrowed_model, model_device
from nnwidgets.compute._inputs import check_inputs, check_model, conv_channels

__all__ = ["OutputSelector", "check_selector", "predict", "run_model", "select_output"]

OutputSelector = int | str | Callable[[Any], torch.Tensor] | None

_HOW = (
    "pass an output selector: output=0 (an index), output='key' (a key or attribute) "
    "or output=callable (a function of the model's output that returns an (N, K) tensor)"
)


def select_output(output: Any, selector: OutputSelector = None) -> torch.Tensor:
    """Return the (N, K) scores in a model's output.

    Parameters
    ----------
    output : Any
        What the model returned: a tensor, a mapping with a ``"logits"`` key, an
        object with a ``.logits`` attribute, or anything ``selector`` understands.
    selector : int, str, callable or None
        How to find the scores: an index into a tuple/list, a key or attribute name,
        or a function of ``output``. None accepts a tensor or ``logits``.

    Returns
    -------
    torch.Tensor
        The scores, shape (N, K); an (N,) output becomes (N, 1).

    Raises
    ------
    TypeError
        If the output is a tuple, list or dict without a selector, or the selected
        value is not a tensor.
    ValueError
        If the scores are not floating point, have the wrong rank, or contain NaN/inf.
    """
    scores = _pick(output, selector)
    if not isinstance(scores, torch.Tensor):
        raise TypeError(
            f"the selected model output is a {type(scores).__name__}, not a tensor; {_HOW}"
        )
    if not scores.is_floating_point():
        raise ValueError(
            f"model output has dtype {scores.dtype}; scores must be floating point "
            "(logits or probabilities)"
        )
    if scores.ndim == 1:
        scores = scores[:, None]
    if scores.ndim != 2:
        raise ValueError(
            f"model output has shape {tuple(scores.shape)}; scores must be (N, K) or (N,). "
            "Reduce it with output=callable, e.g. output=lambda out: out.mean(dim=(2, 3))"
        )
    finite = torch.isfinite(scores)
    if not bool(finite.all()):
        what = "NaN" if bool(torch.isnan(scores).any()) else "inf"
        raise ValueError(f"model output contains {what} (shape {tuple(scores.shape)})")
    return scores


def check_selector(selector: Any, name: str = "output") -> OutputSelector:
    """Check an output selector before any work: None, an int, a str or a callable."""
    if selector is None or callable(selector):
        return selector
    if isinstance(selector, bool) or not isinstance(selector, (int, str)):
        raise TypeError(f"{name} must be None, an int, a str or a callable, got {selector!r}")
    return selector


def _pick(output: Any, selector: OutputSelector) -> Any:
    if selector is None:
        if isinstance(output, torch.Tensor):
            return output
        if isinstance(output, Mapping) and "logits" in output:
            return output["logits"]
        if not isinstance(output, (Mapping, tuple, list)) and hasattr(output, "logits"):
            return output.logits
        what = f"a {type(output).__name__}"
        if isinstance(output, (tuple, list)):
            what += f" of {len(output)} elements"
        elif isinstance(output, Mapping):
            what += f" with keys {list(output)}"
        raise TypeError(f"the model returned {what}, not a tensor of scores; {_HOW}")
    if callable(selector):
        return selector(output)
    check_selector(selector)
    if isinstance(output, torch.Tensor):
        raise TypeError(
            f"output={selector!r} selects from a tuple, list, dict or object, but the model "
            "returned a tensor: leave output=None"
        )
    if isinstance(selector, int):
        try:
            return output[selector]
        except (IndexError, KeyError, TypeError) as err:
            raise ValueError(f"output={selector} does not index the model's output: {err}") from err
    if isinstance(output, Mapping):
        if selector not in output:
            raise ValueError(
                f"output={selector!r} is not a key of the model's output {list(output)}"
            )
        return output[selector]
    if not hasattr(output, selector):
        raise ValueError(
            f"the model's {type(output).__name__} output has no attribute {selector!r}"
        )
    return getattr(output, selector)


def run_model(model: nn.Module, batch: torch.Tensor, output: OutputSelector = None) -> torch.Tensor:
    """Return the (N, K) scores of ``model`` on ``batch``; the caller sets the modes.

    Parameters
    ----------
    model : torch.nn.Module
        The model, already on ``batch``'s device.
    batch : torch.Tensor
        A batch of inputs, batch dimension first.
    output : int, str, callable or None
        Output selector, see :func:`select_output`.

    Returns
    -------
    torch.Tensor
        Scores of shape (len(batch), K).

    Raises
    ------
    ValueError
        If the model fails on the batch's shape or dtype (its error is chained), or
        returns a number of rows other than ``len(batch)``.
    """
    try:
        raw = model(batch)
    except torch.OutOfMemoryError:
        raise
    except RuntimeError as err:
        raise ValueError(
            f"the model failed on a batch of {len(batch)} inputs of shape "
            f"{tuple(batch.shape[1:])} and dtype {batch.dtype} (batch shape "
            f"{tuple(batch.shape)}); check that it takes inputs of this shape and dtype. "
            f"The model said: {err}"
        ) from err
    scores = select_output(raw, output)
    if scores.shape[0] != batch.shape[0]:
        raise ValueError(
            f"the model returned {scores.shape[0]} rows of scores for a batch of "
            f"{batch.shape[0]} inputs of shape {tuple(batch.shape)}"
        )
    return scores


def predict(model: nn.Module, x: torch.Tensor, *, output: OutputSelector = None) -> torch.Tensor:
    """Return the model's raw scores for a batch, leaving the model untouched.

    The model runs in eval mode under :func:`torch.inference_mode` on its own device.

    Parameters
    ----------
    model : torch.nn.Module
        The user's model.
    x : torch.Tensor
        A batch of inputs, batch dimension first.
    output : int, str, callable or None
        Output selector, see :func:`select_output`.

    Returns
    -------
    torch.Tensor
        Scores of shape (N, K) on ``x``'s device.
    """
    model = check_model(model)
    x = check_inputs(
        x, "x", channels=conv_channels(model), finite=False, floating=False, guess_layout=False
    )
    check_selector(output)
    device = model_device(model) or x.device
    with borrowed_model(model), torch.inference_mode():
        scores = run_model(model, x.to(device), output)
    return scores.to(x.device, copy=True)  # a copy made outside inference mode is a normal tensor
