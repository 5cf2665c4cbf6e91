"""The corrected description (docs/physics.md §7) against microscopic curves already stored.

    python bench/corrected.py runs/validity_n40.h5 [runs/criterion_n40.h5 ...]
                              [--out bench/corrected.json]

Sweep files written before the corrected description existed (schema <= 1.3) hold the exact
microscopic energy curve of every point but no _corr figures; recomputing N = 40 at kappa = 0.1
takes hours, the corrected description seconds. For every complete collective point this runs
the corrected description on the point's stored grid (its tau refined as in a sweep) and
compares it with the stored microscopic curve. eps_traj here is the largest difference on the
stored 401-point grid (a sweep refines it; tests/test_corrected.py and configs/corrected.yaml
check the refined values at N <= 24), and Eq. 8's error is recomputed the same way from the
stored effective curve, so the two columns are sampled alike. Prints a Markdown table.
"""

from __future__ import annotations

import argparse
import json
import math
import time
from collections.abc import Callable
from pathlib import Path

import numpy as np

from microsim.analysis.comparison import run_description
from microsim.analysis.refinement import measurement_grid
from microsim.descriptions import get
from microsim.descriptions.numerics.linear import SolverOptions
from microsim.model.params import ModelParams
from microsim.sweeps.reading import open_sweep
from microsim.sweeps.storage import PARAM_NAMES


def _energy(p: ModelParams) -> Callable[[np.ndarray], float]:
    levels = np.arange(p.n_batteries + 1) * p.w0
    return lambda pops: float(pops @ levels)


def measure(path: str) -> list[dict[str, float | int | str]]:
    data = open_sweep(path)
    options = SolverOptions(rtol=1e-8, atol=1e-11)  # as the sweeps
    out = []
    for r in data.rows(sort_by=["n_batteries", "kappa"]):
        if str(data.column("protocol")[r]) != "collective":
            continue
        values = {k: data.column(k)[r] for k in PARAM_NAMES}
        p = ModelParams(**{k: (v.item() if hasattr(v, "item") else v) for k, v in values.items()})
        n = p.n_batteries
        t = data.array(r, "t")
        mic, eff = data.array(r, "energy_mic"), data.array(r, "energy_eff")
        grid, keep = measurement_grid(t, p.gamma_01)
        start = time.perf_counter()
        cor = run_description(get("corrected"), p, grid, keep, options, _energy(p), 1e-3)
        wall = time.perf_counter() - start
        tau_mic = float(data.column("tau_mic")[r])
        row: dict[str, float | int | str] = {
            "file": Path(path).name, "n_batteries": n, "kappa": float(p.kappa),
            "gamma_ratio": p.gamma_c / p.gamma_h, "wh": float(p.wh), "beta_c": float(p.beta_c),
            "eps_traj_grid": float(np.abs(mic - eff).max()) / n,
            "eps_tau": float(data.column("eps_tau")[r]), "status": cor.status, "wall_time": wall,
        }
        if cor.traj is not None:
            row["eps_traj_corr_grid"] = float(np.abs(mic - cor.traj.energy).max()) / n
            row["eps_tau_corr"] = abs(tau_mic - cor.tau) / cor.tau
        else:
            row["eps_traj_corr_grid"] = row["eps_tau_corr"] = math.nan
        out.append(row)
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("files", nargs="+")
    parser.add_argument("--out", default="bench/corrected.json")
    args = parser.parse_args()
    rows = [row for path in args.files for row in measure(path)]
    Path(args.out).write_text(json.dumps(rows, indent=1))
    print("| file | bath | N | kappa | eps_traj Eq. 8 | corrected | ratio | eps_tau Eq. 8 | "
          "corrected | ratio | s |")
    print("| --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- |")
    for x in rows:
        print(f"| {x['file']} | {x['gamma_ratio']:g}, {x['wh']:g}, {x['beta_c']:g} | "
              f"{x['n_batteries']} | {x['kappa']:.3g} | {x['eps_traj_grid']:.3g} | "
              f"{x['eps_traj_corr_grid']:.3g} | "
              f"{x['eps_traj_grid'] / x['eps_traj_corr_grid']:.3g} | {x['eps_tau']:.3g} | "
              f"{x['eps_tau_corr']:.3g} | {x['eps_tau'] / x['eps_tau_corr']:.3g} | "
              f"{x['wall_time']:.1f} |")


if __name__ == "__main__":
    main()
