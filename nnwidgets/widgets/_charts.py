"""Companion bqplot charts shown with a widget: line charts with their key beside them."""

from __future__ import annotations

from collections.abc import Sequence

import bqplot
import ipywidgets

__all__ = ["LineChart"]


class LineChart:
    """A bqplot line chart with one line per (colour, name), and its key beside the chart.

    The key sits beside the chart, not on it, so that it never covers the curves.
    :attr:`figure`, :attr:`key` and :attr:`row` (the two side by side) are the widgets to show.
    """

    def __init__(
        self,
        lines: Sequence[tuple[str, str]],
        *,
        x_label: str,
        y_label: str,
        title: str,
        key_suffix: str = "",
    ) -> None:
        x, y = bqplot.LinearScale(), bqplot.LinearScale(min=0.0)
        self.lines = [
            bqplot.Lines(x=[0], y=[0], scales={"x": x, "y": y}, colors=[color], labels=[label])
            for color, label in lines
        ]
        self.figure = bqplot.Figure(
            marks=self.lines,
            axes=[
                bqplot.Axis(scale=x, label=x_label),
                bqplot.Axis(scale=y, side="left", label=y_label),
            ],
            title=title,
            layout=ipywidgets.Layout(width="520px", height="220px"),
            fig_margin={"top": 40, "bottom": 40, "left": 50, "right": 10},
        )
        self.key = ipywidgets.HTML(
            " ".join(
                f'<div style="margin:4px 0;white-space:nowrap"><span style="display:inline-block;'
                f'width:18px;border-top:3px solid {color};vertical-align:middle"></span> '
                f"{label}{key_suffix}</div>"
                for color, label in lines
            ),
            layout=ipywidgets.Layout(margin="36px 0 0 0"),
        )
        self.row = ipywidgets.HBox([self.figure, self.key])

    @property
    def widgets(self) -> tuple[ipywidgets.Widget, ...]:
        """Every widget of the chart, to close with it."""
        return (self.figure, self.key, self.row)
