"""Small models shared by the compute tests, from nnwidgets.testing."""

from __future__ import annotations

from collections.abc import Callable

import pytest

from nnwidgets.testing import BNDropNet, TinyPoolNet, bn_drop_net, tiny_pool_net


@pytest.fixture
def make_bn_net() -> Callable[..., BNDropNet]:
    return bn_drop_net


@pytest.fixture
def make_tiny_net() -> Callable[..., TinyPoolNet]:
    return tiny_pool_net
