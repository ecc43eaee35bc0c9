"""The shipped character-level LSTM, its corpus and the cells the lesson shows."""

from __future__ import annotations

import io
import random
import tokenize

import pytest
import torch

import nnwidgets as nw
from nnwidgets.compute.text import rank_units, text_activations
from nnwidgets.zoo import CHAR_RNN_WEIGHTS
from nnwidgets.zoo._demo import WEIGHTS_DIR
from nnwidgets.zoo.char_rnn import (
    HELD_OUT,
    UNKNOWN,
    VOCAB,
    CharLSTM,
    encode,
    make_url,
    mix_urls,
    stdlib_files,
)


@pytest.fixture(scope="module")
def demo():
    return nw.zoo.char_rnn()


@pytest.fixture(scope="module")
def states(demo):
    return text_activations(demo.model, demo.text, demo.vocab)


def test_weights_are_small_and_load_safely():
    path = WEIGHTS_DIR / CHAR_RNN_WEIGHTS
    assert path.stat().st_size < 1_000_000
    state = torch.load(path, map_location="cpu", weights_only=True)
    assert all(v.dtype == torch.float16 for v in state.values())
    assert state.keys() == CharLSTM().state_dict().keys()


def test_demo_contents(demo):
    assert isinstance(demo, nw.zoo.TextDemo) and isinstance(demo.model, CharLSTM)
    assert not any(m.training for m in demo.model.modules())
    assert next(demo.model.parameters()).dtype == torch.float32
    assert demo.vocab == list(VOCAB) and demo.vocab[0] == UNKNOWN
    assert 1000 < len(demo.text) < 5000 and "https://" in demo.text and '"' in demo.text
    assert "TextDemo(" in repr(demo) and len(demo.description) > 100
    assert nw.zoo.char_rnn().model is not demo.model


def test_the_model_predicts_held_out_python(demo):
    ids = encode(demo.text)
    with torch.no_grad():
        logits, _ = demo.model(ids[None, :-1])
    bits = torch.nn.functional.cross_entropy(logits[0], ids[1:]).item() / torch.log(
        torch.tensor(2.0)
    )
    assert bits < 2.2, "far better than the 6.6 bits of a uniform guess over 98 characters"


@pytest.mark.parametrize(
    ("pattern", "layer", "unit", "separation"),
    [
        (r""""[^"\n]*"|'[^'\n]*'""", "rnn[1] cell", 64, 0.8),  # inside quotes (AUC < 0.1)
        (r"^[ \t]+", "rnn[0] cell", 7, 0.99),  # leading whitespace (AUC 1.000)
        (r"https?://[^\s'\"]+", "rnn[0] cell", 6, 0.98),  # inside a URL (AUC < 0.01)
    ],
)
def test_the_cells_the_lesson_shows(states, pattern, layer, unit, separation):
    ranking = rank_units(states, pattern)
    best = [(u["layer_name"], u["unit"]) for u in ranking.top(4)]
    assert (layer, unit) in best
    index = [
        (states.layers[int(k)], int(u)) for k, u in zip(ranking.layer, ranking.unit, strict=True)
    ]
    assert ranking.score[index.index((layer, unit))] > separation


def test_held_out_modules_are_not_trained_on():
    names = {f.name for f in stdlib_files()}
    held = {f.name for f in stdlib_files(held_out=True)}
    assert held == set(HELD_OUT) and not names & held and len(names) > 100


def test_urls_go_between_statements_never_inside_strings_or_brackets():
    rng = random.Random(0)
    for path in stdlib_files(held_out=True):
        source = path.read_text(encoding="utf-8")
        mixed = mix_urls(source, rng, rate=0.3)
        lines = mixed.splitlines()
        added = {i + 1 for i, line in enumerate(lines) if "://" in line and line not in source}
        assert len(added) > 10
        tokens = list(tokenize.generate_tokens(io.StringIO(mixed).readline))  # indents fit
        original = list(tokenize.generate_tokens(io.StringIO(source).readline))
        strings = [t.string for t in tokens if t.type == tokenize.STRING]
        for string in (t.string for t in original if t.type == tokenize.STRING):
            strings.remove(string)  # every string of the source is there, unchanged
        depth = 0
        for token in tokens:
            if token.start[0] in added and token.start[1] == len(token.line) - len(
                token.line.lstrip()
            ):
                assert depth == 0, f"{path.name}:{token.start[0]} is inside brackets"
            depth += token.string in "([{" and token.type == tokenize.OP
            depth -= token.string in ")]}" and token.type == tokenize.OP
    assert mix_urls("def f(:\n", rng) == "def f(:\n"  # untokenizable source stays as it was
    urls = {make_url(random.Random(seed)) for seed in range(50)}
    assert len(urls) == 50 and all(u.startswith(("http://", "https://")) for u in urls)
    assert make_url(random.Random(3)) == make_url(random.Random(3))  # seeded
