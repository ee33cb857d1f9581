"""Heavy libraries imported on first use, so that a run starts quickly.

pandas alone takes longer to import than the rest of the start-up together;
with `lazy_import` the modules that use it name it at the top as usual, and
the import happens when the run first touches it (when it reads the workbook):

    pd = lazy_import("pandas")   # nothing imported yet
    pd.DataFrame()               # pandas is imported here, once

Type checkers see the real module (import it under TYPE_CHECKING beside).
"""

from __future__ import annotations

import importlib.util
import sys
from types import ModuleType


def lazy_import(name: str) -> ModuleType:
    """The module `name`, loaded when one of its attributes is first used."""
    module = sys.modules.get(name)
    if module is not None:
        return module
    spec = importlib.util.find_spec(name)
    if spec is None or spec.loader is None:
        raise ModuleNotFoundError(f"No module named {name!r}", name=name)
    loader = importlib.util.LazyLoader(spec.loader)
    spec.loader = loader
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module
    loader.exec_module(module)
    return module
