"""Training (compute/training.py): it learns, checks its data, hands the modes back."""

from __future__ import annotations

import pytest
import torch
from torch import nn

import nnwidgets as nw
from nnwidgets.compute import Trainer, build_mlp, set_weight


def test_trainer_learns_circles_quickly():
    x, y = nw.zoo.toy_data("circles", noise=0.05)
    model = build_mlp(2, (4, 4), 2, "tanh")
    trainer = Trainer(model, x[:200], y[:200], x[200:], y[200:], lr=0.1, batch_size=10)
    first = trainer.losses()
    for _ in range(100):
        trainer.step(20)
    train, test = trainer.losses()
    assert train < first[0] / 4 and test < first[1] / 4
    assert trainer.accuracy(test=True) > 0.95
    assert trainer.history[-1] == (2000, train, test)


def test_trainer_regression_on_a_tower():
    x, y = nw.zoo.toy_curve("tower")
    model = build_mlp(1, (8,), 1, "relu")
    trainer = Trainer(model, x, y, task="regression", lr=0.1)
    before = trainer.losses()[0]
    trainer.step(3000)
    assert trainer.losses()[0] < before / 2


@pytest.mark.parametrize(
    ("x", "y", "match"),
    [
        (torch.zeros(5, 3), torch.zeros(5, dtype=torch.long), r"shape \(n, 2\)"),
        (torch.zeros(5, 2), torch.full((5,), 0.5), "integer class"),
        (torch.full((5, 2), float("nan")), torch.zeros(5, dtype=torch.long), "NaN"),
        (torch.zeros(0, 2), torch.zeros(0, dtype=torch.long), "empty"),
        (torch.zeros(5, 2), torch.full((5,), 4), r"\[0, 2\)"),
    ],
)
def test_trainer_rejects_bad_data(x, y, match):
    with pytest.raises(ValueError, match=match):
        Trainer(build_mlp(2, (3,), 2), x, y)


def test_history_keeps_one_point_per_step_from_the_untrained_net():
    x, y = nw.zoo.toy_data("xor", n=40)
    model = build_mlp(2, (2,), 1, "sigmoid")
    trainer = Trainer(model, x, y)
    assert trainer.history == [(0, *trainer.losses())]
    set_weight(model, 0, 0, 0, 50.0)  # a half-done hand edit: a large loss
    trainer.record()
    set_weight(model, 0, 0, 0, 0.0)
    assert trainer.record() == trainer.losses()
    assert trainer.history == [(0, *trainer.losses())]  # the edit replaced the step-0 point
    trainer.step(3)
    trainer.record()
    assert [h[0] for h in trainer.history] == [0, 3]


def _flags(model: nn.Module) -> tuple[list[bool], list[bool], list[int]]:
    return (
        [m.training for m in model.modules()],
        [p.requires_grad for p in model.parameters()],
        [len(m._forward_hooks) + len(m._forward_pre_hooks) for m in model.modules()],
    )


@pytest.mark.parametrize("mode", ["train", "eval", "mixed"])
def test_steps_and_losses_hand_back_modes_hooks_and_requires_grad(mode):
    x, y = nw.zoo.toy_data("xor", n=40)
    model = build_mlp(2, (3,), 2, "tanh")
    model.train(mode == "train")
    if mode == "mixed":
        model[0].train()
    seen = []
    model[0].register_forward_hook(lambda *_: seen.append("user hook"))  # the user's own hook
    model[-1].bias.requires_grad_(False)
    trainer = Trainer(model, x, y, x, y)
    weights = model[0].weight.detach().clone()
    modes = []
    model[0].register_forward_pre_hook(lambda module, _: modes.append(module.training))
    before = _flags(model)
    trainer.step(3)
    # three SGD steps in train mode, then the training and test losses in eval mode
    assert modes == [True, True, True, False, False]
    assert _flags(model) == before
    assert not torch.equal(model[0].weight, weights)  # and the parameters did train
    assert seen  # the user's hook still runs


def test_modes_are_handed_back_after_an_error():
    x, y = nw.zoo.toy_data("xor", n=40)
    model = build_mlp(2, (3,), 2, "tanh").eval()
    trainer = Trainer(model, x, y)
    before = _flags(model)

    def fail(*_):
        raise RuntimeError("boom")

    handle = model[0].register_forward_hook(fail)
    with pytest.raises(RuntimeError, match="boom"):
        trainer.step(2)
    handle.remove()
    assert _flags(model) == before
    model.train()
    trainer.step(1)
    assert all(m.training for m in model.modules())


def test_check_points_takes_the_task_from_the_data():
    from nnwidgets.compute.training import check_points

    _, y = check_points(torch.rand(5, 1), torch.rand(5), None)
    assert y.shape == (5, 1)  # 1-D points: regression
    _, y = check_points(torch.rand(5, 2), torch.tensor([0, 1, 7, 2, 0]), None)
    assert y.dtype == torch.long  # 2-D points: classification, any number of classes
    with pytest.raises(ValueError, match=r"\(n, 1\) or \(n, 2\)"):
        check_points(torch.rand(5, 3), torch.zeros(5), None)
    with pytest.raises(ValueError, match="task must be one of"):
        check_points(torch.rand(5, 2), torch.zeros(5), "ranking")


def test_holdout_split_is_seeded_and_keeps_both_sides():
    from nnwidgets.compute.training import holdout_split

    test = holdout_split(10, 0.3, seed=4)
    assert int(test.sum()) == 3 and torch.equal(test, holdout_split(10, 0.3, seed=4))
    assert not holdout_split(10, 0.0, seed=4).any()
    assert not holdout_split(1, 0.5, seed=4).any()  # one point: nothing to hold out
