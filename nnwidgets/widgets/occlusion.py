"""OcclusionExplorer: occlude image regions and watch a classifier's prediction change."""

from __future__ import annotations

import contextlib
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import ipywidgets
import torch
from torch import nn
from traitlets import Dict, Enum, Float, Int, List, TraitError, Unicode, observe, validate

from nnwidgets import colormaps
from nnwidgets._image import (
    DisplaySpec,
    display_size,
    display_transform,
    gaussian_blur,
    resize,
    to_rgb8,
)
from nnwidgets._png import png_export
from nnwidgets._traits import Tensor
from nnwidgets.compute import OcclusionGrid, occlusion_outputs, predict
from nnwidgets.widgets._base import NNWidget, bundle, in_range, message
from nnwidgets.widgets._charts import ProbabilityBars
from nnwidgets.widgets._worker import Job

FILLS = ("zero", "mean", "blur", "value")
#: Most classes whose per-position probabilities the front-end keeps for instant answers.
MAX_CACHED_CLASSES = 16


def _as_image(image: Any) -> torch.Tensor:
    if not isinstance(image, torch.Tensor):
        raise TypeError(
            f"image must be a torch.Tensor of shape (C, H, W), got {type(image).__name__}"
        )
    if image.ndim == 4 and image.shape[0] == 1:
        image = image[0]
    if image.ndim != 3:
        raise ValueError(
            f"image must have shape (C, H, W) or (1, C, H, W), got {tuple(image.shape)}"
        )
    if not image.is_floating_point():
        raise TypeError(
            f"image must be a floating-point tensor, got {image.dtype}; convert it first, "
            "e.g. image.float() / 255"
        )
    if not torch.isfinite(image).all():
        raise ValueError("image contains NaN or infinite values")
    return image.detach().to("cpu", torch.float32).clone()


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
    heatmap_limit = Float(1.0, help="Symmetric colour limit of the map.").tag(sync=True)
    heatmap_units = Unicode("", help="What the map's values measure.").tag(sync=True)
    sweep_probs = Tensor(dtype=torch.float32, ndim=2, help="(positions, classes) probabilities.")
    sweep_classes = Tensor(dtype=torch.int32, ndim=1, help="Classes of sweep_probs' columns.")
    sweep_geometry = Dict(help="window, stride and counts of the cached sweep.").tag(sync=True)

    # settings (both ways)
    window = List(Int(), minlen=2, maxlen=2, help="[height, width] of the occluder.").tag(sync=True)
    stride = List(Int(), minlen=2, maxlen=2, help="[height, width] step of the sweep.").tag(
        sync=True
    )
    fill = Enum(FILLS, default_value="zero", help="What covers the occluded patch.").tag(sync=True)
    fill_value = Float(0.0, help="Fill value when fill is 'value'.").tag(sync=True)
    target = Int(0, help="Class whose drop is mapped.").tag(sync=True)
    value_mode = Enum(("probability", "raw"), default_value="probability").tag(sync=True)
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
        top_k: int = 5,
        output: Any = None,
        display: DisplaySpec = None,
        dataset_mean: Sequence[float] | torch.Tensor | None = None,
        batch_size: int | None = None,
        memory_budget: int | None = None,
        incremental: bool | None = None,
    ) -> None:
        if not isinstance(model, nn.Module):
            raise TypeError(f"model must be a torch.nn.Module, got {type(model).__name__}")
        self.model = model
        self._x = _as_image(image)
        self._output = output
        self._batch_size = batch_size
        self._memory_budget = memory_budget
        self._incremental = incremental
        self._display = display_transform(self._x, display)
        self._view_size = display_size(*self._x.shape[1:])
        self._dataset_mean = None if dataset_mean is None else torch.as_tensor(dataset_mean).float()
        self._clean_outputs = predict(model, self._x[None], output=output)[0].float().cpu()
        classes = self._clean_outputs.numel()
        names = [str(i) for i in range(classes)] if labels is None else [str(n) for n in labels]
        if len(names) != classes:
            raise ValueError(f"got {len(names)} labels but the model has {classes} outputs")
        self._sweep_outputs: torch.Tensor | None = None
        self._sweep_grid: OcclusionGrid | None = None
        self._heatmap: torch.Tensor | None = None
        height, width = self._x.shape[1:]
        win = self._pair(window, "window", default=max(1, round(min(height, width) / 6)))
        step = self._pair(stride, "stride", default=max(1, win[0] // 2))
        fill_name, fill_value = (fill, 0.0) if isinstance(fill, str) else ("value", float(fill))
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
            top_k=top_k,
        )
        self._update_fill_image()
        self.chart = ProbabilityBars("Class probabilities")
        self.chart.on_select(self._select_target)
        self._refresh_chart()
        self._box = ipywidgets.HBox(
            [self, self.chart.figure], layout=ipywidgets.Layout(align_items="flex-start")
        )

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
        top = min(max(int(row) - self.window[0] // 2, 0), self.image_size[0] - self.window[0])
        left = min(max(int(col) - self.window[1] // 2, 0), self.image_size[1] - self.window[1])
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
        self._refresh_chart()

    def to_png(self, path: str | Path | None = None, *, min_size: int = 256) -> bytes:
        """Return (and write to ``path`` if given) a PNG of the image with the map overlaid."""
        image = self.image.float()
        if self.probe is not None:
            top, left = self._view_box(self.probe)
            image[top[0] : top[1], left[0] : left[1]] = self.fill_image[
                top[0] : top[1], left[0] : left[1]
            ].float()
        if self.heatmap_view is not None:
            image = colormaps.overlay(image, self.heatmap_view, self.heatmap_limit, self.opacity)
        return png_export(image.round().clamp(0, 255).to(torch.uint8), path, min_size)

    def _repr_mimebundle_(self, **kwargs: Any) -> Any:
        return self._box._repr_mimebundle_(**kwargs)

    def close(self) -> None:
        """Close the widget, its chart and its layout."""
        super().close()
        for part in (
            getattr(self, "chart", None) and self.chart.figure,
            getattr(self, "_box", None),
        ):
            if part is not None:
                part.close()

    # -- validation of settings ----------------------------------------------------------
    def _pair(self, value: Any, name: str, default: int) -> list[int]:
        value = default if value is None else value
        pair = [value, value] if isinstance(value, int) else value
        if (
            not isinstance(pair, list | tuple)
            or len(pair) != 2
            or not all(isinstance(v, int) and not isinstance(v, bool) for v in pair)
        ):
            raise TypeError(f"{name} must be an int or a pair of ints, got {value!r}")
        return list(pair)

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
        if h < 1 or w < 1:
            raise TraitError(f"stride must be at least 1 in each direction, got {[h, w]}")
        return [h, w]

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

    @validate("fill_value")
    def _check_fill_value(self, proposal: dict) -> float:
        if proposal["value"] != proposal["value"] or abs(proposal["value"]) == float("inf"):
            raise TraitError("fill_value must be a finite number")
        return proposal["value"]

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

    @observe("target", "value_mode")
    def _scoring_changed(self, _change: dict) -> None:
        if self._sweep_outputs is not None and self._sweep_grid is not None:
            done = ~self._sweep_outputs[:, 0].isnan()
            self._publish(self._sweep_grid, self._sweep_outputs, done)
            if done.all():
                self._publish_cache(self._sweep_grid, self._sweep_outputs)
        if hasattr(self, "chart"):
            self._refresh_chart()

    @observe("clean_probs", "occluded_probs", "top_k")
    def _probs_changed(self, _change: dict) -> None:
        if hasattr(self, "chart"):
            self._refresh_chart()

    def _select_target(self, index: int) -> None:
        self.target = index

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
            occluded = self._x.clone()
            occluded[:, y : y + window[0], x : x + window[1]] = baseline[
                :, y : y + window[0], x : x + window[1]
            ]
            probs = (
                predict(self.model, occluded[None], output=self._output)[0].float().cpu().softmax(0)
            )
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

    @message("stop")
    def _on_stop(self) -> None:
        self.stop()

    @message("clear")
    def _on_clear(self) -> None:
        self.clear()

    # -- helpers -----------------------------------------------------------------------
    def _baseline(self) -> torch.Tensor:
        x = self._x
        if self.fill == "zero":
            return torch.zeros_like(x)
        if self.fill == "value":
            return torch.full_like(x, self.fill_value)
        if self.fill == "mean":
            mean = x.mean(dim=(1, 2)) if self._dataset_mean is None else self._dataset_mean
            if mean.numel() not in (1, x.shape[0]):
                raise ValueError(f"dataset_mean needs 1 or {x.shape[0]} values, got {mean.numel()}")
            return mean.reshape(-1, 1, 1).expand_as(x).clone()
        return gaussian_blur(x, sigma=max(1.0, max(self.window) / 2))

    def _update_fill_image(self) -> None:
        self.fill_image = to_rgb8(resize(self._display(self._baseline()), self._view_size))

    def _view_box(self, probe: list[int]) -> tuple[tuple[int, int], tuple[int, int]]:
        sy = self._view_size[0] / self.image_size[0]
        sx = self._view_size[1] / self.image_size[1]
        rows = (round(probe[0] * sy), round((probe[0] + self.window[0]) * sy))
        cols = (round(probe[1] * sx), round((probe[1] + self.window[1]) * sx))
        return rows, cols

    def _scores(self, outputs: torch.Tensor) -> torch.Tensor:
        t = self.target
        if self.value_mode == "raw":
            return self._clean_outputs[t] - outputs[:, t]
        return self._clean_outputs.softmax(0)[t] - outputs.softmax(1)[:, t]

    def _units(self) -> str:
        name = self.labels[self.target]
        if self.value_mode == "raw":
            return f"drop in the raw output (logit) of class '{name}'"
        return f"drop in P('{name}') when the patch is occluded"

    def _publish(self, grid: OcclusionGrid, outputs: torch.Tensor, done: torch.Tensor) -> None:
        scores = self._scores(outputs.nan_to_num(0.0))
        heatmap = grid.attribution(scores, done=None if bool(done.all()) else done).mean(0)
        view = resize(heatmap, self._view_size)
        finite = view[~view.isnan()]
        limit = float(finite.abs().max()) if finite.numel() else 1.0
        self._heatmap = heatmap
        with self.hold_sync():
            self.heatmap_view = view
            self.heatmap_limit = max(limit, 1e-6)
            self.heatmap_units = self._units()

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
            self.sweep_probs = None
            self.sweep_classes = None
            self.sweep_geometry = {}

    def _refresh_chart(self) -> None:
        before = self.clean_probs
        after = before if self.occluded_probs is None else self.occluded_probs
        ranked = [int(c) for c in before.argsort(descending=True)[: self.top_k]]
        extra = [self.target, int(after.argmax())]
        classes = list(dict.fromkeys(ranked + extra))
        self.chart.update(classes, self.labels, before, after, self.target)
