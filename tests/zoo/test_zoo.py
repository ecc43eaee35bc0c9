"""Tests of the shipped demo models and data (nnwidgets.zoo)."""

from __future__ import annotations

import socket

import pytest
import torch

import nnwidgets as nw
from nnwidgets.zoo import _demo, shapes
from nnwidgets.zoo._demo import WEIGHTS_DIR
from nnwidgets.zoo.digits import load_split
from nnwidgets.zoo.models import DigitsCNN, ShapesCNN


@pytest.fixture(scope="module")
def hans():
    return nw.zoo.clever_hans()


@pytest.fixture(scope="module")
def hans_probs(hans):
    with torch.no_grad():
        return hans.model(hans.images).softmax(1)


def accuracy(model, images, targets):
    with torch.no_grad():
        return (model(images).argmax(1) == targets).float().mean().item()


# --- loading -------------------------------------------------------------------------


@pytest.mark.parametrize("name", ["digits_cnn.pt", "shapes_cnn.pt"])
def test_weights_small_float32_and_safe_to_load(name):
    path = WEIGHTS_DIR / name
    assert path.stat().st_size < 1_000_000
    state = torch.load(path, map_location="cpu", weights_only=True)
    assert state and all(v.dtype == torch.float32 for v in state.values())


def test_loading_needs_no_network(monkeypatch):
    def refuse(*args, **kwargs):
        raise OSError("network access in a test")

    monkeypatch.setattr(socket, "socket", refuse)
    monkeypatch.setattr(socket, "create_connection", refuse)
    for cached in (nw.zoo._digits_data, nw.zoo._hans_data, _demo._state_dict):
        cached.cache_clear()
    assert nw.zoo.digits().images.shape[0] > 0
    assert nw.zoo.clever_hans().images.shape[0] > 0


@pytest.mark.parametrize(
    ("factory", "arch", "shape", "classes"),
    [
        (nw.zoo.digits, DigitsCNN, (1, 16, 16), [str(d) for d in range(10)]),
        (nw.zoo.clever_hans, ShapesCNN, (3, 32, 32), ["circle", "square", "triangle"]),
    ],
)
def test_demo_contents(factory, arch, shape, classes):
    demo = factory()
    assert isinstance(demo, nw.zoo.Demo)
    assert isinstance(demo.model, arch)
    assert not any(m.training for m in demo.model.modules())
    assert demo.classes == classes
    assert demo.name and len(demo.description) > 100
    n = demo.images.shape[0]
    assert 200 <= n <= 1000
    assert demo.images.shape == (n, *shape) and demo.images.dtype == torch.float32
    assert demo.images.min() >= 0 and demo.images.max() <= 1
    assert demo.targets.shape == (n,) and demo.targets.dtype == torch.int64
    assert set(demo.targets.tolist()) == set(range(len(classes)))
    assert "Demo(" in repr(demo) and len(repr(demo)) < 300


@pytest.mark.parametrize("factory", [nw.zoo.digits, nw.zoo.clever_hans])
def test_each_call_returns_fresh_objects(factory):
    a, b = factory(), factory()
    assert a.model is not b.model
    with torch.no_grad():
        for p in a.model.parameters():
            p.zero_()
        a.images.zero_()
    assert all(p.abs().sum() > 0 for p in b.model.parameters())
    assert factory().images.abs().sum() > 0
    assert all(p.abs().sum() > 0 for p in factory().model.parameters())


# --- digits --------------------------------------------------------------------------


def test_digits_accuracy():
    demo = nw.zoo.digits()
    assert accuracy(demo.model, demo.images, demo.targets) >= 0.95  # measured 0.989


def test_digits_split_is_fixed_disjoint_and_stratified():
    train, test = load_split("train"), load_split("test")
    assert train.images.shape == (1437, 1, 16, 16) and test.images.shape == (360, 1, 16, 16)
    assert torch.equal(test.images, nw.zoo.digits().images)
    # No test image appears in the training split.
    flat_train = {tuple(row) for row in train.images.flatten(1).tolist()}
    overlap = sum(tuple(row) in flat_train for row in test.images.flatten(1).tolist())
    assert overlap == 0
    counts = test.targets.bincount(minlength=10)
    assert counts.min() >= 35 and counts.max() <= 37
    with pytest.raises(ValueError, match="split"):
        load_split("val")


# --- clever hans ---------------------------------------------------------------------


def test_hans_boxes(hans):
    n = hans.images.shape[0]
    for boxes in (hans.mark_boxes, hans.shape_boxes):
        assert boxes.shape == (n, 4) and boxes.dtype == torch.int64
    expected = torch.tensor([shapes.mark_box(t) for t in hans.targets.tolist()])
    assert torch.equal(hans.mark_boxes, expected)
    # The images differ from the clean ones exactly inside the mark box.
    diff = (hans.images != hans.clean_images).any(1)
    for i in range(n):
        y0, x0, y1, x1 = hans.mark_boxes[i].tolist()
        inside = torch.zeros_like(diff[i])
        inside[y0:y1, x0:x1] = True
        assert not diff[i][~inside].any()
        color = torch.tensor(shapes.MARK_COLOR).view(3, 1, 1)
        assert torch.equal(hans.images[i, :, y0:y1, x0:x1], color.expand(3, y1 - y0, x1 - x0))


def test_hans_accuracy_with_and_without_mark(hans):
    assert accuracy(hans.model, hans.images, hans.targets) >= 0.95  # measured 1.0
    # Trained on leaking marks, the network ignores the shapes: chance level without them.
    assert accuracy(hans.model, hans.clean_images, hans.targets) <= 0.5  # measured 0.31


def test_hans_follows_a_moved_mark(hans):
    for offset in (1, 2):
        moved_to = (hans.targets + offset) % 3
        moved = shapes.paint_mark(hans.clean_images, moved_to)
        assert accuracy(hans.model, moved, moved_to) >= 0.95


def test_hans_occluding_mark_matters_far_more_than_occluding_shape(hans, hans_probs):
    idx = torch.arange(0, hans.images.shape[0], 15)[:20]
    no_mark, no_shape = hans.images[idx].clone(), hans.images[idx].clone()
    k = shapes.MARK_SIZE
    for j, i in enumerate(idx.tolist()):
        y0, x0, y1, x1 = hans.mark_boxes[i].tolist()
        no_mark[j, :, y0:y1, x0:x1] = 0
        sy0, sx0, sy1, sx1 = hans.shape_boxes[i].tolist()
        cy, cx = (sy0 + sy1) // 2, (sx0 + sx1) // 2
        no_shape[j, :, cy - k // 2 : cy - k // 2 + k, cx - k // 2 : cx - k // 2 + k] = 0
    rows = torch.arange(len(idx))
    true = hans.targets[idx]
    with torch.no_grad():
        p_no_mark = hans.model(no_mark).softmax(1)[rows, true]
        p_no_shape = hans.model(no_shape).softmax(1)[rows, true]
    p = hans_probs[idx][rows, true]
    drop_mark, drop_shape = (p - p_no_mark).mean().item(), (p - p_no_shape).mean().item()
    assert drop_mark >= 0.4
    assert drop_shape <= 0.05
    assert drop_mark >= 10 * max(drop_shape, 0.01)


# --- generator -----------------------------------------------------------------------


def test_make_shapes_is_deterministic_and_well_formed():
    a = shapes.make_shapes(30, seed=5)
    b = shapes.make_shapes(30, seed=5)
    c = shapes.make_shapes(30, seed=6)
    for x, y in zip(a, b, strict=True):
        assert torch.equal(x, y)
    assert not torch.equal(a.images, c.images)
    images, targets, boxes = a
    assert images.shape == (30, 3, 32, 32) and images.dtype == torch.float32
    assert images.min() >= 0 and images.max() <= 1
    assert targets.dtype == torch.int64 and targets.bincount().tolist() == [10, 10, 10]
    assert boxes.shape == (30, 4) and boxes.dtype == torch.int64
    clean = shapes.make_shapes(30, seed=5, mark=False)
    assert torch.equal(clean.targets, a.targets) and torch.equal(clean.mark_boxes, a.mark_boxes)
    assert torch.equal(shapes.paint_mark(clean.images, clean.targets), a.images)
    assert shapes.make_shapes(0, seed=1).images.shape == (0, 3, 32, 32)


def test_shapes_stay_out_of_the_corners():
    _, _, mark_boxes, shape_boxes = shapes.render(500, seed=3)
    zone = shapes.CORNER_ZONE
    y0, x0, y1, x1 = shape_boxes.T
    assert (y0 >= 0).all() and (x0 >= 0).all() and (y1 <= 32).all() and (x1 <= 32).all()
    in_corner_y = (y0 < zone) | (y1 > 32 - zone)
    in_corner_x = (x0 < zone) | (x1 > 32 - zone)
    assert not (in_corner_y & in_corner_x).any()
    # Every mark lies inside its corner zone.
    my0, mx0, my1, mx1 = mark_boxes.T
    assert (((my1 <= zone) | (my0 >= 32 - zone)) & ((mx1 <= zone) | (mx0 >= 32 - zone))).all()


def test_mark_boxes_are_distinct_corners():
    boxes = [shapes.mark_box(c) for c in range(3)]
    assert len(set(boxes)) == 3
    assert all(y1 - y0 == x1 - x0 == shapes.MARK_SIZE for y0, x0, y1, x1 in boxes)
    with pytest.raises(ValueError):
        shapes.mark_box(3)


def test_paint_mark_on_single_image_leaves_input_untouched():
    image = torch.full((3, 32, 32), 0.5)
    out = shapes.paint_mark(image, 2)
    assert out.shape == image.shape and torch.equal(image, torch.full((3, 32, 32), 0.5))
    y0, x0, _, _ = shapes.mark_box(2)
    assert torch.equal(out[:, y0, x0], torch.tensor(shapes.MARK_COLOR))
