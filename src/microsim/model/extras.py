"""The optional libraries of labelled data, imported on first use (the ``data`` extra).

The solvers and the command line do without pandas and xarray; ``to_pandas()`` and
``to_xarray()`` of sweep files and of a simulation need them, and say how to install them.
"""

from __future__ import annotations

from typing import Any

__all__ = ["DataDependencyError", "pandas_module", "xarray_module"]


class DataDependencyError(ImportError):
    """pandas or xarray is not installed; labelled data needs the optional ``data`` extra."""


def pandas_module() -> Any:
    """pandas, or DataDependencyError naming the extra."""
    try:
        import pandas
    except ImportError:
        raise DataDependencyError("to_pandas() and series() need pandas: pip install "
                                  "microsim[data]") from None
    return pandas


def xarray_module() -> Any:
    """xarray, or DataDependencyError naming the extra."""
    try:
        import xarray
    except ImportError:
        raise DataDependencyError("to_xarray() needs xarray: pip install microsim[data]") from None
    return xarray
