"""The CI regression of the effective-vs-microscopic error (Eq. 8's and the corrected
description's): reference data and its comparison.

`make regression-update` runs this file as a script: it reruns configs/ci.yaml and rewrites
tests/data/ci_reference.json. tests/test_regression.py reruns the sweep and compares.

Tolerances follow from the integrator tolerance (rtol 1e-8, atol 1e-11 on the state vector):
energies and populations carry errors of ~1e-8, so eps_traj and D_max (energy / (N w0) and trace
distances, maxima refined to 1e-8 relative by refinement.py) are compared to 1e-7 absolute; tau
is refined to 1e-9 of its bracket, and a 1e-8 error in energy where the deficit is 1e-3 moves it
by ~1e-5 relative, so taus are compared to 1e-4 relative and eps_tau to 1e-4 absolute; eps_ss is
round-off (1e-13) and compared to 1e-9. A 1 % change of Gamma_e moves tau_eff by 1 %, a hundred
times the tolerance.
"""

from __future__ import annotations

import json
import math
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
CONFIG = ROOT / "configs" / "ci.yaml"
REFERENCE = ROOT / "tests" / "data" / "ci_reference.json"
KEYS = ("kappa", "n_batteries", "protocol", "gamma_ratio")
#: figure -> (relative, absolute) tolerance
TOLERANCES = {
    "eps_traj": (0.0, 1e-7),
    "D_max": (0.0, 1e-7),
    "eps_ss": (0.0, 1e-9),
    "eps_tau": (0.0, 1e-4),
    "tau_mic": (1e-4, 0.0),
    "tau_eff": (1e-4, 0.0),
    "E_ss_mic": (1e-9, 0.0),
    "E_ss_eff": (1e-9, 0.0),
    # the corrected description (docs/physics.md §7), integrated at the same tolerances
    "eps_traj_corr": (0.0, 1e-7),
    "eps_ss_corr": (0.0, 1e-9),
    "eps_tau_corr": (0.0, 1e-4),
    "tau_corr": (1e-4, 0.0),
    "E_ss_corr": (1e-9, 0.0),
}


def summary_rows(path: Path) -> list[dict[str, object]]:
    """The rows of a sweep file's summary: the point's identity and the checked figures."""
    from microsim.sweeps.storage import read_summary

    _, columns = read_summary(path)
    rows = []
    for i in range(len(columns["key"])):
        row: dict[str, object] = {k: _plain(columns[k][i]) for k in KEYS if k != "gamma_ratio"}
        row["gamma_ratio"] = _plain(columns["gamma_c"][i] / columns["gamma_h"][i])
        row.update({k: _plain(columns[k][i]) for k in TOLERANCES})
        row["status"] = str(columns["status"][i])
        rows.append(row)
    return sorted(rows, key=lambda r: tuple(str(r[k]) for k in KEYS))


def _plain(x: object) -> object:
    if isinstance(x, str):
        return x
    value = x.item() if hasattr(x, "item") else x
    return round(value, 12) if isinstance(value, float) else value


def _ident(row: dict[str, object]) -> tuple[str, ...]:
    return tuple(f"{row[k]:.6g}" if isinstance(row[k], float) else str(row[k]) for k in KEYS)


def mismatches(rows: list[dict[str, object]], reference: list[dict[str, object]]) -> list[str]:
    """Every figure of every point that differs from the reference beyond its tolerance."""
    problems = []
    ref = {_ident(r): r for r in reference}
    got = {_ident(r): r for r in rows}
    if set(ref) != set(got):
        problems.append(f"points differ: missing {sorted(set(ref) - set(got))}, "
                        f"new {sorted(set(got) - set(ref))}")
    for ident in sorted(set(ref) & set(got)):
        if got[ident]["status"] != "complete":
            problems.append(f"{ident}: status {got[ident]['status']}")
            continue
        for name, (rel, abs_) in TOLERANCES.items():
            a, b = float(got[ident][name]), float(ref[ident][name])
            if not math.isclose(a, b, rel_tol=rel, abs_tol=abs_):
                problems.append(f"{ident}: {name} = {a:.10g}, reference {b:.10g}")
    return problems


def run_ci_sweep(output: Path) -> list[dict[str, object]]:
    """Run configs/ci.yaml into ``output`` and return its summary rows."""
    from microsim.cli import main

    code = main(["sweep", str(CONFIG), "--output", str(output), "--force"])
    if code != 0:
        raise RuntimeError(f"the CI sweep exited with {code}")
    return summary_rows(output)


if __name__ == "__main__":
    out = Path(sys.argv[1]) if len(sys.argv) > 1 else ROOT / "runs" / "ci.h5"
    rows = run_ci_sweep(out)
    REFERENCE.parent.mkdir(parents=True, exist_ok=True)
    REFERENCE.write_text(json.dumps(rows, indent=1) + "\n")
    print(f"wrote {REFERENCE} ({len(rows)} points)")
