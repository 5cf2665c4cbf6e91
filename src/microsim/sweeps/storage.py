"""HDF5 results of a sweep (schema in docs/hdf5.md); the only module that imports h5py.

Crash safety: the file on disk is only ever replaced whole. Each write copies the current file,
adds the new points and the rebuilt /summary to the copy, syncs it and renames it over the old one
(an atomic rename on POSIX), so a sweep killed at any moment leaves the previous complete file.
A lock (flock on ``<file>.lock``) refuses a second writer while the first is alive.
"""

from __future__ import annotations

import contextlib
import datetime as _dt
import fcntl
import json
import os
import platform
import shutil
import subprocess
from collections.abc import Iterable
from pathlib import Path
from typing import Any

import h5py
import numpy as np

from microsim import __version__
from microsim.model.params import ModelParams
from microsim.sweeps.config import SweepConfig
from microsim.sweeps.points import PointResult, missing_taus

__all__ = [
    "SCHEMA_VERSION",
    "StorageError",
    "SweepStore",
    "provenance",
    "read_point",
    "read_summary",
]

#: Schema of the files (docs/hdf5.md). 1.1: thermodynamics; 1.2: per-point ``flags`` and
#: ``warning``; 1.3: ``kappa_01``, ``kappa_up``; 1.4: the corrected description; 1.5: every
#: swept axis a /summary column, each approximate description's ``<suffix>_status``, the wall
#: time of every description (``wall_time_<suffix>``), the root attribute ``descriptions`` and
#: the /summary attributes ``columns`` and ``figures`` (the columns in write order, the
#: description figures among them); 1.6: Eq. 8's predicted error ``eps_traj_predicted``,
#: ``eps_tau_predicted`` (analysis/prediction.py); 1.7: the cumulant and moment descriptions
#: (``_cum``, ``_mom``); 1.8: the delay description (``_dly``). A reader refuses another major
#: version.
SCHEMA_VERSION = "1.8"

#: The description figures of a file before schema 1.5 (it has no /summary attribute ``figures``).
FIGURES_1_4: tuple[str, ...] = (
    "E_ss_mic", "E_ss_eff", "tau_mic", "tau_eff", "power_mic", "power_eff",
    "eps_traj", "eps_ss", "eps_tau", "D_max",
    "E_ss_corr", "tau_corr", "power_corr",
    "eps_traj_corr", "eps_ss_corr", "eps_tau_corr", "D_max_corr",
)

PARAM_NAMES: tuple[str, ...] = tuple(ModelParams().as_dict())
DERIVED_NAMES: tuple[str, ...] = tuple(ModelParams().derived())


class StorageError(RuntimeError):
    """The output file cannot be used (locked, another configuration, unwritable)."""


def git_output(*args: str) -> str:
    """The output of ``git args`` run in this package's directory, or "" where git or the
    repository is not there."""
    here = Path(__file__).resolve().parent
    try:
        out = subprocess.run(["git", *args], cwd=here, capture_output=True, text=True, timeout=10)
    except (OSError, subprocess.SubprocessError):
        return ""
    return out.stdout.strip() if out.returncode == 0 else ""


def provenance(config: SweepConfig) -> dict[str, str]:
    """Root attributes: what produced the file, with which code and libraries, where and when."""
    import qutip
    import scipy

    commit = git_output("rev-parse", "HEAD") or "unknown"
    dirty = bool(git_output("status", "--porcelain", "--untracked-files=no")) if commit != "unknown" \
        else False
    return {
        "schema_version": SCHEMA_VERSION,
        "name": config.name,
        "config": config.text,
        "config_path": str(config.path),
        "config_digest": config.digest,
        "swept": json.dumps(list(config.axes)),
        "descriptions": json.dumps(description_records()),
        "microsim_version": __version__,
        "git_commit": commit,
        "git_dirty": str(dirty).lower(),
        "qutip_version": qutip.__version__,
        "numpy_version": np.__version__,
        "scipy_version": scipy.__version__,
        "h5py_version": h5py.__version__,
        "hdf5_version": h5py.version.hdf5_version,
        "python_version": platform.python_version(),
        "created": _dt.datetime.now(_dt.UTC).isoformat(timespec="seconds"),
        "host": platform.node(),
    }


def description_records() -> list[dict[str, str | bool]]:
    """What the file's columns of each registered description mean: name, figure and error
    suffix, label, whether exact, one line (root attribute ``descriptions``, schema 1.5)."""
    from microsim.descriptions import available, get

    return [{"name": d.name, "suffix": d.suffix, "errors": d.error_suffix, "label": d.label,
             "exact": d.exact, "summary": d.summary} for d in map(get, available())]


class SweepStore:
    """The HDF5 file of one sweep, held under a lock while the sweep writes to it."""

    def __init__(self, config: SweepConfig, path: Path | None = None, force: bool = False) -> None:
        self.config = config
        self.path = Path(path or config.output)
        self._lock_fd: int | None = None
        self._check_directory()
        self._lock()
        try:
            if self.path.exists():
                if force:
                    self.path.unlink()
                else:
                    self._check_same_config()
        except BaseException:
            self.close()
            raise

    # ------------------------------------------------------------------ set-up
    def _check_directory(self) -> None:
        directory = self.path.parent
        try:
            directory.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise StorageError(f"{directory}: cannot create the output directory: {exc.strerror}") \
                from None
        probe = directory / f".{self.path.name}.probe"
        try:
            with open(probe, "wb") as fh:
                fh.write(b"\0" * 65536)  # a full disk fails here, before anything is computed
                fh.flush()
                os.fsync(fh.fileno())
        except OSError as exc:
            raise StorageError(f"{directory}: cannot write the output there: {exc.strerror}") \
                from None
        finally:
            with contextlib.suppress(OSError):
                probe.unlink()

    def _lock(self) -> None:
        lock_path = self.path.with_name(self.path.name + ".lock")
        fd = os.open(lock_path, os.O_RDWR | os.O_CREAT, 0o644)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            owner = os.read(fd, 200).decode(errors="replace").strip() or "unknown"
            os.close(fd)
            raise StorageError(
                f"{self.path} is being written by another sweep ({owner}); wait for it to finish "
                "or choose another output"
            ) from None
        os.ftruncate(fd, 0)
        os.write(fd, f"pid {os.getpid()} on {platform.node()}".encode())
        self._lock_fd = fd

    def _check_same_config(self) -> None:
        try:
            with h5py.File(self.path, "r") as f:
                digest = f.attrs.get("config_digest", "")
        except OSError as exc:
            raise StorageError(f"{self.path}: exists but is not a readable HDF5 file ({exc}); "
                               "use --force to overwrite it") from None
        if digest != self.config.digest:
            raise StorageError(
                f"{self.path} holds results of a different configuration (digest {digest}, this "
                f"config {self.config.digest}); use --force to overwrite it or set another output"
            )

    def close(self) -> None:
        """Release the lock and remove its file (removed while still held, so that no other
        writer has it open unlocked; a killed process leaves it, and the next writer's flock
        still succeeds, as the kernel dropped the dead process's lock)."""
        if self._lock_fd is not None:
            with contextlib.suppress(OSError):
                self.path.with_name(self.path.name + ".lock").unlink()
            fcntl.flock(self._lock_fd, fcntl.LOCK_UN)
            os.close(self._lock_fd)
            self._lock_fd = None

    def __enter__(self) -> SweepStore:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # ------------------------------------------------------------------ reading
    def statuses(self) -> dict[str, str]:
        """Status of every stored point, by key."""
        if not self.path.exists():
            return {}
        with h5py.File(self.path, "r") as f:
            points = f.get("points", {})
            return {k: str(points[k].attrs["status"]) for k in points}

    def failures(self) -> dict[str, str]:
        """Reason of every failed point, by key."""
        if not self.path.exists():
            return {}
        with h5py.File(self.path, "r") as f:
            points = f.get("points", {})
            return {k: str(points[k].attrs["reason"]) for k in points
                    if points[k].attrs["status"] == "failed"}

    # ------------------------------------------------------------------ writing
    def add(self, results: Iterable[PointResult]) -> None:
        """Store results (replacing stored points of the same key) and rebuild /summary, atomically."""
        results = list(results)
        if not results:
            return
        tmp = self.path.with_name(f".{self.path.name}.{os.getpid()}.tmp")
        try:
            if self.path.exists():
                shutil.copyfile(self.path, tmp)
            with h5py.File(tmp, "a") as f:
                if "schema_version" not in f.attrs:
                    f.attrs.update(provenance(self.config))
                points = f.require_group("points")
                for r in results:
                    if r.key in points:
                        del points[r.key]
                    _write_point(points.create_group(r.key), r)
                _write_summary(f)
                f.attrs["updated"] = _dt.datetime.now(_dt.UTC).isoformat(timespec="seconds")
            with open(tmp, "rb") as fh:
                os.fsync(fh.fileno())
            os.replace(tmp, self.path)
        except BaseException:
            with contextlib.suppress(OSError):
                tmp.unlink()
            raise


def _write_point(group: h5py.Group, r: PointResult) -> None:
    attrs = group.attrs
    attrs["index"] = r.index
    attrs["status"] = r.status
    attrs["reason"] = r.reason
    attrs["flags"] = ",".join(r.flags)
    attrs["warning"] = r.warning
    attrs["wall_time"] = r.wall_time
    attrs["method"] = r.method
    for k, v in {**r.params, **r.derived, **r.settings}.items():
        attrs[k] = v
    for k, v in r.swept.items():  # an axis that is no parameter (gamma_ratio), as swept
        if k not in attrs:
            attrs[k] = v
    for k, v in r.checks.items():
        attrs[f"check_{k}"] = v
    from microsim.analysis.fields import scalar_fields, series_units

    for f in scalar_fields():
        attrs[f.name] = r.figures.get(f.name, np.nan)
    units = series_units()
    for k, v in r.arrays.items():
        ds = group.create_dataset(k, data=np.asarray(v, dtype=float))
        ds.attrs["units"] = units[k]


def _flags(attrs: h5py.AttributeManager) -> str:
    """A point's comma-separated flags; derived from its charging times if it was written before
    schema 1.2 (a resumed older file)."""
    if "flags" in attrs:
        return str(attrs["flags"])
    if attrs.get("status") != "complete":
        return ""
    # files before 1.2 know the methods full, symmetric and effective (no exact reference)
    return ",".join(missing_taus(float(attrs.get("tau_mic", np.nan)),
                                 float(attrs.get("tau_eff", np.nan)),
                                 str(attrs.get("method", "")) != "effective"))


def _write_summary(f: h5py.File) -> None:
    """/summary: one 1-D dataset per parameter, derived quantity and figure, rows in sweep order."""
    points = f["points"]
    keys = sorted(points, key=lambda k: int(points[k].attrs["index"]))
    if "summary" in f:
        del f["summary"]
    summary = f.create_group("summary")
    summary.attrs["rows"] = len(keys)
    summary.create_dataset("key", data=np.array(keys, dtype=h5py.string_dtype()))
    summary.create_dataset("index", data=[int(points[k].attrs["index"]) for k in keys])
    summary.create_dataset("flags", data=np.array([_flags(points[k].attrs) for k in keys],
                                                  dtype=h5py.string_dtype()))
    from microsim.analysis.fields import PREDICTED, figure_names, scalar_fields, status_names

    swept = [k for k in json.loads(f.attrs.get("swept", "[]")) if k not in PARAM_NAMES]
    wall_times = sorted({k for key in keys for k in points[key].attrs if k.startswith("wall_time_")})
    columns = ("status", "method", *PARAM_NAMES, *DERIVED_NAMES, *(f.name for f in PREDICTED),
               *(k for k in swept if k not in DERIVED_NAMES), *(f.name for f in scalar_fields()),
               *status_names(), "wall_time", *wall_times)
    summary.attrs["columns"] = json.dumps(["key", "index", "flags", *columns])
    summary.attrs["figures"] = json.dumps(list(figure_names()))
    for name in columns:
        values = [points[k].attrs.get(name, np.nan) for k in keys]
        if any(isinstance(v, str) for v in values):
            strings = ["" if not isinstance(v, str) else v for v in values]
            summary.create_dataset(name, data=np.array(strings, dtype=h5py.string_dtype()))
        else:
            array = np.array(values)
            summary.create_dataset(name, data=array if array.dtype.kind in "iuf" else
                                   array.astype(float))


def read_point(path: Path | str, key: str, names: Iterable[str] | None = None
               ) -> tuple[dict[str, Any], dict[str, np.ndarray]]:
    """Attributes and datasets (all, or those in ``names``) of ``/points/<key>``."""
    with h5py.File(path, "r") as f:
        group = f["points"][key]
        attrs = {k: (v.decode() if isinstance(v, bytes) else v) for k, v in group.attrs.items()}
        wanted = list(group) if names is None else list(names)
        arrays = {k: np.asarray(group[k][()], dtype=float) for k in wanted if k in group}
    return attrs, arrays


def read_summary(path: Path | str) -> tuple[dict[str, str], dict[str, np.ndarray]]:
    """Provenance attributes and the /summary columns of a sweep file (strings decoded)."""
    path = Path(path)
    if not path.is_file():
        raise StorageError(f"{path}: no such file")
    try:
        f = h5py.File(path, "r")
    except (OSError, FileNotFoundError) as exc:
        raise StorageError(f"{path}: cannot open as HDF5 ({exc})") from None
    with f:
        attrs = {k: (v.decode() if isinstance(v, bytes) else str(v)) for k, v in f.attrs.items()}
        version = attrs.get("schema_version", "")
        if version.split(".")[0] != SCHEMA_VERSION.split(".")[0]:
            raise StorageError(f"{path}: schema version {version or 'missing'} is not readable by "
                               f"microsim {__version__} (schema {SCHEMA_VERSION})")
        if "summary" not in f:
            return attrs, {}
        group = f["summary"]
        attrs["summary_figures"] = group.attrs.get("figures", json.dumps(FIGURES_1_4))
        order = json.loads(group.attrs.get("columns", "[]"))  # schema >= 1.5: the write order
        names = [n for n in order if n in group] + sorted(n for n in group if n not in order)
        columns = {}
        for name in names:
            data = group[name][()]
            if data.dtype.kind in "OS":
                data = np.array([x.decode() if isinstance(x, bytes) else x for x in data])
            columns[name] = data
        _fill_derived(columns)
        return attrs, columns


def _fill_derived(columns: dict[str, np.ndarray]) -> None:
    """Derived variables a row lacks (NaN: written by an older schema into a resumed file, or the
    column missing) computed from that row's stored model parameters (ModelParams.derived)."""
    size = len(columns.get("key", ()))
    if not size or any(name not in columns for name in PARAM_NAMES):
        return
    for name in DERIVED_NAMES:
        columns[name] = np.asarray(columns.get(name, np.full(size, np.nan)), dtype=float)
    missing = np.flatnonzero(np.any([~np.isfinite(columns[n]) for n in DERIVED_NAMES], axis=0))
    for row in missing:
        values = {name: columns[name][row] for name in PARAM_NAMES}
        values = {k: (v.item() if isinstance(v, np.generic) else v) for k, v in values.items()}
        try:
            derived = ModelParams(**values, allow_no_inversion=True).derived()
        except (TypeError, ValueError):
            continue
        for name in DERIVED_NAMES:
            if not np.isfinite(columns[name][row]):
                columns[name][row] = derived[name]
