"""Steps of an incremental plan: how each input-dependent node runs on a chunk of copies.

A :class:`Run` is one chunk's pass (node values and the windows they draw on); a
:class:`Step` runs its node on the whole batch, a :class:`Spatial` step computes a
convolution's or pooling's output rectangle only, a :class:`Pointwise` step an elementwise
operation's.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, Any

import torch
import torch.nn.functional as F
from torch import fx, nn

from nnwidgets.compute._incremental.geometry import Chunk, Gather, Layout, Patches

if TYPE_CHECKING:
    from nnwidgets.compute._incremental.plan import IncrementalRunner

__all__ = ["Pointwise", "Run", "Spatial", "Step"]


def _callable(node: fx.Node, graph: fx.GraphModule) -> Callable[..., Any]:
    """Return what a call node calls, with its arguments as written."""
    if node.op == "call_module":
        return graph.get_submodule(node.target)
    if node.op == "call_function":
        return node.target
    name = node.target
    return lambda self, *args, **kwargs: getattr(self, name)(*args, **kwargs)


class Run:
    """One chunk's pass through a plan: node values, and the windows they draw on.

    The model's input is never pasted: its windows are the clean input's, with the cells under
    each copy's occluder set to the baseline.
    """

    def __init__(self, runner: IncrementalRunner, chunk: Chunk) -> None:
        self.runner, self.chunk = runner, chunk
        self.values = dict(runner.clean)
        del self.values[runner.plan.input]  # see cells()
        self.wholes: dict[fx.Node, torch.Tensor] = {}

    def cells(self, gather: Gather, node: fx.Node) -> torch.Tensor:
        """Return the chunk's window cells (or taps) of ``gather`` on ``node``'s copies."""
        runner, chunk = self.runner, self.chunk
        table = runner.table(gather, node)
        if node is not runner.plan.input:
            value = self.values[node]
            return gather.cells(table, value.data if isinstance(value, Patches) else None, chunk)
        plan, cells = runner.plan, gather.cells(table, None, chunk)
        covered = gather.covered(chunk, plan.origins, plan.window, table.shape[1])
        if isinstance(runner.baseline, torch.Tensor):
            return torch.where(
                covered, gather.cells(runner.baseline_table(gather), None, chunk), cells
            )
        return cells.masked_fill_(covered, runner.baseline)

    def gather(self, gather: Gather, node: fx.Node) -> torch.Tensor:
        """Return the chunk's windows (n, C, rows, cols) of ``gather`` on ``node``'s copies."""
        return gather.windows(self.cells(gather, node))

    def whole(self, node: fx.Node) -> Any:
        """Return a node's value for the whole batch (n, ...), made once per chunk."""
        if node not in self.values or isinstance(self.values[node], Patches):
            if node not in self.wholes:
                self.wholes[node] = self.gather(self.runner.plan.layouts[node].whole, node)
            return self.wholes[node]
        return self.values[node]


class Step:
    """Computes one input-dependent node of the traced graph for a chunk of copies."""

    def __init__(self, node: fx.Node, graph: fx.GraphModule) -> None:
        self.node = node
        self.call = _callable(node, graph)
        self.gathers: dict[fx.Node, Gather] = {}  # windows of a clean activation, per node

    def run(self, run: Run) -> Any:
        """Run on the whole batch: changed activations are made whole first."""
        args = fx.node.map_arg(self.node.args, run.whole)
        kwargs = fx.node.map_arg(self.node.kwargs, run.whole)
        return self.call(*args, **kwargs)


class Spatial(Step):
    """A convolution or pooling that computes its output rectangle only.

    Convolutions with few inputs per output (``in_channels * kh * kw`` up to :data:`_IM2COL`)
    multiply each output's gathered inputs by the weight matrix, which beats oneDNN's cost
    per call on small layers; other convolutions and pooling run on gathered windows.
    """

    def __init__(
        self,
        node: fx.Node,
        graph: fx.GraphModule,
        module: nn.Module,
        gather: Gather,
        layout: Layout,
    ) -> None:
        super().__init__(node, graph)
        self.module, self.layout, self.source = module, layout, node.args[0]
        self.gathers[self.source] = gather

    def matrix(self) -> torch.Tensor | None:
        """Return the weights as an (inputs, out_channels) matrix, where the step uses one."""
        if self.gathers[self.source].taps is None:
            return None
        weight = self.module.weight
        return weight.permute(2, 3, 1, 0).reshape(-1, weight.shape[0]).contiguous()

    def run(self, run: Run) -> Patches:
        gather, module, layout = self.gathers[self.source], self.module, self.layout
        if gather.taps is None:
            return Patches(layout, _unpadded(module, run.gather(gather, self.source)))
        inputs = run.cells(gather, self.source).view(len(run.chunk.index) * layout.area, -1)
        matrix = run.runner.matrices[self]
        bias = module.bias
        out = inputs @ matrix if bias is None else torch.addmm(bias, inputs, matrix)
        out = out.view(-1, layout.rows, layout.cols, out.shape[1])
        return Patches(layout, out.permute(0, 3, 1, 2))


class Pointwise(Step):
    """An elementwise operation (or concatenation along channels) on rectangles only."""

    def __init__(
        self,
        node: fx.Node,
        graph: fx.GraphModule,
        layout: Layout,
        layouts: dict[fx.Node, Layout],
    ) -> None:
        super().__init__(node, graph)
        self.layout = layout
        for operand, own in layouts.items():  # operands on other rectangles are gathered
            if own is not layout:
                self.gathers[operand] = Gather(
                    own, layout.top, layout.left, layout.rows, layout.cols
                )

    def run(self, run: Run) -> Patches:
        def local(node: fx.Node) -> Any:
            gather = self.gathers.get(node)
            if gather is None and node is run.runner.plan.input:
                gather = run.runner.plan.input_gather
            if gather is not None:
                return run.gather(gather, node)
            value = run.values[node]
            return value.data if isinstance(value, Patches) else value

        args = fx.node.map_arg(self.node.args, local)
        kwargs = fx.node.map_arg(self.node.kwargs, local)
        return Patches(self.layout, self.call(*args, **kwargs))


def _unpadded(module: nn.Module, windows: torch.Tensor) -> torch.Tensor:
    """Apply a supported spatial module to windows that already hold its padding."""
    if isinstance(module, nn.Conv2d):
        return F.conv2d(
            windows, module.weight, module.bias, module.stride, 0, module.dilation, module.groups
        )
    if isinstance(module, nn.MaxPool2d):
        return F.max_pool2d(windows, module.kernel_size, module.stride, 0, module.dilation)
    return F.avg_pool2d(windows, module.kernel_size, module.stride, 0)
