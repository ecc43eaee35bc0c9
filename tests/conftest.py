"""Fixtures shared by every test ring: the model-untouched fingerprint, the digits demo."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest
from torch import nn

import nnwidgets as nw
from nnwidgets.testing import assert_same_fingerprint, model_fingerprint


@pytest.fixture
def fingerprint() -> Callable[[nn.Module], dict[str, Any]]:
    return model_fingerprint


@pytest.fixture
def same_fingerprint() -> Callable[[dict[str, Any], dict[str, Any]], None]:
    return assert_same_fingerprint


@pytest.fixture(scope="module")
def digits() -> nw.zoo.Demo:
    """The trained digits demo, one per test module."""
    return nw.zoo.digits()
