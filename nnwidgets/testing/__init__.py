"""What the tests and benchmarks share: small models, and the "model untouched" fingerprint.

Plain functions and modules, no pytest: the fixtures in ``tests/conftest.py`` wrap them.
"""

from __future__ import annotations

from nnwidgets.testing.fingerprint import assert_same_fingerprint, model_fingerprint
from nnwidgets.testing.models import (
    BasicBlock,
    BNDropNet,
    CountingModel,
    ResNet18,
    TinyPoolNet,
    bn_drop_net,
    tiny_pool_net,
)

__all__ = [
    "BNDropNet",
    "BasicBlock",
    "CountingModel",
    "ResNet18",
    "TinyPoolNet",
    "assert_same_fingerprint",
    "bn_drop_net",
    "model_fingerprint",
    "tiny_pool_net",
]
