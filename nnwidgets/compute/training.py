"""Train a small MLP step by step, as TensorFlow Playground does: SGD, L1/L2, live losses."""

from __future__ import annotations

from typing import Any

import torch
import torch.nn.functional as F
from torch import nn

from nnwidgets.compute._guard import borrowed_model
from nnwidgets.compute._inputs import check_int, check_number
from nnwidgets.compute.mlp import mlp_layers

TASKS = ("classification", "regression")


def _as_tensor(value: Any, name: str) -> torch.Tensor:
    if not isinstance(value, torch.Tensor):
        try:
            value = torch.as_tensor(value)
        except (TypeError, ValueError, RuntimeError) as error:
            raise TypeError(
                f"{name} must be a tensor or an array, got {type(value).__name__}"
            ) from error
    return value.detach().cpu()


def check_data(
    x: Any, y: Any, *, in_features: int, out_features: int, task: str, name: str = "data"
) -> tuple[torch.Tensor, torch.Tensor]:
    """Check points ``x`` (n, in_features) and targets ``y`` for a task; return them as tensors.

    Classification targets are int64 class indices below ``out_features`` (0 or 1 for a single
    output, read as a logit); regression targets are floats (n,) or (n, 1), returned as (n, 1).
    """
    if task not in TASKS:
        raise ValueError(f"task must be one of {TASKS}, got {task!r}")
    x, y = _as_tensor(x, f"{name} X"), _as_tensor(y, f"{name} y")
    if x.ndim != 2 or x.shape[1] != in_features:
        raise ValueError(
            f"{name} X must have shape (n, {in_features}) for a network with {in_features} "
            f"input(s), got {tuple(x.shape)}"
        )
    if len(x) == 0:
        raise ValueError(f"{name} is empty: give at least one point")
    if not x.is_floating_point():
        x = x.float()
    if not torch.isfinite(x).all():
        raise ValueError(f"{name} X contains NaN or infinite values")
    if y.ndim == 0 or len(y) != len(x):
        raise ValueError(
            f"{name} has {len(x)} points but {y.numel()} targets in shape {tuple(y.shape)}"
        )
    if y.is_floating_point() and not torch.isfinite(y).all():
        what = "labels" if task == "classification" else "targets"
        raise ValueError(f"{name} {what} contain NaN or infinite values")
    if task == "classification":
        if y.is_floating_point() and not torch.equal(y, y.round()):
            raise ValueError(f"{name} labels must be integer class indices, got non-integer values")
        if y.is_floating_point() or y.dtype == torch.bool:
            y = y.long()
        if y.ndim != 1:
            raise ValueError(f"{name} labels must have shape (n,), got {tuple(y.shape)}")
        classes = max(out_features, 2)
        if int(y.min()) < 0 or int(y.max()) >= classes:
            raise ValueError(
                f"{name} labels must be in [0, {classes}) for {out_features} output(s), "
                f"got {int(y.min())} to {int(y.max())}"
            )
        return x.float(), y.long()
    y = y.float().reshape(len(y), -1)
    if y.shape[1] != out_features:
        raise ValueError(f"{name} targets need {out_features} value(s) per point, got {y.shape[1]}")
    if not torch.isfinite(y).all():
        raise ValueError(f"{name} targets contain NaN or infinite values")
    return x.float(), y


def check_points(x: Any, y: Any, task: str | None) -> tuple[torch.Tensor, torch.Tensor]:
    """Check data (X, y) before a model is built for it: X (n, 1 or 2), y labels or targets.

    ``task`` None means regression for 1-D points, classification for 2-D ones.
    """
    if task is not None and task not in TASKS:
        raise ValueError(f"task must be one of {TASKS}, got {task!r}")
    try:
        shape = tuple(torch.as_tensor(x).shape)
    except (TypeError, ValueError, RuntimeError) as error:
        raise TypeError(f"data X must be a tensor or an array, got {type(x).__name__}") from error
    if len(shape) != 2 or shape[1] not in (1, 2):
        raise ValueError(
            f"data X has shape {shape}: {shape[1] if len(shape) == 2 else 'no'} inputs per point; "
            "the explorer needs (n, 1) or (n, 2)"
        )
    task = task or ("regression" if shape[1] == 1 else "classification")
    # any number of classes: the network is checked against the data once it is built
    outputs = 1 if task == "regression" else 2**62
    return check_data(x, y, in_features=shape[1], out_features=outputs, task=task)


def holdout_split(n: int, fraction: float, seed: int) -> torch.Tensor:
    """(n,) bool mask of the held-out points: ``round(n * fraction)`` of them, drawn by ``seed``.

    None are held out when that would leave no point on one side.
    """
    test = torch.zeros(n, dtype=torch.bool)
    held_out = round(n * fraction)
    if 0 < held_out < n:
        order = torch.randperm(n, generator=torch.Generator().manual_seed(seed))
        test[order[:held_out]] = True
    return test


def _binary(logits: torch.Tensor, labels: torch.Tensor) -> torch.Tensor:
    """Cross-entropy of one logit per point against 0/1 labels."""
    return F.binary_cross_entropy_with_logits(logits[:, 0], labels.float())


class Trainer:
    """Mini-batch SGD on a small MLP with L1/L2 penalties, one step at a time.

    ``lr``, ``batch_size``, ``l1`` and ``l2`` are plain attributes that may change between
    steps. The trainer trains ``model`` itself: pass a copy to keep the original.

    Parameters
    ----------
    model : torch.nn.Module
        A feed-forward stack (see :func:`nnwidgets.compute.mlp_layers`).
    x_train, y_train : tensor or array
        Training points (n, d) and targets (class indices, or floats for regression).
    x_test, y_test : tensor or array, optional
        Held-out points and targets for the test loss.
    task : str
        "classification" (cross-entropy) or "regression" (mean squared error).
    lr, batch_size, l1, l2 : float, int, float, float
        Learning rate, points per step, and weight penalties (biases are not penalized).
    seed : int
        Seed of the mini-batch order.
    """

    def __init__(
        self,
        model: nn.Module,
        x_train: Any,
        y_train: Any,
        x_test: Any = None,
        y_test: Any = None,
        *,
        task: str = "classification",
        lr: float = 0.03,
        batch_size: int = 10,
        l1: float = 0.0,
        l2: float = 0.0,
        seed: int = 0,
    ) -> None:
        layers = mlp_layers(model)
        shape = {
            "in_features": layers[0].linear.in_features,
            "out_features": layers[-1].linear.out_features,
            "task": task,
        }
        self.model = model
        self.task = task
        self.x_train, self.y_train = check_data(x_train, y_train, name="training data", **shape)
        self.test = None
        if x_test is not None and y_test is not None and len(x_test):
            self.test = check_data(x_test, y_test, name="test data", **shape)
        self.lr = check_number(lr, "lr", low=0, low_open=True)
        self.batch_size = check_int(batch_size, "batch_size")
        self.l1, self.l2 = check_number(l1, "l1", low=0), check_number(l2, "l2", low=0)
        self._weights = [layer.linear.weight for layer in layers]
        self._generator = torch.Generator().manual_seed(seed)
        self._order = torch.randperm(len(self.x_train), generator=self._generator)
        self._cursor = 0
        self.step_count = 0
        self.epoch = 0
        self.history: list[tuple[int, float, float | None]] = []
        """(step, train loss, test loss) points, from the untrained network at step 0 on."""
        if task == "regression":
            self._loss = F.mse_loss
        else:
            self._loss = _binary if shape["out_features"] == 1 else F.cross_entropy
        self.record()

    def _batch(self) -> torch.Tensor:
        size = max(1, min(int(self.batch_size), len(self.x_train)))
        if self._cursor + size > len(self._order):
            self._order = torch.randperm(len(self.x_train), generator=self._generator)
            self._cursor = 0
            self.epoch += 1
        index = self._order[self._cursor : self._cursor + size]
        self._cursor += size
        return index

    def step(self, n: int = 1) -> tuple[float, float | None]:
        """Take ``n`` mini-batch SGD steps; return the (train, test) losses afterwards."""
        n = check_int(n, "n")
        model = self.model
        device = self._weights[0].device
        # borrowed_model hands back modes, requires_grad and hooks; it never touches the
        # parameters, so the SGD updates below stay (training is meant to change them)
        with borrowed_model(model, eval=False):
            model.train()
            for _ in range(n):
                index = self._batch()
                x, y = self.x_train[index].to(device), self.y_train[index].to(device)
                loss = self._loss(model(x), y)
                if self.l1:
                    loss = loss + self.l1 * sum(w.abs().sum() for w in self._weights)
                if self.l2:
                    loss = loss + self.l2 * sum(w.pow(2).sum() for w in self._weights) / 2
                model.zero_grad(set_to_none=True)
                loss.backward()
                with torch.no_grad():
                    for parameter in model.parameters():
                        if parameter.grad is not None:
                            parameter -= self.lr * parameter.grad
                self.step_count += 1
        return self.record()

    def record(self) -> tuple[float, float | None]:
        """Add the (train, test) losses of the network as it is now to :attr:`history`.

        One point per step: a point already taken at this step (before a hand edit of the
        weights, say) is replaced, so the curve starts from the network that trains, not
        from every half-edited one on the way to it.
        """
        losses = self.losses()
        point = (self.step_count, *losses)
        if self.history and self.history[-1][0] == self.step_count:
            self.history[-1] = point
        else:
            self.history.append(point)
        return losses

    def losses(self) -> tuple[float, float | None]:
        """Loss on the whole training set and on the test set (None without test data)."""
        device = self._weights[0].device
        with borrowed_model(self.model), torch.no_grad():
            train = float(self._loss(self.model(self.x_train.to(device)), self.y_train.to(device)))
            test = None
            if self.test is not None:
                x, y = self.test
                test = float(self._loss(self.model(x.to(device)), y.to(device)))
        return train, test

    def accuracy(self, test: bool = False) -> float:
        """Fraction of (test) points classified correctly."""
        if self.task != "classification":
            raise ValueError("accuracy is for classification")
        x, y = self.test if test and self.test is not None else (self.x_train, self.y_train)
        with torch.no_grad():
            out = self.model(x.to(self._weights[0].device)).cpu()
        predicted = (out[:, 0] > 0).long() if out.shape[1] == 1 else out.argmax(1)
        return float((predicted == y).float().mean())
