"""Tests of nnwidgets.compute.text: states of character models, unit ranking by regex AUC."""

from __future__ import annotations

import re

import pytest
import torch
from sklearn.metrics import roc_auc_score
from torch import nn

from nnwidgets.compute.text import (
    auc_scores,
    char_mask,
    char_model,
    encode_text,
    rank_units,
    text_activations,
)

VOCAB = 'abc "\n\ufffd'
TEXT = 'ab "c ab" a\n"bb c" cab "a"\n' * 12


class CharNet(nn.Module):
    """Embedding -> recurrent layer -> linear head, the shape the adapter reads."""

    def __init__(self, kind=nn.LSTM, layers=1, batch_first=True, hidden=5, vocab=7):
        super().__init__()
        self.embed = nn.Embedding(vocab, 3)
        self.rnn = kind(3, hidden, num_layers=layers, batch_first=batch_first)
        self.head = nn.Linear(hidden, vocab)


def make_net(seed=0, **kwargs):
    torch.manual_seed(seed)
    return CharNet(**kwargs)


def reference_states(net: CharNet, ids: torch.Tensor) -> list[torch.Tensor]:
    """Each layer's hidden (and LSTM cell) state per step, from one cell stepped by hand."""
    rnn, lstm = net.rnn, isinstance(net.rnn, nn.LSTM)
    x = net.embed(ids)
    layers = []
    for k in range(rnn.num_layers):
        cell_type = {nn.LSTM: nn.LSTMCell, nn.GRU: nn.GRUCell, nn.RNN: nn.RNNCell}[type(rnn)]
        cell = cell_type(x.shape[1], rnn.hidden_size)
        for name in ("weight_ih", "weight_hh", "bias_ih", "bias_hh"):
            getattr(cell, name).data.copy_(getattr(rnn, f"{name}_l{k}"))
        h = torch.zeros(1, rnn.hidden_size)
        c = torch.zeros(1, rnn.hidden_size)
        hs, cs = [], []
        for t in range(len(x)):
            if lstm:
                h, c = cell(x[t : t + 1], (h, c))
                cs.append(c[0])
            else:
                h = cell(x[t : t + 1], h)
            hs.append(h[0])
        layers.append(torch.stack(hs))
        if lstm:
            layers.append(torch.stack(cs))
        x = layers[-2] if lstm else layers[-1]
    return layers


# --- states equal a direct forward ----------------------------------------------------------


@pytest.mark.parametrize("kind", [nn.LSTM, nn.GRU])
@pytest.mark.parametrize("batch_first", [True, False])
@pytest.mark.parametrize("layers", [1, 2])
def test_states_equal_a_direct_forward(kind, batch_first, layers):
    net = make_net(kind=kind, layers=layers, batch_first=batch_first)
    acts = text_activations(net, TEXT, VOCAB, window=37)  # several windows, state carried
    ids, _ = encode_text(TEXT, VOCAB)
    lstm = kind is nn.LSTM
    expected_names = [f"rnn[{k}] {part}" for k in range(layers) for part in
                      (("hidden", "cell") if lstm else ("hidden",))]  # fmt: skip
    assert acts.layers == expected_names
    with torch.no_grad():
        reference = reference_states(net, ids)
        x = net.embed(ids).unsqueeze(0 if batch_first else 1)
        out, state = net.rnn(x)
        out = out.squeeze(0 if batch_first else 1)
        logits = net.head(out)
    assert len(acts.values) == len(reference)
    for got, want in zip(acts.values, reference, strict=True):
        torch.testing.assert_close(got, want, atol=1e-6, rtol=1e-5)
    top = 2 if lstm else 1
    torch.testing.assert_close(acts.values[-top], out, atol=1e-6, rtol=1e-5)  # the module's own
    final = state[0] if lstm else state
    for k in range(layers):
        torch.testing.assert_close(acts.values[k * top][-1], final[k, 0], atol=1e-6, rtol=1e-5)
        if lstm:
            torch.testing.assert_close(
                acts.values[k * 2 + 1][-1], state[1][k, 0], atol=1e-6, rtol=1e-5
            )
    probs, best = logits.softmax(-1).topk(5, dim=-1)
    assert torch.equal(acts.top_ids, best)
    torch.testing.assert_close(acts.top_probs, probs)
    assert acts.text == TEXT and torch.equal(acts.ids, ids)


@pytest.mark.filterwarnings("ignore:LSTM with projections:UserWarning")
def test_one_hot_input_relu_rnn_and_projection():
    torch.manual_seed(1)

    class OneHot(nn.Module):
        def __init__(self):
            super().__init__()
            self.rnn = nn.RNN(len(VOCAB), 4, nonlinearity="relu")
            self.out = nn.Linear(4, len(VOCAB))

    net = OneHot()
    acts = text_activations(net, TEXT, VOCAB, window=50)
    ids, _ = encode_text(TEXT, VOCAB)
    with torch.no_grad():
        out, _ = net.rnn(nn.functional.one_hot(ids, len(VOCAB)).float()[:, None])
    torch.testing.assert_close(acts.values[0], out[:, 0])

    projected = make_net(kind=nn.LSTM, layers=2)
    projected.rnn = nn.LSTM(3, 6, num_layers=2, proj_size=5, batch_first=True)
    acts = text_activations(projected, TEXT, VOCAB, window=41)
    with torch.no_grad():
        out, (_, c) = projected.rnn(projected.embed(encode_text(TEXT, VOCAB)[0])[None])
    assert [v.shape[1] for v in acts.values] == [5, 6, 5, 6]
    torch.testing.assert_close(acts.values[2], out[0], atol=1e-6, rtol=1e-5)
    torch.testing.assert_close(acts.values[1][-1], c[0, 0], atol=1e-6, rtol=1e-5)
    torch.testing.assert_close(acts.values[3][-1], c[1, 0], atol=1e-6, rtol=1e-5)


def test_adapter_takes_names_and_modules():
    net = make_net()
    net.extra = nn.Linear(5, 2)  # a second Linear reading 5 features: the head is ambiguous
    with pytest.raises(ValueError, match="head="):
        char_model(net)
    parts = char_model(net, head="head", embedding=net.embed, rnn="rnn")
    assert parts.head is net.head and parts.rnn_name == "rnn"
    acts = text_activations(parts, TEXT[:20], VOCAB)
    assert acts.values[0].shape == (20, 5)
    with pytest.raises(ValueError, match=r"no module of that name.*'head'"):
        char_model(net, head="haed")


# --- a planted unit -----------------------------------------------------------------------------


def planted_quote_net(gain: float = 40.0, flip: bool = False) -> CharNet:
    """An LSTM whose unit 0 is +1 from an opening double quote to the closing one, else -1.

    At a quote the forget gate closes and the input gate opens, and the new value is the
    opposite of the unit's previous output (a flip-flop); at any other character the cell
    keeps its value. ``flip``: -1 inside, +1 outside. The other units are random.
    """
    net = make_net(seed=3, hidden=4)
    quote = VOCAB.index('"')
    with torch.no_grad():
        net.embed.weight[:, 0] = 0.0
        net.embed.weight[quote, 0] = 1.0  # feature 0: "this character is a double quote"
        w_ih, w_hh = net.rnn.weight_ih_l0, net.rnn.weight_hh_l0
        b_ih, b_hh = net.rnn.bias_ih_l0, net.rnn.bias_hh_l0
        hidden = net.rnn.hidden_size
        i, f, g, o = (gate * hidden for gate in range(4))  # PyTorch's gate order
        for row in (i, f, g, o):
            w_ih[row] = 0.0
            w_hh[row] = 0.0
        b_hh[[i, f, g, o]] = 0.0
        w_ih[i, 0], b_ih[i] = 2 * gain, -gain  # input gate open only at a quote
        w_ih[f, 0], b_ih[f] = -2 * gain, gain  # forget gate closed only at a quote
        w_hh[g, 0] = -gain  # the new value: the opposite of the last output
        b_ih[g] = (-0.38 if flip else 0.38) * gain  # and what the first quote starts
        b_ih[o] = gain  # output gate always open
        w_ih[i + 1 : f, 0] = w_ih[f + 1 : g, 0] = w_ih[g + 1 : o, 0] = w_ih[o + 1 :, 0] = 0.0
    return net


@pytest.mark.parametrize("flip", [False, True])
def test_planted_quote_unit_is_ranked_first(flip):
    net = planted_quote_net(flip=flip)
    acts = text_activations(net, TEXT, VOCAB, window=64)
    quotes = torch.tensor([c == '"' for c in TEXT])
    inside = quotes.cumsum(0) % 2 == 1  # the opening quote and the quoted characters
    exact = r'"[^"]*(?="(?:[^"]*"[^"]*")*[^"]*\Z)'  # a quote followed by an odd number of quotes
    assert torch.equal(char_mask(TEXT, exact), inside)
    cell = acts.values[1][:, 0] * (-1 if flip else 1)
    assert torch.all(cell[inside] > 0.99) and torch.all(cell[~inside] < 0.01)  # it is planted

    ranking = rank_units(acts, exact)
    best = ranking.top(2)
    assert {b["layer_name"] for b in best} == {"rnn[0] hidden", "rnn[0] cell"}
    sign, auc = (-1, 0.0) if flip else (1, 1.0)
    assert all(b["unit"] == 0 and b["auc"] == auc and b["sign"] == sign for b in best)
    assert ranking.matched == int(inside.sum())
    assert ranking.score[2] < 1.0  # no random unit separates the quotes perfectly


# --- the AUC --------------------------------------------------------------------------------


def test_among_compares_within_a_subset():
    net = planted_quote_net()
    acts = text_activations(net, TEXT, VOCAB)
    # among the letters only: those inside quotes against those outside
    ranking = rank_units(acts, r'"[^"]*"', among="[abc]")
    letters = torch.tensor([c in "abc" for c in TEXT])
    inside = torch.tensor([c == '"' for c in TEXT]).cumsum(0) % 2 == 1
    assert ranking.matched == int((letters & inside).sum())
    assert ranking.unit[0] == 0 and ranking.auc[0] == 1.0
    want = auc_scores(acts.stacked()[letters], inside[letters])
    torch.testing.assert_close(ranking.auc.sort().values, want.sort().values)
    with pytest.raises(ValueError, match="matches every character among"):
        rank_units(acts, "[abc]", among="a")
    with pytest.raises(ValueError, match="among='z' matches no character"):
        rank_units(acts, "a", among="z")


def test_auc_matches_sklearn_with_ties():
    gen = torch.Generator().manual_seed(0)
    values = torch.randint(0, 6, (400, 7), generator=gen).float()  # many ties
    values[:, 6] = torch.randn(400, generator=gen)
    mask = torch.rand(400, generator=gen) < 0.3
    got = auc_scores(values, mask)
    want = torch.tensor([roc_auc_score(mask.numpy(), values[:, j].numpy()) for j in range(7)])
    torch.testing.assert_close(got, want.double())
    flipped = auc_scores(-values, mask)
    torch.testing.assert_close(flipped, 1 - want.double())


def test_char_mask_covers_matches_only():
    text = "  ab\n    cd\nef"
    assert char_mask(text, r"^ +").tolist() == [c == " " for c in text]
    assert char_mask(text, r"c").tolist() == [c == "c" for c in text]
    assert not char_mask(text, r"(?=a)").any()  # empty matches cover nothing
    assert char_mask(text, re.compile("E", re.IGNORECASE)).tolist() == [c == "e" for c in text]


# --- the model is untouched ----------------------------------------------------------------------


def test_model_untouched(fingerprint, same_fingerprint):
    net = make_net(kind=nn.LSTM, layers=2)
    net.rnn.dropout = 0.5  # dropout between layers: train mode would change the states
    net.train()
    net.embed.weight.requires_grad_(False)
    handle = net.rnn.register_forward_hook(lambda *args: None)
    before = fingerprint(net)
    first = text_activations(net, TEXT, VOCAB, window=30)
    second = text_activations(net, TEXT, VOCAB, window=1000)
    same_fingerprint(before, fingerprint(net))
    assert net.training and net.rnn.training
    for a, b in zip(first.values, second.values, strict=True):
        torch.testing.assert_close(a, b, atol=1e-6, rtol=1e-5)  # eval mode: no dropout
    handle.remove()


# --- bad inputs ---------------------------------------------------------------------------


def test_unknown_characters_are_read_as_the_unknown_entry():
    net = make_net()
    text = "ab\tc€é"
    acts = text_activations(net, text, VOCAB)
    assert acts.unknown.tolist() == [False, False, True, False, True, True]
    assert acts.ids[2] == VOCAB.index("\ufffd") == acts.ids[4]
    ids, missing = encode_text(text, "abc", unknown="a")
    assert ids.tolist() == [0, 1, 0, 2, 0, 0] and missing.sum() == 3
    ids, _ = encode_text("xa", {"a": 3, "<unk>": 1})
    assert ids.tolist() == [1, 3]
    assert encode_text("x", "abc")[0].tolist() == [0]  # no unknown entry: index 0


@pytest.mark.parametrize(
    ("kwargs", "error", "match"),
    [
        ({"text": ""}, ValueError, "text is empty"),
        ({"text": b"abc"}, TypeError, "text must be a str"),
        ({"vocab": ""}, ValueError, "vocab is empty"),
        ({"vocab": "aab"}, ValueError, "twice"),
        ({"vocab": 3}, TypeError, "vocab must be"),
        ({"unknown": "z"}, ValueError, "not in the vocabulary"),
        ({"unknown": 7}, ValueError, "index from 0 to 6"),
        ({"window": 0}, ValueError, "window must be a positive int"),
        ({"top": 0}, ValueError, "top must be a positive int"),
        ({"vocab": VOCAB + "xyz"}, ValueError, "vocab has 10 indices but the embedding only 7"),
        ({"vocab": VOCAB[:-1]}, ValueError, "one logit per vocabulary entry"),
    ],
)
def test_bad_arguments(kwargs, error, match):
    args = {"text": TEXT, "vocab": VOCAB} | kwargs
    with pytest.raises(error, match=match):
        text_activations(make_net(), args.pop("text"), args.pop("vocab"), **args)


def test_unsupported_models():
    with pytest.raises(ValueError, match=r"no nn\.RNN, nn\.LSTM or nn\.GRU"):
        char_model(nn.Sequential(nn.Embedding(4, 3), nn.Linear(3, 4)))
    bidirectional = make_net()
    bidirectional.rnn = nn.LSTM(3, 5, bidirectional=True)
    with pytest.raises(ValueError, match="bidirectional"):
        char_model(bidirectional)
    two = make_net()
    two.other = nn.GRU(3, 5)
    with pytest.raises(ValueError, match=r"several recurrent .*rnn="):
        char_model(two)
    wrong = make_net()
    wrong.embed = nn.Embedding(len(VOCAB), 8)
    with pytest.raises(ValueError, match="size 8 but rnn='rnn' reads vectors of size 3"):
        char_model(wrong)
    with pytest.raises(TypeError, match=r"torch\.nn\.Module"):
        char_model("model")


@pytest.mark.parametrize(
    ("pattern", "match"),
    [
        ("(unclosed", "not a valid regular expression"),
        ("", "pattern is empty"),
        ("zzz", "matches no character"),
        (r"[\s\S]", "matches every character"),
    ],
)
def test_bad_patterns(pattern, match):
    acts = text_activations(make_net(), TEXT, VOCAB)
    with pytest.raises(ValueError, match=match):
        rank_units(acts, pattern)


def test_a_megabyte_of_text_is_read_in_bounded_windows():
    net = make_net(kind=nn.LSTM, hidden=3)
    text = (TEXT * (2**20 // len(TEXT) + 1))[: 2**20]
    lengths = []
    net.embed.register_forward_pre_hook(lambda _m, args: lengths.append(args[0].shape[-1]))
    seen = []
    acts = text_activations(net, text, VOCAB, window=2**16, progress=lambda d, t: seen.append(d))
    assert lengths == [2**16] * 16  # read in windows
    assert seen[-1] == len(text) == acts.values[0].shape[0]
    ids, _ = encode_text(text, VOCAB)
    with torch.no_grad():
        _, (h, c) = net.rnn(net.embed(ids)[None])
    torch.testing.assert_close(acts.values[0][-1], h[0, 0], atol=1e-5, rtol=1e-4)
    torch.testing.assert_close(acts.values[1][-1], c[0, 0], atol=1e-5, rtol=1e-4)


def test_should_stop_ends_between_windows():
    calls = []
    acts = text_activations(
        make_net(), TEXT, VOCAB, window=50, should_stop=lambda: len(calls) >= 2,
        progress=lambda d, t: calls.append(d),
    )  # fmt: skip
    assert len(acts.text) == 100 and acts.values[0].shape[0] == 100
