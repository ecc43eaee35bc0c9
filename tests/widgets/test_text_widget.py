"""TextNeuronExplorer's Python side: the state it sends, checks of what comes back, Find units."""

from __future__ import annotations

import pytest
import torch
from torch import nn

import nnwidgets as nw
from nnwidgets.compute._quantize import uncentred
from nnwidgets.compute.text import char_mask, rank_units, text_activations


@pytest.fixture(scope="module")
def demo():
    return nw.zoo.char_rnn()


@pytest.fixture
def widget(demo):
    w = nw.TextNeuronExplorer(demo.model, demo.text[:800], demo.vocab)
    yield w
    w.close()


class TinyGRU(nn.Module):
    def __init__(self, vocab: int) -> None:
        super().__init__()
        torch.manual_seed(0)
        self.embedding = nn.Embedding(vocab, 4)
        self.rnn = nn.GRU(4, 6, num_layers=2)
        self.head = nn.Linear(6, vocab)


def test_state_holds_every_unit_quantized(demo, fingerprint, same_fingerprint):
    before = fingerprint(demo.model)
    text = demo.text[:800]
    w = nw.TextNeuronExplorer(demo.model, text, demo.vocab, layer="rnn[1] cell", unit=3)
    same_fingerprint(before, fingerprint(demo.model))
    assert w.layers == ["rnn[0] hidden", "rnn[0] cell", "rnn[1] hidden", "rnn[1] cell"]
    assert w.layer_sizes == [128] * 4 and (w.layer, w.unit) == ("rnn[1] cell", 3)
    assert w.activations.dtype == torch.uint8 and tuple(w.activations.shape) == (512, 800)
    assert w.text == text and w.symbols == demo.vocab
    states = text_activations(demo.model, text, demo.vocab)
    stacked = states.stacked()
    limits = stacked.abs().amax(0)
    torch.testing.assert_close(w.unit_limits, limits)
    error = (uncentred(w.activations, w.unit_limits).T - stacked).abs()
    assert bool((error <= limits / 254 + 1e-6).all())
    torch.testing.assert_close(w.values("rnn[1] cell", 3), states.values[3][:, 3])
    torch.testing.assert_close(w.values(), states.values[3][:, 3])
    assert w.top_ids.dtype == torch.uint8 and torch.equal(w.top_ids.long(), states.top_ids)
    assert (w.top_probs.float() / 255 - states.top_probs).abs().max() <= 0.5 / 255 + 1e-6
    assert w.unknown_mask.sum() == 0 and w.ranking == {}
    w.close()


def test_find_units_from_the_front_end(widget):
    pattern = r'"[^"\n]*"'
    widget._handle_message(widget, {"type": "find_units", "pattern": pattern}, [])
    widget.wait(60)
    assert widget.error == ""
    expected = rank_units(widget.states, pattern)
    ranking = widget.ranking
    assert ranking["pattern"] == pattern and ranking["matched"] == expected.matched
    assert [(u["layer"], u["unit"]) for u in ranking["units"]] == [
        (e["layer_name"], e["unit"]) for e in expected.top(12)
    ]
    scores = [abs(u["auc"] - 0.5) for u in ranking["units"]]
    assert scores == sorted(scores, reverse=True) and len(scores) == 12
    assert all(u["sign"] == (1 if u["auc"] >= 0.5 else -1) for u in ranking["units"])
    assert torch.equal(widget.ranking_mask.bool(), char_mask(widget.text, pattern))
    # choosing a ranked unit is a trait write of layer and unit together
    best = ranking["units"][0]
    widget.set_state({"layer": best["layer"], "unit": best["unit"]})
    assert (widget.layer, widget.unit, widget.error) == (best["layer"], best["unit"], "")


@pytest.mark.parametrize(
    ("pattern", "message"),
    [
        ("(unclosed", "not a valid regular expression"),
        ("", "pattern is empty"),
        ("€€€", "matches no character"),
    ],
)
def test_bad_patterns_are_shown_in_the_widget(widget, pattern, message):
    widget._handle_message(widget, {"type": "find_units", "pattern": pattern}, [])
    with pytest.raises(ValueError, match=message):
        widget.wait(30)
    assert message in widget.error and widget.ranking == {}


@pytest.mark.parametrize(
    "content",
    [
        {"type": "find_units", "pattern": 3},
        {"type": "find_units"},
        {"type": "find_units", "pattern": "a" * 1001},
        {"type": "select", "unit": 2},
    ],
)
def test_bad_messages_are_rejected(widget, content):
    widget._handle_message(widget, content, [])
    assert "Rejected a message" in widget.error
    assert widget.ranking == {}


@pytest.mark.parametrize(
    "state",
    [{"unit": 128}, {"unit": -1}, {"unit": "3"}, {"layer": "rnn[2] hidden"}, {"layer": 1}],
)
def test_bad_values_from_the_front_end_are_rejected_and_reverted(widget, state):
    widget.set_state(state)
    assert "Rejected a value" in widget.error
    assert (widget.layer, widget.unit) == ("rnn[0] hidden", 0)


def test_select_by_index_and_a_smaller_layer_clamps_the_unit():
    w = nw.TextNeuronExplorer(TinyGRU(5), "abcde" * 10, "abcde", layer=1, unit=5)
    assert w.layers == ["rnn[0] hidden", "rnn[1] hidden"] and w.layer == "rnn[1] hidden"
    w.select(0, 2)
    assert (w.layer, w.unit) == ("rnn[0] hidden", 2)
    with pytest.raises(ValueError, match="out of range"):
        w.values(unit=6)
    w.close()


@pytest.mark.filterwarnings("ignore:LSTM with projections:UserWarning")
def test_a_smaller_layer_clamps_the_unit():
    model = TinyGRU(5)
    model.rnn = nn.LSTM(4, 6, proj_size=4)  # hidden states of 4 units, cell states of 6
    model.head = nn.Linear(4, 5)
    w = nw.TextNeuronExplorer(model, "abcde" * 10, "abcde", layer="rnn[0] cell", unit=5)
    assert w.layer_sizes == [4, 6]
    w.set_state({"layer": "rnn[0] hidden"})
    assert (w.layer, w.unit, w.error) == ("rnn[0] hidden", 3, "")
    w.close()


def test_a_choice_of_layers_is_all_the_state_holds(demo):
    text = demo.text[:300]
    w = nw.TextNeuronExplorer(demo.model, text, demo.vocab, layers=["rnn[1] cell", 0], unit=4)
    assert w.layers == ["rnn[1] cell", "rnn[0] hidden"] and w.layer == "rnn[1] cell"
    assert tuple(w.activations.shape) == (256, 300)
    states = text_activations(demo.model, text, demo.vocab)
    torch.testing.assert_close(w.values(), states.values[3][:, 4])
    torch.testing.assert_close(w.values(1, 7), states.values[0][:, 7])
    ranking = w.find_units("^ +")
    assert ranking.layers == w.layers and len(ranking.auc) == 256  # only the layers shown
    for bad, message in (
        (["rnn[2] cell"], "unknown layer"),
        ([], "layers is empty"),
        ("rnn", "list"),
    ):
        with pytest.raises((TypeError, ValueError), match=message):
            nw.TextNeuronExplorer(demo.model, text, demo.vocab, layers=bad)
    w.close()


def test_unknown_characters_are_marked(demo):
    text = "x = '€ and ü'\n"
    w = nw.TextNeuronExplorer(demo.model, text, demo.vocab)
    assert w.unknown_mask.tolist() == [int(c in "€ü") for c in text]
    w.close()


def test_clear_errors_for_bad_arguments(demo):
    with pytest.raises(ValueError, match="max_chars=100"):
        nw.TextNeuronExplorer(demo.model, demo.text[:101], demo.vocab, max_chars=100)
    with pytest.raises(ValueError, match="text is empty"):
        nw.TextNeuronExplorer(demo.model, "", demo.vocab)
    with pytest.raises(ValueError, match="unknown layer"):
        nw.TextNeuronExplorer(demo.model, "abc", demo.vocab, layer="lstm")
    with pytest.raises(ValueError, match="unit 128 is out of range"):
        nw.TextNeuronExplorer(demo.model, "abc", demo.vocab, unit=128)
    with pytest.raises(ValueError, match=r"no nn\.RNN"):
        nw.TextNeuronExplorer(nn.Linear(3, 3), "abc", "abc")
