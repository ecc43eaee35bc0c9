"""MLPExplorer: see what every unit of a small MLP computes, and train it live.

One module: one widget class (traits, checks, jobs, payloads); compute/mlp.py etc. compute.
"""

from __future__ import annotations

import copy
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import torch
from torch import nn
from traitlets import Bool, Dict, Enum, Float, Int, List, TraitError, Unicode, observe, validate

from nnwidgets._png import png_export
from nnwidgets._traits import Float as Setting
from nnwidgets._traits import Int as Count
from nnwidgets._traits import Tensor
from nnwidgets.compute import (
    ACTIVATIONS,
    Trainer,
    build_mlp,
    compare_depth_width,
    linear_regions,
    mlp_layers,
    set_bias,
    set_weight,
    unit_maps,
)
from nnwidgets.compute._inputs import check_bool, check_int, check_model, check_number
from nnwidgets.compute.linear_regions import PIECEWISE
from nnwidgets.compute.mlp import (
    check_extent,
    flat_parameters,
    map_codes,
    mlp_sizes,
    plane_extent,
    prediction_map,
)
from nnwidgets.compute.training import check_data, check_points, holdout_split
from nnwidgets.widgets._base import NNWidget, bundle, in_range, message
from nnwidgets.widgets._charts import LineChart
from nnwidgets.widgets._worker import Job
from nnwidgets.zoo.toy import TOY_CURVES, TOY_DATASETS, toy_curve, toy_data

#: Seconds between two frames pushed while training (30 per second).
FRAME_INTERVAL = 1 / 30
#: Seconds after which a frame is pushed although the browser has not drawn the last one (a
#: browser that falls behind gets the newest state this often; frames are dropped, not queued).
STALL_INTERVAL = 0.5
#: Seconds without a "drawn" report after which no front-end is taken to be showing the widget.
GONE_INTERVAL = 2.0
#: Colour and name of the loss chart's lines.
LOSS_LINES = (("#1b4f8a", "training"), ("#c2571a", "test"))
#: Seconds between two updates of the loss chart, and most points it shows.
CHART_INTERVAL, CHART_POINTS = 0.25, 400
#: Most hidden layers and units per layer the controls allow.
MAX_LAYERS, MAX_UNITS = 6, 8
#: Most grid points per side of the maps (each map is resolution^2 values per unit).
MAX_RESOLUTION = 512
CUSTOM = "custom"


class MLPExplorer(NNWidget):
    """Hover the units of a small MLP to see what each computes; train it live.

    The network diagram shows every unit as a thumbnail of its response over the input plane
    (or along the input line for 1-D data); hovering a unit shows its map large, with the data
    and the network's decision boundary. Training (SGD with L1/L2, as in TensorFlow
    Playground) runs in the background and streams maps and losses about 30 times a second.
    Click an edge or a unit to set a weight or a bias by hand.

    Parameters
    ----------
    model
        Your feed-forward ``nn.Sequential`` (Linear layers and elementwise activations) on 1-D
        or 2-D inputs; by default a new MLP with ``hidden`` units and ``activation``.
    data
        A built-in set ("xor", "circles", "moons", "spirals", "gaussians"; or 1-D curves
        "step", "tower", "bump", "sine") or your ``(X, y)``: X (n, 1 or 2) floats, y class
        indices (classification) or floats (regression).
    hidden, activation
        Architecture of the built-in MLP.
    train_in_place
        Training acts on a **copy** of ``model`` unless this is True; :attr:`model` is the
        module being trained either way. Architecture changes need the copy.
    task
        "classification" or "regression"; default from the data.
    lr, batch_size, l1, l2, noise, test_fraction, seed
        Training settings, noise of the built-in data sets and the held-out fraction.
    extent
        (x_min, x_max, y_min, y_max) of the plane shown; default the data's range.
    resolution
        Grid points per side of every map (64 keeps 30 frames a second).

    Notes
    -----
    The state holds every unit's map as uint8 (units x resolution^2 bytes: 15 units at 64 px
    are 60 KB), the weights and the data, so hovering works in a saved or exported notebook.
    """

    _esm = bundle("mlp.js")
    _css = bundle("mlp.css")

    # what the front-end shows (kernel -> browser)
    task = Unicode("classification", help="'classification' or 'regression'.").tag(sync=True)
    layer_sizes = List(Int(), help="Units per layer, input to output.").tag(sync=True)
    extent = List(Float(), help="[x_min, x_max, y_min, y_max] of the maps.").tag(sync=True)
    points = Tensor(dtype=torch.float32, ndim=2, help="(n, 1 or 2) data points.")
    targets = Tensor(dtype=torch.float32, ndim=1, help="(n,) class or target value.")
    is_test = Tensor(dtype=torch.uint8, ndim=1, help="(n,) 1 for held-out points.")
    maps = Tensor(dtype=torch.uint8, ndim=(2, 3), help="(units + 1, R[, R]) uint8 maps.")
    map_limits = Tensor(dtype=torch.float32, ndim=1, help="(units + 1,) symmetric scale of a map.")
    weights = Tensor(dtype=torch.float32, ndim=1, help="Every layer's weights, flattened.")
    biases = Tensor(dtype=torch.float32, ndim=1, help="Every layer's biases, flattened.")
    frame = Int(0, help="Counts pushed frames.").tag(sync=True)
    step_count = Int(0, help="SGD steps taken.").tag(sync=True)
    train_loss = Float(None, allow_none=True).tag(sync=True)
    test_loss = Float(None, allow_none=True).tag(sync=True)
    regions = Tensor(dtype=torch.int32, ndim=(1, 2), help="Region id of each grid point.")
    region_count = Int(0).tag(sync=True)
    region_exact = Bool(False).tag(sync=True)
    depth_width = List(Dict(), help="Region counts for equal units, by depth.").tag(sync=True)
    editable = Bool(True, help="Whether the architecture can change.").tag(sync=True)

    _settings = (
        "playing",
        "show_regions",
        "activation",
        "dataset",
        "lr",
        "batch_size",
        "l1",
        "l2",
        "noise",
        "test_fraction",
    )

    # settings (both ways)
    playing = Bool(False, help="Whether training runs.").tag(sync=True)
    show_regions = Bool(False, help="Colour the plane by linear region.").tag(sync=True)
    activation = Enum((*ACTIVATIONS, CUSTOM), default_value="tanh").tag(sync=True)
    activations = List(
        Unicode(), list(ACTIVATIONS), read_only=True, help="activation's built-in choices."
    ).tag(sync=True)
    piecewise = List(
        Unicode(), list(PIECEWISE), read_only=True, help="Activations with linear regions."
    ).tag(sync=True)
    dataset = Unicode("spirals", help="Built-in data set, or 'custom'.").tag(sync=True)
    datasets = List(Unicode(), help="Data sets the picker offers.").tag(sync=True)
    lr = Setting(0.3).tag(sync=True)
    batch_size = Count(10).tag(sync=True)
    l1 = Setting(0.0).tag(sync=True)
    l2 = Setting(0.0).tag(sync=True)
    noise = Setting(0.0).tag(sync=True)
    test_fraction = Setting(0.5).tag(sync=True)

    def __init__(
        self,
        model: nn.Module | None = None,
        data: str | tuple[Any, Any] = "spirals",
        *,
        hidden: Sequence[int] = (6, 6),
        activation: str = "tanh",
        train_in_place: bool = False,
        task: str | None = None,
        # the settings' defaults are their traits' (declared once, above)
        lr: float = lr.default_value,
        batch_size: int = batch_size.default_value,
        l1: float = l1.default_value,
        l2: float = l2.default_value,
        noise: float = noise.default_value,
        test_fraction: float = test_fraction.default_value,
        extent: Sequence[float] | None = None,
        resolution: int = 64,
        seed: int = 0,
    ) -> None:
        self._seed = check_int(seed, "seed", low=None)
        self._resolution = check_int(resolution, "resolution", low=2, high=MAX_RESOLUTION)
        train_in_place = check_bool(train_in_place, "train_in_place")
        extent = None if extent is None else check_extent(extent)
        if model is not None:
            mlp_layers(check_model(model))  # a feed-forward stack, checked before the data
        if isinstance(data, str):
            if data not in (*TOY_DATASETS, *TOY_CURVES):
                raise ValueError(
                    f"unknown data set {data!r}; choose one of {TOY_DATASETS + TOY_CURVES} "
                    "or pass (X, y)"
                )
        elif not isinstance(data, tuple | list) or len(data) != 2:
            raise TypeError(f"data must be a built-in set's name or a pair (X, y), got {data!r}")
        self._custom = None if isinstance(data, str) else tuple(data)
        name = data if isinstance(data, str) else CUSTOM
        x, y = self._load(name, check_number(noise, "noise", low=0, high=1))
        x, y = check_points(x, y, task)
        dims = x.shape[1]
        task = task or ("regression" if dims == 1 else "classification")
        if model is None:
            outputs = 1 if task == "regression" else int(y.max()) + 1
            model = build_mlp(dims, hidden, max(outputs, 1), activation, seed=self._seed)
            train_in_place = True  # our own model
            editable = True
        else:
            layers = mlp_layers(model)
            names = {layer.activation for layer in layers[:-1]}
            activation = names.pop() if len(names) == 1 and names <= set(ACTIVATIONS) else CUSTOM
            editable = not train_in_place
        self.model = model if train_in_place else copy.deepcopy(model)
        self._frames_since_regions = 0
        self._last_chart = self._last_frame = 0.0
        self._drawn, self._drawn_at = 0, float("-inf")  # newest frame a front-end drew, and when
        self._build_chart()
        super().__init__(
            task=task,
            activation=activation,
            dataset=name,
            datasets=[*(TOY_DATASETS if dims == 2 else TOY_CURVES), *([CUSTOM] * (name == CUSTOM))],
            lr=lr,
            batch_size=batch_size,
            l1=l1,
            l2=l2,
            noise=noise,
            test_fraction=test_fraction,
            editable=editable,
        )
        self._extent = extent
        self._set_data(x, y)
        self._push_frame()
        self._show_with(self._chart_row, owned=(self.chart, self._chart_key))
        self._ready = True

    # -- public API ----------------------------------------------------------------------
    def train(self, steps: int = 1000, *, wait: bool = True) -> None:
        """Take ``steps`` SGD steps in the background (and wait for them by default)."""
        steps = check_int(steps, "steps")
        self.playing = False
        self._run("train", lambda job: self._train_steps(job, steps))
        if wait:
            self.wait()

    def play(self) -> None:
        """Train continuously until :meth:`pause`."""
        self.playing = True

    def pause(self) -> None:
        """Stop continuous training."""
        self.playing = False

    def stop(self) -> None:
        """Stop training (continuous, or a :meth:`train` call); the steps taken stay."""
        self.playing = False
        super().stop()
        self._run("train", lambda job: (self._refresh_losses(), self._push_frame()))

    def set_weight(self, layer: int, out_unit: int, in_unit: int, value: float) -> None:
        """Set a weight of Linear layer ``layer`` (0 is the first) by hand."""
        self._check_edit(layer, out_unit, in_unit, value)
        self._edit(lambda: set_weight(self.model, layer, out_unit, in_unit, value))
        self.wait()

    def set_bias(self, layer: int, unit: int, value: float) -> None:
        """Set a bias of Linear layer ``layer`` by hand."""
        self._check_edit(layer, unit, 0, value)
        self._edit(lambda: set_bias(self.model, layer, unit, value))
        self.wait()

    def accuracy(self, test: bool = True) -> float:
        """Fraction of the test (or training) points classified correctly."""
        return self._trainer.accuracy(test=test)

    def to_png(self, path: str | Path | None = None, *, min_size: int = 256) -> bytes:
        """PNG of the output view: the network's prediction over the plane (or along x)."""
        lut = self.colormap
        row = self.maps[-1]
        if row.ndim == 1:  # 1-D: a strip coloured by the prediction
            row = row[None].expand(16, -1)
        return png_export(lut[row.long()], path, min_size)

    def close(self) -> None:
        """Stop training and close the widget and its chart."""
        self.playing = False
        super().close()

    # -- data and model ------------------------------------------------------------------
    def _load(self, name: str, noise: float) -> tuple[Any, Any]:
        if name == CUSTOM:
            return self._custom
        if name in TOY_CURVES:
            return toy_curve(name, seed=self._seed)
        return toy_data(name, noise=noise, seed=self._seed)

    def _set_data(self, x: Any, y: Any) -> None:
        layers = mlp_layers(self.model)
        shape = {
            "in_features": layers[0].linear.in_features,
            "out_features": layers[-1].linear.out_features,
            "task": self.task,
        }
        x, y = check_data(x, y, **shape)
        n = len(x)
        test = holdout_split(n, self.test_fraction, self._seed)
        self._trainer = Trainer(
            self.model,
            x[~test],
            y[~test],
            x[test],
            y[test],
            task=self.task,
            lr=self.lr,
            batch_size=self.batch_size,
            l1=self.l1,
            l2=self.l2,
            seed=self._seed,
        )
        self._extent_now = self._plane(x)
        with self.hold_sync():
            self.points = x
            self.targets = y.float().reshape(n, -1)[:, 0]
            self.is_test = test
            self.extent = list(self._extent_now)
        self._refresh_losses()

    def _plane(self, x: torch.Tensor) -> tuple[float, float, float, float]:
        if self._extent is not None:
            return tuple(float(v) for v in self._extent)
        return plane_extent(x)

    def _check_editable(self) -> None:
        if not self.editable:
            raise ValueError(
                "the architecture of a model trained in place cannot change; pass "
                "train_in_place=False to explore a copy"
            )

    def _rebuild(self, hidden: Sequence[int], activation: str) -> None:
        self._check_editable()
        sizes = self.layer_sizes
        self.model = build_mlp(sizes[0], tuple(hidden), sizes[-1], activation, seed=self._seed)
        targets = self.targets.long() if self.task == "classification" else self.targets
        self._set_data(self.points, targets)

    # -- frames: maps, weights, losses ---------------------------------------------------
    def _push_frame(self) -> None:
        maps = unit_maps(self.model, self._extent_now, self._resolution)
        limit = float(self._trainer.y_train.abs().max()) if self.task == "regression" else 1.0
        prediction = prediction_map(maps.post[-1], self.task, limit)
        codes, limits = map_codes(maps.post, prediction)
        weights, biases = flat_parameters(self.model)
        with self.hold_sync():
            self.layer_sizes = mlp_sizes(self.model)
            self.maps = codes
            self.map_limits = limits
            self.weights = weights
            self.biases = biases
            self.step_count = self._trainer.step_count
            self.frame += 1
        self._last_frame = time.monotonic()
        self._frames_since_regions += 1
        if self.show_regions and (not self.playing or self._frames_since_regions >= 6):
            self._frames_since_regions = 0
            self._update_regions()

    def _refresh_losses(self, *, force: bool = True) -> None:
        history = self._trainer.history
        train, test = history[-1][1:]
        with self.hold_sync():
            self.train_loss, self.test_loss = train, test
        now = time.monotonic()
        if not force and now - self._last_chart < CHART_INTERVAL:
            return
        self._last_chart = now
        every = max(1, len(history) // CHART_POINTS)
        shown = history[::every]
        with self.chart.hold_sync():
            steps = [h[0] for h in shown]
            self._loss_lines[0].x, self._loss_lines[0].y = steps, [h[1] for h in shown]
            if shown[0][2] is not None:
                self._loss_lines[1].x, self._loss_lines[1].y = steps, [h[2] for h in shown]

    def _build_chart(self) -> None:
        loss = LineChart(
            LOSS_LINES, x_label="SGD steps", y_label="loss", title="Loss", key_suffix=" loss"
        )
        self._loss_lines = loss.lines
        self.chart, self._chart_key, self._chart_row = loss.figure, loss.key, loss.row

    def _update_regions(self) -> None:
        try:
            result = linear_regions(self.model, self._extent_now, self._resolution)
        except ValueError as error:
            with self.hold_sync():
                self.regions = None
                self.region_count = 0
            self.error = str(error)
            self.show_regions = False
            return
        with self.hold_sync():
            self.regions = result.labels.to(torch.int32)
            self.region_count = result.count
            self.region_exact = result.exact

    # -- background work -----------------------------------------------------------------
    def _edit(self, change: Any) -> None:
        """Apply a hand edit of the model on the worker (between training steps)."""

        def job(job: Job) -> None:
            change()
            self._trainer.record()
            self._refresh_losses()
            self._push_frame()
            if self.playing:
                self._play_loop(job)

        self._run("train", job)

    def _train_steps(self, job: Job, steps: int) -> None:
        done = 0
        while done < steps:
            chunk = min(steps - done, max(1, self._steps_per_frame()))
            self._trainer.step(chunk)
            done += chunk
            job.checkpoint()
            self._report_progress(job, done, steps, f"trained {done} of {steps} steps")
            if self._frame_due():
                self._refresh_losses(force=False)
                self._push_frame()
        self._refresh_losses()
        self._push_frame()

    def _frame_due(self) -> bool:
        """Whether to push a frame now: the browser drew the last one (or is gone), 1/30 s on.

        A front-end that falls behind acknowledges late, so frames are dropped here rather than
        queued in the browser: the picture follows the kernel, and stops when training stops.
        """
        now = time.monotonic()
        since = now - self._last_frame
        caught_up = self.frame - self._drawn <= 2 or now - self._drawn_at > GONE_INTERVAL
        return since >= STALL_INTERVAL or (caught_up and since >= FRAME_INTERVAL)

    def _steps_per_frame(self) -> int:
        return max(1, len(self._trainer.x_train) // max(1, self.batch_size) // 4)

    def _play_loop(self, job: Job) -> None:
        self.progress_label = "training"
        while self.playing:
            started = time.monotonic()
            self._trainer.step(self._steps_per_frame())
            job.checkpoint()
            if self._frame_due():
                self._refresh_losses(force=False)
                self._push_frame()
            time.sleep(max(0.0, FRAME_INTERVAL - (time.monotonic() - started)))
        self._refresh_losses()
        self._push_frame()  # the state training stopped at, drawn once

    @observe("playing")
    def _playing_changed(self, change: dict) -> None:
        if change["new"]:
            self._run("train", self._play_loop)

    @observe("lr", "batch_size", "l1", "l2")
    def _training_setting(self, change: dict) -> None:
        if self._ready:
            setattr(self._trainer, change["name"], change["new"])

    @observe("show_regions")
    def _regions_toggled(self, change: dict) -> None:
        if change["new"]:
            self._run("regions", lambda job: self._update_regions())

    @observe("activation")
    def _activation_changed(self, change: dict) -> None:
        if self._ready and change["new"] != CUSTOM:
            self._restart(lambda: self._rebuild(self.layer_sizes[1:-1], change["new"]))

    @observe("dataset", "noise", "test_fraction")
    def _data_changed(self, change: dict) -> None:
        if not self._ready:
            return

        def reload() -> None:
            x, y = self._load(self.dataset, self.noise)
            self.model = (
                build_mlp(
                    self.layer_sizes[0],
                    tuple(self.layer_sizes[1:-1]),
                    self.layer_sizes[-1],
                    self.activation if self.activation != CUSTOM else "tanh",
                    seed=self._seed,
                )
                if self.editable
                else self.model
            )
            self._set_data(x, y)

        self._restart(reload)

    def _restart(self, change: Any) -> None:
        def job(job: Job) -> None:
            change()
            self._push_frame()
            if self.playing:
                self._play_loop(job)

        self._run("train", job)

    # -- front-end messages --------------------------------------------------------------
    @message("step")
    def _on_step(self) -> None:
        self._run("train", lambda job: self._train_steps(job, max(1, self._steps_per_frame() * 4)))

    @message("drawn", frame=int)
    def _on_drawn(self, frame: int) -> None:
        self._drawn, self._drawn_at = max(self._drawn, frame), time.monotonic()

    @message("reset")
    def _on_reset(self) -> None:
        self._check_editable()
        self._restart(lambda: self._rebuild(self.layer_sizes[1:-1], self._build_activation()))

    @message("set_weight", layer=int, out_unit=int, in_unit=int, value=float)
    def _on_set_weight(self, layer: int, out_unit: int, in_unit: int, value: float) -> None:
        self._check_edit(layer, out_unit, in_unit, value)
        self._edit(lambda: set_weight(self.model, layer, out_unit, in_unit, value))

    @message("set_bias", layer=int, unit=int, value=float)
    def _on_set_bias(self, layer: int, unit: int, value: float) -> None:
        self._check_edit(layer, unit, 0, value)
        self._edit(lambda: set_bias(self.model, layer, unit, value))

    @message("resize", layer=int, delta=int)
    def _on_resize(self, layer: int, delta: int) -> None:
        self._check_editable()
        hidden = list(self.layer_sizes[1:-1])
        if not 0 <= layer < len(hidden) or delta not in (-1, 1):
            raise ValueError(f"cannot change hidden layer {layer} by {delta}")
        hidden[layer] += delta
        if not 1 <= hidden[layer] <= MAX_UNITS:
            raise ValueError(f"a hidden layer has 1 to {MAX_UNITS} units")
        self._restart(lambda: self._rebuild(hidden, self._build_activation()))

    @message("layers", delta=int)
    def _on_layers(self, delta: int) -> None:
        self._check_editable()
        hidden = list(self.layer_sizes[1:-1])
        if delta == 1 and len(hidden) < MAX_LAYERS:
            hidden.append(hidden[-1] if hidden else 2)
        elif delta == -1 and hidden:
            hidden.pop()
        else:
            raise ValueError(f"the network keeps 0 to {MAX_LAYERS} hidden layers")
        self._restart(lambda: self._rebuild(hidden, self._build_activation()))

    @message("depth_width")
    def _on_depth_width(self) -> None:
        total = max(4, sum(self.layer_sizes[1:-1]))

        def job(job: Job) -> None:
            rows = compare_depth_width(total, trials=3, extent=self._extent_now, seed=self._seed)
            job.checkpoint()
            self.depth_width = [
                {"shape": list(shape), "mean": mean, "max": most} for shape, mean, most in rows
            ]

        self._run("depth_width", job)

    def _build_activation(self) -> str:
        return self.activation if self.activation != CUSTOM else "tanh"

    def _check_edit(self, layer: int, out_unit: int, in_unit: int, value: float) -> None:
        layer, out_unit, in_unit = (
            check_int(v, name, low=None)
            for v, name in ((layer, "layer"), (out_unit, "unit"), (in_unit, "in_unit"))
        )
        value = check_number(value, "value")
        sizes = self.layer_sizes
        if not 0 <= layer < len(sizes) - 1:
            raise ValueError(f"layer {layer} is out of range [0, {len(sizes) - 1})")
        if not (0 <= out_unit < sizes[layer + 1] and 0 <= in_unit < sizes[layer]):
            raise ValueError(
                f"unit out of range for layer {layer} of shape {sizes[layer + 1]}x{sizes[layer]}"
            )
        if abs(value) > 1e6:
            raise ValueError(f"a weight must be a finite number of at most 1e6, got {value}")

    # -- validation ------------------------------------------------------------------------
    _check_lr = in_range("lr", low=0, high=10, low_open=True)
    _check_batch = in_range("batch_size", low=1, high=10_000)
    _check_penalties = in_range("l1", "l2", "noise", low=0, high=1)
    _check_fraction = in_range("test_fraction", low=0, high=1, high_open=True)

    @validate("dataset")
    def _check_dataset(self, proposal: dict) -> str:
        if self.datasets and proposal["value"] not in self.datasets:
            raise TraitError(
                f"unknown data set {proposal['value']!r}; choose one of {self.datasets}"
            )
        return proposal["value"]

    @validate("activation")
    def _check_activation(self, proposal: dict) -> str:
        # compared with the model, not with the trait (which, in a batch of writes from the
        # front-end, already holds the new value)
        if self._ready and not self.editable:
            names = {layer.activation for layer in mlp_layers(self.model)[:-1]}
            own = names.pop() if len(names) == 1 and names <= set(ACTIVATIONS) else CUSTOM
            if proposal["value"] != own:
                raise TraitError(
                    f"the activation of a model trained in place cannot change (it is {own!r})"
                )
        return proposal["value"]
