"""bqplot charts the kernel drives, shared by the widgets."""

from __future__ import annotations

from collections.abc import Callable, Sequence

import bqplot
import ipywidgets
import torch

#: Colours of the "before" and "after" series (grey and dark blue: distinguishable in every
#: common form of colour blindness and in greyscale).
BEFORE_COLOR = "#a8a8a8"
AFTER_COLOR = "#1b4f8a"


class ProbabilityBars:
    """Horizontal grouped bars of class probabilities, before and after a change.

    Clicking a bar calls the ``on_select`` callbacks with the class index.
    """

    def __init__(self, title: str, before: str = "original", after: str = "occluded") -> None:
        self._classes: list[int] = []
        self._callbacks: list[Callable[[int], None]] = []
        x_scale = bqplot.OrdinalScale(reverse=True)
        y_scale = bqplot.LinearScale(min=0.0, max=1.0)
        self.bars = bqplot.Bars(
            x=[],
            y=[[], []],
            scales={"x": x_scale, "y": y_scale},
            type="grouped",
            orientation="horizontal",
            colors=[BEFORE_COLOR, AFTER_COLOR],
            labels=[before, after],
            display_legend=True,
            padding=0.25,
            tooltip=bqplot.Tooltip(
                fields=["x", "y"], labels=["class", "probability"], formats=["", ".3f"]
            ),
        )
        self.bars.on_element_click(self._clicked)
        axes = [
            bqplot.Axis(scale=x_scale, side="left", grid_lines="none"),
            bqplot.Axis(
                scale=y_scale,
                side="bottom",
                label="probability",
                tick_format=".1f",
                tick_values=[0.0, 0.2, 0.4, 0.6, 0.8, 1.0],
            ),
        ]
        self.figure = bqplot.Figure(
            marks=[self.bars],
            axes=axes,
            title=title,
            legend_location="bottom-right",
            fig_margin={"top": 40, "bottom": 40, "left": 110, "right": 30},
            layout=ipywidgets.Layout(width="360px", height="320px"),
            animation_duration=0,
        )

    def on_select(self, callback: Callable[[int], None]) -> None:
        """Call ``callback(class_index)`` when the user clicks a bar."""
        self._callbacks.append(callback)

    def update(
        self,
        classes: Sequence[int],
        names: Sequence[str],
        before: torch.Tensor,
        after: torch.Tensor,
        target: int,
    ) -> None:
        """Show ``before[c]`` and ``after[c]`` for each class ``c``, marking the target."""
        self._classes = [int(c) for c in classes]
        labels = [f"{names[c]} \u25c0" if c == target else names[c] for c in self._classes]
        with self.bars.hold_sync():
            self.bars.x = labels
            self.bars.y = [
                [float(before[c]) for c in self._classes],
                [float(after[c]) for c in self._classes],
            ]

    def _clicked(self, _mark: bqplot.Bars, event: dict) -> None:
        index = event.get("data", {}).get("index")
        if isinstance(index, int) and 0 <= index < len(self._classes):
            for callback in self._callbacks:
                callback(self._classes[index])
