"""What the units of a character-level recurrent model do on a text, and which units track what.

A character model is read through a small adapter, :func:`char_model`: three of its modules
run in order, an **embedding** (an ``nn.Embedding`` from character index to vector, or none
when the recurrent layer reads one-hot vectors), a **recurrent layer** (``nn.RNN``,
``nn.LSTM`` or ``nn.GRU``: any number of stacked layers, ``batch_first`` or not, one
direction) and a **head** mapping the recurrent layer's output at each step to next-character
logits. nnwidgets calls these modules itself, not ``model.forward``, so that it can read
every stacked layer's state at every step; a model whose forward does more between them needs
a head module (or any callable) that does the rest.

:func:`text_activations` reads the hidden state of every layer (and an LSTM's cell state)
after every character, and the model's top next-character predictions; long texts are read
in windows with the state carried across, so working memory stays bounded.
:func:`rank_units` ranks units by how well their activation separates the characters a
regular expression matches from the others (the area under the ROC curve).
"""

from __future__ import annotations

import difflib
import re
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from itertools import pairwise
from typing import Any

import torch
import torch.nn.functional as F
from torch import nn
from torch.func import functional_call

from nnwidgets.compute._guard import borrowed_model, model_device
from nnwidgets.compute._progress import Progress, ShouldStop

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

Vocab = str | Sequence[str] | Mapping[str, int]

UNKNOWN_SYMBOLS = ("\ufffd", "<unk>", "<UNK>")
"""Vocabulary entries taken as the unknown character, in this order, when none is given."""

DEFAULT_WINDOW = 4096
"""Characters read per forward pass of a long text."""

_MODES = {"LSTM": nn.LSTM, "GRU": nn.GRU, "RNN_TANH": nn.RNN, "RNN_RELU": nn.RNN}


# -- the adapter ---------------------------------------------------------------------------
@dataclass(frozen=True)
class CharModel:
    """The three modules of a character model that :func:`text_activations` runs in order.

    Attributes
    ----------
    model
        The whole model (borrowed while it runs, see :func:`nnwidgets.compute.borrowed_model`).
    embedding
        Character index -> vector; ``None``: the recurrent layer reads one-hot vectors.
    rnn
        The recurrent layer, an ``nn.RNN``, ``nn.LSTM`` or ``nn.GRU``.
    head
        Recurrent output at each step -> next-character logits.
    rnn_name
        The recurrent layer's name in ``model.named_modules()`` (the layers' labels use it).
    """

    model: nn.Module
    embedding: nn.Module | None
    rnn: nn.RNNBase
    head: Callable[[torch.Tensor], torch.Tensor]
    rnn_name: str

    @property
    def is_lstm(self) -> bool:
        """Whether the recurrent layer is an LSTM (which also has a cell state)."""
        return self.rnn.mode == "LSTM"

    @property
    def input_size(self) -> int:
        """Size of the vectors the recurrent layer reads."""
        return self.rnn.input_size

    @property
    def output_size(self) -> int:
        """Size of the recurrent layer's output at each step (its hidden or projection size)."""
        return self.rnn.proj_size or self.rnn.hidden_size

    def layers(self, cell: bool) -> list[tuple[str, int]]:
        """Label and width of each layer :func:`text_activations` returns, in its order."""
        layers = []
        for k in range(self.rnn.num_layers):
            layers.append((f"{self.rnn_name}[{k}] hidden", self.output_size))
            if cell and self.is_lstm:
                layers.append((f"{self.rnn_name}[{k}] cell", self.rnn.hidden_size))
        return layers


def _pick(
    model: nn.Module, spec: str | nn.Module | None, kinds: tuple[type, ...], what: str, arg: str
) -> tuple[str, Any] | None:
    """Find the module ``spec`` names (or is), or the one module of ``kinds``; None if none."""
    modules = dict(model.named_modules())
    if isinstance(spec, str):
        if spec not in modules:
            close = difflib.get_close_matches(spec, list(modules), n=3, cutoff=0.4)
            hint = f"; did you mean {', '.join(map(repr, close))}?" if close else ""
            raise ValueError(f"{arg}={spec!r}: the model has no module of that name{hint}")
        return spec, modules[spec]
    if spec is not None:
        if not callable(spec):
            raise TypeError(f"{arg} must be a module name, a module or None, got {spec!r}")
        names = [n for n, m in modules.items() if m is spec]
        return (names[0] if names else arg), spec
    found = [(n, m) for n, m in modules.items() if isinstance(m, kinds)]
    if len(found) > 1:
        raise ValueError(
            f"the model has several {what} modules ({', '.join(n or '<model>' for n, _ in found)});"
            f" name the one to use with {arg}=..."
        )
    return found[0] if found else None


def char_model(
    model: nn.Module,
    *,
    embedding: str | nn.Module | None = None,
    rnn: str | nn.Module | None = None,
    head: str | Callable[[torch.Tensor], torch.Tensor] | None = None,
) -> CharModel:
    """Read ``model`` as embedding -> recurrent layer -> head (see the module docstring).

    Each part may be named (as ``model.named_modules()`` names it) or passed as a module;
    by default the model's only ``nn.Embedding`` (none: one-hot input), its only
    ``nn.RNN``/``nn.LSTM``/``nn.GRU`` and its only ``nn.Linear`` that reads the recurrent
    layer's output are used.

    Parameters
    ----------
    model
        The character model.
    embedding, rnn, head
        The parts, when the defaults do not find them.

    Returns
    -------
    CharModel
        The parts, checked to fit together.
    """
    if not isinstance(model, nn.Module):
        raise TypeError(f"model must be a torch.nn.Module, got {type(model).__name__}")
    found = _pick(model, rnn, (nn.RNNBase,), "recurrent (nn.RNN/nn.LSTM/nn.GRU)", "rnn")
    if found is None:
        raise ValueError(
            "the model has no nn.RNN, nn.LSTM or nn.GRU module; character models built from "
            "cells (nn.LSTMCell in a loop) or other layers are not supported: wrap the "
            "recurrent part in one of those and pass rnn=..."
        )
    rnn_name, rnn_module = found
    if not isinstance(rnn_module, nn.RNNBase) or rnn_module.mode not in _MODES:
        raise ValueError(f"rnn={rnn_name!r} must be an nn.RNN, nn.LSTM or nn.GRU")
    if rnn_module.bidirectional:
        raise ValueError(
            f"rnn={rnn_name!r} is bidirectional: it reads the text backwards too, so its state "
            "after a character is no next-character model's state; use a unidirectional layer"
        )
    found = _pick(model, embedding, (nn.Embedding,), "nn.Embedding", "embedding")
    embed_module = None if found is None else found[1]
    if (
        isinstance(embed_module, nn.Embedding)
        and embed_module.embedding_dim != rnn_module.input_size
    ):
        raise ValueError(
            f"embedding gives vectors of size {embed_module.embedding_dim} but rnn={rnn_name!r} "
            f"reads vectors of size {rnn_module.input_size}"
        )
    width = rnn_module.proj_size or rnn_module.hidden_size
    if head is None:
        heads = [
            (n, m)
            for n, m in model.named_modules()
            if isinstance(m, nn.Linear) and m.in_features == width
        ]
        if len(heads) != 1:
            listed = ", ".join(n for n, _ in heads) or "none"
            raise ValueError(
                f"cannot tell the head: nn.Linear modules reading {width} features: {listed}; "
                "name it with head=... (a module name, a module or a callable)"
            )
        head_module = heads[0][1]
    else:
        head_module = _pick(model, head, (), "head", "head")[1]
    return CharModel(model, embed_module, rnn_module, head_module, rnn_name or "rnn")


# -- the vocabulary ------------------------------------------------------------------------
def _vocab_index(vocab: Vocab) -> dict[str, int]:
    if isinstance(vocab, Mapping):
        index = dict(vocab)
        bad = [
            k for k, v in index.items() if not isinstance(v, int) or isinstance(v, bool) or v < 0
        ]
        if bad:
            raise ValueError(f"vocab maps {bad[0]!r} to {index[bad[0]]!r}, not an index >= 0")
    elif isinstance(vocab, str | Sequence):
        entries = list(vocab)
        if not all(isinstance(c, str) for c in entries):
            raise TypeError("vocab must hold strings (one per index)")
        index = {}
        for i, c in enumerate(entries):
            if c in index:
                raise ValueError(f"vocab lists {c!r} twice (at {index[c]} and {i})")
            index[c] = i
    else:
        raise TypeError(
            f"vocab must be a string, a sequence of characters or a dict character -> index, "
            f"got {type(vocab).__name__}"
        )
    if not index:
        raise ValueError("vocab is empty")
    return index


def vocab_symbols(vocab: Vocab) -> list[str]:
    """Return the vocabulary's entries in index order (``""`` at indices no entry maps to)."""
    index = _vocab_index(vocab)
    symbols = [""] * (max(index.values()) + 1)
    for c, i in index.items():
        symbols[i] = symbols[i] or c
    return symbols


def _unknown_index(index: dict[str, int], unknown: int | str | None) -> int:
    if unknown is None:
        return next((index[s] for s in UNKNOWN_SYMBOLS if s in index), 0)
    if isinstance(unknown, str):
        if unknown not in index:
            raise ValueError(f"unknown={unknown!r} is not in the vocabulary")
        return index[unknown]
    last = max(index.values())
    if isinstance(unknown, bool) or not isinstance(unknown, int) or not 0 <= unknown <= last:
        raise ValueError(
            f"unknown must be an index from 0 to {last} or a vocabulary entry, got {unknown!r}"
        )
    return unknown


def encode_text(
    text: str, vocab: Vocab, unknown: int | str | None = None
) -> tuple[torch.Tensor, torch.Tensor]:
    r"""Return the character indices of ``text`` and a mask of the characters not in ``vocab``.

    Parameters
    ----------
    text
        The text; must not be empty.
    vocab
        The model's characters: a string or sequence (entry ``i`` is index ``i``) or a dict
        character -> index. Only single-character entries match the text.
    unknown
        Index (or entry) read for characters not in the vocabulary; default the entry
        ``"\ufffd"`` or ``"<unk>"`` if the vocabulary has one, else index 0.

    Returns
    -------
    tuple of torch.Tensor
        int64 indices (T,) and a bool mask (T,), True where the character was unknown.
    """
    if not isinstance(text, str):
        raise TypeError(f"text must be a str, got {type(text).__name__}")
    if not text:
        raise ValueError("text is empty: give the model at least one character")
    index = _vocab_index(vocab)
    fallback = _unknown_index(index, unknown)
    codes = torch.frombuffer(bytearray(text.encode("utf-32-le")), dtype=torch.int32).long()
    table_size = max(max(map(ord, (c for c in index if len(c) == 1)), default=0), 127) + 1
    table = torch.full((table_size,), -1, dtype=torch.int64)
    for c, i in index.items():
        if len(c) == 1:
            table[ord(c)] = i
    ids = torch.where(codes < table_size, table[codes.clamp(max=table_size - 1)], -1)
    missing = ids < 0
    return ids.masked_fill(missing, fallback), missing


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
        template = _MODES[rnn.mode](
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


# -- ranking units ---------------------------------------------------------------------------
def char_mask(text: str, pattern: str | re.Pattern, flags: int = re.MULTILINE) -> torch.Tensor:
    """Bool (T,): True at every character that a match of ``pattern`` covers.

    ``pattern`` is a Python regular expression, matched with ``flags`` (``^`` and ``$``
    match at every line by default).
    """
    if isinstance(pattern, str):
        if not pattern:
            raise ValueError("pattern is empty: type a regular expression")
        try:
            compiled = re.compile(pattern, flags)
        except re.error as error:
            raise ValueError(
                f"pattern {pattern!r} is not a valid regular expression: {error}"
            ) from None
    elif isinstance(pattern, re.Pattern):
        compiled = pattern
    else:
        raise TypeError(
            f"pattern must be a str or a compiled re.Pattern, got {type(pattern).__name__}"
        )
    spans = [m.span() for m in compiled.finditer(text) if m.end() > m.start()]
    mask = torch.zeros(len(text) + 1, dtype=torch.int32)
    if spans:
        starts, ends = torch.tensor(spans).T
        mask.index_add_(0, starts, torch.ones_like(starts, dtype=torch.int32))
        mask.index_add_(0, ends, -torch.ones_like(ends, dtype=torch.int32))
    return mask.cumsum(0)[:-1] > 0


def auc_scores(values: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
    """Area under the ROC curve of each column of ``values`` as a score for ``mask``.

    The AUC is the chance that a masked row scores higher than an unmasked one (ties count
    half), computed from average ranks (the Mann-Whitney U statistic) for all columns at once.

    Parameters
    ----------
    values
        (T, N) scores.
    mask
        bool (T,): the positives; needs at least one of each.

    Returns
    -------
    torch.Tensor
        float64 (N,) AUCs in [0, 1]: 1 means the unit is higher on every masked character than
        on every other, 0 lower, 0.5 no separation.
    """
    if values.dim() != 2 or mask.shape != values.shape[:1]:
        raise ValueError(
            f"values (T, N) and mask (T,) do not fit: {tuple(values.shape)}, {tuple(mask.shape)}"
        )
    positives = int(mask.sum())
    negatives = len(mask) - positives
    if positives == 0 or negatives == 0:
        raise ValueError("the AUC needs both matching and other characters")
    columns = values.T.contiguous().double()  # (N, T)
    ordered = columns.sort(dim=1).values
    below = torch.searchsorted(ordered, columns, right=False)
    through = torch.searchsorted(ordered, columns, right=True)
    ranks = (below + through + 1).double() / 2  # average 1-based rank, ties shared
    rank_sum = ranks[:, mask.to(values.device)].sum(dim=1)
    return (rank_sum - positives * (positives + 1) / 2) / (positives * negatives)


@dataclass
class UnitRanking:
    """Units ranked by how well they separate the characters a pattern matches.

    Attributes
    ----------
    pattern
        The regular expression.
    matched
        Number of characters it covers.
    layers
        Layer labels, as in :class:`TextActivations`.
    layer
        int64 (N,): layer index of each ranked unit, best first.
    unit
        int64 (N,): unit index within its layer.
    auc
        float64 (N,): the unit's AUC for the matching characters.
    """

    pattern: str
    matched: int
    layers: list[str]
    layer: torch.Tensor
    unit: torch.Tensor
    auc: torch.Tensor

    @property
    def sign(self) -> torch.Tensor:
        """+1 where the unit is higher on matching characters, -1 where lower (int64)."""
        return torch.where(self.auc >= 0.5, 1, -1)

    @property
    def score(self) -> torch.Tensor:
        """How far each AUC is from chance, ``|auc - 0.5| * 2`` in [0, 1]."""
        return (self.auc - 0.5).abs() * 2

    def top(self, n: int = 10) -> list[dict[str, Any]]:
        """Return the ``n`` best units as dicts ``{layer, layer_name, unit, auc, sign}``."""
        return [
            {
                "layer": int(self.layer[i]),
                "layer_name": self.layers[int(self.layer[i])],
                "unit": int(self.unit[i]),
                "auc": float(self.auc[i]),
                "sign": int(self.sign[i]),
            }
            for i in range(min(n, len(self.auc)))
        ]


def rank_units(
    activations: TextActivations,
    pattern: str | re.Pattern,
    *,
    among: str | re.Pattern | None = None,
) -> UnitRanking:
    """Rank every unit of every layer by how well it tells matching characters from the rest.

    Each unit's AUC for the characters that ``pattern`` covers (see :func:`char_mask`) is
    computed; units are ranked by ``|AUC - 0.5|``, so a unit that is reliably *low* inside the
    matches ranks as high as one that is reliably high (its :attr:`UnitRanking.sign` is -1).

    Parameters
    ----------
    activations
        What :func:`text_activations` read.
    pattern
        A regular expression (``^``/``$`` match at line boundaries).
    among
        Compare only among the characters this expression covers (e.g. ``" "``: leading
        spaces against the other spaces), so that a unit that merely responds to the
        character itself does not rank high; default all characters.

    Returns
    -------
    UnitRanking
        All units, best first.
    """
    mask = char_mask(activations.text, pattern)
    values = activations.stacked()
    scope = "of the text"
    if among is not None:
        subset = char_mask(activations.text, among)
        if not subset.any():
            raise ValueError(f"among={_pattern_text(among)!r} matches no character of the text")
        mask, values = mask[subset], values[subset]
        scope = f"among the characters {_pattern_text(among)!r} covers"
    matched = int(mask.sum())
    if matched == 0:
        raise ValueError(f"pattern {_pattern_text(pattern)!r} matches no character {scope}")
    if matched == len(mask):
        raise ValueError(f"pattern {_pattern_text(pattern)!r} matches every character {scope}")
    auc = auc_scores(values, mask)
    offsets = activations.unit_offsets()
    spans = list(pairwise(offsets))
    layer = torch.cat([torch.full((b - a,), i) for i, (a, b) in enumerate(spans)])
    unit = torch.cat([torch.arange(b - a) for a, b in spans])
    order = (auc - 0.5).abs().argsort(descending=True, stable=True)
    return UnitRanking(
        pattern=_pattern_text(pattern),
        matched=matched,
        layers=list(activations.layers),
        layer=layer[order],
        unit=unit[order],
        auc=auc[order],
    )


def _pattern_text(pattern: str | re.Pattern) -> str:
    return pattern if isinstance(pattern, str) else pattern.pattern
