"""The law of Eq. 8's error on sweep files: its constants fitted on the fit set, its test on the rest.

``python -m microsim.report.lawfit runs/criterion_law_fit.h5 [runs/criterion_law_held*.h5]``
refits the constants of analysis/prediction.py from the fit file (least squares in log eps,
Nelder-Mead; +- the bootstrap standard deviation) and prints the statistics of the held-back
files against the constants in the code. Every row carries the first-order values the law needs
(eps_traj_first_order, tau_shift_lag, tau_shift_depletion: schema 1.6), so nothing is recomputed.
"""

from __future__ import annotations

import argparse
import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass

import numpy as np
from numpy.typing import NDArray
from scipy.optimize import minimize

from microsim.analysis import prediction as pr
from microsim.sweeps.reading import SweepData, combine

__all__ = ["FIT_SWEEP", "LawRows", "Scores", "fit_tau", "fit_traj", "law_rows", "main", "scores"]

FloatArray = NDArray[np.float64]

#: The sweep whose rows fit the constants (configs/criterion_law_fit.yaml); all others are held back.
FIT_SWEEP = "criterion_law_fit"
#: Where the targets of the law apply: eps_traj above this (and eps_tau above TAU_FLOOR).
TRAJ_FLOOR, TAU_FLOOR = 1e-3, 1e-2
#: Below this measured eps_traj the law is linear, eps_traj = A X^2: where A is read off.
LINEAR = 0.02


@dataclass(frozen=True)
class LawRows:
    """What the law needs of every complete microscopic row with a first-order value."""

    rows: NDArray[np.intp]
    fit: NDArray[np.bool_]
    eps_traj: FloatArray
    eps_tau: FloatArray
    x2: FloatArray
    e_n: FloatArray
    tau_lag: FloatArray
    tau_dep: FloatArray
    kappa: FloatArray
    kappa_01: FloatArray


def law_rows(data: SweepData) -> LawRows:
    """The rows of the law's files, the fit set marked (sweep FIT_SWEEP)."""
    rows = data.rows()
    col = {k: data.column(k)[rows].astype(float) for k in (
        "eps_traj", "eps_tau", "eps_traj_first_order", "E_ss_eff", "n_batteries", "w0",
        "tau_shift_lag", "tau_shift_depletion", "kappa", "kappa_01")}
    ok = np.isfinite(col["eps_traj"]) & np.isfinite(col["eps_traj_first_order"])
    col = {k: v[ok] for k, v in col.items()}
    rows = rows[ok]
    return LawRows(rows=rows, fit=data.sweep_names()[rows] == FIT_SWEEP,
                   eps_traj=col["eps_traj"], eps_tau=col["eps_tau"],
                   x2=col["eps_traj_first_order"],
                   e_n=col["E_ss_eff"] / (col["n_batteries"] * col["w0"]),
                   tau_lag=col["tau_shift_lag"], tau_dep=col["tau_shift_depletion"],
                   kappa=col["kappa"], kappa_01=col["kappa_01"])


def _least_squares(loss: Callable[[FloatArray], float], start: Sequence[float]) -> FloatArray:
    return np.exp(minimize(loss, np.log(start), method="Nelder-Mead",
                           options={"maxiter": 20000, "xatol": 1e-9, "fatol": 1e-13}).x)


def fit_traj(eps: FloatArray, x2: FloatArray, e_n: FloatArray) -> FloatArray:
    """(A, S, n) of eps_traj = A X^2 / (1 + (A X^2/(S e_N))^n)^(1/n), least squares in log eps."""
    def loss(c: FloatArray) -> float:
        return float(np.sum(np.log(eps / pr.law_traj(x2, e_n, *np.exp(c))) ** 2))

    return _least_squares(loss, (1.0, 0.7, 1.0))


def fit_tau(eps: FloatArray, tau_lag: FloatArray, tau_dep: FloatArray) -> FloatArray:
    """(A', C) of eps_tau = A' |tau_dep + tau_lag/(1 + |tau_lag|/C)| over eps_tau > TAU_FLOOR."""
    use = eps > TAU_FLOOR

    def loss(c: FloatArray) -> float:
        return float(np.sum(np.log(eps[use] / pr.law_tau(tau_lag[use], tau_dep[use],
                                                          *np.exp(c))) ** 2))

    return _least_squares(loss, (1.0, 0.4))


def bootstrap(fit: Callable[[NDArray[np.intp]], FloatArray], size: int, draws: int = 200
              ) -> FloatArray:
    """Standard deviation of fitted constants over resamples of the rows (fixed seed)."""
    rng = np.random.default_rng(7)
    return np.std([fit(rng.integers(0, size, size)) for _ in range(draws)], axis=0)


@dataclass(frozen=True)
class Scores:
    """The law against the measured errors on one set of rows (ratios measured/predicted)."""

    points: int
    traj_points: int  #: rows with eps_traj > TRAJ_FLOOR
    traj_over: float  #: largest predicted/measured there
    traj_under: float  #: largest measured/predicted there
    traj_within_2: float  #: share within a factor 2
    misses: int  #: predicted < 1 % where measured > 2 %
    a_min: float  #: eps/X^2 over the rows with eps < LINEAR
    a_max: float
    tau_points: int
    tau_over: float
    tau_under: float
    tau_within_2: float


def _factors(measured: FloatArray, predicted: FloatArray, floor: float
             ) -> tuple[int, float, float, float]:
    use = measured > floor
    if not use.any():
        return 0, math.nan, math.nan, math.nan
    ratio = measured[use] / predicted[use]
    return (int(use.sum()), float(1 / ratio.min()), float(ratio.max()),
            float(np.mean((ratio > 0.5) & (ratio < 2.0))))


def scores(law: LawRows, select: NDArray[np.bool_],
           traj: FloatArray | None = None) -> Scores:
    """The targets of the issue on the rows ``select``: predictions ``traj`` (default: the law
    with the constants of analysis/prediction.py)."""
    predicted = pr.law_traj(law.x2, law.e_n) if traj is None else traj
    predicted_tau = pr.law_tau(law.tau_lag, law.tau_dep)
    e, p = law.eps_traj[select], predicted[select]
    n, over, under, within = _factors(e, p, TRAJ_FLOOR)
    linear = e < LINEAR
    a = e[linear] / law.x2[select][linear]
    tn, tover, tunder, twithin = _factors(law.eps_tau[select], predicted_tau[select], TAU_FLOOR)
    return Scores(points=int(select.sum()), traj_points=n, traj_over=over, traj_under=under,
                  traj_within_2=within, misses=int(np.sum((p < 0.01) & (e > 0.02))),
                  a_min=float(a.min()) if a.size else math.nan,
                  a_max=float(a.max()) if a.size else math.nan,
                  tau_points=tn, tau_over=tover, tau_under=tunder, tau_within_2=twithin)


def baseline(law: LawRows, variable: FloatArray) -> FloatArray:
    """The same saturating form with variable^2 (kappa or kappa_01) in place of X^2, fitted on
    the fit rows: what the earlier criteria would predict."""
    f = law.fit
    constants = fit_traj(law.eps_traj[f], variable[f] ** 2, law.e_n[f])
    return pr.law_traj(variable**2, law.e_n, *constants)


def main(argv: Sequence[str] | None = None) -> int:
    """``python -m microsim.report.lawfit FIT.h5 [HELD.h5 ...]``."""
    parser = argparse.ArgumentParser(prog="python -m microsim.report.lawfit",
                                     description=__doc__.split("\n")[0])
    parser.add_argument("files", nargs="+", help="the law's sweep files, the fit set among them")
    law = law_rows(combine(parser.parse_args(argv).files))
    f = np.flatnonzero(law.fit)
    traj = fit_traj(law.eps_traj[f], law.x2[f], law.e_n[f])
    dtraj = bootstrap(lambda i: fit_traj(law.eps_traj[f][i], law.x2[f][i], law.e_n[f][i]), f.size)
    tau = fit_tau(law.eps_tau[f], law.tau_lag[f], law.tau_dep[f])
    dtau = bootstrap(lambda i: fit_tau(law.eps_tau[f][i], law.tau_lag[f][i], law.tau_dep[f][i]),
                     f.size)
    names = ("A_TRAJ", "S_TRAJ", "N_SAT", "A_TAU", "C_LAG")
    code = (pr.A_TRAJ, pr.S_TRAJ, pr.N_SAT, pr.A_TAU, pr.C_LAG)
    print(f"fit set: {f.size} rows")
    for name, value, err, now in zip(names, (*traj, *tau), (*dtraj, *dtau), code, strict=True):
        print(f"  {name:<7} {value:.4g} +- {err:.2g}   (in analysis/prediction.py: {now:.4g})")
    held = ~law.fit
    if held.any():
        print(f"held back: {scores(law, held)}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
