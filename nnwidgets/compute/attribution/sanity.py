"""Model-randomization sanity check of attribution maps (Adebayo et al., 2018).

One module: the layer order, the re-initialisation and the correlation serve only this check.

"Sanity Checks for Saliency Maps" asks whether a method's map depends on what the model
learned: re-initialise the model's layers one by one, from the output end down and
cumulatively ("cascading randomization"), and watch the maps. A method whose map barely
changes once the weights are random explains the input (edges, say), not the model.

>>> import nnwidgets as nw
>>> demo = nw.zoo.digits()
>>> steps = nw.compute.sanity_check(demo.model, demo.images[:1], ["saliency", "guided_backprop"])
>>> [round(step.rank_correlation["guided_backprop"], 2) for step in steps]  # doctest: +SKIP

Everything runs on a deep copy of the user's model, which is never changed. The maps of
each step are compared with those of the trained model (step 0) by the Spearman rank
correlation of their heat: the absolute attribution summed over the channels, the
per-pixel map the widgets show (Adebayo et al.'s absolute-value variant).
"""

from __future__ import annotations

import copy
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import torch
from torch import nn

from nnwidgets.compute._guard import borrowed_model, model_device
from nnwidgets.compute._inputs import check_int, check_model
from nnwidgets.compute._outputs import OutputSelector, check_selector
from nnwidgets.compute._progress import Progress, ShouldStop
from nnwidgets.compute.attribution._backprop import model_scores
from nnwidgets.compute.attribution._checks import Target, check_target
from nnwidgets.compute.attribution._methods import attribution, check_input, check_method
from nnwidgets.compute.layers import declared_input_size, input_channels

__all__ = [
    "SanityStep",
    "randomizable_layers",
    "rank_correlation",
    "sanity_check",
    "sanity_steps",
]


@dataclass(frozen=True)
class SanityStep:
    """One step of the cascading randomization: the maps after re-initialising ``layers``."""

    layer: str | None
    """Name (as ``model.named_modules()`` gives it) of the layer re-initialised at this
    step; None for the trained model (step 0)."""
    layers: tuple[str, ...]
    """Every layer re-initialised so far, output end first (empty at step 0)."""
    maps: dict[str, torch.Tensor]
    """Method name -> attribution map shaped like ``x``, on its device, as
    :func:`nnwidgets.compute.attribution` gives it."""
    rank_correlation: dict[str, float]
    """Method name -> Spearman rank correlation of this step's heat with step 0's (1.0 at
    step 0; for a batch, the mean over its inputs; nan where a map is constant)."""


def _owners(model: nn.Module) -> list[str]:
    """Names of the modules that own parameters directly, in ``named_modules`` order."""
    return [
        name
        for name, module in model.named_modules()
        if next(module.parameters(recurse=False), None) is not None
    ]


def _call_order(model: nn.Module, x: torch.Tensor, names: Sequence[str]) -> list[str]:
    """``names`` in the order their modules are first called by one forward pass on ``x``."""
    modules = dict(model.named_modules())
    order: list[str] = []

    def record(name: str) -> Any:
        def hook(_module: nn.Module, _args: Any) -> None:
            if name not in order:
                order.append(name)

        return hook

    device = model_device(model) or x.device
    with borrowed_model(model), torch.inference_mode():  # the borrow removes the hooks
        for name in names:
            modules[name].register_forward_pre_hook(record(name))
        model(x.to(device))
    return order


def randomizable_layers(model: nn.Module, x: torch.Tensor | None = None) -> list[str]:
    """Names of the layers with their own parameters to re-initialise, output end first.

    The layers are the modules that own parameters directly (``parameters(recurse=False)``),
    named as ``model.named_modules()`` names them. Their order is that in which one forward
    pass calls them, reversed: the pass runs on ``x`` (its first input), else on zeros of
    the input size the model declares (``input_size``, as the zoo models do); layers the
    pass does not call come after, in reversed ``named_modules`` order, which is also the
    whole order when there is no input to run or the pass fails.

    Parameters
    ----------
    model : torch.nn.Module
        The model (borrowed for the pass, handed back untouched).
    x : torch.Tensor, optional
        An input batch of the model, batch dim first.

    Returns
    -------
    list of str
        Layer names, the layer nearest the output first.
    """
    model = check_model(model)
    names = _owners(model)
    if x is not None:
        x = check_input(x, [])[:1]
    elif (size := declared_input_size(model)) is not None:
        x = torch.zeros((1, input_channels(model), *size))
    called: list[str] = []
    if x is not None:
        try:
            called = _call_order(model, x, names)
        except (RuntimeError, ValueError, TypeError):
            called = []
    rest = [name for name in names if name not in called]
    return called[::-1] + rest[::-1]


def _heat(values: torch.Tensor) -> torch.Tensor:
    """Flat heat of a map, batch dim first: |attribution| summed over channels (dim 1)."""
    values = values.detach().abs().double()
    return (values.sum(1) if values.ndim >= 3 else values).flatten()


def _ranks(values: torch.Tensor) -> torch.Tensor:
    """Ranks 1..n of a 1-D tensor, tied values sharing their mean rank."""
    _, inverse, counts = torch.unique(values, return_inverse=True, return_counts=True)
    last = counts.cumsum(0).double()
    return (last - (counts.double() - 1) / 2)[inverse]


def rank_correlation(a: torch.Tensor, b: torch.Tensor) -> float:
    """Spearman rank correlation (ties get their mean rank) of two maps' heat values.

    The heat of a map shaped like a batch, batch dim first, as
    :func:`nnwidgets.compute.attribution` gives it, is the absolute attribution summed
    over the channel dim, (N, C, H, W) -> (N, H, W); for 2-D inputs (N, D) it is the
    absolute values. All heat values of ``a`` are ranked against those of ``b``: this is
    the absolute-value variant of Adebayo et al. (the sign of an attribution is dropped).

    Returns
    -------
    float
        In [-1, 1]; nan if either heat is constant (no ranks to correlate) or not finite.

    Raises
    ------
    ValueError
        If the maps differ in shape.
    """
    if not (isinstance(a, torch.Tensor) and isinstance(b, torch.Tensor)):
        raise TypeError(f"a and b must be tensors, got {type(a).__name__}, {type(b).__name__}")
    if a.shape != b.shape or a.ndim < 2:
        raise ValueError(
            f"the maps have shapes {tuple(a.shape)} and {tuple(b.shape)}: give two maps of one "
            "shape, batch dim first (N, ...)"
        )
    heat_a, heat_b = _heat(a.cpu()), _heat(b.cpu())
    if not (heat_a.isfinite().all() and heat_b.isfinite().all()):
        return float("nan")
    ranks_a, ranks_b = _ranks(heat_a), _ranks(heat_b)
    ranks_a, ranks_b = ranks_a - ranks_a.mean(), ranks_b - ranks_b.mean()
    norm = ranks_a.norm() * ranks_b.norm()
    if norm == 0:
        return float("nan")
    return float((ranks_a @ ranks_b / norm).clamp(-1, 1))


def _mean_correlation(maps: torch.Tensor, reference: torch.Tensor) -> float:
    """Mean over the inputs of a batch of each input's rank correlation with its reference."""
    values = [rank_correlation(m[None], r[None]) for m, r in zip(maps, reference, strict=True)]
    return sum(values) / len(values)


def _spread(parameter: torch.Tensor) -> float:
    """Std of a parameter's values; for a constant parameter, its magnitude (RMS)."""
    values = parameter.detach().double()
    std = float(values.std(unbiased=False))
    return std if std > 0 else float(values.square().mean().sqrt())


def _reinitialise(module: nn.Module, seed: int) -> None:
    """Re-draw the parameters ``module`` owns, seeded, leaving the global RNG as it was.

    ``module.reset_parameters()`` where it has one (Linear, Conv*, BatchNorm*, LayerNorm,
    Embedding, LSTM...: the module's own initialisation); else each of its own parameters
    is drawn from a normal of mean 0 and the std of its trained values.
    """
    cuda = sorted(
        {
            torch.device(p.device).index or 0
            for p in module.parameters(recurse=False)
            if p.device.type == "cuda"
        }
    )
    with torch.random.fork_rng(devices=cuda), torch.no_grad():
        torch.random.default_generator.manual_seed(seed)
        for index in cuda:
            with torch.cuda.device(index):
                torch.cuda.manual_seed(seed)
        reset = getattr(module, "reset_parameters", None)
        if callable(reset):
            reset()
            return
        for parameter in module.parameters(recurse=False):
            parameter.normal_(0.0, _spread(parameter))


def _copy(model: nn.Module) -> nn.Module:
    """Return a deep copy of the user's model, taken while no other borrow changes it."""
    with borrowed_model(model, eval=False):
        try:
            return copy.deepcopy(model)
        except Exception as error:
            raise TypeError(
                "the sanity check re-initialises the layers of a copy of the model, and "
                f"copy.deepcopy(model) fails on it ({type(error).__name__}: {error}); make "
                "the model deep-copyable (e.g. keep locks, open files or generators out of "
                "its attributes)"
            ) from error


def _check_methods(methods: object) -> list[str]:
    if isinstance(methods, str):
        methods = [methods]
    if not isinstance(methods, Sequence) or not methods:
        raise TypeError(f"methods must be a non-empty sequence of method names, got {methods!r}")
    names = list(methods)
    if len(set(names)) != len(names):
        raise ValueError(f"methods lists a method twice: {names}")
    return names


def _check_options(
    methods: list[str], options: Mapping[str, Mapping[str, Any]] | None
) -> dict[str, dict[str, Any]]:
    """Per-method options, each checked as :func:`attribution` checks them."""
    options = {} if options is None else options
    if not isinstance(options, Mapping):
        raise TypeError(
            'options must map a method name to its options, e.g. {"grad_cam": {"layer": '
            f'"conv2"}}}}, got {type(options).__name__}'
        )
    strays = sorted(set(options) - set(methods))
    if strays:
        raise ValueError(
            f"options given for {', '.join(map(repr, strays))}, which is not among the "
            f"methods {methods}"
        )
    checked = {}
    for method in methods:
        own = options.get(method, {})
        if not isinstance(own, Mapping):
            raise TypeError(f"options[{method!r}] must be a dict of options, got {own!r}")
        check_method(method, own)
        checked[method] = dict(own)
    return checked


def _check_layers(model: nn.Module, layers: str | Sequence[str] | None) -> set[str] | None:
    """Return the names ``layers=`` chooses (None: all), each a layer owning parameters."""
    if layers is None:
        return None
    names = [layers] if isinstance(layers, str) else layers
    if not isinstance(names, Sequence) or not all(isinstance(n, str) for n in names):
        raise TypeError(f"layers must be a layer name or a sequence of names, got {layers!r}")
    known = _owners(model)
    unknown = [name for name in names if name not in known]
    if unknown:
        raise ValueError(
            f"no layer with its own parameters named {', '.join(map(repr, unknown))}; the "
            f"layers that can be re-initialised are {', '.join(map(repr, known))}"
        )
    if not names:
        raise ValueError("layers is empty: name at least one layer, or pass None for all")
    return set(names)


def sanity_steps(
    model: nn.Module,
    x: torch.Tensor,
    methods: Sequence[str],
    target: Target = None,
    *,
    layers: str | Sequence[str] | None = None,
    seed: int = 0,
    options: Mapping[str, Mapping[str, Any]] | None = None,
    output: OutputSelector = None,
    should_stop: ShouldStop | None = None,
) -> Iterator[SanityStep]:
    """Yield step 0 (the trained model), then one step per layer re-initialised.

    Layers are re-initialised from the output end down, cumulatively, on a copy of the model.
    The arguments are checked at the call (bad ones raise before any work, the copy
    included); the steps are computed as the iterator is consumed. Each step runs every
    method on the whole batch, as :func:`nnwidgets.compute.attribution` does.

    Parameters
    ----------
    model : torch.nn.Module
        The user's model; it is deep-copied (memory for one more model, on its device)
        and never changed: the copy is re-initialised.
    x : torch.Tensor
        One input with its batch dim, e.g. (1, C, H, W), or a batch.
    methods : sequence of str
        Names from :data:`nnwidgets.compute.attribution.METHODS`.
    target : int, sequence of int or tensor, optional
        The score to explain. Default: the class the trained (original) model predicts
        for each input, kept fixed at every step, so that each map explains the same score.
    layers : str or sequence of str, optional
        Re-initialise only these layers (names from :func:`randomizable_layers`), still
        output end first; default all of them.
    seed : int
        Layer ``k`` (counting from 1, output end first) is re-initialised after seeding
        with ``seed + k``; the global random states (CPU and the model's CUDA devices) are
        left as they were.
    options : dict, optional
        Method name -> that method's options (``METHODS[name].options``), e.g.
        ``{"grad_cam": {"layer": "conv2"}}``.
    output : int, str, callable or None
        Output selector (see :func:`nnwidgets.compute.select_output`).
    should_stop : callable, optional
        Checked before each step; when it returns True the iterator ends.

    Yields
    ------
    SanityStep
        Step 0, then one per layer re-initialised.

    Raises
    ------
    ValueError or TypeError
        For an unknown method, option or layer, an option for a method not asked for, a
        bad input or target, or a model ``copy.deepcopy`` cannot copy.
    """
    model = check_model(model)
    methods = _check_methods(methods)
    options = _check_options(methods, options)
    x = check_input(x, methods)
    targets = check_target(target, len(x))
    chosen = _check_layers(model, layers)
    seed = check_int(seed, "seed", low=None)
    check_selector(output)
    randomized = _copy(model)
    return _steps(randomized, x, methods, targets, chosen, seed, options, output, should_stop)


def _steps(
    randomized: nn.Module,
    x: torch.Tensor,
    methods: list[str],
    targets: list[int] | None,
    chosen: set[str] | None,
    seed: int,
    options: dict[str, dict[str, Any]],
    output: OutputSelector,
    should_stop: ShouldStop | None,
) -> Iterator[SanityStep]:
    """Yield the steps of :func:`sanity_steps` on the copy ``randomized``.

    The copy is borrowed by each computation, never across a yield.
    """
    if should_stop is not None and should_stop():
        return
    if targets is None:
        targets = model_scores(randomized, x, output).argmax(1).tolist()
    order = [n for n in randomizable_layers(randomized, x) if chosen is None or n in chosen]
    modules = dict(randomized.named_modules())
    reference: dict[str, torch.Tensor] = {}
    for step, layer in enumerate([None, *order]):
        if step and should_stop is not None and should_stop():
            return
        if layer is not None:
            _reinitialise(modules[layer], seed + step)
        maps = {
            method: attribution(randomized, x, method, targets, output=output, **options[method])
            for method in methods
        }
        reference = reference or maps
        yield SanityStep(
            layer=layer,
            layers=tuple(order[:step]),
            maps=maps,
            rank_correlation={
                m: 1.0 if step == 0 else _mean_correlation(maps[m], reference[m]) for m in methods
            },
        )


def sanity_check(
    model: nn.Module,
    x: torch.Tensor,
    methods: Sequence[str],
    target: Target = None,
    *,
    layers: str | Sequence[str] | None = None,
    seed: int = 0,
    options: Mapping[str, Mapping[str, Any]] | None = None,
    output: OutputSelector = None,
    progress: Progress | None = None,
    should_stop: ShouldStop | None = None,
) -> list[SanityStep]:
    """Return all steps of :func:`sanity_steps`, reporting progress, stopping on request.

    Arguments as in :func:`sanity_steps` (``target`` defaults to the original model's
    predicted class, fixed for every step). ``total`` is 1 + the number of layers
    re-initialised. ``should_stop`` is checked before each step: a step under way is
    finished, and the list of the steps done so far is returned.

    Returns
    -------
    list of SanityStep
        Step 0 (the trained model), then one per layer re-initialised, output end first.
    """
    steps = sanity_steps(
        model,
        x,
        methods,
        target,
        layers=layers,
        seed=seed,
        options=options,
        output=output,
        should_stop=should_stop,
    )
    chosen = _check_layers(model, layers)
    total = 1 + (len(_owners(model)) if chosen is None else len(chosen))
    done: list[SanityStep] = []
    for step in steps:
        done.append(step)
        if progress is not None:
            progress(len(done), total)
    return done
