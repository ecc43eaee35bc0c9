"""Exact incremental inference for occlusion: recompute convolutions only where a patch reaches.

A patch changes the input only inside its window, so each layer's output changes only inside
the window's growing cone. The model is traced once with torch.fx (:mod:`.trace`; models that
cannot be traced run in full). For an input shape, an occlusion grid and a mode (exact, or
approximate with a cut-off) a :class:`Plan` is compiled once (:mod:`.plan`): for every sweep
position, the rectangle where each activation can differ from the clean image's
(receptive-field arithmetic through convolutions, pooling, strides, padding and dilation, in
:mod:`.geometry`), and the gather indices that move those rectangles from layer to layer.

A sweep then runs a few batched tensor operations per layer (:mod:`.steps`): every Conv2d,
MaxPool2d and AvgPool2d computes just its output rectangle, from each copy's window of clean
values with the copy's rectangle pasted in, gathered channels-last into the batch dimension
(as in Krypton, Nakandala et al. 2019); small convolutions multiply the gathered cells by
their weight matrix instead. The model's input is never pasted: its windows are the clean
input's with the occluded cells set to the baseline. Elementwise operations and channel
concatenations run on the rectangles too; any other operation gets the whole batch and runs
as written, so results stay exact.

Compiled plans and their index tensors are kept in byte-bounded caches
(:class:`nnwidgets.compute._cache.ByteCache`).
"""

from nnwidgets.compute._incremental.geometry import window_boxes
from nnwidgets.compute._incremental.plan import Counter, IncrementalRunner, Plan, runner_for

__all__ = ["Counter", "IncrementalRunner", "Plan", "runner_for", "window_boxes"]
