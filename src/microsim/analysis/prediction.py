"""The error of Eq. 8 predicted from the parameters: its first-order theory and the fitted law.

docs/physics.md §3 ("Which rates bound the error of Eq. 8") derives it. Adiabatic elimination
errs at relative order g^2 in two ways, both evaluated on Eq. 8's own solution p(t):

* coherence memory (lag): the engine coherence |0><1| filters the populations with the kernel
  gamma_01 e^{-gamma_01 t}, so to first order dE_lag(t) = -(1/gamma_01) d/dt [t dE_eff/dt];
* engine depletion: a transfer leaves its engine away from Eq. 3 for the time Z of its baths
  (model.engine.depletion_response, set by the uphill rates); the engines of battery sector m
  deviate by d(m) = Z [J_u(m-1) e0 + J_d(m+1) e1 - J_u(m) e1 - J_d(m) e0] (per engine,
  J_u(m) = k_u(m) p1 p_m, J_d(m) = k_d(m) p0 p_m, k_u(m) = 2 g_e^2 s(m+1)^2/gamma_01,
  k_d(m) = 2 g_e^2 s(m)^2/gamma_01), which corrects Eq. 8's fluxes: d(dp)/dt = L dp + D p(t).

X^2 = max_t |dE_lag + dE_dep| / (N w0) is the first-order eps_traj, and X'^2 the first-order
eps_tau from the two shifts of tau_eff (the lag's saturating at C_LAG). The law

    eps_traj = A X^2 / (1 + (A X^2 / (S e_N))^n)^(1/n),   eps_tau = A' X'^2,

with e_N = E_ss/(N w0) (Eq. 14), has its constants fitted on configs/criterion_law_fit.yaml and
tested on the held-back sweeps (docs/results.md). [p, dp] is lower block triangular with
tridiagonal blocks, so each Radau IIA stage is two tridiagonal solves: O(N) per step.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass

import numpy as np
import scipy.sparse as sp
from numpy.typing import NDArray

from microsim.analysis.grids import effective_charging_time
from microsim.descriptions.effective import generator, tridiagonal_generator
from microsim.descriptions.numerics.radau import radau_states
from microsim.descriptions.numerics.tridiagonal import ShiftedTridiagonal, Tridiagonal
from microsim.model.engine import depletion_response
from microsim.model.params import ModelParams

__all__ = [
    "A_TAU",
    "A_TRAJ",
    "C_LAG",
    "N_SAT",
    "S_TRAJ",
    "WARN_EPS_TRAJ",
    "FirstOrder",
    "Prediction",
    "first_order",
    "law_tau",
    "law_traj",
    "predict",
]

FloatArray = NDArray[np.float64]

#: The law's constants, fitted on configs/criterion_law_fit.yaml (110 exact points; +- the
#: bootstrap standard deviation over 200 resamples): A_TRAJ = 1.056 +- 0.012 (first-order
#: theory: 1; the excess is the two-engine coherences), S_TRAJ = 0.68 +- 0.08 (saturation in
#: units of e_N), N_SAT = 0.80 +- 0.05 (knee), A_TAU = 1.29 +- 0.03, C_LAG = 0.37 +- 0.07 (where
#: the lag's negative shift of tau saturates). ``python -m microsim.report.lawfit`` refits them.
A_TRAJ, S_TRAJ, N_SAT = 1.056, 0.6789, 0.7965
A_TAU, C_LAG = 1.294, 0.3674

#: compare() warns that Eq. 8 is not expected to hold where the predicted eps_traj exceeds this.
WARN_EPS_TRAJ = 0.01

#: Samples of the first-order curves per Eq. 8 charging time, and their extent in it.
SAMPLES = 100
EXTENT = 4.0

#: Integration tolerances of the first-order system (its values are O(1) per battery).
RTOL, ATOL = 1e-9, 1e-12


@dataclass(frozen=True)
class FirstOrder:
    """The first-order error of Eq. 8 of one problem (module docstring), in units of N w0.

    ``x2`` = max_t |lag + dep| (X^2), ``x2_lag`` and ``x2_dep`` the maxima of each alone,
    ``t_peak`` where the sum peaks, ``tau_lag`` and ``tau_dep`` the relative shifts of tau_eff,
    ``e_n`` the capacity e_N (Eq. 14), ``tau_eff`` Eq. 8's charging time."""

    x2: float
    x2_lag: float
    x2_dep: float
    t_peak: float
    tau_lag: float
    tau_dep: float
    e_n: float
    tau_eff: float


@dataclass(frozen=True)
class Prediction:
    """The law's eps_traj and eps_tau of one problem and the first-order values they come from:
    X^2 (``eps_traj_first_order``) and the relative shifts of tau_eff by the lag and by the
    depletion (NaN outside the law's derivation; ``note`` says why)."""

    eps_traj_predicted: float
    eps_tau_predicted: float
    eps_traj_first_order: float = math.nan
    tau_shift_lag: float = math.nan
    tau_shift_depletion: float = math.nan
    note: str = ""

    def figures(self) -> dict[str, float]:
        return {k: v for k, v in asdict(self).items() if k != "note"}


def law_traj(x2: float | FloatArray, e_n: float | FloatArray, a: float = A_TRAJ,
             s: float = S_TRAJ, n: float = N_SAT) -> FloatArray:
    """eps_traj = A X^2 / (1 + (A X^2 / (S e_N))^n)^(1/n)."""
    e = a * np.asarray(x2, dtype=float)
    return e / (1.0 + (e / (s * np.asarray(e_n, dtype=float))) ** n) ** (1.0 / n)


def law_tau(tau_lag: float | FloatArray, tau_dep: float | FloatArray, a: float = A_TAU,
            c: float = C_LAG) -> FloatArray:
    """eps_tau = A' |tau_dep + tau_lag / (1 + |tau_lag| / C)|: the lag speeds the late charging
    up by a bounded amount, the depletion slows it down."""
    lag, dep = np.asarray(tau_lag, dtype=float), np.asarray(tau_dep, dtype=float)
    return a * np.abs(dep + lag / (1.0 + np.abs(lag) / c))


def _depletion_operator(q: ModelParams) -> sp.csr_matrix:
    """D of d(dp)/dt = L dp + D p: the flux corrections of the engines' depletion (pentadiagonal)."""
    n, engines = q.n_batteries, q.n_engines
    p0, p1, _ = q.engine_steady_populations
    z = depletion_response(q)
    m = np.arange(n + 1, dtype=float)
    s2 = m * (n - m + 1)
    ku = 2 * q.g_engine**2 * np.append(s2[1:], 0.0) / q.gamma_01
    kd = 2 * q.g_engine**2 * s2 / q.gamma_01
    ju, jd = sp.diags(ku * p1), sp.diags(kd * p0)
    up, down = sp.eye(n + 1, k=-1), sp.eye(n + 1, k=1)  # row m takes row m -1 / m + 1
    ju_prev, jd_next = up @ ju, down @ jd
    d1 = z[1, 0] * ju_prev + z[1, 1] * jd_next - z[1, 1] * ju - z[1, 0] * jd
    d0 = z[0, 0] * ju_prev + z[0, 1] * jd_next - z[0, 1] * ju - z[0, 0] * jd
    dju, djd = engines * sp.diags(ku) @ d1, engines * sp.diags(kd) @ d0
    return (up @ dju + down @ djd - dju - djd).tocsr()


class _BlockShifted:
    """(lambda/h - [[L, 0], [D, L]])^{-1}: two solves with the tridiagonal factors of L."""

    def __init__(self, bands: Tridiagonal, d: sp.csr_matrix, h: float) -> None:
        self.h, self.d, self.lu = h, d, ShiftedTridiagonal(bands, h)
        self.size = bands.size

    def _solve(self, b: NDArray, solve: object) -> NDArray:
        first = solve(b[: self.size])  # type: ignore[operator]
        return np.concatenate([first, solve(b[self.size:] + self.d @ first)])  # type: ignore[operator]

    def solve_real(self, b: FloatArray) -> FloatArray:
        return self._solve(b, self.lu.solve_real)

    def solve_complex(self, b: FloatArray) -> NDArray[np.complex128]:
        return self._solve(b.astype(complex), self.lu.solve_complex)


def first_order(p: ModelParams, samples: int = SAMPLES) -> FirstOrder:
    """The first-order error of Eq. 8 for the problem p (its pair for the individual protocol),
    on ``samples`` points per tau_eff over EXTENT tau_eff (module docstring)."""
    q = p.pair() if p.protocol == "individual" else p
    n = q.n_batteries
    bands = tridiagonal_generator(n, q.gamma_e, q.beta_e_w0)
    d = _depletion_operator(q)
    size = n + 1
    if size < 3:  # LAPACK's tridiagonal LU wants n >= 3: uncoupled levels that stay empty
        pad = 3 - size
        bands = Tridiagonal(*(np.concatenate([band, np.zeros(pad)]) for band in bands))
        d = sp.block_diag([d, sp.csr_matrix((pad, pad))]).tocsr()
    rows = bands.size

    def matvec(x: FloatArray) -> FloatArray:
        return np.concatenate([bands @ x[:rows], bands @ x[rows:] + d @ x[:rows]])

    tau = effective_charging_time(q)
    t = np.union1d(np.linspace(0.0, EXTENT * tau, int(EXTENT * samples) + 1), [tau])
    x0 = np.zeros(2 * rows)
    x0[0] = 1.0
    states = np.array(list(radau_states(matvec, lambda h: _BlockShifted(bands, d, h), x0, t,
                                        RTOL, ATOL)))
    pops, shift = states[:, :size], states[:, rows: rows + size]
    m = np.arange(size, dtype=float)
    generator_t = generator(n, q.gamma_e, q.beta_e_w0).T
    flux = generator_t @ m  # d<m>/dt = flux . p
    rate, curvature = pops @ flux, pops @ (generator_t @ flux)
    lag = -(rate + t * curvature) / q.gamma_01 / n
    dep = shift @ m / n
    total = lag + dep
    k = int(np.argmax(np.abs(total)))
    peak, t_peak = _vertex(t, np.abs(total), k)
    i = int(np.searchsorted(t, tau))
    e_n = _capacity(q)
    speed = rate[i] / n
    return FirstOrder(x2=peak, x2_lag=float(np.abs(lag).max()),
                      x2_dep=float(np.abs(dep).max()), t_peak=t_peak,
                      tau_lag=float(-lag[i] / speed / tau), tau_dep=float(-dep[i] / speed / tau),
                      e_n=e_n, tau_eff=tau)


def _vertex(t: FloatArray, y: FloatArray, k: int) -> tuple[float, float]:
    """The maximum of the smooth curve y(t) sampled at its largest sample k: the vertex of the
    parabola through k - 1, k, k + 1 (its sampling error falls like h^3, not h^2)."""
    if k == 0 or k == t.size - 1:
        return float(y[k]), float(t[k])
    (t0, t1, t2), (y0, y1, y2) = t[k - 1: k + 2], y[k - 1: k + 2]
    a = np.polyfit([t0 - t1, 0.0, t2 - t1], [y0, y1, y2], 2)
    if a[0] >= 0:
        return float(y1), float(t1)
    shift = -a[1] / (2 * a[0])
    return float(np.polyval(a, shift)), float(t1 + shift)


def _capacity(q: ModelParams) -> float:
    """e_N = <m>/N of Eq. 13 at x = beta_e w0, in log space (no overflow at large N)."""
    m = np.arange(q.n_batteries + 1, dtype=float)
    log_w = -q.beta_e_w0 * m
    w = np.exp(log_w - log_w.max())
    return float(w @ m / w.sum()) / q.n_batteries


def predict(p: ModelParams) -> Prediction:
    """The law's eps_traj and eps_tau for p. NaN with the reason where the law has no
    derivation: a battery environment, engines not started in Eq. 3, no coupling."""
    if p.gamma_env > 0:
        return Prediction(math.nan, math.nan, note="not derived with a battery environment")
    if p.engine_init != "steady":
        return Prediction(math.nan, math.nan, note="derived for engines started in Eq. 3")
    if p.g == 0:
        return Prediction(math.nan, math.nan, note="no coupling: nothing charges")
    f = first_order(p)
    return Prediction(float(law_traj(f.x2, f.e_n)), float(law_tau(f.tau_lag, f.tau_dep)),
                      f.x2, f.tau_lag, f.tau_dep)
