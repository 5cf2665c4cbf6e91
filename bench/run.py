"""Benchmarks of the microscopic solvers (not tests): wall time and peak memory on this machine.

    python bench/run.py [--quick] [--only curve|steady|steady_env|grid|cli [--n N ...]]
                        [--out bench/results.json]

Each case runs in its own subprocess (so peak memory is the case's own, from getrusage) with a
time limit. Cases: (a) plain QuTiP mesolve on the full tensor space with default options,
(b) microsim's full-tensor solver, (c) the permutation-symmetric solver, at N = M = 1..4 on one
charging curve; then the symmetric solver alone at N = 5..40 for the steady state (also with a
collective battery environment, where GMRES has work to do) and for a whole charging curve up to
3 tau_eff; and the effective solver (Eq. 8) at N = 10^3..10^5 on the same kind of curve (tau_eff
itself is computed before the clock starts). The point is the paper's effective point
(beta_e w0 = -0.8, Gamma_e = 0.1) at kappa = 0.1. Accuracy: max |E - E_ref| / (N w0) against the
symmetric solver at tight tolerance (rtol 1e-10) on the same grid (the effective solver: against
itself at rtol 1e-11). The "grid" cases run the symmetric solver's charging curve over N x kappa
(GRID_N x GRID_KAPPA) with its automatic choice of propagation, recorded with its work counts;
against a reference at rtol 1e-11: up to N = 20 by another propagation (Radau, or Chebyshev where
Radau was the one measured) at atol 1e-14, at N = 30 and 40 by the same one at atol 1e-13. The "cli" case
times ``microsim --help`` in a fresh interpreter (best of 7) and lists the heavy modules
importing microsim.cli loads.
"""

from __future__ import annotations

import argparse
import json
import platform
import resource
import subprocess
import sys
import time
from pathlib import Path

KAPPA = 0.1
POINTS = 121
GRID_N = (10, 20, 30, 40, 60)
GRID_KAPPA = (0.01, 0.1, 1.0)
TAU_UNITS = 3.0
#: Time limit of one grid case, reference included: the solver issue's target for N = 60,
#: kappa = 0.1 (a whole curve in 30 minutes), so a case past it reads as a missed target.
GRID_LIMIT = 1800.0
#: At N = 40 the grid's reference is computed up to this kappa (see _case): all three.
REFERENCE_KAPPA_N40 = 1.0
#: the collective battery environment of the "steady_env" case: without it the steady state is the
#: known product state (docs/physics.md §3) and the GMRES solve has nothing to do
ENV = {"gamma_env": 0.05, "beta_env": 0.5}


def _case(solver: str, n: int, what: str, kappa: float = KAPPA) -> dict:
    """Run one case in this process and return its measurements."""
    import numpy as np

    from microsim.analysis.comparison import effective_charging_time
    from microsim.descriptions import effective, full, symmetric
    from microsim.descriptions.numerics.linear import SolverOptions
    from microsim.model.params import ModelParams

    p = ModelParams.from_effective(-0.8, 0.1, kappa, n)
    t = np.linspace(0.0, TAU_UNITS * effective_charging_time(p), POINTS)
    start = time.perf_counter()
    info: dict = {}
    if what == "grid":
        traj = symmetric.evolve(p, t)
        energy, info = traj.energy, traj.solver
    elif what in ("steady", "steady_env"):
        q = p.replace(**ENV) if what == "steady_env" else p
        energy = np.array([symmetric.steady_state(q).energy])
    elif solver == "qutip":
        import qutip

        from microsim.model.operators import microscopic_model

        model = microscopic_model(p, "full")
        res = qutip.mesolve(model.hamiltonian, model.rho0, t, model.c_ops,
                            e_ops=[model.battery_number], options={"nsteps": 10**7})
        energy = p.w0 * np.asarray(res.expect[0])
    else:
        module = {"full": full, "symmetric": symmetric, "effective": effective}[solver]
        energy = module.evolve(p, t).energy
    wall = time.perf_counter() - start
    out = {"solver": solver, "N": n, "what": what, "kappa": kappa, "wall_time_s": wall,
           "points": POINTS, "t_end": float(t[-1]), **info}
    if solver == "effective":  # against itself at 1000x tighter tolerance
        ref = effective.evolve(p, t, SolverOptions(rtol=1e-11, atol=1e-14)).energy
        out["max_energy_error_per_N"] = float(np.max(np.abs(energy - ref)) / n)
    elif what == "curve" and n <= 20:
        ref = symmetric.evolve(p, t, SolverOptions(rtol=1e-10, atol=1e-13)).energy
        out["max_energy_error_per_N"] = float(np.max(np.abs(energy - ref)) / n)
    elif what == "grid" and (n <= 30 or (n == 40 and kappa <= REFERENCE_KAPPA_N40)):
        # Up to N = 20 a reference by another propagation than the one measured; above, where
        # that would take hours, the same propagation at 100x tighter atol (1e-13: Krylov's
        # space then converges to 1e-11 of |x0|; at 1e-14 its CG solves stall near round-off).
        # None at N = 60 (each would take about as long again as the case).
        used = str(info.get("propagation"))
        other = ("chebyshev" if used == "implicit" else "implicit") if n <= 20 else used
        atol = 1e-14 if n <= 20 else 1e-13
        ref = symmetric.evolve(p, t, SolverOptions(rtol=1e-11, atol=atol, propagation=other))
        out["max_energy_error_per_N"] = float(np.max(np.abs(energy - ref.energy)) / n)
        out["reference_propagation"] = other if n <= 20 else f"{other} at atol 1e-13"
    if what in ("steady", "steady_env"):
        out["energy"] = float(energy[0])
    return out


def _run(solver: str, n: int, what: str, limit: float, kappa: float = KAPPA) -> dict:
    cmd = [sys.executable, __file__, "--case", solver, str(n), what, str(kappa)]
    start = time.perf_counter()
    try:
        proc = subprocess.run(cmd, capture_output=True, text=True, timeout=limit)
    except subprocess.TimeoutExpired:
        return {"solver": solver, "N": n, "what": what, "kappa": kappa,
                "status": f"timeout after {limit:.0f} s"}
    peak = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024  # children so far: MiB
    if proc.returncode != 0:
        last = (proc.stderr.strip().splitlines() or ["?"])[-1]
        return {"solver": solver, "N": n, "what": what, "kappa": kappa,
                "status": f"error: {last}", "elapsed_s": time.perf_counter() - start}
    result = json.loads(proc.stdout.strip().splitlines()[-1])
    result["peak_rss_mib"] = json.loads(proc.stdout.strip().splitlines()[-2])["peak_rss_mib"] \
        if len(proc.stdout.strip().splitlines()) > 1 else peak
    result["status"] = "ok"
    return result


def _cli() -> dict:
    """Start-up of the command line: wall time of ``microsim --help`` (best of 7, each a fresh
    interpreter) and the heavy modules that importing microsim.cli loads (none should be)."""
    walls = []
    for _ in range(7):
        start = time.perf_counter()
        subprocess.run([sys.executable, "-m", "microsim.cli", "--help"], check=True,
                       capture_output=True)
        walls.append(time.perf_counter() - start)
    probe = ("import sys, microsim.cli; print(','.join(m for m in ('qutip', 'matplotlib', "
             "'scipy', 'h5py') if m in sys.modules))")
    loaded = subprocess.run([sys.executable, "-c", probe], check=True, capture_output=True,
                            text=True).stdout.strip()
    return {"solver": "cli", "N": 0, "what": "cli", "wall_time_s": min(walls),
            "wall_time_median_s": sorted(walls)[3], "imports_heavy": loaded or "none",
            "status": "ok"}


def grid_table(results: list[dict]) -> str:
    """The N x kappa table of the "grid" cases as markdown: wall time, propagation and its work,
    peak memory and the energy error against the reference."""
    grid = {(r["N"], r["kappa"]): r for r in results if r.get("what") == "grid"}
    if not grid:
        return ""
    ns, kappas = sorted({n for n, _ in grid}), sorted({k for _, k in grid})
    lines = ["| N = M | " + " | ".join(f"kappa = {k:g}" for k in kappas) + " |",
             "| --- |" + " --- |" * len(kappas)]
    for n in ns:
        cells = []
        for k in kappas:
            r = grid.get((n, k))
            if r is None:
                cells.append("not run")
            elif r.get("status") != "ok":
                cells.append(str(r.get("status")))
            else:
                windows = r.get("krylov_windows", 1)
                spaces = f"{windows:.0f} spaces of up to " if windows > 1 else ""
                work = (f"Krylov, {spaces}{r['krylov_dimension']:.0f} vectors, "
                        f"{r.get('implicit_iterations', 0):.0f} iterations"
                        if r.get("propagation") == "krylov"
                        else f"Chebyshev, {r.get('chebyshev_products', 0)} products")
                error = r.get("max_energy_error_per_N")
                wall = r["wall_time_s"]
                seconds = f"{wall:.0f}" if wall >= 100 else f"{wall:.3g}"  # no 1.05e+03
                cells.append(f"{seconds} s, {r['peak_rss_mib'] / 1024:.3g} GiB, "
                             f"{work}" + (f", error {error:.1e}" if error is not None else ""))
        lines.append(f"| {n} | " + " | ".join(cells) + " |")
    return "\n".join(lines) + "\n"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--out", default="bench/results.json")
    parser.add_argument("--quick", action="store_true", help="small sizes only (minutes)")
    parser.add_argument("--only", choices=("curve", "steady", "steady_env", "grid", "cli"),
                        help="run only the cases of this kind and merge them into --out")
    parser.add_argument("--n", type=int, nargs="+",
                        help="with --only: only these N (and --kappa only these kappa)")
    parser.add_argument("--kappa", type=float, nargs="+", help=argparse.SUPPRESS)
    parser.add_argument("--case", nargs=4, help=argparse.SUPPRESS)
    parser.add_argument("--limit", type=float, default=GRID_LIMIT,
                        help=f"time limit of each grid case in seconds (default {GRID_LIMIT:.0f})")
    args = parser.parse_args()
    if args.case:
        solver, n, what, kappa = args.case
        result = _case(solver, int(n), what, float(kappa))
        print(json.dumps({"peak_rss_mib":
                          resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024}))
        print(json.dumps(result))
        return
    small = [1, 2, 3] if args.quick else [1, 2, 3, 4]
    large = [5, 10] if args.quick else [5, 10, 20, 30, 40]
    limit = 300.0 if args.quick else 600.0
    cases = [(s, n, "curve", limit, KAPPA) for n in small for s in ("qutip", "full", "symmetric")]
    cases += [("symmetric", n, what, 3600.0, KAPPA) for n in large
              for what in ("steady", "steady_env", "curve")]
    cases += [("symmetric", n, "grid", args.limit, k)
              for n in (GRID_N[:2] if args.quick else GRID_N) for k in GRID_KAPPA]
    cases += [("effective", n, "curve", 600.0, KAPPA) for n in (1000, 10_000, 100_000)]
    cases += [("cli", 0, "cli", 60.0, KAPPA)]
    results = []
    if args.only:
        cases = [c for c in cases if c[2] == args.only and (not args.n or c[1] in args.n)
                 and (not args.kappa or c[4] in args.kappa)]
        done = {(c[0], c[1], c[2], c[4]) for c in cases}
        results = [r for r in json.loads(Path(args.out).read_text())["results"]
                   if (r["solver"], r["N"], r["what"], r.get("kappa", KAPPA)) not in done]
    for solver, n, what, limit, kappa in cases:
        r = _cli() if what == "cli" else _run(solver, n, what, limit, kappa)
        results.append(r)
        shown = {k: (float(f"{v:.3g}") if isinstance(v, float) else v) for k, v in r.items()}
        print(json.dumps(shown), flush=True)
        Path(args.out).write_text(json.dumps({
            "machine": {"host": platform.node(), "python": platform.python_version(),
                        "processor": platform.processor() or platform.machine()},
            "kappa": KAPPA, "points": POINTS, "t_end_in_tau_eff": TAU_UNITS,
            "results": results}, indent=1))
        table = grid_table(results)
        if table:
            Path(args.out).with_name("grid.md").write_text(
                "Symmetric solver, one 121-point charging curve over 3 tau_eff at the paper point "
                "(bench/run.py --only grid): wall time, peak memory of the case's process, "
                "propagation and its work, max |E - E_ref| / (N w0).\n\n" + table)


if __name__ == "__main__":
    main()
