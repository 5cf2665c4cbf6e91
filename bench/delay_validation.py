"""Validation of the delay description (docs/physics.md §9; not a test): its charging curve
against the three references microsim has, from one run.

    python bench/delay_validation.py [--runs runs] [--out bench/delay_validation.json]
    python bench/delay_validation.py --chain 8 10 16 ... --out bench/delay_finite_n.json


1. Eq. 8 solved exactly (the birth-death chain) at kappa = 0.001, where the microscopic model
   is Eq. 8, for N = M = 10 to 10^5: the closure's own error at large N. The maximum of
   |E - E_8|/(N w0) is taken on a 401-point grid over twice the moments' charging time and on
   one of 801 points (the sampling check).
2. The exact symmetric solver's curves stored in runs/cumulant_validation.h5,
   cumulant_validation_60.h5 (N = M = 2-60; M = 1, 2, 8 at N = 40; three bath ratios),
   large_n_exact.h5 and large_n_exact_60.h5 (fixed g, N = M = 2-60, M = 1): the delay
   curve is computed on each stored grid; the moments' and the cumulant's errors are taken from
   their stored curves on the same grid, so the three columns are the same measure.
3. The cumulant curves of runs/description_map_large.h5 (N = M = 100-400) where the cumulant
   description ran, and the delay description's own tau and E_ss/tau where it did not.

Writes the JSON and a Markdown table next to it (bench/delay_validation.md). With ``--chain``
only part 1 runs, at the N given (the delay description's own finite-N error at the N where
the exact solver runs).
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import platform
import subprocess
import time
from pathlib import Path

import h5py
import numpy as np

from microsim.descriptions import delay, effective, moments
from microsim.descriptions.options import IntegrationError
from microsim.model.params import ModelParams

LARGE_N = (10, 100, 1000, 10_000, 100_000)
EXACT_FILES = ("cumulant_validation.h5", "cumulant_validation_60.h5", "large_n_exact.h5",
               "large_n_exact_60.h5")
PAPER = {"beta_e_w0": -0.8, "gamma_e": 0.1}
FIELDS = [f.name for f in dataclasses.fields(ModelParams)]


def _tau(p: ModelParams) -> float:
    probe = np.concatenate([[0.0], np.geomspace(1e-4, 1e4, 400)])
    energy = moments.trajectory(p, probe)[0].energy
    return float(probe[np.argmax(energy > 0.999 * moments.steady_state(p).energy)])


def against_eq8(kappa: float, sizes: tuple[int, ...] = LARGE_N) -> list[dict]:
    """Part 1: max_t |E - E_8| / (N w0) of the delay and moment descriptions, two grids."""
    rows = []
    for n in sizes:
        p = ModelParams.from_effective(PAPER["beta_e_w0"], PAPER["gamma_e"], kappa, n)
        row: dict = {"n": n, "kappa": kappa}
        for points in (401, 801):
            t = np.linspace(0.0, 2.0 * _tau(p), points)
            exact = effective.trajectory(p, t)[0].energy
            start = time.perf_counter()
            curve = delay.trajectory(p, t)[0].energy
            row[f"wall_delay_{points}"] = time.perf_counter() - start
            row[f"delay_{points}"] = float(np.abs(curve - exact).max() / n)
            row[f"moments_{points}"] = float(np.abs(moments.trajectory(p, t)[0].energy
                                                    - exact).max() / n)
        rows.append(row)
        print(row, flush=True)
    return rows


def _params(attrs: h5py.AttributeManager) -> ModelParams:
    values = {k: attrs[k] for k in FIELDS if k in attrs}
    return ModelParams(**{k: v.item() if hasattr(v, "item") else v for k, v in values.items()})


def _error(curve: np.ndarray, reference: np.ndarray, n: int) -> float:
    return float(np.abs(curve - reference).max() / n)


def against_stored(path: Path, reference: str) -> list[dict]:
    """Parts 2 and 3: the delay curve on each stored grid against the stored reference curve
    (``energy_mic`` of an exact sweep, ``energy_cum`` where the cumulant is the reference)."""
    rows = []
    with h5py.File(path, "r") as f:
        for key, group in f["points"].items():
            attrs = group.attrs
            if attrs.get("status") != "complete" or attrs["protocol"] != "collective":
                continue
            p, t = _params(attrs), group["t"][()]
            row = {"file": path.name, "key": key, "n": p.n_batteries, "m": p.n_engines,
                   "kappa": float(attrs["kappa"]), "gamma_ratio": p.gamma_c / p.gamma_h,
                   "normalization": p.normalization,
                   "cum_status": str(attrs.get("cum_status", "")),
                   "mom_status": str(attrs.get("mom_status", ""))}
            start = time.perf_counter()
            try:
                traj = delay.trajectory(p, t)[0]
                row["delay_status"] = "ok"
            except IntegrationError as err:
                traj, row["delay_status"] = None, str(err)
            row["wall_delay"] = time.perf_counter() - start
            ref_ok = reference == "energy_mic" or row["cum_status"] == "ok" \
                or row["cum_status"].endswith("figures kept")
            ref = group[reference][()] if ref_ok else None
            n = p.n_batteries
            row["delay"] = _error(traj.energy, ref, n) if traj is not None and ref is not None \
                else float("nan")
            for name, suffix in (("moments", "mom"), ("cumulant", "cum"), ("eq8", "eff")):
                stored = group[f"energy_{suffix}"][()] if f"energy_{suffix}" in group else None
                usable = stored is not None and ref is not None and np.all(np.isfinite(stored))
                row[name] = _error(stored, ref, n) if usable and suffix != reference[-3:] \
                    else float("nan")
            if traj is not None:
                e_ss = delay.steady_state(p).energy
                reached = np.flatnonzero(traj.energy >= (1 - 1e-3) * e_ss)
                row["tau_delay_grid"] = float(t[reached[0]]) if reached.size else float("nan")
                row["power_delay_grid"] = e_ss / row["tau_delay_grid"]
            rows.append(row)
            print({k: row[k] for k in ("n", "m", "kappa", "delay", "moments", "cumulant")},
                  flush=True)
    return rows


def _markdown(large: list[dict], exact: list[dict], beyond: list[dict]) -> str:
    out = ["## Against Eq. 8 solved exactly, kappa = 0.001 (N = M)", "",
           "| N | delay (401 points) | delay (801) | moments (401) | delay wall (401) |",
           "| --- | --- | --- | --- | --- |"]
    out += [f"| {r['n']} | {r['delay_401']:.3g} | {r['delay_801']:.3g} | {r['moments_401']:.3g} "
            f"| {r['wall_delay_401']:.2f} s |" for r in large]
    if not exact and not beyond:
        return "\n".join(out) + "\n"
    out += ["", "## Against the exact solver (stored curves, the same grid for every column)", "",
            "| file | N | M | kappa | Gamma_c/Gamma_h | normalization | delay | moments | "
            "cumulant | Eq. 8 |",
            "| --- | --- | --- | --- | --- | --- | --- | --- | --- | --- |"]
    for r in sorted(exact, key=lambda r: (r["file"], r["normalization"], r["gamma_ratio"],
                                          r["m"] != r["n"], r["kappa"], r["n"], r["m"])):
        out.append(f"| {r['file'].removesuffix('.h5')} | {r['n']} | {r['m']} | "
                   f"{r['kappa']:.3g} | {r['gamma_ratio']:.2g} | {r['normalization']} | "
                   f"{r['delay']:.3g} | {r['moments']:.3g} | {r['cumulant']:.3g} | "
                   f"{r['eq8']:.3g} |")
    out += ["", "## Beyond the exact solver: against the cumulant description (N = M)", "",
            "| N | kappa | N kappa^2 | delay vs cumulant | moments vs cumulant | Eq. 8 vs "
            "cumulant | cumulant status | delay tau (grid) |",
            "| --- | --- | --- | --- | --- | --- | --- | --- |"]
    for r in sorted(beyond, key=lambda r: (r["n"], r["kappa"])):
        out.append(f"| {r['n']} | {r['kappa']:.3g} | {r['n'] * r['kappa'] ** 2:.3g} | "
                   f"{r['delay']:.3g} | {r['moments']:.3g} | {r['eq8']:.3g} | "
                   f"{r['cum_status'][:40]} | {r.get('tau_delay_grid', float('nan')):.4g} |")
    return "\n".join(out) + "\n"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--runs", default="runs")
    parser.add_argument("--out", default="bench/delay_validation.json")
    parser.add_argument("--chain", type=int, nargs="+", metavar="N",
                        help="only part 1, at these N")
    args = parser.parse_args()
    runs = Path(args.runs)
    large = against_eq8(0.001, tuple(args.chain) if args.chain else LARGE_N)
    exact = [] if args.chain else [r for name in EXACT_FILES if (runs / name).exists()
                                   for r in against_stored(runs / name, "energy_mic")]
    beyond = [] if args.chain else against_stored(runs / "description_map_large.h5",
                                                  "energy_cum")
    commit = subprocess.run(["git", "rev-parse", "--short", "HEAD"], capture_output=True,
                            text=True, check=False).stdout.strip()
    dirty = bool(subprocess.run(["git", "status", "--porcelain", "--", "src", "bench"],
                                capture_output=True, text=True, check=False).stdout.strip())
    meta = {"host": platform.node(), "python": platform.python_version(),
            "date": time.strftime("%Y-%m-%d %H:%M:%S"), "commit": commit, "dirty": dirty,
            "runs": str(runs.resolve())}
    out = Path(args.out)
    out.write_text(json.dumps({"meta": meta, "against_eq8": large, "against_exact": exact,
                               "beyond_exact": beyond}, indent=1) + "\n")
    out.with_suffix(".md").write_text(f"From `python bench/delay_validation.py` at {commit}"
                                      f"{' (dirty)' if dirty else ''}, {meta['date']}.\n\n"
                                      + _markdown(large, exact, beyond))
    print(out.with_suffix(".md").read_text())


if __name__ == "__main__":
    main()
