"""Every example in the package's docstrings still runs as written."""

from __future__ import annotations

import doctest
import importlib
import pkgutil

import pytest

import automation

MODULES = sorted(
    m.name
    for m in pkgutil.walk_packages(automation.__path__, "automation.")
    if not m.name.endswith("__main__")
)


@pytest.mark.parametrize("name", MODULES)
def test_docstring_examples(name: str) -> None:
    result = doctest.testmod(importlib.import_module(name))
    assert result.failed == 0, f"{result.failed} of {result.attempted} examples in {name} fail"
