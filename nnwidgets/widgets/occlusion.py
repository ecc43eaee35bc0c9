"""OcclusionExplorer: occlude image regions and watch a classifier's prediction change.

One module: one widget class (traits, checks, jobs, payloads); compute/occlusion*.py computes.
"""

from __future__ import annotations

import contextlib
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import torch
from torch import nn
from traitlets import Dict, Enum, List, TraitError, Unicode, observe, validate

from nnwidgets import colormaps
from nnwidgets._image import DisplaySpec, display_size, display_transform, resize, to_rgb8
from nnwidgets._png import png_export
from nnwidgets._traits import Float, Int, Pair, Tensor
from nnwidgets.compute import OcclusionGrid, occlusion_outputs, predict
from nnwidgets.compute._inputs import (
    check_bool,
    check_image,
    check_int,
    check_model,
    check_number,
    conv_channels,
)
from nnwidgets.compute._outputs import check_selector
from nnwidgets.compute.occlusion_view import (
    FILLS,
    SCORE_MODES,
    fill_baseline,
    map_extremes,
    occlude_at,
    score_drop,
)
from nnwidgets.widgets._base import NNWidget, bundle, in_range, message
from nnwidgets.widgets._worker import Job

#: value_mode's (compute's SCORE_MODES) and color_scale's choices, with the labels shown.
VALUE_MODES = dict(zip(SCORE_MODES, ("drop in probability", "drop in raw output"), strict=True))
COLOR_SCALES = {"fixed": "0 to 1 (fixed)", "fit": "fit to this map"}
#: Most classes whose per-position probabilities the front-end keeps for instant answers.
MAX_CACHED_CLASSES = 16


class OcclusionExplorer(NNWidget):
    """Occlude regions of an image and watch a classifier's prediction change.

    Click or drag on the image to cover a patch with the fill and see the class probabilities
    of the occluded image beside the original ones. *Sweep* slides the patch over the whole
    image and builds a sensitivity map (Zeiler & Fergus, 2014): how much the target class
    drops when each region is hidden. After a sweep, clicks answer at once from the
    per-position probabilities the sweep kept; the kernel then computes the exact position.

    Parameters
    ----------
    model
        A classifier taking a batch (N, C, H, W) and returning (N, K) outputs (logits).
    image
        One input, (C, H, W) or (1, C, H, W), in the model's input space.
    labels
        Class names, one per output; defaults to "0", "1", ...
    window, stride
        Occluder size and sweep step in pixels: an int or (height, width). Defaults: about a
        sixth of the shorter side, and half the window.
    fill
        What covers the occluded patch: "zero", "mean" (per-channel mean; ``dataset_mean`` if
        given, else the image's), "blur" (a blurred copy of the image) or a number.
    target
        Class whose drop the sweep maps; defaults to the predicted class.
    value_mode
        "probability" maps the drop in softmax probability, "raw" the drop in the raw output
        (the numbers :func:`nnwidgets.compute.occlusion` and Captum's Occlusion give).
    color_scale
        "fixed" (default) colours the map on probability's own range, 0 to 1, so a tiny
        effect looks tiny; "fit" stretches the colours to the map's largest value. Raw
        outputs have no fixed range: in "raw" mode the scale always fits the map. A map whose
        values all have one sign is drawn on a one-sided (sequential) scale.
    top_k
        Number of classes shown in the bars.
    output
        Selects the logits when the model returns a tuple, dict or object (see
        :func:`nnwidgets.compute.select_output`).
    display
        How to show model inputs: ``None`` (auto), ``(mean, std)`` of a normalization to undo,
        or a function from a (C, H, W) tensor to (1 or 3, H, W) values in [0, 1].
    batch_size, memory_budget, incremental
        Passed to :func:`nnwidgets.compute.occlusion_outputs` for the sweep: by default it
        recomputes each convolution only where the patch reaches (exact, and faster); pass
        ``incremental=False`` to run the model's own forward on every copy (e.g. when the
        forward has side effects).
    """

    _esm = bundle("occlusion.js")
    _css = bundle("occlusion.css")

    # what the front-end shows (kernel -> browser)
    image = Tensor(dtype=torch.uint8, ndim=3, help="Displayed image, (h, w, 3) uint8.")
    fill_image = Tensor(dtype=torch.uint8, ndim=3, help="Displayed fill, (h, w, 3) uint8.")
    image_size = List(Int(), help="[height, width] of the model input.").tag(sync=True)
    labels = List(Unicode(), help="Class names.").tag(sync=True)
    clean_probs = Tensor(dtype=torch.float32, ndim=1, help="Probabilities of the original image.")
    occluded_probs = Tensor(dtype=torch.float32, ndim=1, help="Probabilities at the probe.")
    probe = List(
        Int(), default_value=None, allow_none=True, help="[row, col] of the probe's top-left."
    ).tag(sync=True)
    probe_id = Int(0, help="Front-end request id the probe result answers.").tag(sync=True)
    heatmap_view = Tensor(
        dtype=torch.float32, ndim=2, help="Sensitivity map at display size; NaN=none."
    )
    heatmap_limit = Float(1.0, help="Colour limit of the map: |values| drawn at full colour.").tag(
        sync=True
    )
    heatmap_peak = Float(0.0, help="The map's value of largest magnitude.").tag(sync=True)
    heatmap_sign = Int(
        0, help="1 or -1 when every value of the map has that sign (one-sided scale), else 0."
    ).tag(sync=True)
    sweep_done = List(Int(), help="[positions swept, positions in all] of the map.").tag(sync=True)
    heatmap_units = Unicode("", help="What the map's values measure.").tag(sync=True)
    sweep_probs = Tensor(dtype=torch.float32, ndim=2, help="(positions, classes) probabilities.")
    sweep_classes = Tensor(dtype=torch.int32, ndim=1, help="Classes of sweep_probs' columns.")
    sweep_geometry = Dict(help="window, stride and counts of the cached sweep.").tag(sync=True)

    _settings = (
        "window",
        "stride",
        "fill",
        "fill_value",
        "target",
        "value_mode",
        "color_scale",
        "opacity",
        "top_k",
    )

    # settings (both ways)
    window = Pair(help="[height, width] of the occluder (an int: a square).").tag(sync=True)
    stride = Pair(help="[height, width] step of the sweep, at most the window.").tag(sync=True)
    fill = Enum(FILLS, default_value="zero", help="What covers the occluded patch.").tag(sync=True)
    fills = List(Unicode(), list(FILLS), read_only=True, help="fill's choices.").tag(sync=True)
    fill_value = Float(0.0, float32=True, help="Fill value when fill is 'value'.").tag(sync=True)
    target = Int(0, help="Class whose drop is mapped.").tag(sync=True)
    value_mode = Enum(SCORE_MODES, default_value="probability").tag(sync=True)
    value_modes = Dict(VALUE_MODES, read_only=True, help="value_mode's choices.").tag(sync=True)
    color_scale = Enum(
        tuple(COLOR_SCALES), default_value="fixed", help="Map colours on 0..1 or fit to the map."
    ).tag(sync=True)
    color_scales = Dict(COLOR_SCALES, read_only=True, help="color_scale's choices.").tag(sync=True)
    opacity = Float(0.6, help="Opacity of the map over the image.").tag(sync=True)
    top_k = Int(5, help="Classes shown in the bars.").tag(sync=True)

    def __init__(
        self,
        model: nn.Module,
        image: torch.Tensor,
        labels: Sequence[str] | None = None,
        *,
        window: int | tuple[int, int] | None = None,
        stride: int | tuple[int, int] | None = None,
        fill: str | float = "zero",
        target: int | None = None,
        value_mode: str = "probability",
        color_scale: str = "fixed",
        top_k: int = 5,
        output: Any = None,
        display: DisplaySpec = None,
        dataset_mean: Sequence[float] | torch.Tensor | None = None,
        batch_size: int | None = None,
        memory_budget: int | None = None,
        incremental: bool | None = None,
    ) -> None:
        self.model = check_model(model)
        image = check_image(image, "image", channels=conv_channels(model))
        self._x = image.detach().to("cpu", torch.float32).clone()
        self._output = check_selector(output)
        self._batch_size = None if batch_size is None else check_int(batch_size, "batch_size")
        self._memory_budget = (
            None if memory_budget is None else check_int(memory_budget, "memory_budget")
        )
        self._incremental = None if incremental is None else check_bool(incremental, "incremental")
        self._display = display_transform(self._x, display)
        self._view_size = display_size(*self._x.shape[1:])
        self._dataset_mean = self._check_mean(dataset_mean)
        fill_name, fill_value = self._check_fill(fill)
        if labels is not None and (isinstance(labels, str) or not isinstance(labels, Sequence)):
            raise TypeError(f"labels must be a sequence of class names, got {labels!r}")
        target = None if target is None else check_int(target, "target", low=0)
        top_k = check_int(top_k, "top_k")
        height, width = self._x.shape[1:]
        win = self._pair(window, "window", default=max(1, round(min(height, width) / 6)))
        step = self._pair(stride, "stride", default=max(1, min(win) // 2))
        OcclusionGrid.create(tuple(self._x.shape), tuple(win), tuple(step))  # they fit the image
        self._clean_outputs = predict(model, self._x[None], output=output)[0].float().cpu()
        classes = self._clean_outputs.numel()
        names = [str(i) for i in range(classes)] if labels is None else [str(n) for n in labels]
        if len(names) != classes:
            raise ValueError(f"got {len(names)} labels but the model has {classes} outputs")
        self._sweep_outputs: torch.Tensor | None = None
        self._sweep_grid: OcclusionGrid | None = None
        self._heatmap: torch.Tensor | None = None
        clean_probs = self._clean_outputs.softmax(0)
        super().__init__(
            image=to_rgb8(resize(self._display(self._x), self._view_size)),
            image_size=[height, width],
            labels=names,
            clean_probs=clean_probs,
            window=win,
            stride=step,
            fill=fill_name,
            fill_value=fill_value,
            target=int(clean_probs.argmax()) if target is None else target,
            value_mode=value_mode,
            color_scale=color_scale,
            top_k=top_k,
        )
        self._update_fill_image()

    # -- public API ----------------------------------------------------------------------
    @property
    def prediction(self) -> int:
        """Class the model predicts for the original image."""
        return int(self._clean_outputs.argmax())

    @property
    def heatmap(self) -> torch.Tensor | None:
        """Sensitivity map (H, W) of the last sweep (partial while it runs), or None."""
        return None if self._heatmap is None else self._heatmap.clone()

    def occlude(self, row: int, col: int, *, wait: bool = True) -> None:
        """Occlude the patch centred on pixel (row, col), as a click there does."""
        row, col = check_int(row, "row", low=None), check_int(col, "col", low=None)
        check_bool(wait, "wait")
        top = min(max(row - self.window[0] // 2, 0), self.image_size[0] - self.window[0])
        left = min(max(col - self.window[1] // 2, 0), self.image_size[1] - self.window[1])
        self._on_probe(y=top, x=left, id=self.probe_id + 1)
        if wait:
            self.wait()

    def sweep(self, *, wait: bool = False) -> None:
        """Slide the occluder over the image and build :attr:`heatmap` (progressively)."""
        self._on_sweep()
        if wait:
            self.wait()

    def stop(self) -> None:
        """Stop a running sweep; the partial map stays."""
        self._cancel("sweep")

    def clear(self) -> None:
        """Remove the occluder and the map."""
        self._cancel("probe")
        self._cancel("sweep")
        self._forget_sweep()
        with self.hold_sync():
            self.probe = None
            self.occluded_probs = None

    def to_png(self, path: str | Path | None = None, *, min_size: int = 256) -> bytes:
        """Return (and write to ``path`` if given) a PNG of the image with the map overlaid."""
        image = self.image.float()
        if self.probe is not None:
            top, left = self._view_box(self.probe)
            image[top[0] : top[1], left[0] : left[1]] = self.fill_image[
                top[0] : top[1], left[0] : left[1]
            ].float()
        if self.heatmap_view is not None:
            image = colormaps.overlay(
                image, self.heatmap_view, self.heatmap_limit, self.opacity, self.heatmap_sign
            )
        return png_export(image.round().clamp(0, 255).to(torch.uint8), path, min_size)

    # -- validation of settings ----------------------------------------------------------
    def _pair(self, value: Any, name: str, default: int) -> list[int]:
        try:
            return Pair().validate(None, default if value is None else value)
        except TraitError:
            raise TypeError(f"{name} must be an int or a pair of ints, got {value!r}") from None

    def _check_fill(self, fill: Any) -> tuple[str, float]:
        if isinstance(fill, str):
            if fill not in FILLS or fill == "value":
                raise ValueError(f"fill must be one of {FILLS[:-1]} or a number, got {fill!r}")
            return fill, 0.0
        if isinstance(fill, bool) or not isinstance(fill, int | float):
            raise TypeError(f"fill must be one of {FILLS[:-1]} or a number, got {fill!r}")
        return "value", check_number(fill, "fill", float32=True)

    def _check_mean(self, mean: Any) -> torch.Tensor | None:
        if mean is None:
            return None
        try:
            values = torch.as_tensor(mean, dtype=torch.float32).flatten()
        except (TypeError, ValueError, RuntimeError) as error:
            raise TypeError(f"dataset_mean must be numbers, got {mean!r}") from error
        channels = self._x.shape[0]
        if values.numel() not in (1, channels):
            raise ValueError(f"dataset_mean needs 1 or {channels} values, got {values.numel()}")
        if not bool(torch.isfinite(values).all()):
            raise ValueError(f"dataset_mean must be finite, got {values.tolist()}")
        return values

    @validate("window")
    def _check_window(self, proposal: dict) -> list[int]:
        height, width = self._x.shape[1:]
        h, w = proposal["value"]
        if not (1 <= h <= height and 1 <= w <= width):
            raise TraitError(
                f"window {[h, w]} must be between [1, 1] and the image size {[height, width]}"
            )
        return [h, w]

    @validate("stride")
    def _check_stride(self, proposal: dict) -> list[int]:
        h, w = proposal["value"]
        window = self.window  # the new window when both are written together
        if not (1 <= h <= window[0] and 1 <= w <= window[1]):
            raise TraitError(
                f"stride {[h, w]} must be between [1, 1] and the window {window}, or some "
                "pixels would never be occluded"
            )
        return [h, w]

    @observe("window")
    def _window_changed(self, change: dict) -> None:
        # a smaller window keeps the sweep complete: the stride follows it down
        stride = [min(s, w) for s, w in zip(self.stride, change["new"], strict=True)]
        if stride != self.stride:
            self.stride = stride

    @validate("target")
    def _check_target(self, proposal: dict) -> int:
        classes = self._clean_outputs.numel()
        if not 0 <= proposal["value"] < classes:
            raise TraitError(
                f"target must be a class index in [0, {classes}), got {proposal['value']}"
            )
        return proposal["value"]

    _check_opacity = in_range("opacity", low=0, high=1)

    @validate("top_k")
    def _check_top_k(self, proposal: dict) -> int:
        if proposal["value"] < 1:
            raise TraitError("top_k must be at least 1")
        return min(proposal["value"], self._clean_outputs.numel())

    # -- reactions ---------------------------------------------------------------------
    @observe("window", "stride", "fill", "fill_value")
    def _settings_changed(self, change: dict) -> None:
        if change["name"] != "stride":
            self._update_fill_image()
        self._cancel("sweep")
        self._forget_sweep()
        if self.probe is not None and change["name"] != "stride":
            top = min(self.probe[0], self.image_size[0] - self.window[0])
            left = min(self.probe[1], self.image_size[1] - self.window[1])
            self._on_probe(y=top, x=left, id=self.probe_id + 1)

    @observe("target", "value_mode", "color_scale")
    def _scoring_changed(self, _change: dict) -> None:
        if self._sweep_outputs is not None and self._sweep_grid is not None:
            done = ~self._sweep_outputs[:, 0].isnan()
            self._publish(self._sweep_grid, self._sweep_outputs, done)
            if done.all():
                self._publish_cache(self._sweep_grid, self._sweep_outputs)

    # -- front-end messages ------------------------------------------------------------
    @message("probe", y=int, x=int, id=int)
    def _on_probe(self, y: int, x: int, id: int) -> None:
        height, width = self.image_size
        if not (0 <= y <= height - self.window[0] and 0 <= x <= width - self.window[1]):
            raise ValueError(
                f"occluder at row {y}, column {x} does not fit: the top-left corner must be within "
                f"[0, {height - self.window[0]}] x [0, {width - self.window[1]}]"
            )
        window, baseline = list(self.window), self._baseline()

        def job(job: Job) -> None:
            occluded = occlude_at(self._x, y, x, window, baseline)
            probs = predict(self.model, occluded, output=self._output)[0].float().cpu().softmax(0)
            job.checkpoint()
            with self.hold_sync():
                self.probe = [y, x]
                self.probe_id = id
                self.occluded_probs = probs

        self._run("probe", job, priority=1)

    @message("sweep")
    def _on_sweep(self) -> None:
        grid = OcclusionGrid.create(tuple(self._x.shape), tuple(self.window), tuple(self.stride))
        baseline = self._baseline()
        self._forget_sweep()

        def job(job: Job) -> None:
            total = len(grid)
            outputs = torch.full((total, self._clean_outputs.numel()), float("nan"))
            done = torch.zeros(total, dtype=torch.bool)
            self._report_progress(job, 0, total, f"sweeping {total} positions", force=True)
            chunks = occlusion_outputs(
                self.model,
                self._x,
                grid,
                baseline,
                batch_size=self._batch_size,
                memory_budget=self._memory_budget,
                output=self._output,
                should_stop=lambda: job.stale,
                incremental=self._incremental,
            )
            with contextlib.closing(chunks):
                for indices, chunk in chunks:
                    job.checkpoint()
                    outputs[indices] = chunk.float()
                    done[indices] = True
                    finished = bool(done.all())
                    label = f"swept {int(done.sum())} of {total} positions"
                    if self._report_progress(job, int(done.sum()), total, label, force=finished):
                        self._publish(grid, outputs, done)
            job.checkpoint()
            self._sweep_outputs, self._sweep_grid = outputs, grid
            self._publish_cache(grid, outputs)

        self._run("sweep", job)

    @message("clear")
    def _on_clear(self) -> None:
        self.clear()

    # -- helpers -----------------------------------------------------------------------
    def _baseline(self) -> torch.Tensor:
        return fill_baseline(
            self._x,
            self.fill,
            value=self.fill_value,
            mean=self._dataset_mean,
            window=tuple(self.window),
        )

    def _update_fill_image(self) -> None:
        self.fill_image = to_rgb8(resize(self._display(self._baseline()), self._view_size))

    def _view_box(self, probe: list[int]) -> tuple[tuple[int, int], tuple[int, int]]:
        sy = self._view_size[0] / self.image_size[0]
        sx = self._view_size[1] / self.image_size[1]
        rows = (round(probe[0] * sy), round((probe[0] + self.window[0]) * sy))
        cols = (round(probe[1] * sx), round((probe[1] + self.window[1]) * sx))
        return rows, cols

    def _units(self) -> str:
        name = self.labels[self.target]
        if self.value_mode == "raw":
            return f"drop in the raw output (logit) of class '{name}'"
        return f"drop in P('{name}') when the patch is occluded"

    def _publish(self, grid: OcclusionGrid, outputs: torch.Tensor, done: torch.Tensor) -> None:
        scores = score_drop(
            self._clean_outputs, outputs.nan_to_num(0.0), self.target, self.value_mode
        )
        heatmap = grid.attribution(scores, done=None if bool(done.all()) else done).mean(0)
        view = resize(heatmap, self._view_size)
        peak, sign = map_extremes(heatmap)
        fixed = self.color_scale == "fixed" and self.value_mode == "probability"
        self._heatmap = heatmap
        with self.hold_sync():
            self.heatmap_view = view
            self.heatmap_limit = 1.0 if fixed else max(abs(peak), 1e-6)
            self.heatmap_peak = peak
            self.heatmap_sign = sign
            self.heatmap_units = self._units()
            self.sweep_done = [int(done.sum()), len(grid)]

    def _publish_cache(self, grid: OcclusionGrid, outputs: torch.Tensor) -> None:
        probs = outputs.softmax(1)
        ranked = [int(c) for c in self.clean_probs.argsort(descending=True)[: self.top_k]]
        extra = [self.target, *(int(c) for c in probs.argmax(1).unique())]
        classes = list(dict.fromkeys(ranked + extra))[:MAX_CACHED_CLASSES]
        with self.hold_sync():
            self.sweep_probs = probs[:, classes]
            self.sweep_classes = torch.tensor(classes, dtype=torch.int32)
            self.sweep_geometry = {
                "window": list(grid.window[-2:]),
                "stride": list(grid.stride[-2:]),
                "counts": list(grid.counts[-2:]),
            }

    def _forget_sweep(self) -> None:
        self._sweep_outputs = self._sweep_grid = self._heatmap = None
        with self.hold_sync():
            self.heatmap_view = None
            self.sweep_done = []
            self.sweep_probs = None
            self.sweep_classes = None
            self.sweep_geometry = {}
