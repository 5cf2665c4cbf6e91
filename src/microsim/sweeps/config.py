"""Sweep configuration files (YAML): parsed and validated in one place into frozen objects.

The only module that imports yaml. Every error names the file, the key path and what is allowed.
"""

from __future__ import annotations

import hashlib
import itertools
import json
import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import yaml

from microsim.model.params import ENGINE_INITS, NORMALIZATIONS, PROTOCOLS, ModelParams

__all__ = [
    "BACKENDS",
    "ConfigError",
    "ParallelSpec",
    "SolverSpec",
    "SweepConfig",
    "TimeSpec",
    "load_config",
    "params_from_values",
    "parse_config",
    "point_values",
]

#: Keys of the microscopic parametrization (ModelParams fields).
MICRO_KEYS = ("w0", "wh", "beta_h", "beta_c", "gamma_h", "gamma_c", "g", "gamma_env", "beta_env")
#: Keys of the effective parametrization (ModelParams.from_effective).
EFFECTIVE_KEYS = ("beta_e_w0", "gamma_e", "kappa", "w0", "wh", "beta_c", "gamma_ratio")
#: Keys common to both.
SHARED_KEYS = ("n_batteries", "n_engines", "protocol", "normalization", "engine_init",
               "allow_no_inversion")
CHOICES = {"protocol": PROTOCOLS, "normalization": NORMALIZATIONS, "engine_init": ENGINE_INITS}
INTEGER_KEYS = ("n_batteries", "n_engines")
BACKENDS: tuple[str, ...] = ("loky", "threading", "multiprocessing", "sequential", "dask")
SCHEDULER_SCHEMES = ("tcp://", "tls://", "inproc://", "ucx://")
#: Significant digits of a logspace or linspace axis value (so 0.0215443469003, not
#: 0.021544346900318832: the printed value selects the point).
AXIS_DIGITS = 12
TOP_KEYS = ("name", "model", "sweep", "time", "solver", "output", "parallel")


class ConfigError(ValueError):
    """A configuration file is invalid; the message is one line naming file, key and allowed values."""


@dataclass(frozen=True)
class TimeSpec:
    """Time grid: linspace(0, t_end, points) with t_end absolute, in units of tau_eff, or automatic
    (4 (tau_eff + ln(1/eps)/(2 gamma_01)), see comparison.default_time_grid)."""

    t_end: float | None = None
    t_end_tau: float | None = None
    points: int = 401
    epsilon: float = 1e-3


@dataclass(frozen=True)
class SolverSpec:
    """The exact reference (``method``), the approximate descriptions to run (None: every one
    that supports the problem), integrator and tolerances."""

    method: str = "auto"
    integrator: str = "BDF"
    rtol: float = 1e-8
    atol: float = 1e-11
    propagation: str = "auto"
    descriptions: tuple[str, ...] | None = None

    def content(self) -> dict[str, object]:
        """What determines the numbers, for the hashes: the fields, ``descriptions`` only when
        given (so that the files of earlier configs still resume)."""
        out = dict(self.__dict__)
        if self.descriptions is None:
            out.pop("descriptions")
        else:
            out["descriptions"] = list(self.descriptions)
        return out


@dataclass(frozen=True)
class ParallelSpec:
    """joblib execution: number of worker processes and backend.

    With backend 'dask' the points run through joblib's Dask backend on the scheduler at
    ``scheduler`` (e.g. tcp://10.0.0.5:8786), or on a local cluster of n_jobs worker processes.
    """

    n_jobs: int = 2
    backend: str = "loky"
    scheduler: str | None = None


@dataclass(frozen=True)
class SweepConfig:
    """A validated sweep: base model values, sweep axes and how to combine them, and settings."""

    path: Path
    text: str
    name: str
    model: Mapping[str, Any]
    axes: Mapping[str, tuple[Any, ...]]
    mode: str
    time: TimeSpec
    solver: SolverSpec
    parallel: ParallelSpec
    output: Path
    effective: bool = field(default=False)
    together: tuple[str, ...] = ()

    def points(self) -> list[dict[str, Any]]:
        """Model values of every point of the sweep, in sweep order."""
        return point_values(self.model, self.axes, self.mode, self.together)

    @property
    def digest(self) -> str:
        """Hash of everything that determines the results (not the output path or parallelism)."""
        content = {
            "model": dict(self.model), "axes": {k: list(v) for k, v in self.axes.items()},
            "mode": self.mode, "time": self.time.__dict__, "solver": self.solver.content(),
        }
        if self.together:  # only then, so that the files of earlier sweeps still resume
            content["together"] = list(self.together)
        return hashlib.sha256(json.dumps(content, sort_keys=True).encode()).hexdigest()[:16]


class _UniqueKeyLoader(yaml.SafeLoader):
    """The safe loader (no object construction) that also rejects duplicated mapping keys."""


def _construct_mapping(loader: _UniqueKeyLoader, node: yaml.MappingNode, deep: bool = False) -> dict:
    seen: set[Any] = set()
    for key_node, _ in node.value:
        key = loader.construct_object(key_node, deep=deep)
        if key in seen:
            raise yaml.constructor.ConstructorError(
                None, None, f"duplicated key {key!r}", key_node.start_mark
            )
        seen.add(key)
    return loader.construct_mapping(node, deep=deep)


_UniqueKeyLoader.add_constructor(
    yaml.resolver.BaseResolver.DEFAULT_MAPPING_TAG, _construct_mapping
)


class _Checker:
    """Builds one-line errors: '<file>: <key.path>: <what is wrong>'."""

    def __init__(self, path: Path) -> None:
        self.path = path

    def fail(self, key: str, message: str) -> ConfigError:
        return ConfigError(f"{self.path}: {key}: {message}")

    def mapping(self, key: str, value: Any, allowed: tuple[str, ...]) -> dict[str, Any]:
        if value is None:
            return {}
        if not isinstance(value, dict):
            raise self.fail(key, f"expected a mapping, got {type(value).__name__}")
        for k in value:
            if k not in allowed:
                raise self.fail(f"{key}.{k}" if key else str(k),
                                f"unknown key; allowed: {', '.join(allowed)}")
        return value

    def number(self, key: str, value: Any, *, low: float | None = None, high: float | None = None,
               low_open: bool = False) -> float:
        if isinstance(value, bool) or not isinstance(value, int | float):
            raise self.fail(key, f"expected a number, got {value!r}")
        value = float(value)
        if not math.isfinite(value):
            raise self.fail(key, f"expected a finite number, got {value}")
        if low is not None and (value < low or (low_open and value == low)):
            bound = f"> {low}" if low_open else f">= {low}"
            raise self.fail(key, f"must be {bound}, got {value}")
        if high is not None and value > high:
            raise self.fail(key, f"must be <= {high}, got {value}")
        return value

    def integer(self, key: str, value: Any, low: int, high: int) -> int:
        if isinstance(value, float) and value.is_integer():
            value = int(value)
        if isinstance(value, bool) or not isinstance(value, int):
            raise self.fail(key, f"expected an integer in [{low}, {high}], got {value!r}")
        if not low <= value <= high:
            raise self.fail(key, f"must be an integer in [{low}, {high}], got {value}")
        return value

    def choice(self, key: str, value: Any, allowed: tuple[str, ...]) -> str:
        if value not in allowed:
            raise self.fail(key, f"must be one of {', '.join(allowed)}, got {value!r}")
        return value


def _model_value(check: _Checker, key: str, name: str, value: Any) -> Any:
    if name in CHOICES:
        return check.choice(key, value, CHOICES[name])
    if name in INTEGER_KEYS:
        return check.integer(key, value, 1, 10_000_000)
    if name == "allow_no_inversion":
        if not isinstance(value, bool):
            raise check.fail(key, f"expected true or false, got {value!r}")
        return value
    return check.number(key, value)


def _axis(check: _Checker, key: str, name: str, value: Any) -> tuple[Any, ...]:
    """A sweep axis: a list of values, or {logspace|linspace: [start, stop, num]}."""
    if isinstance(value, dict):
        check.mapping(key, value, ("logspace", "linspace"))
        if len(value) != 1:
            raise check.fail(key, "give exactly one of logspace, linspace")
        (kind, spec), = value.items()
        if not (isinstance(spec, list) and len(spec) == 3):
            raise check.fail(f"{key}.{kind}", f"expected [start, stop, num], got {spec!r}")
        start = check.number(f"{key}.{kind}[0]", spec[0])
        stop = check.number(f"{key}.{kind}[1]", spec[1])
        num = check.integer(f"{key}.{kind}[2]", spec[2], 1, 100_000)
        if kind == "logspace":
            if start <= 0 or stop <= 0:
                raise check.fail(f"{key}.logspace", f"start and stop are values and must be > 0, "
                                 f"got [{start}, {stop}]")
            values = list(np.geomspace(start, stop, num))
        else:
            values = list(np.linspace(start, stop, num))
        # 12 significant digits: the value inspect prints is the coordinate (ds.sel(kappa=...))
        values = [float(f"{v:.{AXIS_DIGITS}g}") for v in values]
    elif isinstance(value, list):
        if not value:
            raise check.fail(key, "an empty list sweeps nothing; give at least one value")
        values = value
    else:
        raise check.fail(key, f"expected a list or {{logspace|linspace: [start, stop, num]}}, "
                         f"got {value!r}")
    return tuple(_model_value(check, f"{key}[{i}]", name, v) for i, v in enumerate(values))


def point_values(model: Mapping[str, Any], axes: Mapping[str, tuple[Any, ...]],
                 mode: str, together: Sequence[str] = ()) -> list[dict[str, Any]]:
    """The model values of every point: the Cartesian product of the axes (last axis fastest)
    or, with mode 'zip', the axes read in step. The axes named in ``together`` are read in step
    with each other and enter the product as one factor, where the first name listed stands."""
    names = list(axes)
    if not names:
        return [dict(model)]
    if mode == "zip":
        rows = list(zip(*(axes[k] for k in names), strict=True))
        return [{**model, **dict(zip(names, row, strict=True))} for row in rows]
    factors: list[list[dict[str, Any]]] = []
    for name in names:
        if name in together:
            if name == together[0]:
                factors.append([dict(zip(together, row, strict=True))
                                for row in zip(*(axes[k] for k in together), strict=True)])
            continue
        factors.append([{name: v} for v in axes[name]])
    return [{**model, **{k: v for part in row for k, v in part.items()}}
            for row in itertools.product(*factors)]


def sweep_dimensions(config: SweepConfig) -> list[tuple[str, dict[str, tuple[Any, ...]]]]:
    """The factors of point_values as (dimension, {axis: values}), in product order, so that
    point i sits at numpy.unravel_index(i, sizes): one per axis of the product; one named
    'a_b' for the axes 'a', 'b' read in step ('together'); one named 'point' with mode zip."""
    axes = config.axes
    if not axes:
        return []
    if config.mode == "zip":
        return [("point", dict(axes))]
    together = list(config.together)
    out = []
    for name in axes:
        if name in together:
            if name == together[0]:
                out.append(("_".join(together), {k: axes[k] for k in together}))
            continue
        out.append((name, {name: axes[name]}))
    return out


def _validate_points(check: _Checker, model: dict[str, Any], axes: dict[str, tuple[Any, ...]],
                     mode: str, effective: bool, solver: SolverSpec, time: TimeSpec,
                     together: Sequence[str] = ()) -> None:
    """Construct every point once, and estimate its memory, so that a bad combination fails
    before anything runs."""
    from microsim.descriptions import memory_estimate
    from microsim.descriptions.resources import available_memory

    limit = int(0.8 * available_memory())
    for values in point_values(model, axes, mode, together):
        swept = {k: values[k] for k in axes}
        where = "sweep" if swept else "model"
        at = f" (at {swept})" if swept else ""
        try:
            p = params_from_values(values, effective)
        except ValueError as exc:
            raise check.fail(where, f"{exc}{at}") from None
        for method, need in memory_estimate(solver.method, p, time.points, solver.descriptions).items():
            if need > limit:
                raise check.fail(where, f"the {method} solver needs about {need / 2**30:.1f} GiB "
                                 f"for N = {p.n_batteries}, M = {p.n_engines}, more than the "
                                 f"{limit / 2**30:.1f} GiB available{at}; use fewer batteries, "
                                 "fewer time points or another solver.method")


def params_from_values(values: Mapping[str, Any], effective: bool) -> ModelParams:
    """ModelParams of one point from its config values (either parametrization, which the
    config's keys decide: ``effective``)."""
    if effective:
        values = {k: v for k, v in values.items() if k != "allow_no_inversion"}
    return ModelParams.from_values(values)


def parse_config(text: str, path: Path | str = "<config>", validate: bool = True) -> SweepConfig:
    """Validate the YAML text of a sweep configuration.

    ``validate=False`` parses a stored config back (a sweep file's, sweeps/reading.py): keys and
    values are read as written, but the points are not constructed, the memory of this machine is
    not consulted and the method is not checked against this version's descriptions."""
    path = Path(path)
    check = _Checker(path)
    try:
        raw = yaml.load(text, Loader=_UniqueKeyLoader)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f"line {mark.line + 1}" if mark is not None else "YAML"
        problem = getattr(exc, "problem", None) or str(exc).splitlines()[0]
        raise ConfigError(f"{path}: {where}: {problem}") from None
    if raw is None:
        raise check.fail("model", "the file is empty; a 'model' block is required")
    if not isinstance(raw, dict):
        raise check.fail("(top level)", f"expected a mapping of blocks ({', '.join(TOP_KEYS)}), "
                         f"got {type(raw).__name__}")
    top = check.mapping("", raw, TOP_KEYS)
    if "model" not in top:
        raise check.fail("model", "required block is missing")
    model_raw = top["model"]
    if not isinstance(model_raw, dict):
        raise check.fail("model", f"expected a mapping, got {type(model_raw).__name__}")
    sweep_raw = top.get("sweep") or {}
    if not isinstance(sweep_raw, dict):
        raise check.fail("sweep", f"expected a mapping, got {type(sweep_raw).__name__}")
    effective = any(k in model_raw or k in sweep_raw for k in ("beta_e_w0", "gamma_e", "kappa"))
    allowed = (EFFECTIVE_KEYS if effective else MICRO_KEYS) + SHARED_KEYS
    model = {
        k: _model_value(check, f"model.{k}", k, v)
        for k, v in check.mapping("model", model_raw, allowed).items()
    }
    sweep = check.mapping("sweep", sweep_raw, (*allowed, "mode", "together"))
    mode = check.choice("sweep.mode", sweep.get("mode", "product"), ("product", "zip"))
    axes = {k: _axis(check, f"sweep.{k}", k, v) for k, v in sweep.items()
            if k not in ("mode", "together")}
    if mode == "zip" and len({len(v) for v in axes.values()}) > 1:
        lengths = {k: len(v) for k, v in axes.items()}
        raise check.fail("sweep.mode", f"zip needs axes of equal length, got {lengths}")
    together = _together(check, sweep.get("together"), axes, mode)
    if effective:
        missing = [k for k in ("beta_e_w0", "gamma_e", "kappa") if k not in model and k not in axes]
        if missing:
            raise check.fail("model", f"the effective parametrization needs {', '.join(missing)}")
    time = _time(check, top.get("time"))
    solver = _solver(check, top.get("solver"), validate)
    parallel = _parallel(check, top.get("parallel"))
    name = top.get("name", path.stem)
    if not isinstance(name, str) or not name or "/" in name:
        raise check.fail("name", f"expected a file-name-like string, got {name!r}")
    output = top.get("output", f"runs/{name}.h5")
    if not isinstance(output, str) or not output.endswith((".h5", ".hdf5")):
        raise check.fail("output", f"expected a path ending in .h5, got {output!r}")
    if validate:
        _validate_points(check, model, axes, mode, effective, solver, time, together)
    return SweepConfig(
        path=path, text=text, name=name, model=model, axes=axes, mode=mode, time=time,
        solver=solver, parallel=parallel, output=Path(output), effective=effective,
        together=together,
    )


def _together(check: _Checker, raw: Any, axes: Mapping[str, tuple[Any, ...]],
              mode: str) -> tuple[str, ...]:
    """sweep.together: two or more swept axes of equal length, read in step (product mode)."""
    if raw is None:
        return ()
    if mode == "zip":
        raise check.fail("sweep.together", "has no meaning with mode: zip (all axes are in step)")
    if not (isinstance(raw, list) and len(raw) >= 2 and all(isinstance(k, str) for k in raw)
            and len(set(raw)) == len(raw)):
        raise check.fail("sweep.together", f"expected a list of two or more axis names, got {raw!r}")
    missing = [k for k in raw if k not in axes]
    if missing:
        raise check.fail("sweep.together", f"{', '.join(missing)} not swept (axes: "
                                           f"{', '.join(axes)})")
    lengths = {k: len(axes[k]) for k in raw}
    if len(set(lengths.values())) > 1:
        raise check.fail("sweep.together", f"needs axes of equal length, got {lengths}")
    return tuple(raw)


def _time(check: _Checker, raw: Any) -> TimeSpec:
    block = check.mapping("time", raw, ("t_end", "t_end_tau", "points", "epsilon"))
    if "t_end" in block and "t_end_tau" in block:
        raise check.fail("time", "give t_end (absolute) or t_end_tau (units of tau_eff), not both")
    return TimeSpec(
        t_end=check.number("time.t_end", block["t_end"], low=0, low_open=True)
        if "t_end" in block else None,
        t_end_tau=check.number("time.t_end_tau", block["t_end_tau"], low=0, low_open=True)
        if "t_end_tau" in block else None,
        points=check.integer("time.points", block.get("points", 401), 2, 1_000_000),
        epsilon=check.number("time.epsilon", block.get("epsilon", 1e-3), low=0, high=0.5,
                             low_open=True),
    )


def _solver(check: _Checker, raw: Any, validate: bool = True) -> SolverSpec:
    block = check.mapping("solver", raw, ("method", "integrator", "rtol", "atol", "propagation",
                                          "descriptions"))
    names = {"method": str(block.get("method", "auto")),
             "integrator": str(block.get("integrator", "BDF")),
             "propagation": str(block.get("propagation", "auto"))}
    chosen = block.get("descriptions")
    if chosen is not None and not (isinstance(chosen, list) and chosen
                                   and all(isinstance(x, str) for x in chosen)):
        raise check.fail("solver.descriptions", f"expected a list of description names, got "
                         f"{chosen!r}")
    if validate:  # against this version's descriptions and solvers
        from microsim.descriptions import approximate, methods
        from microsim.descriptions.options import PROPAGATIONS, STIFF_METHODS

        allowed = {"method": methods(), "integrator": STIFF_METHODS, "propagation": PROPAGATIONS}
        names = {k: check.choice(f"solver.{k}", v, allowed[k]) for k, v in names.items()}
        for i, name in enumerate(chosen or ()):
            check.choice(f"solver.descriptions[{i}]", name, approximate())
    return SolverSpec(
        **names,
        rtol=check.number("solver.rtol", block.get("rtol", 1e-8), low=1e-14, high=1e-2),
        atol=check.number("solver.atol", block.get("atol", 1e-11), low=1e-16, high=1e-2),
        descriptions=tuple(chosen) if chosen is not None else None,
    )


def _parallel(check: _Checker, raw: Any) -> ParallelSpec:
    block = check.mapping("parallel", raw, ("n_jobs", "backend", "scheduler"))
    n_jobs = block.get("n_jobs", 2)
    if n_jobs != -1:
        n_jobs = check.integer("parallel.n_jobs", n_jobs, 1, 4096)
    backend = check.choice("parallel.backend", block.get("backend", "loky"), BACKENDS)
    scheduler = block.get("scheduler")
    if scheduler is not None:
        if backend != "dask":
            raise check.fail("parallel.scheduler", "needs backend: dask")
        if not scheduler_address_ok(scheduler):
            raise check.fail("parallel.scheduler", f"{SCHEDULER_HINT}, got {scheduler!r}")
    if backend == "dask" and not distributed_available():
        raise check.fail("parallel.backend", DISTRIBUTED_HINT)
    return ParallelSpec(n_jobs=n_jobs, backend=backend, scheduler=scheduler)


SCHEDULER_HINT = "expected a Dask scheduler address like tcp://HOST:PORT"
DISTRIBUTED_HINT = "dask needs the 'distributed' extra: pip install 'microsim[distributed]'"


def scheduler_address_ok(address: Any) -> bool:
    """Whether ``address`` looks like a Dask scheduler address (tcp://HOST:PORT, ...)."""
    return isinstance(address, str) and address.startswith(SCHEDULER_SCHEMES)


def distributed_available() -> bool:
    """The Dask backend needs the optional 'distributed' package."""
    try:
        import distributed  # noqa: F401
    except ImportError:
        return False
    return True


def load_config(path: Path | str) -> SweepConfig:
    """Read and validate a sweep configuration file."""
    path = Path(path)
    try:
        text = path.read_bytes().decode("utf-8")
    except FileNotFoundError:
        raise ConfigError(f"{path}: no such file") from None
    except UnicodeDecodeError as exc:
        raise ConfigError(f"{path}: not UTF-8 text (byte {exc.start})") from None
    except OSError as exc:
        raise ConfigError(f"{path}: cannot read: {exc.strerror}") from None
    return parse_config(text, path)
