"""AttributionExplorer: attribution methods side by side on one image, with a sanity check.

One module: one widget class (traits, checks, jobs, payloads); compute/attribution/ computes.
"""

from __future__ import annotations

import contextlib
import math
import threading
from collections.abc import Callable, Mapping, Sequence
from typing import Any

import torch
from torch import nn
from traitlets import Dict, List, TraitError, Unicode, observe, validate

from nnwidgets._image import DisplaySpec, display_size, display_transform, resize, to_rgb8
from nnwidgets._traits import Float, Int, Tensor, TensorDict
from nnwidgets.compute import predict
from nnwidgets.compute._inputs import check_model, conv_channels
from nnwidgets.compute._outputs import check_selector
from nnwidgets.compute.activation_grid import spatial_layers
from nnwidgets.compute.attribution import METHODS, attribution
from nnwidgets.compute.attribution.grad_cam import default_layer
from nnwidgets.compute.attribution.pixel_maps import NON_NEGATIVE, pixel_map, reduction
from nnwidgets.compute.attribution.sanity import SanityStep, randomizable_layers, sanity_steps
from nnwidgets.widgets._base import NNWidget, bundle, in_range, message
from nnwidgets.widgets._image_input import dataset_input, first_input, next_input
from nnwidgets.widgets._worker import Job, Superseded

DEFAULT_METHODS = ("saliency", "guided_backprop", "grad_cam")
#: Methods that take a ``layer=`` (a layer with spatial output).
LAYER_METHODS = ("grad_cam", "guided_grad_cam")
#: How the methods are named on screen.
TITLES = {
    "saliency": "Saliency",
    "input_x_gradient": "Input \u00d7 gradient",
    "deconvnet": "Deconvnet",
    "guided_backprop": "Guided backprop",
    "integrated_gradients": "Integrated gradients",
    "grad_cam": "Grad-CAM",
    "guided_grad_cam": "Guided Grad-CAM",
    "lime": "LIME",
    "occlusion": "Occlusion",
}
#: Every method as the front-end shows it (its names, labels, and which maps are signed).
CATALOG = [
    {
        "name": m.name,
        "title": TITLES.get(m.name, m.name),
        "summary": m.summary,
        "signed": m.name not in NON_NEGATIVE,
        "reduction": reduction(m.name),
    }
    for m in METHODS.values()
]


class AttributionExplorer(NNWidget):
    """Attribution maps of several methods side by side, for one image and one target class.

    Each chosen method's map is drawn over the image, with one opacity for all and a legend
    per map stating its range: signed methods on the diverging colour map, symmetric about
    0; saliency and Grad-CAM (never negative) on the sequential one, from 0. A map holds
    one value per pixel (see :mod:`nnwidgets.compute.attribution.pixel_maps`): saliency
    sums |attribution| over the channels, Grad-CAM, LIME and occlusion have one value per
    pixel, the other methods sum the signed attribution over the channels. Hover a pixel
    to read every map's value there.

    Checking a method computes its map in the background; changing the target, the image
    (``dataset`` slider) or the options recomputes, map by map, the newest request first.
    The sanity check of Adebayo et al. (2018) is built in: it re-initialises the layers of
    a copy of the model from the output down and shows how each map changes, with its
    rank correlation to the map of the trained model.

    Parameters
    ----------
    model
        A classifier taking (N, C, H, W) images (borrowed, left untouched).
    image
        One input, (C, H, W) or (1, C, H, W), as the model takes it; None takes
        ``dataset``'s first image.
    methods
        Names of :data:`nnwidgets.compute.attribution.METHODS` shown at start.
    labels
        Class names, one per output; defaults to "0", "1", ...
    target
        Class explained at start; default the predicted class. A new image explains its
        own predicted class.
    options
        Options per method, e.g. ``{"grad_cam": {"layer": "conv2"}}`` (see each method's
        ``METHODS[name].options``). Grad-CAM's ``layer`` defaults to the model's last
        ``nn.Conv2d`` (the compute's default), or its last layer with spatial output;
        occlusion's ``window`` to about a sixth of the image's shorter side, with a stride
        of half the window.
    dataset
        Images (N, C, H, W), a map-style Dataset or a DataLoader over one, of the image's
        shape: the index slider picks among them.
    output, display
        Output selector and how to show inputs, as for :class:`~nnwidgets.OcclusionExplorer`.

    Notes
    -----
    The first maps are computed when the explorer is made (so bad options fail there).
    Maps travel as float32 at the image's display size (at most 1024 pixels a side,
    area-averaged above that): 200 KB per map for a 224 x 224 image. Every map computed
    for the current image and target stays in the state, so a saved page switches among
    them. The sanity check's maps are at most ``SANITY_SIDE`` a side (16 KB per map and
    step: a ResNet-18 has 41 layers to re-initialise, 2 MB for three methods). Options reach
    the browser only as the notes in panel titles (``option_notes``), so any option value
    (tensors too) can be given; Grad-CAM's ``layer`` must be a layer name.
    """

    _esm = bundle("attribution.js")
    _css = bundle("attribution.css")

    #: Longest side of the sanity check's maps, in pixels (area-averaged above it).
    SANITY_SIDE = 64

    # what the front-end shows (kernel -> browser)
    catalog = List(
        Dict(),
        CATALOG,
        read_only=True,
        help="The methods: name, title, summary, signed, reduction.",
    ).tag(sync=True)
    image = Tensor(dtype=torch.uint8, ndim=3, help="Displayed input, (h, w, 3) uint8.")
    image_size = List(Int(), help="[height, width] of the model input.").tag(sync=True)
    source = Unicode("", help="Where the current input comes from.").tag(sync=True)
    labels = List(Unicode(), help="Class names.").tag(sync=True)
    probabilities = Tensor(dtype=torch.float32, ndim=1, help="(K,) the model's prediction.")
    maps = TensorDict(
        dtype=torch.float32, help="Per computed method, its (h, w) map for this image and target."
    )
    options = Dict(help="Options of each method, as the maps are computed with them.")
    option_notes = Dict(help="Per method, its options that differ from the defaults, as text.").tag(
        sync=True
    )
    layer_choices = List(Unicode(), help="Layers with spatial output (Grad-CAM's choice).").tag(
        sync=True
    )
    method_layers = Dict(help="Layer of each method that takes one (Grad-CAM).").tag(sync=True)
    pending = List(Unicode(), help="Shown methods whose maps are being computed.").tag(sync=True)
    dataset_size = Int(0, help="Images in the dataset (0: none).").tag(sync=True)
    sanity = List(
        Dict(), help="Sanity check steps so far: layer, layers, rank_correlation per method."
    ).tag(sync=True)
    sanity_maps = TensorDict(
        dtype=torch.float32, help="Per method, (steps, h, w) maps of the sanity check so far."
    )
    sanity_state = Unicode("", help="'', 'running', 'done', 'stopped' or 'failed'.").tag(sync=True)
    computed = Int(0, help="Maps computed so far (the front-end waits on it).").tag(sync=True)

    # settings (both ways)
    _settings = ("methods", "target", "index", "opacity", "sanity_step")
    methods = List(Unicode(), help="Methods shown, in order.").tag(sync=True)
    target = Int(0, help="Class whose score the maps explain.").tag(sync=True)
    index = Int(0, help="Dataset image shown (when there is a dataset).").tag(sync=True)
    opacity = Float(0.7, help="Opacity of the maps over the image.").tag(sync=True)
    sanity_step = Int(0, help="Sanity check step shown in the main view (0: trained).").tag(
        sync=True
    )

    def __init__(
        self,
        model: nn.Module,
        image: torch.Tensor | None = None,
        methods: Sequence[str] = DEFAULT_METHODS,
        labels: Sequence[str] | None = None,
        *,
        target: int | None = None,
        options: Mapping[str, Mapping[str, Any]] | None = None,
        dataset: Any = None,
        output: Any = None,
        display: DisplaySpec = None,
    ) -> None:
        self.model = check_model(model)
        channels = conv_channels(model)
        self._output = check_selector(output)
        x, self._data, source = first_input(image, dataset, channels)
        shown = self._check_methods(methods, "methods")
        self._layers = spatial_layers(model, x, output=self._output)
        all_options = self._check_options(options, x)
        scores = predict(model, x[None], output=self._output)[0].float().cpu()
        classes = scores.numel()
        if labels is not None and (isinstance(labels, str) or not isinstance(labels, Sequence)):
            raise TypeError(f"labels must be a sequence of class names, got {labels!r}")
        names = [str(i) for i in range(classes)] if labels is None else [str(n) for n in labels]
        if len(names) != classes:
            raise ValueError(f"got {len(names)} labels but the model has {classes} outputs")
        if target is not None and (
            isinstance(target, bool) or not isinstance(target, int) or not 0 <= target < classes
        ):
            raise ValueError(f"target must be a class index in [0, {classes}), got {target!r}")
        self._display = display_transform(x if self._data is None else self._data.sample, display)
        self._view_size = display_size(*x.shape[1:])
        self._x = x
        self._lock = threading.Lock()  # a map is published only while its request is current
        self._quiet = True  # the constructor's trait values start no work
        self._attributions: dict[str, torch.Tensor] = {}
        self._sanity: list[SanityStep] = []
        scale = min(1.0, self.SANITY_SIDE / max(x.shape[1:]))
        self._sanity_size = (max(1, round(x.shape[1] * scale)), max(1, round(x.shape[2] * scale)))
        super().__init__(
            image_size=list(x.shape[1:]),
            layer_choices=self._layers,
            labels=names,
            dataset_size=0 if self._data is None else len(self._data),
            options=all_options,
            methods=shown,
            target=int(scores.argmax()) if target is None else target,
        )
        self._show_input(x, scores, source)
        for name in shown:  # at once, so that bad options fail here
            self._store(name, self._attribute(x, name, self.target))
        self._quiet = False

    # -- public API ----------------------------------------------------------------------
    @property
    def input(self) -> torch.Tensor:
        """The current input (C, H, W), float32, as the model sees it."""
        return self._x.clone()

    @property
    def attributions(self) -> dict[str, torch.Tensor]:
        """Every computed method's attribution (C, H, W) for the current input and target."""
        return {name: a.clone() for name, a in self._attributions.items()}

    def set_input(self, image: torch.Tensor, *, wait: bool = True) -> None:
        """Explain ``image`` (of the first input's shape) for its predicted class."""
        self._new_input(next_input(image, self._x), "your image")
        if wait:
            self.wait()

    def set_options(self, method: str, *, wait: bool = True, **options: Any) -> None:
        """Change some of ``method``'s options and recompute its map (if shown)."""
        self._check_methods([method], "method")
        merged = {**self.options, method: {**self.options[method], **options}}
        self.options = self._check_options(merged, self._x)
        if wait:
            self.wait()

    @property
    def sanity_results(self) -> list[SanityStep]:
        """The sanity check's steps so far (step 0: the trained model), with full maps."""
        return list(self._sanity)

    def sanity_check(self, *, wait: bool = False) -> None:
        """Run the sanity check of Adebayo et al. (2018) on the shown methods, step by step.

        The layers of a copy of the model are re-initialised from the output end down, one
        more per step (see :func:`nnwidgets.compute.sanity_steps`); each step's maps and
        their rank correlations with the trained model's are pushed as they come. The
        target and the options are the explorer's; a new target, image or option
        supersedes the check.
        """
        if not self.methods:
            raise ValueError("no method is shown: check at least one for the sanity check")
        methods, target = list(self.methods), self.target
        options = {m: self.options[m] for m in methods}
        x = self._x[None]

        def job(job: Job) -> None:
            finished = False
            try:
                total = 1 + len(randomizable_layers(self.model, x))
                steps = sanity_steps(
                    self.model,
                    x,
                    methods,
                    target,
                    options=options,
                    output=self._output,
                    should_stop=lambda: job.stale,
                )
                with contextlib.closing(steps):
                    for done, step in enumerate(steps, start=1):
                        label = f"sanity check: step {done} of {total} ({step.layer or 'trained'})"
                        self._report_progress(job, done, total, label, force=True)
                        small = {m: _shown(a, m, self._sanity_size) for m, a in step.maps.items()}
                        with self._lock:
                            if job.stale:
                                raise Superseded("sanity")
                            self._push_step(step, small)
                        job.checkpoint()
                finished = True
            finally:
                with self._lock:
                    if not job.stale:
                        self.sanity_state = "done" if finished else "failed"

        with self._lock:
            self._clear_sanity()
            self._run("sanity", job)
            self.sanity_state = "running"
        if wait:
            self.wait()

    def stop(self) -> None:
        """Stop the maps and the sanity check being computed; what is done stays."""
        self._cancel("maps")
        self._cancel("sanity")
        with self.hold_sync():
            self.pending = []
            if self.sanity_state == "running":
                self.sanity_state = "stopped"

    # -- checks --------------------------------------------------------------------------
    @staticmethod
    def _check_methods(methods: Any, name: str) -> list[str]:
        if isinstance(methods, str) or not isinstance(methods, Sequence):
            raise TypeError(f"{name} must be a sequence of method names, got {methods!r}")
        for method in methods:
            if method not in METHODS:
                raise ValueError(
                    f"unknown attribution method {method!r}; choose from {list(METHODS)}"
                )
        if len(set(methods)) != len(methods):
            raise ValueError(f"{name} names a method twice: {list(methods)}")
        return list(methods)

    def _check_options(self, options: Any, x: torch.Tensor) -> dict[str, dict[str, Any]]:
        """Every method's options with the explorer's defaults filled in, names checked."""
        if options is None:
            options = {}
        if not isinstance(options, Mapping):
            raise TypeError(f"options must map method names to dicts of options, got {options!r}")
        self._check_methods(list(options), "options")
        out: dict[str, dict[str, Any]] = {}
        for name, method in METHODS.items():
            given = options.get(name, {})
            if not isinstance(given, Mapping):
                raise TypeError(f"options[{name!r}] must be a dict of options, got {given!r}")
            unknown = sorted(set(given) - set(method.options))
            if unknown:
                raise TypeError(
                    f"method {name!r} has no option {', '.join(map(repr, unknown))}; its "
                    f"options are {', '.join(method.options) or 'none'}"
                )
            out[name] = {**self._defaults(name, x), **given}
        for name in LAYER_METHODS:
            layer = out[name]["layer"]
            if (layer is not None or self._layers) and layer not in self._layers:
                raise ValueError(
                    f"options[{name!r}]['layer'] must name a layer with spatial output, one "
                    f"of {self._layers}, got {layer!r}"
                )
        return out

    def _defaults(self, method: str, x: torch.Tensor) -> dict[str, Any]:
        if method in LAYER_METHODS:
            if not self._layers:
                return {"layer": None}
            convs = [n for n, m in self.model.named_modules() if isinstance(m, nn.Conv2d)]
            return {"layer": default_layer(self.model) if convs else self._layers[-1]}
        if method == "occlusion":
            window = max(1, round(min(x.shape[1:]) / 6))
            return {"window": window, "stride": max(1, window // 2)}
        return {}

    @validate("methods")
    def _check_methods_trait(self, proposal: dict) -> list[str]:
        return self._check_methods(proposal["value"], "methods")

    @validate("target")
    def _check_target(self, proposal: dict) -> int:
        classes = len(self.labels)
        if not 0 <= proposal["value"] < classes:
            raise TraitError(
                f"target must be a class index in [0, {classes}), got {proposal['value']}"
            )
        return proposal["value"]

    @validate("index")
    def _check_index(self, proposal: dict) -> int:
        value = proposal["value"]
        size = 0 if self._data is None else len(self._data)
        if value != 0 and size == 0:
            raise TraitError("this explorer has no dataset to pick an image from")
        if size and not 0 <= value < size:
            raise TraitError(f"index {value} is out of range: the dataset has {size} images")
        return value

    @validate("sanity_step")
    def _check_sanity_step(self, proposal: dict) -> int:
        value, steps = proposal["value"], len(self.sanity)
        if value != 0 and not 0 <= value < steps:
            raise TraitError(
                f"sanity_step {value} is out of range: the sanity check has {steps} steps "
                f"so far (0 to {max(steps - 1, 0)})"
            )
        return value

    @validate("options")
    def _check_options_trait(self, proposal: dict) -> dict:
        return self._check_options(proposal["value"], self._x)

    _check_opacity = in_range("opacity", low=0, high=1)

    # -- reactions -----------------------------------------------------------------------
    @observe("methods")
    def _methods_changed(self, _change: dict) -> None:
        self._request()

    @observe("target")
    def _target_changed(self, _change: dict) -> None:
        self._forget(list(METHODS))

    @observe("options")
    def _options_changed(self, change: dict) -> None:
        old, new = change["old"] or {}, change["new"]
        self.method_layers = {name: new[name]["layer"] for name in LAYER_METHODS}
        self.option_notes = {
            name: ", ".join(
                f"{key} {value}" if isinstance(value, str | int | float) else f"{key} given"
                for key, value in given.items()
                if not _same(value, METHODS[name].options.get(key))
                and not (key == "layer" and name in LAYER_METHODS)  # shown by its picker
            )
            for name, given in new.items()
        }
        self._forget([name for name in METHODS if not _same(old.get(name), new.get(name))])

    @observe("index")
    def _index_changed(self, change: dict) -> None:
        self._new_input(*dataset_input(self._data, change["new"]))

    # -- front-end messages --------------------------------------------------------------
    @message("sanity")
    def _on_sanity(self) -> None:
        self.sanity_check()

    @message("layer", method=str, layer=str)
    def _on_layer(self, method: str, layer: str) -> None:
        if method not in LAYER_METHODS:
            raise ValueError(f"method {method!r} takes no layer; {list(LAYER_METHODS)} do")
        self.set_options(method, layer=layer, wait=False)

    @message("compute")
    def _on_compute(self) -> None:
        self._request()

    # -- the maps ------------------------------------------------------------------------
    def _attribute(
        self,
        x: torch.Tensor,
        method: str,
        target: int,
        job: Job | None = None,
        progress: Callable[[int, int], None] | None = None,
    ) -> torch.Tensor:
        """``method``'s attribution (C, H, W) of ``x``; a job reports progress and can stop it."""
        result = attribution(
            self.model,
            x[None],
            method,
            target,
            output=self._output,
            progress=progress,
            should_stop=None if job is None else (lambda: job.stale),
            **self.options[method],
        )
        return result[0].detach().float().cpu()

    def _map_progress(
        self, job: Job, done: int, total: int, label: str
    ) -> Callable[[int, int], None]:
        """Progress of the map after ``done`` of ``total``, within its chunks."""

        def report(part: int, parts: int) -> None:
            self._report_progress(job, done * parts + part, total * parts, label)

        return report

    def _store(self, method: str, result: torch.Tensor) -> None:
        self._attributions[method] = result
        with self.hold_sync():
            self.maps = {**self.maps, method: _shown(result[None], method, self._view_size)}
            self.pending = [m for m in self.pending if m != method]
            self.computed += 1

    def _forget(self, methods: list[str]) -> None:
        """Drop the maps of ``methods`` (they no longer hold) and the sanity check; recompute."""
        with self._lock:
            for name in methods:
                self._attributions.pop(name, None)
            with self.hold_sync():
                self.maps = {k: v for k, v in self.maps.items() if k not in methods}
                self._clear_sanity()
        self._request()

    def _clear_sanity(self) -> None:
        self._cancel("sanity")
        self._sanity = []
        with self.hold_sync():
            self.sanity_step = 0
            self.sanity = []
            self.sanity_maps = {}
            self.sanity_state = ""

    def _push_step(self, step: SanityStep, maps: dict[str, torch.Tensor]) -> None:
        self._sanity.append(step)
        stacks = {
            m: torch.cat([self.sanity_maps[m], v[None]]) if m in self.sanity_maps else v[None]
            for m, v in maps.items()
        }
        correlations = {
            m: None if math.isnan(r) else r for m, r in step.rank_correlation.items()
        }  # JSON has no NaN: a constant map has no rank correlation
        with self.hold_sync():
            self.sanity_maps = stacks
            self.sanity = [
                *self.sanity,
                {
                    "layer": step.layer,
                    "layers": list(step.layers),
                    "rank_correlation": correlations,
                },
            ]

    def _request(self) -> None:
        """Compute the maps of the shown methods that are missing, superseding older work."""
        if self._quiet:
            return
        with self._lock:
            missing = [m for m in self.methods if m not in self._attributions]
            if not missing:
                self._cancel("maps")
                self.pending = []
                return
            target = self.target
            self.pending = missing

            x, total = self._x, len(missing)

            def job(job: Job) -> None:
                for done, method in enumerate(missing):
                    job.checkpoint()
                    label = f"{done} of {total} maps, computing {TITLES[method]}"
                    self._report_progress(job, done, total, label, force=True)
                    progress = self._map_progress(job, done, total, label)
                    result = self._attribute(x, method, target, job, progress)
                    with self._lock:
                        if job.stale:
                            raise Superseded("maps")
                        self._store(method, result)
                self._report_progress(job, total, total, f"{total} of {total} maps", force=True)

            self._run("maps", job, priority=1)

    # -- the input -----------------------------------------------------------------------
    def _new_input(self, x: torch.Tensor, source: str) -> None:
        x = x.detach().to("cpu", torch.float32)
        self._cancel("maps")  # its chunked maps stop at their next chunk: the model is free
        self._cancel("sanity")
        scores = predict(self.model, x[None], output=self._output)[0].float().cpu()
        self._quiet = True
        try:
            with self.hold_sync():
                self._x = x
                self._show_input(x, scores, source)
                self.target = int(scores.argmax())
        finally:
            self._quiet = False
        self._forget(list(METHODS))

    def _show_input(self, x: torch.Tensor, scores: torch.Tensor, source: str) -> None:
        with self.hold_sync():
            self.image = to_rgb8(resize(self._display(x), self._view_size))
            self.probabilities = scores.softmax(0)
            self.source = source


def _shown(values: torch.Tensor, method: str, size: tuple[int, int]) -> torch.Tensor:
    """Return the (h, w) map shown for a (1, C, H, W) attribution: its pixel map, resized."""
    return resize(pixel_map(values.float().cpu(), method)[0], size)


def _same(a: Any, b: Any) -> bool:
    """Whether two option values (or dicts of them) are the same; tensors compared by value."""
    if isinstance(a, Mapping) and isinstance(b, Mapping):
        return a.keys() == b.keys() and all(_same(a[k], b[k]) for k in a)
    if isinstance(a, torch.Tensor) or isinstance(b, torch.Tensor):
        return isinstance(a, torch.Tensor) and isinstance(b, torch.Tensor) and torch.equal(a, b)
    return type(a) is type(b) and a == b
