"""Which units of a character model track what: regex masks, ROC AUC, the ranking of units.

:func:`rank_units` ranks units by how well their activation separates the characters a
regular expression matches from the others (the area under the ROC curve).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from itertools import pairwise
from typing import TYPE_CHECKING, Any

import torch

if TYPE_CHECKING:  # text.py re-exports this module: no import of it at run time
    from nnwidgets.compute.text import TextActivations

__all__ = ["UnitRanking", "auc_scores", "char_mask", "rank_units"]


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
