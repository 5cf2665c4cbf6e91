"""Sweep files as data: the reading side of docs/hdf5.md, for figures, reports and users.

``open_sweep(path)`` (also ``microsim.open_sweep``) returns a SweepData: provenance, the /summary
columns as numpy arrays, and on demand

* ``topandas_module()``: the summary as a DataFrame, the swept axes first;
* ``toxarray_module()``: an xarray Dataset whose dimensions are the swept axes (kappa, n_batteries,
  protocol, ...; axes read in step share one dimension), every summary figure a data variable,
  the provenance its attributes;
* ``series(kappa=0.1, n_batteries=4, protocol="collective")``: one point's time series as a
  DataFrame indexed by t.

pandas and xarray are the optional ``data`` extra (``pip install microsim[data]``): the solvers and
the command line do not need them, and they are imported only by these methods. Plain h5py
reading stays as docs/hdf5.md describes it. ``combine`` reads several files as one.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
from numpy.typing import NDArray

from microsim.model.extras import DataDependencyError, pandas_module, xarray_module
from microsim.sweeps.config import ConfigError, SweepConfig, parse_config, sweep_dimensions
from microsim.sweeps.storage import read_point, read_summary

if TYPE_CHECKING:
    import pandas as pd
    import xarray as xr

__all__ = ["SOURCE", "SWEEP", "DataDependencyError", "SweepData", "as_data", "combine", "load", "open_sweep"]

FloatArray = NDArray[np.float64]


#: Columns of a combined summary (combine) naming each row's file and its sweep.
SOURCE = "_source"
SWEEP = "_sweep"


@dataclass
class SweepData:
    """A sweep file as read back: provenance (``attrs``), the /summary columns (``summary``, one
    numpy array per column, one row per point), the time series of a point on demand.

    ``to_pandas()`` and ``to_xarray()`` give the summary as labelled data, ``series(**values)``
    one point's time series as a DataFrame indexed by t (the ``data`` extra: pandas, xarray)."""

    path: Path
    attrs: dict[str, str]
    summary: dict[str, np.ndarray]
    _series: dict[str, dict[str, FloatArray]] = field(default_factory=dict, repr=False)
    _point_attrs: dict[str, dict[str, Any]] = field(default_factory=dict, repr=False)

    @property
    def name(self) -> str:
        """Sweep name (root attribute ``name``, else the file stem)."""
        return self.attrs.get("name") or self.path.stem

    @property
    def swept(self) -> tuple[str, ...]:
        """Names of the swept parameters, in config order."""
        try:
            return tuple(json.loads(self.attrs.get("swept", "[]")))
        except json.JSONDecodeError:
            return ()

    def column(self, name: str) -> np.ndarray:
        """A /summary column (NaN-filled floats if the file lacks it)."""
        if name in self.summary:
            return self.summary[name]
        return np.full(len(self.summary.get("key", ())), np.nan)

    def rows(self, sort_by: str | Sequence[str] | None = None, **equal: Any) -> NDArray[np.intp]:
        """Indices of the complete rows whose columns equal ``equal``, sorted by ``sort_by``."""
        if not self.summary:
            return np.array([], dtype=np.intp)
        mask = self.column("status") == "complete"
        for name, value in equal.items():
            mask &= self.column(name) == value
        idx = np.flatnonzero(mask)
        if sort_by is not None:
            keys = [sort_by] if isinstance(sort_by, str) else list(sort_by)
            order = np.lexsort([self.column(k)[idx] for k in reversed(keys)])
            idx = idx[order]
        return idx

    def has_microscopic(self) -> bool:
        """Whether any complete row carries microscopic results (method other than 'effective')."""
        rows = self.rows()
        return bool(rows.size) and bool(np.isfinite(self.column("E_ss_mic")[rows].astype(float)).any())

    @property
    def files(self) -> tuple[Path, ...]:
        """The files the rows come from (one, or several for combine), in order."""
        if SOURCE not in self.summary:
            return (self.path,)
        return tuple(Path(p) for p in dict.fromkeys(str(x) for x in self.summary[SOURCE]))

    def sweep_names(self) -> np.ndarray:
        """The sweep name of every summary row (combine: each row's own file's)."""
        if SWEEP in self.summary:
            return self.summary[SWEEP]
        return np.full(len(self.summary.get("key", ())), self.name)

    def source(self, row: int) -> Path:
        """The file that holds the point of summary row ``row`` (combine: one of several)."""
        return Path(str(self.summary[SOURCE][row])) if SOURCE in self.summary else self.path

    def array(self, row: int, name: str) -> FloatArray:
        """Time series ``name`` of the point in summary row ``row``."""
        key = str(self.column("key")[row])
        cache = self._series.setdefault(key, {})
        if name not in cache:
            attrs, arrays = read_point(self.source(row), key, [name])
            if name not in arrays:
                raise KeyError(f"{self.path}: point {key} has no dataset {name!r}")
            cache[name] = arrays[name]
            self._point_attrs[key] = attrs
        return cache[name]

    def point_attr(self, row: int, name: str) -> Any:
        """Attribute ``name`` of the point in summary row ``row`` (e.g. ``epsilon``)."""
        key = str(self.column("key")[row])
        if key not in self._point_attrs:
            self._point_attrs[key], _ = read_point(self.source(row), key, [])
        return self._point_attrs[key][name]

    def steady(self, row: int, quantity: str) -> float:
        """Effective steady-state ``sigma`` or ``ergotropy`` of a row.

        A /summary column ``<quantity>_ss_eff`` (the steady state solved directly) is used when the
        file has one; otherwise the last sample of the time series, which equals the steady state
        once the grid covers the charging (configs/paper/vs_n.yaml, t_end = 3 tau_eff: sigma within
        2e-9 and ergotropy/energy within 4e-9 of Eq. 13, 16 for N = 1..2000).
        """
        column = f"{quantity}_ss_eff"
        if column in self.summary:
            return float(self.summary[column][row])
        return float(self.array(row, f"{quantity}_eff")[-1])

    # ------------------------------------------------------------------ labelled data
    def config(self) -> SweepConfig | None:
        """The sweep configuration stored with the file (None for a combined file, or one whose
        stored config this version cannot read)."""
        text = self.attrs.get("config")
        if SOURCE in self.summary or not text:
            return None
        try:
            return parse_config(text, self.attrs.get("config_path", "<stored config>"),
                                validate=False)
        except ConfigError:  # written by a version whose config keys this one no longer reads
            return None

    def swept_values(self) -> dict[str, np.ndarray]:
        """Every swept axis of the stored config as a column over the summary rows, its values as
        the config gives them (files before schema 1.5 have no /summary column for an axis that
        is no ModelParams field, such as gamma_ratio)."""
        config = self.config()
        if config is None:
            return {}
        points = config.points()
        index = np.asarray(self.column("index"), dtype=int)
        return {name: np.array([points[i][name] for i in index]) for name in config.axes}

    def to_pandas(self) -> pd.DataFrame:
        """The summary as a DataFrame: one row per stored point (failed ones included, see
        ``status`` and ``reason``), the swept axes first, then every column of /summary."""
        pd = pandas_module()
        swept = self.swept_values()
        columns = {**swept, **{k: v for k, v in self.summary.items() if k not in swept}}
        return pd.DataFrame(columns)

    def to_xarray(self) -> xr.Dataset:
        """The summary as an xarray Dataset over the swept axes (config.sweep_dimensions): one
        dimension per axis of the product, one for a group of axes read in step ('together' or
        mode zip, indexed 0..k-1 with the axes as coordinates along it); every other summary
        column a data variable (NaN, or '' for text, where a point is missing or failed: ``status``
        says which); the file's provenance as attributes."""
        xr = xarray_module()
        config = self.config()
        if config is None:
            raise ValueError(f"{self.path}: no stored sweep configuration to lay the points out "
                             "on (topandas_module() has every row)")
        dims = sweep_dimensions(config)
        shape = tuple(len(next(iter(coords.values()))) for _, coords in dims)
        position = np.unravel_index(np.asarray(self.column("index"), dtype=int), shape) \
            if shape else ()
        coords: dict[str, Any] = {}
        for dim, axes in dims:
            if list(axes) == [dim]:
                coords[dim] = list(axes[dim])
            else:
                coords[dim] = np.arange(len(next(iter(axes.values()))))
                coords.update({name: (dim, list(values)) for name, values in axes.items()})
        names = [d for d, _ in dims]
        variables = {}
        for name, column in self.summary.items():
            if name in coords:  # a swept axis: its values are the coordinate
                continue
            text = np.asarray(column).dtype.kind in "USO"
            grid = np.full(shape, "" if text else np.nan, dtype=object if text else float)
            grid[position] = column
            variables[name] = (names, grid.astype(str) if text else grid)
        attrs = {k: v for k, v in self.attrs.items()}
        return xr.Dataset(variables, coords=coords, attrs=attrs)

    def row(self, **values: Any) -> int:
        """The summary row of the complete point with these swept or stored values (floats
        compared to 1e-9 relative); ValueError naming the choices if none or several match."""
        columns = {**self.summary, **self.swept_values()}
        mask = self.column("status") == "complete"
        for name, value in values.items():
            if name not in columns:
                raise ValueError(f"{self.path}: no column {name!r}")
            column = np.asarray(columns[name])
            if isinstance(value, str) or column.dtype.kind in "USO":
                mask &= column.astype(str) == str(value)
            else:
                mask &= np.isclose(column.astype(float), float(value), rtol=1e-9, atol=0.0)
        rows = np.flatnonzero(mask)
        if rows.size != 1:
            swept = self.swept_values() or {k: self.column(k) for k in self.swept}
            choices = "; ".join(f"{k}: {sorted(set(np.asarray(v).tolist()))}"
                                for k, v in swept.items())
            raise ValueError(f"{self.path}: {rows.size} complete points match {values}; the "
                             f"swept values are {choices}")
        return int(rows[0])

    def series(self, **values: Any) -> pd.DataFrame:
        """Every time series of one point, chosen by its values (``row``), as a DataFrame
        indexed by t; a 2-D dataset (populations) gives one column per level, ``name[k]``."""
        pd = pandas_module()
        row = self.row(**values)
        _, arrays = read_point(self.source(row), str(self.column("key")[row]))
        t = arrays.pop("t")
        columns: dict[str, np.ndarray] = {}
        for name, values_ in arrays.items():
            if values_.ndim == 1 and values_.size == t.size:
                columns[name] = values_
            elif values_.ndim == 2 and values_.shape[0] == t.size:
                columns.update({f"{name}[{k}]": values_[:, k] for k in range(values_.shape[1])})
        return pd.DataFrame(columns, index=pd.Index(t, name="t"))


def load(path: Path | str) -> SweepData:
    """Read the provenance and /summary of a sweep file (``microsim.sweeps.storage.read_summary``)."""
    attrs, summary = read_summary(path)
    return SweepData(Path(path), attrs, summary)


def combine(sources: Sequence[SweepData | Path | str]) -> SweepData:
    """Several sweep files read as one: their /summary rows one after the other, named
    'a+b+...'; each row reads its series from its own file (column SOURCE). One file: itself.

    For figures across files, e.g. the validity sweep at N <= 12 with its N = 16-40 continuation;
    a column missing from a file is NaN (or empty text) in its rows. The swept axes are the union.
    """
    datas = [as_data(s) for s in sources]
    if len(datas) == 1:
        return datas[0]
    names = sorted({c for d in datas for c in d.summary})
    summary: dict[str, np.ndarray] = {}
    for name in names:
        parts = []
        for d in datas:
            size = len(d.summary.get("key", ()))
            if name in d.summary:
                parts.append(np.asarray(d.summary[name]))
            else:
                text = any(np.asarray(o.summary[name]).dtype.kind in "US" for o in datas
                           if name in o.summary)
                parts.append(np.full(size, "" if text else np.nan, dtype=object if text else float))
        summary[name] = np.concatenate(parts)
    summary[SOURCE] = np.concatenate([np.full(len(d.summary.get("key", ())), str(d.path))
                                      for d in datas])
    summary[SWEEP] = np.concatenate([np.full(len(d.summary.get("key", ())), d.name) for d in datas])
    swept: list[str] = []
    for d in datas:
        swept += [a for a in d.swept if a not in swept]
    attrs = dict(datas[0].attrs)
    attrs.update(name="+".join(d.name for d in datas), swept=json.dumps(swept))
    return SweepData(datas[0].path, attrs, summary)


def as_data(source: SweepData | Path | str) -> SweepData:
    """``source`` itself if already read, else the file read."""
    return source if isinstance(source, SweepData) else load(source)


def open_sweep(path: Path | str | Sequence[Path | str]) -> SweepData:
    """A sweep file (or several, read as one by ``combine``) as data; see the module docstring."""
    return combine([path] if isinstance(path, str | Path) else list(path))
