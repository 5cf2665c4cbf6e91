"""Command line: ``microsim run`` (one point), ``sweep`` (a YAML sweep into HDF5), ``inspect`` and
``plot``.

Glue only: parsing, dispatch, printing.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import math
import sys
import warnings
from collections import Counter
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any, NoReturn

import numpy as np

from microsim import __version__
from microsim.descriptions import available
from microsim.descriptions.options import PROPAGATIONS, IntegrationError, SolverOptions
from microsim.descriptions.resources import ResourceError
from microsim.model.params import ENGINE_INITS, NORMALIZATIONS, PROTOCOLS, ModelParams

if TYPE_CHECKING:
    from microsim.analysis.comparison import Comparison

__all__ = ["main"]

EXIT_USAGE = 2

#: Microscopic flags and the ModelParams field each sets.
MICRO_FLAGS = {"beta_h": "beta_h", "gamma_h": "gamma_h", "gamma_c": "gamma_c", "g": "g"}
#: Flags of the effective parametrization (docs/physics.md §3).
EFFECTIVE_FLAGS = ("beta_e_w0", "gamma_e", "kappa")


class _Parser(argparse.ArgumentParser):
    """argparse with a one-line error and exit status 2 (no usage dump, no traceback)."""

    def error(self, message: str) -> NoReturn:
        self.exit(EXIT_USAGE, f"microsim: error: {message}\n")


def _fail(message: str) -> NoReturn:
    sys.stderr.write(f"microsim: error: {message}\n")
    raise SystemExit(EXIT_USAGE)


def _positive_int(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected an integer >= 1, got {text!r}") from None
    if value < 1:
        raise argparse.ArgumentTypeError(f"expected an integer >= 1, got {value}")
    return value


def _real(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a real number, got {text!r}") from None
    if not math.isfinite(value):
        raise argparse.ArgumentTypeError(f"expected a finite number, got {text!r}")
    return value


def _add_run(sub: Any) -> None:
    run = sub.add_parser(
        "run",
        help="one model point: microscopic vs effective",
        description="Solve one model point microscopically and with Eq. 8 and compare them. Give "
        "either the microscopic couplings (--beta-h --gamma-h --gamma-c --g) or the effective "
        "parametrization (--beta-e-w0 --gamma-e --kappa [--gamma-ratio]).",
    )
    model = run.add_argument_group("model (Eq. 1-6)")
    model.add_argument("--N", dest="n_batteries", type=_positive_int, default=1,
                       help="number of batteries N (default 1)")
    model.add_argument("--M", dest="n_engines", type=_positive_int, default=None,
                       help="number of engines M (default N)")
    model.add_argument("--w0", type=_real, default=1.0, help="battery gap w0 (default 1)")
    model.add_argument("--wh", type=_real, default=3.0, help="engine gap |0>-|2> w_h (default 3)")
    model.add_argument("--beta-c", type=_real, default=1.0, help="cold inverse temperature")
    model.add_argument("--beta-h", type=_real, help="hot inverse temperature")
    model.add_argument("--gamma-h", type=_real, help="hot bath rate Gamma_h")
    model.add_argument("--gamma-c", type=_real, help="cold bath rate Gamma_c")
    model.add_argument("--g", type=_real, help="engine-battery coupling g (Eq. 5, 6)")
    model.add_argument("--protocol", choices=PROTOCOLS, default="collective")
    model.add_argument("--normalization", choices=NORMALIZATIONS, default="sqrt_n",
                       help="g/sqrt(N) (sqrt_n, default) or g (none) in Eq. 5")
    model.add_argument("--engine-init", choices=ENGINE_INITS, default="steady")
    model.add_argument("--gamma-env", type=_real, default=0.0, help="battery environment rate")
    model.add_argument("--beta-env", type=_real, default=0.0,
                       help="battery environment inverse temperature")
    model.add_argument("--allow-no-inversion", action="store_true",
                       help="accept an engine without population inversion")
    eff = run.add_argument_group("effective parametrization (docs/physics.md §3)")
    eff.add_argument("--beta-e-w0", type=_real, help="beta_e w0 of Eq. 8 (< 0)")
    eff.add_argument("--gamma-e", type=_real, help="Gamma_e of Eq. 8")
    eff.add_argument("--kappa", type=_real, help="time-scale separation of Eq. 7")
    eff.add_argument("--gamma-ratio", type=_real, default=1.0,
                     help="Gamma_c / Gamma_h (default 1)")
    num = run.add_argument_group("time grid and solver")
    num.add_argument("--t-end", type=_real, help="end of the grid (default 4 tau_eff)")
    num.add_argument("--points", type=_positive_int, default=401, help="grid points (default 401)")
    num.add_argument("--epsilon", type=_real, default=1e-3, help="tau threshold of Eq. 17")
    num.add_argument("--method", default="auto",
                     help="auto (the exact symmetric solver) or a description: "
                          + ", ".join(available()) + "; an exact one is the reference, an "
                          "approximate one runs without one (effective: with every approximate "
                          "description that supports the problem)")
    num.add_argument("--descriptions", type=_names, default=None, metavar="A,B",
                     help="the approximate descriptions to run (default: every one that "
                          "supports the problem; Eq. 8 always runs): " + ", ".join(available()))
    num.add_argument("--rtol", type=_real, default=SolverOptions.rtol)
    num.add_argument("--atol", type=_real, default=SolverOptions.atol)
    num.add_argument("--propagation", choices=PROPAGATIONS, default="auto",
                     help="symmetric solver: Chebyshev, implicit (Radau + GMRES) or by cost (auto)")
    run.add_argument("--json", action="store_true", help="print one JSON object")


def _add_sweep(sub: Any) -> None:
    sweep = sub.add_parser("sweep", help="run a parameter sweep from a YAML config into HDF5",
                           description="Run every point of a sweep config in parallel and store "
                           "the results in one HDF5 file; rerunning resumes.")
    sweep.add_argument("config", help="YAML sweep configuration (see configs/)")
    sweep.add_argument("--jobs", type=_positive_int, help="worker processes (overrides the config)")
    sweep.add_argument("--scheduler", help="run on the Dask scheduler at this address "
                       "(tcp://HOST:PORT); implies backend dask")
    sweep.add_argument("--output", help="HDF5 output file (overrides the config)")
    sweep.add_argument("--force", action="store_true",
                       help="overwrite an output file that holds another configuration")
    sweep.add_argument("--retry-failed", action="store_true", help="recompute failed points")


def _add_inspect(sub: Any) -> None:
    inspect = sub.add_parser("inspect", help="provenance and summary table of a sweep file")
    inspect.add_argument("file", help="HDF5 file written by microsim sweep")
    inspect.add_argument("--all", action="store_true",
                         help="every figure and the thermodynamics in the text table (default: "
                              "the swept parameters and the main figures)")
    fmt = inspect.add_mutually_exclusive_group()
    fmt.add_argument("--csv", action="store_true", help="print the summary as CSV")
    fmt.add_argument("--json", action="store_true", help="print provenance and summary as JSON")
    fmt.add_argument("--netcdf", metavar="OUT", help="write the summary as a NetCDF file over the "
                     "swept axes (microsim.open_sweep(...).to_xarray(); needs the data extra)")


def _add_plot(sub: Any) -> None:
    plot = sub.add_parser("plot", help="figures (PNG and PDF) from a sweep file",
                          description="Render every figure a sweep file (or several, read as "
                          "one) supports: the paper's (Fig. 2-5) from effective sweeps over N; "
                          "the validity map, boundary and speed-up from kappa sweeps; the "
                          "criterion figure from sweeps over baths. Needs the plot extra "
                          "(matplotlib).")
    plot.add_argument("file", nargs="+",
                      help="HDF5 file written by microsim sweep; several are read as one "
                           "(e.g. a validity sweep and its large-N continuation)")
    plot.add_argument("--out", default="runs/figures", help="output folder (default runs/figures)")
    plot.add_argument("--only", nargs="+", metavar="ID", help="only these figure ids")


def build_parser() -> argparse.ArgumentParser:
    """The ``microsim`` argument parser."""
    parser = _Parser(prog="microsim", description=__doc__)
    parser.add_argument("--version", action="version", version=f"microsim {__version__}")
    sub = parser.add_subparsers(dest="command", required=True, parser_class=_Parser)
    _add_run(sub)
    _add_sweep(sub)
    _add_inspect(sub)
    _add_plot(sub)
    return parser


def params_from_args(args: argparse.Namespace) -> ModelParams:
    """ModelParams from the flags of ``microsim run`` (microscopic or effective, not both)."""
    names = (*MICRO_FLAGS, *EFFECTIVE_FLAGS, "n_batteries", "n_engines", "protocol",
             "normalization", "engine_init", "w0", "wh", "beta_c", "gamma_env", "beta_env",
             "allow_no_inversion")
    values = {k: getattr(args, k) for k in names}
    if args.beta_e_w0 is not None or args.gamma_e is not None or args.kappa is not None:
        values["gamma_ratio"] = args.gamma_ratio
    return ModelParams.from_values(values, spell=lambda k: "--" + k.replace("_", "-"))


def _json_value(x: Any) -> Any:
    if isinstance(x, float) and not math.isfinite(x):
        return None
    return x


def comparison_json(c: Comparison) -> dict[str, Any]:
    """The JSON object of ``microsim run --json``: parameters, what ran (``stats``, by
    description, each with its wall time in seconds), each approximate description's status
    (``<suffix>_status``), the figures and thermodynamics, and the energy, fluctuation and
    ergotropy series of every side."""
    from microsim.analysis.fields import figure_names
    from microsim.sweeps.execute import description_settings

    scalars = c.scalars()
    arrays: dict[str, Any] = {"t": c.mic.t}
    for suffix, traj in c.sides().items():
        arrays.update({f"energy_{suffix}": traj.energy, f"sigma_{suffix}": traj.sigma,
                       f"ergotropy_{suffix}": traj.ergotropy})
    statuses = {k: v for k, v in description_settings(c).items() if k.endswith("_status")}
    return {
        "params": c.params.as_dict(),
        "method": c.method,
        "solver": {k: v if isinstance(v, str) else _json_value(float(v)) for k, v in c.mic.solver.items()},
        "derived": {k: _json_value(v) for k, v in c.derived().items()},
        **statuses,
        "stats": {name: {k: v if isinstance(v, str) else _json_value(float(v))
                         for k, v in stats.items()} for name, stats in c.stats.items()},
        "figures": {k: _json_value(scalars[k]) for k in figure_names()},
        "thermodynamics": {
            side: {k: _json_value(float(v)) for k, v in thermo.figures.items()}
            for side, thermo in (("mic", c.thermo_mic), ("eff", c.thermo_eff)) if thermo
        },
        **{k: [_json_value(float(x)) for x in np.asarray(v)] for k, v in arrays.items()},
    }


def comparison_table(c: Comparison) -> str:
    """A short readable report of one comparison."""
    from microsim.descriptions import get

    p = c.params
    lines = [f"microsim {__version__}: {p.protocol} protocol, N = {p.n_batteries}, "
             f"M = {p.n_engines}, method = {c.method}"]
    lines.append("parameters:")
    for k, v in p.as_dict().items():  # 10 digits: 0.4, not the 0.39999999999999997 of a sum
        lines.append(f"  {k:<14} {v:.10g}" if isinstance(v, float) else f"  {k:<14} {v}")
    lines.append("derived:")
    for k, v in c.derived().items():
        lines.append(f"  {k:<22} {v:.6g}")
    runs = [get(name) for name in c.runs]
    lines.append(f"{'':16}{'microscopic':>14}" + "".join(f"{d.label:>14}" for d in runs))
    for label in ("E_ss", "tau", "power"):
        lines.append(f"  {label:<14}" + "".join(f"{c.figures[f'{label}_{side}']:>14.6g}"
                                              for side in ("mic", *(d.suffix for d in runs))))
    lines.append("errors against the microscopic solution:".ljust(40)
                 + "".join(f"{d.label:>14}" for d in runs))
    for k in ("eps_traj", "eps_ss", "eps_tau", "D_max"):
        lines.append(f"  {k:<38}" + "".join(f"{c.figures[k + d.error_suffix]:>14.3e}" for d in runs))
    for d in runs:
        if c.runs[d.name].status != "ok":
            lines.append(f"{d.label} description: {c.runs[d.name].status}")
    lines.append("wall time (s): " + ", ".join(f"{name} {stats['wall_time']:.3g}"
                                               for name, stats in c.stats.items()))
    if c.thermo_mic is not None and c.thermo_eff is not None:
        tm, te = c.thermo_mic.figures, c.thermo_eff.figures
        lines.append("thermodynamics (at tau | at the end of the grid):")
        for label, key in (("Q_h", "heat_h"), ("Q_c", "heat_c"), ("efficiency", "efficiency"),
                           ("eff. (ergotropy)", "efficiency_ergotropy")):
            lines.append(f"  {label:<18}{tm[key + '_tau']:>12.5g} |{tm[key + '_end']:>12.5g}"
                         f"   (Eq. 8 implies {te[key + '_tau']:.5g})")
        lines.append(f"  {'Sigma(end)':<18}{tm['entropy_production_end']:>12.5g}")
        lines.append(f"  Scovil-Schulz-DuBois w0/wh = {tm['efficiency_ssd']:.5g}, "
                     f"Carnot 1 - beta_h/beta_c = {tm['efficiency_carnot']:.5g}")
    return "\n".join(lines)


def _run(args: argparse.Namespace) -> int:
    from microsim.analysis.comparison import default_time_grid
    from microsim.analysis.simulation import simulate
    from microsim.descriptions import methods

    try:
        if args.method not in methods():
            raise ValueError(f"--method must be one of {', '.join(methods())}, got {args.method!r}")
        p = params_from_args(args)
        options = SolverOptions(rtol=args.rtol, atol=args.atol, propagation=args.propagation)
        if args.t_end is not None and args.t_end <= 0:
            raise ValueError(f"--t-end must be > 0, got {args.t_end}")
        if not 0 < args.epsilon < 1:
            raise ValueError(f"--epsilon must be in (0, 1), got {args.epsilon}")
        t = None if args.t_end is None else default_time_grid(p, args.t_end, args.points,
                                                               args.epsilon)
        result = simulate(p, t=t, points=args.points, epsilon=args.epsilon, method=args.method,
                          descriptions=args.descriptions, options=options).comparison
    except (ValueError, ResourceError, IntegrationError) as exc:
        _fail(str(exc))
    if args.json:
        print(json.dumps(comparison_json(result)))
    else:
        print(comparison_table(result))
    return 0


def _names(text: str) -> tuple[str, ...]:
    """A comma-separated list of description names."""
    names = tuple(n.strip() for n in text.split(",") if n.strip())
    if not names:
        raise argparse.ArgumentTypeError(f"expected names separated by commas, got {text!r}")
    return names


def _override_parallel(config: Any, args: argparse.Namespace) -> Any:
    """Apply --jobs and --scheduler to a config's parallel block."""
    from microsim.sweeps.config import (
        DISTRIBUTED_HINT,
        SCHEDULER_HINT,
        ConfigError,
        ParallelSpec,
        distributed_available,
        scheduler_address_ok,
    )

    parallel = config.parallel
    if args.jobs is not None:
        parallel = dataclasses.replace(parallel, n_jobs=args.jobs)
    if args.scheduler is not None:
        if not scheduler_address_ok(args.scheduler):
            raise ConfigError(f"--scheduler: {SCHEDULER_HINT}, got {args.scheduler!r}")
        if not distributed_available():
            raise ConfigError(f"--scheduler: {DISTRIBUTED_HINT}")
        parallel = ParallelSpec(n_jobs=parallel.n_jobs, backend="dask", scheduler=args.scheduler)
    return dataclasses.replace(config, parallel=parallel)


def _sweep(args: argparse.Namespace) -> int:
    from microsim.sweeps.config import ConfigError, load_config
    from microsim.sweeps.execute import Progress, consume, execute_resilient, point_label, tasks
    from microsim.sweeps.storage import StorageError, SweepStore

    try:
        config = load_config(args.config)
        config = _override_parallel(config, args)
        store = SweepStore(config, Path(args.output) if args.output else None, force=args.force)
    except (ConfigError, StorageError) as exc:
        _fail(str(exc))
    with store:
        todo = tasks(config)
        stored = store.statuses()
        skip = {"complete"} if args.retry_failed else {"complete", "failed"}
        pending = [t for t in todo if stored.get(t.key) not in skip]
        print(f"{config.name}: {len(todo)} points, {len(todo) - len(pending)} already stored, "
              f"{len(pending)} to compute -> {store.path}", flush=True)
        progress = Progress(len(pending), label=config.name,
                            names={t.key: point_label(t.values, config.axes) for t in pending})
        try:
            for result in consume(execute_resilient(pending, config.parallel), progress):
                store.add([result])
        except KeyboardInterrupt:
            progress.close()
            sys.stderr.write("microsim: interrupted; every completed point is stored, rerun the "
                             "same command to resume\n")
            return 130
        progress.close()
        final = store.statuses()
        failures = store.failures()
    print(f"{config.name}: {sum(v == 'complete' for v in final.values())} complete, "
          f"{len(failures)} failed -> {store.path}")
    if failures:
        kinds = Counter(reason.split(":")[0] for reason in failures.values())
        print("failed: " + ", ".join(f"{n} x {kind}" for kind, n in kinds.most_common())
              + "; reasons are stored with each point (microsim inspect), --retry-failed "
              "recomputes them")
    return 0


def _inspect(args: argparse.Namespace) -> int:
    from microsim.sweeps.inspection import summary_csv, summary_json, summary_text
    from microsim.sweeps.storage import StorageError, read_summary

    try:
        attrs, columns = read_summary(args.file)
    except StorageError as exc:
        _fail(str(exc))
    if args.netcdf:
        return _netcdf(args.file, args.netcdf)
    if args.csv:
        sys.stdout.write(summary_csv(attrs, columns))
    elif args.json:
        sys.stdout.write(summary_json(attrs, columns) + "\n")
    else:
        sys.stdout.write(summary_text(attrs, columns, compact=not args.all) + "\n")
    return 0


def _netcdf(path: str, out: str) -> int:
    """The summary of ``path`` as NetCDF (h5netcdf engine), written whole or not at all."""
    from microsim.sweeps.reading import DataDependencyError, open_sweep

    target = Path(out)
    partial = target.with_name(target.name + ".part")
    try:
        open_sweep(path).to_xarray().to_netcdf(partial, engine="h5netcdf")
    except (DataDependencyError, ValueError) as exc:
        partial.unlink(missing_ok=True)
        _fail(str(exc))
    partial.replace(target)
    print(target)
    return 0


def _plot(args: argparse.Namespace) -> int:
    from microsim.report.figures import PlotDependencyError, render
    from microsim.sweeps.storage import StorageError

    try:
        written = render(args.file, args.out, args.only)
    except (PlotDependencyError, StorageError, ValueError, KeyError) as exc:
        _fail(str(exc).strip("'\""))
    if not written:
        print(f"{' + '.join(args.file)}: no figure is supported by this sweep "
              "(see microsim inspect)")
    for path in written:
        print(path)
    return 0


def _show_warning(message: Warning | str, category: type[Warning], filename: str, lineno: int,
                  file: Any = None, line: str | None = None) -> None:
    """A warning as one line on stderr, like the errors: ``microsim: warning: ...``."""
    sys.stderr.write(f"microsim: warning: {message}\n")


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the ``microsim`` console script."""
    args = build_parser().parse_args(argv)
    with warnings.catch_warnings():
        warnings.simplefilter("default")
        warnings.showwarning = _show_warning
        commands = {"run": _run, "sweep": _sweep, "inspect": _inspect, "plot": _plot}
        return commands[args.command](args)


if __name__ == "__main__":
    raise SystemExit(main())
