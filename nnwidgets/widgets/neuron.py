"""NeuronExplorer: the input a neuron wants most, beside the real inputs that excite it most.

One module: one widget class (traits, checks, jobs, payloads); compute/synthesis.py etc. compute.
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import torch
from torch import nn
from traitlets import Bool, Enum, List, TraitError, Unicode, observe, validate

from nnwidgets._image import DisplaySpec, display_transform, resize, to_rgb8
from nnwidgets._png import png_export
from nnwidgets._traits import Float, Int, Tensor
from nnwidgets.compute import (
    activation_map,
    layer_activations,
    layer_units,
    synthesize,
    top_activations,
)
from nnwidgets.compute._inputs import (
    ImageDataset,
    Normalization,
    check_bool,
    check_image,
    check_int,
    check_model,
    conv_channels,
    int_tuple,
)
from nnwidgets.compute._outputs import check_selector
from nnwidgets.compute._quantize import fraction_codes
from nnwidgets.compute._timing import about
from nnwidgets.compute.layers import (
    OBJECTIVES,
    declared_input_size,
    find_layer,
    input_channels,
    objectives_for,
)
from nnwidgets.compute.synthesis import normalizer
from nnwidgets.widgets._base import PUSH_INTERVAL, NNWidget, bundle, in_range, message
from nnwidgets.widgets._worker import Job

OUTPUT = "output"
#: Longest side of the per-unit images kept in the state (the front-end's cache).
TILE_SIDE = 128
#: Most bytes of per-unit images in the state: big layers get smaller tiles (at least 32 px).
TILE_BUDGET = 8 * 2**20
#: Longest side of the dataset thumbnails kept in the state.
THUMB_SIDE = 64
#: Pixels optimized together in one batch of the layer precompute (units x height x width).
BATCH_PIXELS = 2**18
#: Most units optimized in one batch.
MAX_BATCH = 64


def _layer_names(model: nn.Module) -> list[str]:
    names = [
        name
        for name, module in model.named_modules()
        if name and not list(module.children()) and not isinstance(module, nn.Dropout)
    ]
    return [*names, OUTPUT]


class NeuronExplorer(NNWidget):
    """Scrub through the units of a layer and see the input each one wants most.

    For the selected unit the widget shows the input synthesized to excite it (activation
    maximization with a Fourier parameterization and transformation robustness, as in
    Lucid), refining while it optimizes, and beside it the ``k`` inputs of ``dataset`` that
    excite it most, with their activations. A background precompute fills in the layer
    overview (one image per unit, a batch of units per optimization); every computed image
    stays in the browser, so scrubbing over computed units needs no kernel. The unit under
    the slider always comes first; a newer request supersedes a stale one.

    Parameters
    ----------
    model
        A CNN (or any model taking (N, C, H, W) images).
    layer
        Layer to explore, named as ``model.named_modules()`` names it; ``"output"`` (the
        default) explores the class logits.
    dataset
        Real inputs to rank: a tensor (N, C, H, W), a Dataset of tensors or (tensor, label)
        pairs, or a DataLoader over one. Its images set the synthesized image size.
    unit
        Unit selected at start.
    objective
        ``"channel"`` (a conv channel, mean over space), ``"neuron"`` (a channel at
        ``position``, default the centre), ``"linear"`` (a unit of an (N, F) layer) or
        ``"logit"`` (a class logit of the output); default: what suits the layer.
    maximize
        Maximize the objective (True) or minimize it.
    steps, size, regularization
        Optimization steps, synthesized image side in pixels and strength of the image
        prior; defaults suit the layer's model (``size`` defaults to the dataset's images, else to
        the model's ``input_size`` (H, W) or (C, H, W), else 128).
    channels
        Input channels when there is no dataset (default: the first conv's ``in_channels``).
    normalize
        ``(mean, std)`` the model's inputs are normalized with: synthesized images live in
        [0, 1] and are normalized before the model sees them; dataset images are shown with
        the normalization undone.
    input
        One input (C, H, W) whose activation on the selected unit is shown; default the
        dataset's first image. Clicking a dataset example chooses it.
    labels
        Class names, shown for the output layer's units.
    k
        Dataset examples shown per unit.
    precompute
        Fill in the whole layer in the background (True) or only the units asked for.
    display
        How dataset images are shown, see :class:`~nnwidgets.OcclusionExplorer`.
    output
        Output selector for models returning tuples or dicts (see
        :func:`nnwidgets.compute.select_output`).
    seed
        Seed of the optimization: the same seed gives the same images.

    Notes
    -----
    The state holds every unit's image as uint8, at most 128 pixels a side and 8 MB for the
    layer (a 64-channel layer at 128 px is 3 MB; a 512-channel layer gets 73 px tiles), and
    ``k`` dataset thumbnails per unit (at most 64 px a side, each stored once).
    """

    _esm = bundle("neuron.js")
    _css = bundle("neuron.css")

    _settings = ("layer", "unit", "objective", "maximize", "steps", "size", "regularization")

    # settings (both ways)
    layers = List(Unicode(), help="Layers the picker offers.").tag(sync=True)
    layer = Unicode(OUTPUT, help="Layer explored.").tag(sync=True)
    unit = Int(0, help="Selected unit.").tag(sync=True)
    objective = Enum(
        ("channel", "neuron", "linear", "logit"), default_value="logit", help="What is optimized."
    ).tag(sync=True)
    maximize = Bool(True, help="Maximize (True) or minimize the objective.").tag(sync=True)
    steps = Int(128, help="Optimization steps.").tag(sync=True)
    size = Int(32, help="Side of the synthesized image in pixels.").tag(sync=True)
    regularization = Float(1.0, help="Strength of the image prior.").tag(sync=True)

    # what the front-end shows (kernel -> browser)
    objectives = List(Unicode(), help="Objectives that apply to the layer.").tag(sync=True)
    unit_count = Int(0, help="Units in the layer.").tag(sync=True)
    unit_labels = List(Unicode(), help="Name of each unit.").tag(sync=True)
    unit_images = Tensor(dtype=torch.uint8, ndim=4, help="(units, h, w, 3) synthesized images.")
    unit_done = Tensor(dtype=torch.uint8, ndim=1, help="(units,) 1 where unit_images is final.")
    unit_scores = Tensor(dtype=torch.float32, ndim=1, help="Objective reached by each image.")
    preview_image = Tensor(dtype=torch.uint8, ndim=3, help="(h, w, 3) image being optimized.")
    preview_unit = Int(-1, help="Unit preview_image belongs to; -1 for none.").tag(sync=True)
    preview_label = Unicode("", help="How far the preview's optimization is.").tag(sync=True)
    examples = Tensor(dtype=torch.uint8, ndim=4, help="(m, h, w, 3) dataset thumbnails.")
    top_slots = Tensor(dtype=torch.int32, ndim=2, help="(units, k) rows of examples.")
    top_indices = Tensor(dtype=torch.int32, ndim=2, help="(units, k) dataset indices.")
    top_values = Tensor(dtype=torch.float32, ndim=2, help="(units, k) their activations.")
    input_image = Tensor(dtype=torch.uint8, ndim=3, help="(h, w, 3) the chosen input.")
    input_label = Unicode("", help="Where the chosen input comes from.").tag(sync=True)
    input_activations = Tensor(dtype=torch.float32, ndim=1, help="(units,) on the chosen input.")
    input_map = Tensor(
        dtype=torch.uint8,
        ndim=2,
        help="(h, w) where the selected unit fires on the chosen input: its activation map "
        "upsampled to input_image, 255 at its largest positive value; None for a flat layer.",
    )
    input_map_unit = Int(-1, help="Unit input_map belongs to; -1 for none.").tag(sync=True)
    input_map_peak = Float(0.0, help="Largest activation of input_map's unit on the input.").tag(
        sync=True
    )
    unit_dead = Tensor(
        dtype=torch.uint8,
        ndim=1,
        help="(units,) flags: 1 exactly 0 on every dataset image, 2 synthesis left it at 0 "
        "(bits; only for hidden layers, when maximizing).",
    )

    def __init__(
        self,
        model: nn.Module,
        layer: str | None = None,
        dataset: Any = None,
        *,
        unit: int = 0,
        objective: str | None = None,
        position: tuple[int, int] | None = None,
        maximize: bool = True,
        steps: int | None = None,
        size: int | None = None,
        regularization: float | None = None,
        channels: int | None = None,
        normalize: tuple[Sequence[float], Sequence[float]] | None = None,
        input: torch.Tensor | None = None,
        labels: Sequence[str] | None = None,
        k: int = 9,
        precompute: bool = True,
        display: DisplaySpec = None,
        output: Any = None,
        seed: int = 0,
    ) -> None:
        self.model = check_model(model)
        find_layer(model, layer or None)
        known = conv_channels(model)
        k = check_int(k, "k")
        unit = check_int(unit, "unit", low=0)
        if objective is not None and objective not in OBJECTIVES:
            raise ValueError(f"objective must be one of {OBJECTIVES[1:]}, got {objective!r}")
        self._position = None if position is None else int_tuple(position, "position")
        self._output = check_selector(output)
        self._precompute = check_bool(precompute, "precompute")
        self._seed = check_int(seed, "seed", low=None)
        self._data = None
        if isinstance(dataset, torch.Tensor) and dataset.ndim != 4:
            raise ValueError(
                f"a dataset tensor must hold images (N, C, H, W), got shape {tuple(dataset.shape)}"
            )
        if dataset is not None:
            self._data = ImageDataset(dataset, "dataset", channels=known)
            if not self._data.random_access:
                raise TypeError(
                    "dataset iterates an IterableDataset; the explorer shows dataset images by "
                    "index: pass a map-style Dataset (or a DataLoader over one)"
                )
        sample = self._data.sample if self._data is not None else None
        if input is not None:
            self._input = (
                check_image(input, "input", channels=known).detach().to("cpu", torch.float32)
            )
            self._input_name = "your input"
            sample = self._input if sample is None else sample
        else:
            self._input = None if self._data is None else self._data.sample
            self._input_name = "dataset example #0"
        if sample is not None:
            self._channels = int(sample.shape[0])
        elif channels is not None:
            self._channels = check_int(channels, "channels")
        else:
            self._channels = input_channels(model)
        Normalization.create(normalize, "normalize", channels=self._channels)
        self._normalize = normalize
        display = display if display is not None else normalize
        self._display = display_transform(sample, display) if sample is not None else None
        if labels is not None and (isinstance(labels, str) or not isinstance(labels, Sequence)):
            raise TypeError(f"labels must be a sequence of class names, got {labels!r}")
        self._labels = None if labels is None else [str(n) for n in labels]
        self._k = k
        self._units_of: dict[tuple[str, int], tuple[int, tuple[int, ...]]] = {}
        self._configured: str | None = None  # the layer the unit-dependent state is for
        self._checked: dict[str, tuple[str, Any]] = {}  # value -> layer it was validated for
        self._activations: torch.Tensor | None = None  # (N, U) dataset activations
        self._images: torch.Tensor | None = None  # (U, C, H, W) final images, NaN when not yet
        self._in_flight: set[int] = set()
        self._last_preview = 0.0
        layer_name = OUTPUT if layer in (None, "") else layer
        names = _layer_names(model)
        if layer_name not in names:
            # a layer with children (a block) may still be chosen by name
            names = [layer_name, *names]
        declared = declared_input_size(model)
        default_size = (
            int(sample.shape[-1]) if sample is not None else declared[0] if declared else 128
        )
        super().__init__(
            layers=names,
            layer=layer_name,
            maximize=check_bool(maximize, "maximize"),
            steps=steps if steps is not None else (128 if default_size <= 64 else 256),
            size=size if size is not None else default_size,
            regularization=1.0 if regularization is None else regularization,
        )
        self._configure(objective)
        self.unit = unit
        self._restart()

    # -- public API ----------------------------------------------------------------------
    @property
    def images(self) -> torch.Tensor:
        """Synthesized images (units, C, size, size) in [0, 1]; NaN for units not yet done."""
        return self._images.clone()

    @property
    def input_shape(self) -> tuple[int, int, int]:
        """Shape (C, H, W) of the synthesized inputs."""
        return (self._channels, self.size, self.size)

    def compute(self, units: int | Sequence[int] | None = None, *, wait: bool = True) -> None:
        """Synthesize ``units`` (default: every unit of the layer) now, in one batch per chunk."""
        chosen = (
            range(self.unit_count)
            if units is None
            else [units]
            if isinstance(units, int)
            else units
        )
        todo = [self._check_unit(u) for u in chosen]
        self._run("layer", lambda job: self._precompute_job(job, todo))
        if wait:
            self.wait()

    def stop(self) -> None:
        """Stop the background precompute; computed units stay."""
        self._cancel("layer")
        self._cancel("unit")

    def to_png(
        self, path: str | Path | None = None, *, unit: int | None = None, grid: bool = False
    ) -> bytes:
        """PNG of the selected (or given) unit's image, or of the whole layer with ``grid=True``."""
        if grid:
            done = self.unit_done.bool()
            tiles = self.unit_images[done]
            if not len(tiles):
                raise ValueError("no unit of this layer is computed yet")
            columns = max(1, round(len(tiles) ** 0.5))
            rows = -(-len(tiles) // columns)
            height, width = tiles.shape[1:3]
            sheet = torch.full(
                (rows * (height + 2), columns * (width + 2), 3), 255, dtype=torch.uint8
            )
            for i, tile in enumerate(tiles):
                r, c = divmod(i, columns)
                sheet[
                    r * (height + 2) : r * (height + 2) + height,
                    c * (width + 2) : c * (width + 2) + width,
                ] = tile
            image = sheet
        else:
            index = self.unit if unit is None else self._check_unit(unit)
            if not self.unit_done[index]:
                raise ValueError(f"unit {index} is not computed yet; call compute({index}) first")
            image = to_rgb8(self._images[index].clamp(0, 1))
        return png_export(image, path)

    # -- validation ------------------------------------------------------------------------
    def _check_unit(self, unit: Any) -> int:
        if not isinstance(unit, int) or isinstance(unit, bool):
            raise TypeError(f"unit must be an int, got {type(unit).__name__}")
        if not 0 <= unit < self.unit_count:
            raise ValueError(
                f"unit {unit} is out of range: layer {self.layer!r} has {self.unit_count} units "
                f"(0 to {self.unit_count - 1})"
            )
        return unit

    # Validators read the other settings from the traits, not from what was computed for the
    # old layer: values written together (set_state, hold_trait_notifications) are validated
    # against each other.
    def _layer_units(self, layer: str, size: int) -> tuple[int, tuple[int, ...]]:
        """Units and activation shape of ``layer`` for synthesized images of side ``size``."""
        key = (layer, size)
        if key not in self._units_of:
            arg = None if layer == OUTPUT else layer
            shape = (self._channels, size, size)
            self._units_of[key] = layer_units(self.model, arg, shape, output=self._output)
        return self._units_of[key]

    def _objectives_for(self, layer: str, size: int) -> tuple[str, ...]:
        if layer == OUTPUT:
            return objectives_for(OUTPUT, ())
        return objectives_for(layer, self._layer_units(layer, size)[1])

    @validate("layer")
    def _check_layer(self, proposal: dict) -> str:
        if proposal["value"] not in self.layers:
            raise TraitError(f"unknown layer {proposal['value']!r}; choose one of {self.layers}")
        if self._configured is not None:  # not during construction
            self._layer_units(proposal["value"], self.size)  # the model must run to the layer
        return proposal["value"]

    @validate("unit")
    def _check_unit_trait(self, proposal: dict) -> int:
        unit = proposal["value"]
        if self._configured is not None:
            count = self._layer_units(self.layer, self.size)[0]
            if not 0 <= unit < count:
                raise TraitError(
                    f"unit {unit} is out of range: layer {self.layer!r} has {count} units "
                    f"(0 to {count - 1})"
                )
        self._checked["unit"] = (self.layer, unit)
        return unit

    @validate("objective")
    def _check_objective(self, proposal: dict) -> str:
        if self._configured is not None:
            options = self._objectives_for(self.layer, self.size)
            if proposal["value"] not in options:
                raise TraitError(
                    f"objective {proposal['value']!r} does not apply to layer {self.layer!r}; "
                    f"choose one of {list(options)}"
                )
        self._checked["objective"] = (self.layer, proposal["value"])
        return proposal["value"]

    _check_steps = in_range("steps", low=1, high=10_000)
    _check_regularization = in_range("regularization", low=0, high=float("inf"), high_open=True)

    @validate("size")
    def _check_size(self, proposal: dict) -> int:
        size = proposal["value"]
        if not 4 <= size <= 1024:
            raise TraitError(f"size must be in [4, 1024], got {size}")
        if self._configured is not None:
            self._layer_units(self.layer, size)  # the model must take images of this size
        return size

    def _written_with_layer(self, name: str) -> bool:
        """Whether the current value of ``name`` was validated for the current layer."""
        return self._checked.get(name) == (self.layer, getattr(self, name))

    # -- reactions -------------------------------------------------------------------------
    @observe("layer")
    def _layer_changed(self, _change: dict) -> None:
        if self._configured is None:  # during construction
            return
        # a unit or objective written together with the layer is kept; else the defaults
        keep_objective = self._written_with_layer("objective")
        unit = self.unit if self._written_with_layer("unit") else 0
        self._configure(self.objective if keep_objective else None)
        self.unit = unit
        self._restart()

    @observe("objective", "maximize", "steps", "size", "regularization")
    def _settings_changed(self, change: dict) -> None:
        if self._configured != self.layer or self._images is None:
            return  # construction, or a layer change that restarts everything anyway
        if change["name"] == "size":
            self._configure(self.objective)
        self._restart(examples=change["name"] in ("objective", "maximize"))

    @observe("unit")
    def _unit_changed(self, change: dict) -> None:
        if self._images is None or self._configured != self.layer:
            return  # a layer change restarts with this unit first
        unit = change["new"]
        if self._input is not None and self.objective in ("channel", "neuron"):
            self._run("map", self._map_job, priority=1)
        if self.unit_done[unit] or unit in self._in_flight:
            return
        self._run("unit", lambda job: self._unit_job(job, unit), priority=2)

    @message("choose_example", index=int)
    def _on_choose_example(self, index: int) -> None:
        if self._data is None:
            raise ValueError("this explorer has no dataset to choose an example from")
        if not 0 <= index < len(self._data):
            raise ValueError(f"example index {index} is out of range [0, {len(self._data)})")
        self._input = self._data[index]
        self._input_name = f"dataset example #{index}"
        self._run("input", self._input_job, priority=1)

    @message("compute_all")
    def _on_compute_all(self) -> None:
        self.compute(wait=False)

    # -- background work ------------------------------------------------------------------
    def _configure(self, objective: str | None) -> None:
        """Read the layer's size and the objectives that apply to it."""
        count, shape = self._layer_units(self.layer, self.size)
        options = self._objectives_for(self.layer, self.size)
        if objective is not None and objective not in options:
            raise ValueError(
                f"objective {objective!r} does not apply to layer {self.layer!r} with activations "
                f"of shape {tuple(shape)}; choose one of {list(options)}"
            )
        if self.layer == OUTPUT and self._labels is not None:
            if len(self._labels) != count:
                raise ValueError(
                    f"got {len(self._labels)} labels but the model has {count} outputs"
                )
            names = list(self._labels)
        else:
            kind = "channel" if len(shape) == 3 else "unit"
            names = [f"{kind} {i}" for i in range(count)]
        with self.hold_sync():
            self.objectives = list(options)
            self.unit_count = count
            self.unit_labels = names
            self._configured = None  # the objective is checked above; its change restarts nothing
            self.objective = objective or options[0]
            self._configured = self.layer

    def _layer_arg(self) -> str | None:
        return None if self.layer == OUTPUT else self.layer

    def _synthesis_kwargs(self) -> dict[str, Any]:
        return {
            "objective": self.objective,
            "position": self._position if self.objective == "neuron" else None,
            "maximize": self.maximize,
            "size": self.size,
            "channels": self._channels,
            "steps": self.steps,
            "regularization": self.regularization,
            "normalize": self._normalize,
            "seed": self._seed,
            "output": self._output,
        }

    def _tile_size(self) -> tuple[int, int]:
        fits = int((TILE_BUDGET / (3 * max(self.unit_count, 1))) ** 0.5)
        side = min(self.size, TILE_SIDE, max(32, fits))
        return side, side

    def _restart(self, examples: bool = True) -> None:
        """Forget the layer's images and start computing them again."""
        for channel in ("unit", "layer"):
            self._cancel(channel)
        count = self.unit_count
        self._images = torch.full((count, *self.input_shape), float("nan"))
        self._in_flight = set()
        with self.hold_sync():
            self.unit_images = torch.zeros((count, *self._tile_size(), 3), dtype=torch.uint8)
            self.unit_done = torch.zeros(count, dtype=torch.uint8)
            self.unit_scores = torch.full((count,), float("nan"))
            self.unit_dead = torch.zeros(count, dtype=torch.uint8)
            self.preview_image = None
            self.preview_unit = -1
            self.preview_label = ""
        if examples:
            self._cancel("examples")
            with self.hold_sync():
                self.top_slots = self.top_indices = self.top_values = self.examples = None
                self.input_activations = None
                self.input_map = None
                self.input_map_unit = -1
            if self._data is not None:
                self._run("examples", self._examples_job, priority=1)
            elif self._input is not None:
                self._run("input", self._input_job, priority=1)
        self._run("unit", lambda job: self._unit_job(job, self.unit), priority=2)
        if self._precompute:
            self._run("layer", lambda job: self._precompute_job(job, range(count)))

    def _unit_job(self, job: Job, unit: int) -> None:
        if self.unit_done[unit] or unit in self._in_flight:
            return
        self._synthesize(job, [unit])

    def _precompute_job(self, job: Job, units: Sequence[int]) -> None:
        units = list(units)
        total = len(units)  # the overview counts every unit: so does the status line
        height, width = self.input_shape[1:]
        batch = max(1, min(MAX_BATCH, BATCH_PIXELS // (height * width)))
        while True:
            todo = [u for u in units if not self.unit_done[u] and u not in self._in_flight]
            if not todo:
                break
            # the unit under the slider first, then the layer in order
            todo.sort(key=lambda u: (u != self.unit, u))
            done = sum(int(self.unit_done[u]) for u in units)
            self._report_progress(
                job, done, total, f"synthesized {done} of {total} units", force=True
            )
            self._synthesize(job, todo[:batch], progress=(done, total))

    def _synthesize(
        self, job: Job, units: list[int], progress: tuple[int, int] | None = None
    ) -> None:
        """Optimize ``units`` as one batch, previewing the selected one, and store the results."""
        steps = self.steps

        def on_step(
            step: int, _steps: int, images: torch.Tensor, *, remaining: float | None
        ) -> bool:
            job.checkpoint()
            if progress is not None:
                done, total = progress
                label = f"synthesizing units {units[0]} to {units[-1]}: step {step} of {steps}"
                if remaining is not None and step < steps:
                    # the units after this batch, at this batch's pace per unit and step
                    pace = remaining / (steps - step) / len(units)
                    after = (total - done - len(units)) * steps * pace
                    label += f", {about(remaining + after)} left"
                self._report_progress(job, done + len(units) * step / steps, total, label)
            if self.unit in units and step < steps:
                left = "" if remaining is None else f", {about(remaining)} left"
                self._push_preview(images[units.index(self.unit)], self.unit, step, steps, left)
            return False

        self._in_flight.update(units)
        try:
            images = synthesize(
                self.model,
                self._layer_arg(),
                list(units),
                progress=on_step,
                should_stop=lambda: job.stale,
                **self._synthesis_kwargs(),
            )
            job.checkpoint()
            scores = self._scores(images, units)
            job.checkpoint()
        finally:
            self._in_flight.difference_update(units)
        self._store(units, images, scores)

    def _scores(self, images: torch.Tensor, units: list[int]) -> torch.Tensor:
        values = self._unit_values(normalizer(self._normalize)(images))
        return values[torch.arange(len(units)), torch.tensor(units)]

    def _unit_values(self, inputs: Any, **kwargs: Any) -> torch.Tensor:
        return layer_activations(
            self.model,
            self._layer_arg(),
            inputs,
            objective=self.objective,
            position=self._position if self.objective == "neuron" else None,
            output=self._output,
            **kwargs,
        )

    def _store(self, units: list[int], images: torch.Tensor, scores: torch.Tensor) -> None:
        index = torch.tensor(units)
        self._images[index] = images.float()
        tiles = self.unit_images.clone()
        done = self.unit_done.clone()
        unit_scores = self.unit_scores.clone()
        for row, unit in enumerate(units):
            tiles[unit] = to_rgb8(resize(images[row].clamp(0, 1), self._tile_size()))
        done[index] = 1
        unit_scores[index] = scores.float()
        dead = self.unit_dead.clone()
        if self._flags_dead():
            # still exactly 0 after the optimization: it did not move (no gradient: a dead ReLU)
            stuck = scores.float().abs() <= 1e-7
            dead[index] = (dead[index] & 1) | 2 * stuck.to(torch.uint8)
        with self.hold_sync():
            self.unit_images = tiles
            self.unit_done = done
            self.unit_scores = unit_scores
            self.unit_dead = dead
            if self.preview_unit in units:
                self.preview_unit = -1
                self.preview_image = None
                self.preview_label = ""

    def _push_preview(
        self, image: torch.Tensor, unit: int, step: int, steps: int, left: str = ""
    ) -> None:
        now = time.monotonic()
        if now - self._last_preview < PUSH_INTERVAL / 2:
            return
        self._last_preview = now
        with self.hold_sync():
            self.preview_image = to_rgb8(resize(image.clamp(0, 1), self._tile_size()))
            self.preview_unit = unit
            self.preview_label = f"optimizing: step {step} of {steps}{left}"

    def _examples_job(self, job: Job) -> None:
        data = self._data
        self._report_progress(job, 0, 1, f"ranking {len(data)} dataset images", force=True)
        top = top_activations(
            self.model,
            self._layer_arg(),
            data,
            k=min(self._k, len(data)),
            largest=self.maximize,
            objective=self.objective,
            position=self._position if self.objective == "neuron" else None,
            output=self._output,
            should_stop=lambda: job.stale,
        )
        job.checkpoint()
        activations = top.activations.float()
        indices, values = top.indices, top.values.float()
        unique, slots = torch.unique(indices, return_inverse=True)
        thumbs = torch.stack([self._thumbnail(data[int(i)]) for i in unique])
        job.checkpoint()
        self._activations = activations
        dead = self.unit_dead.clone()
        if self._flags_dead():
            # exactly 0 on every image: a dead ReLU (a pre-activation's mean may well be < 0)
            dead = (dead & 2) | (activations == 0).all(0).to(torch.uint8)
        with self.hold_sync():
            self.unit_dead = dead
            self.examples = thumbs
            self.top_slots = slots.to(torch.int32)
            self.top_indices = indices.to(torch.int32)
            self.top_values = values
        if self._input is not None:
            self._input_job(job)

    def _input_job(self, job: Job) -> None:
        values = self._unit_values(self._input[None])[0]
        job.checkpoint()
        with self.hold_sync():
            self.input_image = self._thumbnail(self._input)
            self.input_label = self._input_name
            self.input_activations = values.float()
        self._map_job(job)

    def _flags_dead(self) -> bool:
        """Whether "dead" applies: a hidden layer's units, pushed up."""
        return self.layer != OUTPUT and self.maximize and self.objective != "logit"

    def _map_job(self, job: Job) -> None:
        """Send where the selected unit fires on the chosen input (spatial layers only)."""
        unit = self.unit
        if self._input is None or self.objective not in ("channel", "neuron"):
            with self.hold_sync():
                self.input_map = None
                self.input_map_unit = -1
            return
        values = activation_map(self.model, self.layer, self._input, unit)
        job.checkpoint()
        peak = float(values.max())
        shown = values.clamp(min=0) / peak if peak > 0 else torch.zeros_like(values)
        size = tuple(self._thumbnail(self._input).shape[:2])
        codes = fraction_codes(resize(shown[None], size)[0])
        with self.hold_sync():
            self.input_map = codes
            self.input_map_unit = unit
            self.input_map_peak = peak

    def _thumbnail(self, image: torch.Tensor) -> torch.Tensor:
        shown = self._display(image).clamp(0, 1)
        height, width = shown.shape[1:]
        scale = min(1.0, THUMB_SIDE / max(height, width))
        return to_rgb8(resize(shown, (max(1, round(height * scale)), max(1, round(width * scale)))))
