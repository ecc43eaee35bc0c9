"""NNWidget: nothing the front-end sends raises into the kernel, and rejected writes roll back."""

from __future__ import annotations

import pytest
import torch
from traitlets import TraitError, Unicode, observe, validate

from nnwidgets._traits import Float, Int, Pair
from nnwidgets.widgets._base import NNWidget, message


class Probe(NNWidget):
    """A widget whose validators and handlers fail in every way a real one might."""

    _esm = "export default {}"
    _settings = ("low", "high", "ratio", "size", "mode")

    low = Int(0).tag(sync=True)
    high = Int(10).tag(sync=True)
    ratio = Float(0.5, float32=True).tag(sync=True)
    size = Pair().tag(sync=True)
    mode = Unicode("a").tag(sync=True)

    def __init__(self) -> None:
        self.seen: list[tuple[str, object]] = []
        super().__init__()

    @validate("low")
    def _check_low(self, proposal):
        value = proposal["value"]
        if value > self.high:  # the high of the same batch, when written together
            raise TraitError(f"low {value} is above high {self.high}")
        if value == 7:
            raise IndexError("seven is not allowed")  # not a TraitError
        return value

    @validate("mode")
    def _check_mode(self, proposal):
        if proposal["value"] == "boom":
            raise RuntimeError("the validator crashed")
        return proposal["value"]

    @observe("low", "high", "mode", "ratio")
    def _changed(self, change):
        self.seen.append((change["name"], change["new"]))
        if change["new"] == "observer fails":
            raise ZeroDivisionError("the observer crashed")

    @message("crash", value=float)
    def _on_crash(self, value: float) -> None:
        torch.full((2,), value).to(torch.int8)[5]  # IndexError deep in torch

    @message("echo", text=str)
    def _on_echo(self, text: str) -> None:
        self.mode = text


@pytest.fixture
def widget():
    w = Probe()
    yield w
    w.close()


def send(widget, **content):
    widget._handle_message(widget, content, [])


@pytest.mark.parametrize(
    "content",
    [
        {"type": "crash", "value": 1.0},
        {"type": "echo", "text": "boom"},
        {"type": "echo", "text": "observer fails"},
        {"type": "crash", "value": float("nan")},
        {"type": "crash", "value": float("inf")},
        {"type": 3},
        [],
        None,
    ],
)
def test_no_message_raises_into_the_kernel(widget, content):
    widget._handle_message(widget, content, [])  # must not raise
    assert widget.error
    widget.error = ""
    send(widget, type="echo", text="b")  # and the widget keeps working
    assert widget.mode == "b" and widget.error == ""


@pytest.mark.parametrize(
    "state",
    [
        {"low": 7},  # the validator raises an IndexError
        {"low": True},  # a bool is no int
        {"low": 11},  # above the current high
        {"mode": "boom"},  # the validator raises a RuntimeError
        {"mode": "observer fails"},  # the observer raises after the value was set
        {"ratio": 1e39},  # overflows a float32
        {"ratio": float("nan")},
        {"ratio": False},
        {"size": [1, 2, 3]},
        {"size": [True, 2]},
        {"low": 3, "mode": "boom"},  # one bad value rejects the whole batch
        {"mode": "c", "low": 7},
    ],
)
def test_rejected_front_end_writes_roll_back_and_show_the_error(widget, state):
    before = {key: getattr(widget, key) for key in ("low", "high", "ratio", "size", "mode")}
    widget.set_state(state)
    assert widget.error.startswith("Rejected a value from the front-end")
    assert {key: getattr(widget, key) for key in before} == before


def test_values_written_together_are_validated_against_each_other(widget):
    widget.set_state({"low": 12, "high": 20})  # 12 is above the old high, not the new one
    assert widget.error == ""
    assert (widget.low, widget.high) == (12, 20)
    with widget.hold_trait_notifications():
        widget.high = 30
        widget.low = 25
    assert (widget.low, widget.high) == (25, 30)
    # whatever the validator raises
    with pytest.raises(TraitError, match="seven"), widget.hold_trait_notifications():
        widget.high = 40
        widget.low = 7
    assert (widget.low, widget.high) == (25, 30)


def test_no_observer_sees_a_rejected_value(widget):
    widget.seen.clear()
    widget.set_state({"mode": "c", "low": 7})
    assert ("mode", "c") not in widget.seen and ("low", 7) not in widget.seen


def test_a_malformed_value_changes_nothing(widget):
    widget.seen.clear()
    widget.set_state({"mode": "c", "colormap": {"dtype": "uint8", "shape": [2], "buffer": b"x"}})
    assert widget.mode == "a" and widget.seen == []
    assert "Rejected a value" in widget.error


def test_pairs_take_an_int_or_two():
    widget = Probe()
    widget.size = 4
    assert widget.size == [4, 4]
    widget.size = (2, 3)
    assert widget.size == [2, 3]
    with pytest.raises(TraitError):
        widget.size = 2.5
    widget.close()


def test_every_widget_takes_the_shared_stop_message(widget):
    import threading

    started, release = threading.Event(), threading.Event()

    def job(job):
        started.set()
        while not release.wait(0.01):
            job.checkpoint()  # raises once the job is stopped

    widget._run("long", job)
    assert started.wait(10) and widget.busy
    widget._handle_message(widget, {"type": "stop"}, [])
    assert widget.error == "" and not widget.busy
    widget.wait(10)
    release.set()
    assert "stop" in Probe._handlers and "echo" in Probe._handlers


def test_a_widget_whose_constructor_failed_early_still_closes():
    class Fails(Probe):
        def __init__(self) -> None:
            raise ValueError("bad argument")  # before NNWidget.__init__ made the worker

    with pytest.raises(ValueError, match="bad argument"):
        Fails()
    half_built = Fails.__new__(Fails)  # what the garbage collector closes
    assert half_built._worker is None and not half_built._ready
    half_built.close()


def test_companions_are_shown_below_and_closed_with_the_widget(widget):
    import ipywidgets

    from nnwidgets.widgets._charts import LineChart

    chart = LineChart([("#000000", "a"), ("#ffffff", "b")], x_label="x", y_label="y", title="t")
    assert chart.row.children == (chart.figure, chart.key) and len(chart.lines) == 2
    widget._show_with(chart.row, owned=(chart.figure, chart.key))
    assert isinstance(widget._box, ipywidgets.VBox)
    assert widget._box.children == (widget, chart.row)
    bundle = widget._repr_mimebundle_()
    assert widget._box.model_id in str(bundle)  # the box is what a cell shows
    widget.close()
    assert all(part.comm is None for part in (*chart.widgets, widget._box))
