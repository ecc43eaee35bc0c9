"""What the units of a character-level recurrent model do on a text, character by character.

:func:`text_activations` reads the hidden state of every layer (and an LSTM's cell state)
after every character, through the adapter of :mod:`nnwidgets.compute.char_model`, and the
model's top next-character predictions; long texts are read in windows with the state carried
across, so working memory stays bounded. Which units track what is
:mod:`nnwidgets.compute.text_ranking`'s.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import torch
import torch.nn.functional as F
from torch import nn
from torch.func import functional_call

from nnwidgets.compute._guard import borrowed_model, model_device
from nnwidgets.compute._progress import Progress, ShouldStop
from nnwidgets.compute.char_model import (
    RNN_TYPES,
    CharModel,
    Vocab,
    char_model,
    encode_text,
    vocab_symbols,
)
from nnwidgets.compute.text_ranking import UnitRanking, auc_scores, char_mask, rank_units

# The public face of the text tools: the adapter and the ranking are re-exported from here.
__all__ = [
    "CharModel",
    "TextActivations",
    "UnitRanking",
    "auc_scores",
    "char_mask",
    "char_model",
    "encode_text",
    "rank_units",
    "text_activations",
    "vocab_symbols",
]


DEFAULT_WINDOW = 4096
"""Characters read per forward pass of a long text."""


# -- reading the states ----------------------------------------------------------------------
@dataclass
class TextActivations:
    """Every unit's activation after every character of a text, and the model's predictions.

    Attributes
    ----------
    text
        The text read.
    ids
        int64 (T,) character indices fed to the model.
    unknown
        bool (T,): True where the character was not in the vocabulary.
    layers
        Layer labels, e.g. ``"rnn[0] hidden"``, ``"rnn[0] cell"``, ``"rnn[1] hidden"``.
    values
        One float32 tensor (T, units) per layer: the state after reading each character.
    top_ids
        int64 (T, k): the k likeliest next characters after each character, likeliest first.
    top_probs
        float32 (T, k): their probabilities.
    """

    text: str
    ids: torch.Tensor
    unknown: torch.Tensor
    layers: list[str]
    values: list[torch.Tensor]
    top_ids: torch.Tensor
    top_probs: torch.Tensor

    def stacked(self) -> torch.Tensor:
        """All layers' units side by side: float32 (T, total units), layers in order."""
        return torch.cat(self.values, dim=1)

    def unit_offsets(self) -> list[int]:
        """Column of each layer's first unit in :meth:`stacked` (and the total at the end)."""
        offsets = [0]
        for v in self.values:
            offsets.append(offsets[-1] + v.shape[1])
        return offsets


def _single_layers(rnn: nn.RNNBase) -> list[tuple[nn.RNNBase, dict[str, torch.Tensor]]]:
    """One-layer stand-ins (weightless, on the meta device) and each layer's own weights."""
    layers = []
    for k in range(rnn.num_layers):
        template = RNN_TYPES[rnn.mode](
            rnn.input_size if k == 0 else (rnn.proj_size or rnn.hidden_size),
            rnn.hidden_size,
            num_layers=1,
            bias=rnn.bias,
            batch_first=rnn.batch_first,
            device="meta",
            **({"proj_size": rnn.proj_size} if rnn.mode == "LSTM" else {}),
            **({"nonlinearity": "relu"} if rnn.mode == "RNN_RELU" else {}),
        )
        weights = {
            name.replace(f"_l{k}", "_l0"): getattr(rnn, name)
            for name in rnn._flat_weights_names
            if name.endswith(f"_l{k}")
        }
        layers.append((template, weights))
    return layers


def _lstm_cells(
    x: torch.Tensor,
    h: torch.Tensor,
    state: tuple[torch.Tensor, torch.Tensor] | None,
    weights: dict[str, torch.Tensor],
) -> torch.Tensor:
    """Compute an LSTM layer's cell states from its inputs (T, in) and outputs (T, out).

    ``state`` is the layer's (h, c) before the first step (None: zeros). The gates depend only
    on the input and the previous output, so they are computed for all steps at once, and so
    is the linear recurrence ``c[t] = f[t] * c[t - 1] + i[t] * g[t]``, by a doubling scan.
    """
    if state is None:
        h0, c0 = h.new_zeros(1, h.shape[1]), h.new_zeros(1, weights["weight_ih_l0"].shape[0] // 4)
    else:
        h0, c0 = state[0][:, 0], state[1][:, 0]
    previous = torch.cat([h0, h[:-1]])
    gates = x @ weights["weight_ih_l0"].T + previous @ weights["weight_hh_l0"].T
    if "bias_ih_l0" in weights:
        gates = gates + weights["bias_ih_l0"] + weights["bias_hh_l0"]
    i, f, g, _ = gates.chunk(4, dim=1)
    return _linear_scan(torch.sigmoid(f), torch.sigmoid(i) * torch.tanh(g), c0[0])


def _linear_scan(factor: torch.Tensor, update: torch.Tensor, start: torch.Tensor) -> torch.Tensor:
    """All ``c[t] = factor[t] * c[t - 1] + update[t]`` with ``c[-1] = start``, in log2(T) steps.

    Each step composes every affine map with the one ``step`` places before it (Hillis and
    Steele's scan): no division, so factors near zero are exact.
    """
    factor, total = factor.clone(), update.clone()
    total[0] += factor[0] * start
    step = 1
    while step < len(total):
        total[step:] = total[step:] + factor[step:] * total[:-step]
        factor[step:] = factor[step:] * factor[:-step]
        step *= 2
    return total


def _check_positive(name: str, value: Any) -> None:
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        raise ValueError(f"{name} must be a positive int, got {value!r}")


def text_activations(
    model: nn.Module | CharModel,
    text: str,
    vocab: Vocab,
    *,
    unknown: int | str | None = None,
    cell: bool = True,
    top: int = 5,
    window: int = DEFAULT_WINDOW,
    progress: Progress | None = None,
    should_stop: ShouldStop | None = None,
) -> TextActivations:
    """Read ``text`` with a character model and record every unit after every character.

    The text is fed from its first character on, from a zero state, in windows of
    ``window`` characters with the state carried from one window to the next (the same
    numbers as one pass over the whole text, in bounded working memory). The model runs
    under :func:`torch.inference_mode` on its own device and is handed back untouched.

    Parameters
    ----------
    model
        A character model (read with :func:`char_model`'s defaults) or a :class:`CharModel`.
    text
        The text to read (any length; characters outside ``vocab`` are read as ``unknown``).
    vocab, unknown
        The model's characters, see :func:`encode_text`.
    cell
        Also record an LSTM's cell state (each layer's cell follows its hidden state).
    top
        Number of next-character predictions kept per position.
    window
        Characters per forward pass.
    progress
        Called as ``progress(done, total)`` (characters) after each window.
    should_stop
        Polled between windows; when it returns True the reading stops and the result
        covers the characters read so far.

    Returns
    -------
    TextActivations
        States and predictions; ``values[l][t]`` is layer ``l`` after reading ``text[t]``,
        ``top_ids[t]`` the likeliest characters at ``t + 1``.
    """
    parts = model if isinstance(model, CharModel) else char_model(model)
    ids, missing = encode_text(text, vocab, unknown)
    vocab_size = len(vocab_symbols(vocab))
    _check_positive("window", window)
    _check_positive("top", top)
    rnn = parts.rnn
    if parts.embedding is None and rnn.input_size != vocab_size:
        raise ValueError(
            f"the model has no nn.Embedding and its recurrent layer reads {rnn.input_size} "
            f"features, not one-hot vectors of the vocabulary's {vocab_size} characters: pass "
            "embedding=... to char_model"
        )
    if isinstance(parts.embedding, nn.Embedding) and vocab_size > parts.embedding.num_embeddings:
        raise ValueError(
            f"vocab has {vocab_size} indices but the embedding only "
            f"{parts.embedding.num_embeddings}"
        )
    device = model_device(parts.model) or torch.device("cpu")
    dtype = rnn._flat_weights[0].dtype
    layers = _single_layers(rnn)
    names, widths = zip(*parts.layers(cell), strict=True)
    total = len(ids)
    values = [torch.empty(total, width) for width in widths]
    k = min(top, vocab_size)
    top_ids = torch.empty(total, k, dtype=torch.int64)
    top_probs = torch.empty(total, k)
    batch_dim = 0 if rnn.batch_first else 1

    def embed(chunk: torch.Tensor) -> torch.Tensor:
        if parts.embedding is None:
            return F.one_hot(chunk, vocab_size).to(dtype)
        return parts.embedding(chunk)

    done = 0
    with borrowed_model(parts.model), torch.inference_mode():
        states: list[Any] = [None] * len(layers)
        while done < total:
            if should_stop is not None and should_stop():
                break
            end = min(done + window, total)
            x = embed(ids[done:end].to(device)).unsqueeze(batch_dim)
            column = 0
            for number, (template, weights) in enumerate(layers):
                before = states[number]
                out, states[number] = functional_call(template, weights, (x, before))
                values[column][done:end] = out.squeeze(batch_dim).float().cpu()
                column += 1
                if cell and parts.is_lstm:
                    cells = _lstm_cells(
                        x.squeeze(batch_dim), out.squeeze(batch_dim), before, weights
                    )
                    values[column][done:end] = cells.float().cpu()
                    column += 1
                x = out
            logits = parts.head(x.squeeze(batch_dim))
            if logits.shape[-1] != vocab_size or logits.shape[0] != end - done:
                raise ValueError(
                    f"the head gives logits of shape {tuple(logits.shape)} for {end - done} "
                    f"characters; expected ({end - done}, {vocab_size}), one logit per "
                    "vocabulary entry"
                )
            probs, best = logits.float().softmax(-1).topk(k, dim=-1)
            top_ids[done:end], top_probs[done:end] = best.cpu(), probs.cpu()
            done = end
            if progress is not None:
                progress(done, total)
    return TextActivations(
        text=text[:done],
        ids=ids[:done],
        unknown=missing[:done],
        layers=list(names),
        values=[v[:done] for v in values],
        top_ids=top_ids[:done],
        top_probs=top_probs[:done],
    )
