"""Tracing a model for the incremental engine: torch.fx, once per model, with a fall-back.

:func:`cached_trace` keeps one :class:`Traced` per live model and makes it anew when the
model's :func:`_fingerprint` (its submodules, their forwards, parameters and attributes)
changes. A model that cannot be traced, or that writes in place into a value it reads again,
gets no graph and one warning; its occluded copies then run through the whole model.
"""

from __future__ import annotations

import operator
import threading
import warnings
import weakref
from typing import TYPE_CHECKING, Any

import torch
from torch import fx, nn
from torch.utils._pytree import tree_map

from nnwidgets.compute._cache import ByteCache

if TYPE_CHECKING:
    from nnwidgets.compute._incremental.plan import Plan

__all__ = ["Traced", "cached_trace", "trace"]

#: Bytes of compiled plans, index tables included, kept per traced model (one plan per
#: input shape, grid and mode).
_PLAN_BYTES = 256 * 2**20


def _snapshot(value: Any) -> Any:
    """Copy a node's value, safe from later in-place operations."""
    return tree_map(lambda v: v.clone() if isinstance(v, torch.Tensor) else v, value)


def _mutates(node: fx.Node, graph: fx.GraphModule) -> bool:
    """Whether a node may write into one of its inputs (an in-place operation)."""
    if node.op == "call_module":
        return bool(getattr(graph.get_submodule(node.target), "inplace", False))
    if node.op == "call_method":
        return node.target.endswith("_")
    if node.op == "call_function":
        name = getattr(node.target, "__name__", "")
        return (
            name.endswith("_")
            or node.target is operator.setitem
            or (name.startswith("i") and getattr(operator, name, None) is node.target)
            or node.kwargs.get("inplace", False) is True
            or any(arg is True for arg in node.args[1:])
        )
    return False


def _rereads_mutated(graph: fx.GraphModule) -> fx.Node | None:
    """Return an in-place operation whose operand is read again after it, if there is one.

    The engine gives each node its own value, so it cannot follow such a write.
    """
    order = {node: i for i, node in enumerate(graph.graph.nodes)}
    for node in graph.graph.nodes:
        target = node.args[0] if node.args else None
        if (
            isinstance(target, fx.Node)
            and _mutates(node, graph)
            and any(order[user] > order[node] for user in target.users if user is not node)
        ):
            return node
    return None


def _every_value(graph: fx.GraphModule, snapshot: bool) -> fx.GraphModule:
    """Make a module that runs the traced graph and returns every node's value.

    With ``snapshot`` each value is copied as it is made, safe from later in-place operations.
    """
    every = fx.Graph()
    env: dict[fx.Node, fx.Node] = {}
    outs = []
    for node in graph.graph.nodes:
        if node.op == "output":
            continue
        env[node] = every.node_copy(node, env.__getitem__)
        outs.append(every.call_function(_snapshot, (env[node],)) if snapshot else env[node])
    every.output(tuple(outs))
    return fx.GraphModule(graph, every)


#: What every nn.Module keeps in its ``__dict__`` (parameters, buffers, hooks, ...).
_MODULE_STATE = frozenset(vars(nn.Module()))
_PLAIN = (int, float, complex, str, bytes, type(None), torch.dtype, torch.device)


def _plain(value: Any) -> bool:
    """Whether a value is compared by value in a fingerprint (numbers, strings, tuples)."""
    return isinstance(value, _PLAIN) or (
        isinstance(value, tuple) and all(isinstance(v, _PLAIN) for v in value)
    )


def _fingerprint(model: nn.Module) -> tuple[Any, ...]:
    """Return what a trace depends on.

    Per submodule: its class, forward and object, its parameter and buffer objects, and its own
    attributes (a replaced ``forward``, ``padding``, a factor or tensor the forward reads): by
    value where they are plain numbers, strings or tuples of them, else by object.
    """
    return tuple(
        (
            name,
            type(module),
            type(module).forward,
            id(module),
            *map(id, module._parameters.values()),
            None,
            *map(id, module._buffers.values()),
            None,
            *(
                (key, value if _plain(value) else id(value))
                for key, value in module.__dict__.items()
                if key not in _MODULE_STATE
            ),
        )
        for name, module in model.named_modules()
    )


class Traced:
    """A model's torch.fx trace (None if it cannot be traced) and its compiled plans."""

    def __init__(self, model: nn.Module) -> None:
        self.fingerprint = _fingerprint(model)
        self.graph = trace(model)
        nodes = [] if self.graph is None else list(self.graph.graph.nodes)
        self.mutates = any(_mutates(node, self.graph) for node in nodes)
        self.every = None if self.graph is None else _every_value(self.graph, self.mutates)
        self.values = [node for node in nodes if node.op != "output"]  # what ``every`` returns
        self.inputs = sum(node.op == "placeholder" for node in nodes)
        self.plans: ByteCache[tuple, Plan] = ByteCache(_PLAN_BYTES)


_lock = threading.Lock()
_traces: weakref.WeakKeyDictionary[nn.Module, Traced] = weakref.WeakKeyDictionary()
_fallen_back: weakref.WeakSet[nn.Module] = weakref.WeakSet()  # warned once each


def trace(model: nn.Module) -> fx.GraphModule | None:
    """Trace the model with torch.fx; None (with one warning per model) where that fails.

    It fails where the model cannot be traced, or writes in place into a value it reads again.
    """
    try:
        graph = fx.symbolic_trace(model)
    except Exception as error:  # any tracing failure means: fall back
        why = f"cannot be traced with torch.fx ({type(error).__name__}: {str(error)[:120]})"
        _fall_back(model, why)
        return None
    node = _rereads_mutated(graph)
    if node is not None:
        _fall_back(model, f"writes in place into a value it reads again (at {node.name!r})")
        return None
    return graph


def _fall_back(model: nn.Module, why: str) -> None:
    """Warn, once per model, that its occluded copies run through the whole model."""
    if model not in _fallen_back:
        _fallen_back.add(model)
        warnings.warn(
            f"occlusion: {type(model).__name__} {why}; every occluded copy is run through the "
            "whole model instead (exact, but slower)",
            RuntimeWarning,
            stacklevel=6,
        )


def cached_trace(model: nn.Module) -> Traced:
    """Return the model's cached trace, made anew when its forward or submodules change."""
    fingerprint = _fingerprint(model)
    with _lock:
        traced = _traces.get(model)
        if traced is None or traced.fingerprint != fingerprint:
            traced = _traces[model] = Traced(model)
        return traced
