"""TextNeuronExplorer: colour a text by one recurrent unit's activation after every character."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import torch
from torch import nn
from traitlets import Dict, List, TraitError, Unicode, observe, validate

from nnwidgets._traits import Int, Tensor
from nnwidgets.compute._quantize import centred_codes, fraction_codes
from nnwidgets.compute.char_model import Vocab, char_model, vocab_symbols
from nnwidgets.compute.text import DEFAULT_WINDOW, TextActivations, text_activations
from nnwidgets.compute.text_ranking import UnitRanking, char_mask, rank_units
from nnwidgets.widgets._base import NNWidget, bundle, listed, message
from nnwidgets.widgets._worker import Job

#: Most characters the widget shows (the state holds units x characters bytes).
MAX_CHARS = 20_000
#: Ranked units sent to the front-end.
RANKED = 12
#: Longest regular expression the front-end may send.
MAX_PATTERN = 1000


def _chosen_layers(layers: Sequence[str | int] | None, available: list[str]) -> list[str]:
    """Labels of the ``layers`` asked for (labels or indices into ``available``), checked."""
    if layers is None:
        return list(available)
    if isinstance(layers, str | int):
        raise TypeError(f"layers must be a list of labels or indices, got {layers!r}")
    chosen = []
    for layer in layers:
        if isinstance(layer, int) and not isinstance(layer, bool) and 0 <= layer < len(available):
            layer = available[layer]
        if layer not in available:
            raise ValueError(f"layers: unknown layer {layer!r}; the model has {available}")
        if layer not in chosen:
            chosen.append(layer)
    if not chosen:
        raise ValueError("layers is empty: choose at least one layer")
    return chosen


class TextNeuronExplorer(NNWidget):
    r"""See which characters make a unit of a character-level RNN, LSTM or GRU fire.

    The text is drawn with each character's background coloured by the selected unit's
    activation after reading that character (Karpathy, Johnson & Fei-Fei, "Visualizing and
    Understanding Recurrent Networks", 2015). Every unit's activations are in the browser, so
    the unit slider, the arrow keys and the layer picker recolour the text with no kernel
    round trip; hovering a character shows its value and the model's likeliest next
    characters there. *Find units* takes a regular expression (a quoted string, leading
    whitespace, a URL) and ranks every unit of every layer by how well its activation
    separates the characters the expression covers from the others (the AUC, see
    :func:`nnwidgets.compute.text_ranking.rank_units`); click a unit to select it.

    Parameters
    ----------
    model
        A character model read as embedding -> recurrent layer -> head (see
        :func:`nnwidgets.compute.char_model.char_model`; ``embedding``, ``rnn`` and ``head`` name
        the parts when the defaults do not find them).
    text
        The text to read, at most ``max_chars`` characters.
    vocab
        The model's characters: a string or sequence (entry ``i`` is index ``i``) or a dict
        character -> index.
    layer, unit
        Selected at start; ``layer`` is a label such as ``"rnn[1] cell"`` or an index into
        :attr:`layers` (default the first).
    layers
        The layers to show and rank (labels or indices, in the order ``rnn[0] hidden``,
        ``rnn[0] cell``, ``rnn[1] hidden``...); default all. Fewer layers, smaller state.
    unknown
        Index or entry read for characters not in ``vocab`` (default its ``"\ufffd"`` or
        ``"<unk>"`` entry, else 0); such characters are marked in the text.
    cell
        Also show an LSTM's cell states (each layer's after its hidden states).
    top
        Next-character predictions kept per position.
    max_chars
        Longest text accepted.
    window
        Characters per forward pass.

    Notes
    -----
    The state holds one byte per unit and character (quantized per unit: the colour scale of
    a unit is its largest ``|activation|`` on the text), ``2 * top`` bytes of predictions per
    character and the text itself: the shipped two-layer LSTM with cell states has 512 units,
    so 3,600 characters take 1.9 MB and 20,000 characters 10 MB.
    """

    _esm = bundle("text.js")
    _css = bundle("text.css")

    # what the front-end shows (kernel -> browser, sent once per text)
    text = Unicode("", help="The text shown.").tag(sync=True)
    layers = List(Unicode(), help="Layer labels, in the picker's order.").tag(sync=True)
    layer_sizes = List(Int(), help="Units per layer.").tag(sync=True)
    symbols = List(Unicode(), help="The vocabulary's characters by index.").tag(sync=True)
    activations = Tensor(dtype=torch.uint8, ndim=2, help="(all units, T) quantized activations.")
    unit_limits = Tensor(dtype=torch.float32, ndim=1, help="(all units,) scale of each unit.")
    unknown_mask = Tensor(dtype=torch.uint8, ndim=1, help="(T,) 1 where not in the vocabulary.")
    top_ids = Tensor(ndim=2, help="(T, k) likeliest next characters (uint8 or int32 indices).")
    top_probs = Tensor(dtype=torch.uint8, ndim=2, help="(T, k) their probabilities x 255.")
    ranking = Dict(help="Last Find units result: pattern, matched, units (best first).").tag(
        sync=True
    )
    ranking_mask = Tensor(dtype=torch.uint8, ndim=1, help="(T,) 1 where the pattern matched.")

    # settings (both ways)
    _settings = ("layer", "unit")
    layer = Unicode("", help="Selected layer's label.").tag(sync=True)
    unit = Int(0, help="Selected unit of the layer.").tag(sync=True)

    def __init__(
        self,
        model: nn.Module,
        text: str,
        vocab: Vocab,
        *,
        layer: str | int | None = None,
        unit: int = 0,
        layers: Sequence[str | int] | None = None,
        unknown: int | str | None = None,
        cell: bool = True,
        top: int = 5,
        max_chars: int = MAX_CHARS,
        window: int = DEFAULT_WINDOW,
        embedding: str | nn.Module | None = None,
        rnn: str | nn.Module | None = None,
        head: Any = None,
    ) -> None:
        parts = char_model(model, embedding=embedding, rnn=rnn, head=head)
        if isinstance(max_chars, bool) or not isinstance(max_chars, int) or max_chars < 1:
            raise ValueError(f"max_chars must be a positive int, got {max_chars!r}")
        if isinstance(text, str) and len(text) > max_chars:
            raise ValueError(
                f"text has {len(text):,} characters; the widget shows at most "
                f"max_chars={max_chars:,} (its state holds one byte per unit and character). "
                "Pass a slice of the text, raise max_chars, or read the whole text with "
                "nnwidgets.compute.text.text_activations"
            )
        available = [name for name, _ in parts.layers(cell)]
        shown = _chosen_layers(layers, available)
        self.model = model
        acts = text_activations(
            parts, text, vocab, unknown=unknown, cell=cell, top=top, window=window
        )
        keep = [available.index(name) for name in shown]
        acts.layers = shown
        acts.values = [acts.values[i] for i in keep]
        self._acts: TextActivations = acts
        codes, limits = centred_codes(acts.stacked())
        symbols = vocab_symbols(vocab)
        index_dtype = torch.uint8 if len(symbols) <= 256 else torch.int32
        super().__init__(
            text=acts.text,
            layers=acts.layers,
            layer_sizes=[v.shape[1] for v in acts.values],
            symbols=symbols,
            activations=codes,
            unit_limits=limits,
            unknown_mask=acts.unknown.to(torch.uint8),
            top_ids=acts.top_ids.to(index_dtype),
            top_probs=fraction_codes(acts.top_probs),
        )
        self.select(0 if layer is None else layer, unit)

    # -- public API ----------------------------------------------------------------------
    @property
    def states(self) -> TextActivations:
        """The float32 states and predictions behind the picture (see ``text_activations``)."""
        return self._acts

    def values(self, layer: str | int | None = None, unit: int | None = None) -> torch.Tensor:
        """Float32 (T,) activations of a unit (default the selected one) after each character."""
        name = self.layer if layer is None else self._layer_name(layer)
        index = self.layers.index(name)
        chosen = self.unit if unit is None else self._check_unit(unit, index)
        return self._acts.values[index][:, chosen].clone()

    def find_units(self, pattern: str) -> UnitRanking:
        """Rank every unit by its AUC for the characters ``pattern`` covers; show the best.

        Parameters
        ----------
        pattern
            A Python regular expression, ``^`` and ``$`` matching at every line.

        Returns
        -------
        UnitRanking
            Every unit, best first (see :func:`nnwidgets.compute.text_ranking.rank_units`).
        """
        ranking = rank_units(self._acts, pattern)
        best = [
            {"layer": u["layer_name"], "unit": u["unit"], "auc": u["auc"], "sign": u["sign"]}
            for u in ranking.top(RANKED)
        ]
        with self.hold_sync():
            self.ranking = {
                "pattern": ranking.pattern,
                "matched": ranking.matched,
                "units": best,
            }
            self.ranking_mask = char_mask(self._acts.text, pattern).to(torch.uint8)
            self.error = ""
        return ranking

    def select(self, layer: str | int, unit: int) -> None:
        """Select ``unit`` of ``layer`` (a label or an index into :attr:`layers`)."""
        name = self._layer_name(layer)
        self._check_unit(unit, self.layers.index(name))
        with self.hold_trait_notifications():
            self.layer = name
            self.unit = unit

    # -- messages from the front-end -----------------------------------------------------------
    @message("find_units", pattern=str)
    def _on_find_units(self, pattern: str) -> None:
        if len(pattern) > MAX_PATTERN:
            raise ValueError(f"pattern is longer than {MAX_PATTERN} characters")
        self._run("rank", lambda job: self._rank_job(job, pattern))

    def _rank_job(self, job: Job, pattern: str) -> None:
        self._report_progress(job, 0, 1, f"ranking units for {pattern!r}", force=True)
        self.find_units(pattern)

    # -- validation ------------------------------------------------------------------------------
    def _layer_name(self, layer: str | int) -> str:
        if isinstance(layer, int) and not isinstance(layer, bool):
            if not 0 <= layer < len(self.layers):
                raise ValueError(f"layer index {layer} is out of range: {len(self.layers)} layers")
            return self.layers[layer]
        if layer not in self.layers:
            raise ValueError(f"unknown layer {layer!r}; choose one of {self.layers}")
        return layer

    def _check_unit(self, unit: Any, layer_index: int) -> int:
        if not isinstance(unit, int) or isinstance(unit, bool):
            raise TypeError(f"unit must be an int, got {type(unit).__name__}")
        size = self.layer_sizes[layer_index]
        if not 0 <= unit < size:
            raise ValueError(
                f"unit {unit} is out of range: layer {self.layers[layer_index]!r} has {size} "
                f"units (0 to {size - 1})"
            )
        return unit

    _check_layer_trait = listed("layer", "layers", "layer")

    @observe("layer")
    def _layer_changed(self, change: dict) -> None:
        size = self.layer_sizes[self.layers.index(change["new"])]
        if self.unit >= size:
            self.unit = size - 1

    @validate("unit")
    def _check_unit_trait(self, proposal: dict) -> int:
        if not self.layers:  # during construction, before the layers are known
            return proposal["value"]
        index = self.layers.index(self.layer) if self.layer in self.layers else 0
        try:
            return self._check_unit(proposal["value"], index)
        except (TypeError, ValueError) as error:
            raise TraitError(str(error)) from error
