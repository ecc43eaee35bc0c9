"""The adapter that reads a character-level recurrent model, and its vocabulary.

A character model is read through :func:`char_model`: three of its modules run in order, an
**embedding** (an ``nn.Embedding`` from character index to vector, or none when the recurrent
layer reads one-hot vectors), a **recurrent layer** (``nn.RNN``, ``nn.LSTM`` or ``nn.GRU``: any
number of stacked layers, ``batch_first`` or not, one direction) and a **head** mapping the
recurrent layer's output at each step to next-character logits. nnwidgets calls these modules
itself, not ``model.forward``, so that it can read every stacked layer's state at every step; a
model whose forward does more between them needs a head module (or any callable) that does the
rest. :func:`encode_text` turns a text into the model's character indices.
"""

from __future__ import annotations

import difflib
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import torch
from torch import nn

__all__ = [
    "RNN_TYPES",
    "UNKNOWN_SYMBOLS",
    "CharModel",
    "Vocab",
    "char_model",
    "encode_text",
    "vocab_symbols",
]

Vocab = str | Sequence[str] | Mapping[str, int]

UNKNOWN_SYMBOLS = ("\ufffd", "<unk>", "<UNK>")
"""Vocabulary entries taken as the unknown character, in this order, when none is given."""

RNN_TYPES = {"LSTM": nn.LSTM, "GRU": nn.GRU, "RNN_TANH": nn.RNN, "RNN_RELU": nn.RNN}
"""The recurrent module class of each ``nn.RNNBase.mode`` the adapter reads."""


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
    if not isinstance(rnn_module, nn.RNNBase) or rnn_module.mode not in RNN_TYPES:
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
