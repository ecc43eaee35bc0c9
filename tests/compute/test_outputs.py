"""select_output / run_model / predict: understanding what a model returns."""

from __future__ import annotations

from collections import OrderedDict
from types import SimpleNamespace

import pytest
import torch
from torch import nn

from nnwidgets.compute import predict, select_output
from nnwidgets.compute._outputs import run_model

SCORES = torch.arange(6.0).reshape(3, 2)


class ModelOutputLike(OrderedDict):
    """Shaped like transformers' ModelOutput: a dict whose keys are also attributes."""

    def __getattr__(self, name):
        try:
            return self[name]
        except KeyError:
            raise AttributeError(name) from None


@pytest.mark.parametrize(
    ("output", "selector"),
    [
        (SCORES, None),
        ({"logits": SCORES, "hidden": SCORES + 1}, None),
        (ModelOutputLike(loss=torch.tensor(0.0), logits=SCORES), None),
        (SimpleNamespace(logits=SCORES, other=1), None),
        ((SCORES, "aux"), 0),
        ([torch.zeros(3), SCORES], -1),
        ({"scores": SCORES}, "scores"),
        (SimpleNamespace(scores=SCORES), "scores"),
        ({"a": {"b": SCORES}}, lambda out: out["a"]["b"]),
    ],
)
def test_finds_the_scores(output, selector):
    assert torch.equal(select_output(output, selector), SCORES)


def test_one_score_per_input_becomes_a_column():
    assert select_output(torch.arange(3.0)).shape == (3, 1)


@pytest.mark.parametrize(
    "output",
    [(SCORES, SCORES), [SCORES], {"scores": SCORES}, SimpleNamespace(scores=SCORES), "text"],
)
def test_ambiguous_outputs_say_how_to_select(output):
    with pytest.raises(TypeError, match=r"output=0 .*output='key'.*output=callable"):
        select_output(output)


def test_tuple_message_counts_elements():
    with pytest.raises(TypeError, match="tuple of 2 elements"):
        select_output((SCORES, SCORES))


def test_dict_message_lists_keys():
    with pytest.raises(TypeError, match=r"keys \['a', 'b'\]"):
        select_output({"a": SCORES, "b": SCORES})


@pytest.mark.parametrize(
    ("output", "selector", "error", "match"),
    [
        (SCORES, 0, TypeError, "returned a tensor"),
        ((SCORES,), 3, ValueError, "does not index"),
        ({"a": SCORES}, "b", ValueError, r"not a key .*\['a'\]"),
        (SimpleNamespace(a=SCORES), "b", ValueError, "no attribute 'b'"),
        ((SCORES,), 1.5, TypeError, "int, a str or a callable"),
        ((SCORES,), True, TypeError, "int, a str or a callable"),
        (("text",), 0, TypeError, "str, not a tensor"),
    ],
)
def test_bad_selectors(output, selector, error, match):
    with pytest.raises(error, match=match):
        select_output(output, selector)


@pytest.mark.parametrize(
    ("output", "match"),
    [
        (torch.arange(6).reshape(3, 2), "floating point"),
        (torch.zeros(3, 2, dtype=torch.bool), "floating point"),
        (torch.zeros(3, 2, 4), r"shape \(3, 2, 4\).*output=callable"),
        (torch.tensor(1.0), r"shape \(\)"),
        (torch.tensor([[0.0, float("nan")]]), "NaN"),
        (torch.tensor([[0.0, float("inf")]]), "inf"),
    ],
)
def test_bad_scores(output, match):
    with pytest.raises(ValueError, match=match):
        select_output(output)


class Returns(nn.Module):
    def __init__(self, make) -> None:
        super().__init__()
        self.lin = nn.Linear(4, 3)
        self.make = make

    def forward(self, x):
        return self.make(self.lin(x))


def test_run_model_names_the_shape_when_the_model_fails():
    with pytest.raises(ValueError, match=r"2 inputs of shape \(5,\)") as info:
        run_model(nn.Linear(4, 3), torch.zeros(2, 5))
    assert isinstance(info.value.__cause__, RuntimeError)


def test_run_model_checks_rows():
    with pytest.raises(ValueError, match="1 rows of scores for a batch of 2"):
        run_model(Returns(lambda out: out[:1]), torch.zeros(2, 4))


def test_predict_with_a_selector():
    torch.manual_seed(0)
    model = Returns(lambda out: (out, out.sum()))
    x = torch.randn(5, 4)
    with torch.no_grad():
        expected = model.lin(x)
    torch.testing.assert_close(predict(model, x, output=0), expected)
    with pytest.raises(TypeError, match="output=0"):
        predict(model, x)


def test_predict_rejects_non_tensors():
    with pytest.raises(TypeError, match=r"torch\.Tensor"):
        predict(nn.Linear(2, 2), [[0.0, 1.0]])
