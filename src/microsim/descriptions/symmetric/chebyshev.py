"""Chebyshev propagation of the symmetric generator: exp(L t) on an ellipse around its spectrum,
whose extent is known in closed form (spectral_bounds); only sparse products."""

from __future__ import annotations

import math
from collections.abc import Iterator
from dataclasses import dataclass

import numpy as np
import scipy.linalg as sla
import scipy.sparse as sp
from numpy.typing import NDArray
from scipy.linalg.blas import daxpy
from scipy.special import ive

from microsim.descriptions.numerics.threads import RowSplit
from microsim.descriptions.options import IntegrationError
from microsim.model.engine import relaxation_rates
from microsim.model.params import ModelParams

__all__ = ["GROWTH_ALARM", "chebyshev_products", "chebyshev_propagate", "spectral_bounds"]

FloatArray = NDArray[np.float64]
IntArray = NDArray[np.int64]


def spectral_bounds(p: ModelParams) -> tuple[float, float]:
    """Bounds (a, b) on -Re(lambda) and |Im(lambda)| over the spectrum of the generator.

    a: the bath part is a sum of independent engines, with eigenvalues -(k1 mu1 + k2 mu2) -
    c gamma_01 (k1 + k2 <= M - c; mu the nonzero rates of one engine's 3-level generator), so
    a = M max(mu2, gamma_01), plus twice the largest diagonal rate of the battery environment.
    b: the coupling is -i[V, .], with eigenvalues -i(E_j - E_k) for eigenvalues E of V, so
    b = 2 ||V||; ||V|| is reached with the engines' collective two-level spin J = M/2, where V is
    tridiagonal in each sector of fixed Q. Dense spectra up to N = M = 10 reach both bounds to
    about 1 %; that the coupling does not push -Re beyond a is measured, not proven.
    """
    n, big_m = p.n_batteries, p.n_engines
    a = big_m * max(float(relaxation_rates(p)[-1]), p.gamma_01)
    if p.gamma_env > 0:
        s2_max = max(k * (n - k + 1.0) for k in range(n + 2))
        a += 2.0 * p.gamma_env * (1.0 + math.exp(-p.beta_env * p.w0)) * s2_max
    norm_v = 0.0
    for q in range(big_m + n + 1):
        k = np.arange(max(0, q - n), min(big_m, q) + 1)[:-1]  # engines in |1>, then k + 1
        if k.size == 0:
            continue
        m = q - k
        # i g (J+ S^- - J- S^+) is unitarily equivalent to this real symmetric tridiagonal matrix
        off = p.g_engine * np.sqrt((k + 1.0) * (big_m - k) * m * (n - m + 1.0))
        norm_v = max(norm_v, float(np.abs(sla.eigvalsh_tridiagonal(np.zeros(k.size + 1), off)).max()))
    return a, 2.0 * norm_v


@dataclass(frozen=True)
class _Ellipse:
    """Ellipse with foci center -+ focus on the real axis; rho its Bernstein parameter."""

    center: float
    focus: float
    rho: float


def _enclosing_ellipse(a: float, b: float, right: float) -> _Ellipse | None:
    """Ellipse from -a to ``right`` through the corners (0, +-b) and (-0.4 a, +-b).

    The spectrum lies in [-a, 0] x [-b, b] and, measured up to N = M = 10, inside the polygon
    (0, +-b), (-0.4 a, +-b), (-a, 0): |Im| falls off about linearly left of -0.1 a, and stays
    below 0.6 b there at -0.45 a; the polygon leaves a factor of about 1.5 to spare.
    """
    center, semi = 0.5 * (right - a), 0.5 * (right + a)
    height = max(y / math.sqrt(1.0 - ((x - center) / semi) ** 2) for x, y in ((0.0, b), (-0.4 * a, b)))
    if height >= semi:
        return None
    focus = math.sqrt(semi**2 - height**2)
    return _Ellipse(center, focus, (semi + height) / focus)


def _log_ive(k: IntArray, x: float) -> FloatArray:
    """log(I_k(x) e^{-x}), by the uniform large-order expansion where ive underflows.

    log I_k(x) ~ k eta - log(2 pi k)/2 - log(1 + z^2)/4, z = x/k,
    eta = sqrt(1 + z^2) + log(z / (1 + sqrt(1 + z^2))), good to O(1/k) in the logarithm.
    """
    with np.errstate(divide="ignore"):
        out = np.log(ive(k, x))
    bad = ~np.isfinite(out) & (k > 0)
    if bad.any() and x > 0:
        kk = k[bad].astype(float)
        z = x / kk
        root = np.sqrt(1.0 + z * z)
        eta = root + np.log(z / (1.0 + root))
        out[bad] = kk * eta - 0.5 * np.log(2.0 * np.pi * kk) - 0.25 * np.log1p(z * z) - x
    return out


def _coefficients(ell: _Ellipse, h: float, tol: float) -> tuple[FloatArray, float] | None:
    """Chebyshev coefficients of exp(h z) on the ellipse, truncated where the tail is below tol.

    exp(h z) = e^{h c} [I_0(h d) + 2 sum_k I_k(h d) T_k((z - c)/d)] and |T_k| <= rho^k on the
    ellipse. Returns the coefficients and log10 of the largest term (|coefficient| rho^k), which
    sets the round-off.
    """
    hd = h * ell.focus
    k_max = int(hd * (ell.rho + 1.0) + 60.0 * math.sqrt(hd + 1.0) + 60.0)
    k = np.arange(k_max + 1)
    log_a = math.log(2.0) + h * (ell.center + ell.focus) + _log_ive(k, hd)
    log_a[0] -= math.log(2.0)
    log_terms = log_a + k * math.log(ell.rho)
    if log_terms.max() > 300.0:  # hopeless round-off long before overflow
        return None
    tail = np.cumsum(np.exp(log_terms)[::-1])[::-1]
    ok = np.flatnonzero(tail < tol)
    if ok.size == 0:
        return None
    degree = max(int(ok[0]), 2)
    return np.exp(log_a[:degree]), float(log_terms[:degree].max() / math.log(10.0))


def _plan(a: float, b: float, dt_max: float, tol: float) -> tuple[_Ellipse, float]:
    """Ellipse and sub-step h <= dt_max with the fewest products per unit time.

    The terms of the series reach about e^{h r} (r the right end of the ellipse); h is limited so
    that they stay below tol / 1e-15, i.e. round-off stays below tol.
    """
    b = max(b, 1e-3 * a)
    max_log_term = min(max(math.log10(tol / 1e-15), 1.0), 6.0)
    best: tuple[float, _Ellipse, float] | None = None
    for right in a * np.geomspace(1e-3, 1.0, 25):
        ell = _enclosing_ellipse(a, b, float(right))
        if ell is None:
            continue
        for h in np.geomspace(min(0.1 / a, dt_max), dt_max, 41):
            res = _coefficients(ell, float(h), tol)
            if res is None or res[1] > max_log_term:
                continue
            cost = res[0].size / h
            if best is None or cost < best[0]:
                best = (cost, ell, float(h))
    if best is None:
        raise IntegrationError(f"no Chebyshev step reaches tol = {tol}")
    return best[1], best[2]


#: |T_K(A) x| / (rho^K |x|) above this in a sub-step (K its degree, rho the ellipse's Bernstein
#: parameter) means the spectrum has left the ellipse of spectral_bounds: the series then grows
#: geometrically beyond the bound that sets its truncation, and the step is refused
#: (IntegrationError). Inside, the ratio stays O(1) (measured 0.09-0.39 at N = 1-10, kappa =
#: 0.01-0.5); the margin leaves room for the transient growth of this non-normal generator.
GROWTH_ALARM = 1e3


def chebyshev_propagate(
    gen: sp.csr_matrix, x0: FloatArray, t: FloatArray, bounds: tuple[float, float], tol: float,
    stats: dict[str, float | str] | None = None, plan: dict[str, object] | None = None,
) -> Iterator[FloatArray]:
    """x(t_k) = exp(L (t_k - t_0)) x0 by Chebyshev expansion of exp on an enclosing ellipse.

    Only products with L, no solves. The bath rates make L stiff (-Re up to a ~ 1.7 N^2 for the
    default sweep point) but the spectrum is thin (|Im| <= b ~ 0.17 N^2) and known in advance
    (spectral_bounds), so the number of products is about the ellipse's semi-minor axis times the
    time, some 1.3e4 for N = 40 over three charging times, against about 3e4 for classical RK4 at
    its stability limit. ``tol`` bounds each sub-step's truncation error relative to |x|.

    The plan (ellipse and sub-step) is made before the first state is returned, so an
    IntegrationError for a spectrum that admits no step is raised by this call. A posteriori,
    every sub-step measures the growth of its highest Chebyshev vector against the ellipse's
    bound, |T_K(A) x| / (rho^K |x|) (max norms): the truncation error is below tol only while this
    is O(1). Its largest value is kept in ``stats['chebyshev_growth']``; a value above
    GROWTH_ALARM raises IntegrationError while iterating. A ``plan``
    dict, empty at first, keeps the ellipse, sub-step and matrix of the first call for the next
    ones (continuations on finer grids take sub-steps no longer than the first call's).
    """
    t = np.asarray(t, dtype=float)
    steps = np.diff(t)
    if np.any(steps < 0):
        raise ValueError("t must be non-decreasing")
    stats = {} if stats is None else stats
    stats.setdefault("chebyshev_growth", 0.0)
    if steps.size == 0 or steps.max() <= 0:
        return (np.array(x0, dtype=float) for _ in t)
    plan = {} if plan is None else plan
    if not plan:
        ell, h_best = _plan(*bounds, float(steps.max()), tol)
        # T_{k+1}(A) x = 2 A T_k x - T_{k-1} x with A = (L - c)/d: keep 2A as one sparse matrix
        twice = RowSplit((2.0 / ell.focus) * (gen - ell.center * sp.identity(gen.shape[0])))
        plan.update(ellipse=ell, h=h_best, twice=twice, coefficients={})
    return _chebyshev_states(plan, np.array(x0, dtype=float), steps, tol, stats)


def _chebyshev_states(plan: dict, x: FloatArray, steps: FloatArray, tol: float,
                      stats: dict[str, float | str]) -> Iterator[FloatArray]:
    ell, h_best, twice, cache = plan["ellipse"], plan["h"], plan["twice"], plan["coefficients"]
    yield x.copy()
    for dt in steps:
        if dt > 0:
            n_sub = math.ceil(dt / h_best * (1.0 - 1e-12))
            h = float(dt / n_sub)
            if h not in cache:
                res = _coefficients(ell, h, tol)
                if res is None:
                    raise IntegrationError(f"no Chebyshev expansion reaches tol = {tol} for h = {h}")
                cache[h] = res[0]
            stats["chebyshev_products"] = stats.get("chebyshev_products", 0) + n_sub * cache[h].size
            bound = ell.rho ** (cache[h].size - 1)
            for _ in range(n_sub):
                x, last = _chebyshev_sum(twice, cache[h], x)
                growth = last / bound
                stats["chebyshev_growth"] = max(float(stats["chebyshev_growth"]), growth)
                if not growth <= GROWTH_ALARM:
                    raise IntegrationError(
                        f"Chebyshev growth {growth:.2e} > {GROWTH_ALARM:.0e} of the ellipse's bound: "
                        "the spectrum is outside the ellipse of spectral_bounds")
        yield x.copy()


def _chebyshev_sum(twice: RowSplit, coeffs: FloatArray, x: FloatArray) -> tuple[FloatArray, float]:
    """sum_k coeffs[k] T_k(A) x, given 2A, by the three-term recurrence (coeffs has >= 2 entries),
    and |T_K(A) x| / |x| (max norms) for the highest degree K, the a-posteriori check."""
    prev = x
    cur = 0.5 * (twice @ x)
    y = coeffs[0] * x
    daxpy(cur, y, a=coeffs[1])
    for c in coeffs[2:]:
        nxt = twice @ cur
        nxt -= prev
        daxpy(nxt, y, a=c)
        prev, cur = cur, nxt
    scale = float(np.abs(x).max()) or 1.0
    return y, float(np.abs(cur).max() / scale)


def chebyshev_products(bounds: tuple[float, float], t: FloatArray, tol: float,
                       plan: dict[str, object] | None = None) -> int:
    """Sparse products the Chebyshev propagation over the grid t will take (its plan, no run);
    with the ``plan`` of an earlier call, which later calls reuse, that plan's."""
    steps = np.diff(np.asarray(t, dtype=float))
    steps = steps[steps > 0]
    if steps.size == 0:
        return 0
    if plan:
        ell, h_best = plan["ellipse"], float(plan["h"])  # type: ignore[arg-type]
    else:
        ell, h_best = _plan(*bounds, float(steps.max()), tol)
    total = 0
    for dt, count in zip(*np.unique(steps, return_counts=True), strict=True):
        n_sub = math.ceil(dt / h_best * (1.0 - 1e-12))
        res = _coefficients(ell, float(dt / n_sub), tol)
        total += count * n_sub * (res[0].size if res is not None else 10**9)
    return int(total)
