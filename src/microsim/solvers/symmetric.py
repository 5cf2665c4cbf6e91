"""Exact permutation-symmetric solver of the collective microscopic problem (Eq. 1 + Eq. 5).

Basis (docs/physics.md §4). rho is invariant under engine permutations, the batteries stay in the Dicke
space |m>, and only the engine units |0><0|, |1><1|, |2><2|, |1><0|, |0><1| occur. With counts
n = (n00, n11, n22, n10, n01), sum M, let S_n be the sum of the products of units with these
counts over all mult(n) = M!/(n00! n11! n22! n10! n01!) distinct engine assignments. Then

    rho = sum_{n, m} x(n, m) (S_n / mult(n)) (x) |m><m'|,   m' = m + n10 - n01  (Q_ket = Q_bra),

so x(n, m) is the weight of a configuration: for n10 = n01 = 0 it is the probability of the
occupation numbers (n00, n11, n22) with m battery excitations, and tr rho = sum of those x.
In this normalization a one-engine map u -> v of amplitude r, applied to every engine, moves
weight from n to n - e_u + e_v with the integer factor n_u (the number of engines that can move):

    dx(n - e_u + e_v)/dt += r(u -> v) n_u x(n),        battery amplitudes s(m) = sqrt(m (N - m + 1)),

* baths (Eq. 1): 00 -> 22 at Gamma_h e^{-beta_h w_h}, 22 -> 00 at Gamma_h, 11 -> 22 at
  Gamma_c e^{-beta_c w_c}, 22 -> 11 at Gamma_c; the coherences 10, 01 decay at gamma_01;
* coupling (Eq. 5), -i[V, rho] with V = i g_e sum_j (|1><0|_j S^- - |0><1|_j S^+), g_e = p.g_engine:
  + g_e (00 -> 10, 01 -> 11) s(m) m -> m - 1,   - g_e (11 -> 01, 10 -> 00) s(m + 1) m -> m + 1,
  - g_e (11 -> 10, 01 -> 00) s(m' + 1),          + g_e (00 -> 01, 10 -> 11) s(m')   (bra side);
  all coefficients are real, and H_E + H_B drops out (it commutes with V);
* battery environment Gamma (D[S^-] + e^{-beta w0} D[S^+]) on the Dicke part only.

x is real and rho hermitian, x(.., n10, n01, m) = x(.., n01, n10, m'), so only n10 >= n01 is stored:
about C(M + 4, 4)(N + 1)/2 unknowns (9.8e4 at N = M = 20, 2.3e6 at N = M = 40).

Time evolution: Chebyshev expansion of exp(L t) on an ellipse around the spectrum of L, whose
extent is known in closed form (spectral_bounds), only sparse products; or, where that is dear
(small kappa), shift-and-invert Krylov (solvers/krylov.py) or Radau IIA (solvers/implicit.py),
whose preconditioned solves make the cost independent of the bath rates (propagator).
Steady state: the kernel of L with the trace condition, by a sparse LU for small spaces and
otherwise by GMRES preconditioned with the exact inverse of the (block-diagonal) bath part.
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Callable, Iterator
from dataclasses import dataclass

import numpy as np
import scipy.linalg as sla
import scipy.sparse as sp
import scipy.sparse.linalg as spla
from numpy.typing import NDArray
from scipy.linalg.blas import daxpy
from scipy.special import gammaln, ive

from microsim.observables import dicke_energy, dicke_sigma, ergotropy_dicke
from microsim.params import ModelParams
from microsim.resources import check_memory
from microsim.solvers.implicit import ImplicitSystem, implicit_states
from microsim.solvers.krylov import KrylovPropagation, SpaceOutgrown
from microsim.solvers.linear import (
    IntegrationError,
    SolverOptions,
    kernel_vector,
    single_threaded_blas,
)
from microsim.solvers.result import Propagator, SteadyState, Trajectory
from microsim.solvers.threads import RowSplit

__all__ = [
    "BathBlocks",
    "BathSolve",
    "SymmetricSpace",
    "chebyshev_products",
    "chebyshev_propagate",
    "engine_battery_coherences",
    "evolve",
    "fast_rate",
    "generator",
    "implicit_system",
    "initial_state",
    "krylov_products",
    "krylov_rung",
    "krylov_within_reach",
    "prefer_krylov",
    "propagator",
    "spectral_bounds",
    "steady_state",
    "symmetric_solver_bytes",
    "symmetric_space",
    "trajectory",
    "unknowns",
]

FloatArray = NDArray[np.float64]
IntArray = NDArray[np.int64]

#: Column of each engine unit in the count arrays: |0><0|, |1><1|, |2><2|, |1><0|, |0><1|.
U00, U11, U22, U10, U01 = range(5)

#: Up to this many unknowns the steady state is one sparse LU (N = M <= 8); GMRES above.
DIRECT_STEADY_MAX = 3000

#: Krylov vectors GMRES keeps; the steady-state solves measured need 80 (N = 10) to 130 (N = 20).
GMRES_RESTART = 200


# ----------------------------------------------------------------------------- the basis
@dataclass(frozen=True)
class SymmetricSpace:
    """The stored unknowns x(n, m) with n10 >= n01, in the order (c, n10, m, n11, n22), c = n10 + n01.

    ``counts[:, u]`` holds n00, n11, n22, n10, n01 and ``m`` the ket's battery excitations; the
    bra has m + n10 - n01. For fixed (c, n10, m) the (n11, n22) run over the triangle
    n11 + n22 <= M - c, so the bath part of the generator is block diagonal in contiguous blocks.
    """

    n_engines: int
    n_batteries: int
    counts: IntArray
    m: IntArray
    keys: IntArray

    @property
    def size(self) -> int:
        """Number of stored unknowns."""
        return int(self.m.size)

    @property
    def populations(self) -> NDArray[np.bool_]:
        """Mask of the unknowns without engine coherences (n10 = n01 = 0): the ones with a trace."""
        return (self.counts[:, U10] == 0) & (self.counts[:, U01] == 0)

    def key(self, counts: IntArray, m: IntArray) -> IntArray:
        """Sort key of (counts, m), increasing in the storage order."""
        big_m, n = self.n_engines + 1, self.n_batteries + 1
        key = counts[:, U10] + counts[:, U01]
        key = key * big_m + counts[:, U10]
        key = key * n + m
        key = key * big_m + counts[:, U11]
        return key * big_m + counts[:, U22]

    def index(self, counts: IntArray, m: IntArray) -> IntArray:
        """Storage index of (counts, m), mirrored to n10 >= n01 (hermiticity) first."""
        counts, m = _canonical(counts, m)
        return np.searchsorted(self.keys, self.key(counts, m))


def _canonical(counts: IntArray, m: IntArray) -> tuple[IntArray, IntArray]:
    """Mirror (n10, n01, m) -> (n01, n10, m') where n10 < n01: x is real and rho hermitian."""
    flip = counts[:, U10] < counts[:, U01]
    if not flip.any():
        return counts, m
    counts, m = counts.copy(), m.copy()
    m[flip] += counts[flip, U10] - counts[flip, U01]
    counts[flip, U10], counts[flip, U01] = counts[flip, U01], counts[flip, U10].copy()
    return counts, m


def _enumerate(n_engines: int, n_batteries: int, half: bool) -> tuple[IntArray, IntArray]:
    """All (counts, m) of the sector Q_ket = Q_bra (0 <= m, m' <= N), n10 >= n01 only if ``half``."""
    n11, n22, a, b = np.indices((n_engines + 1,) * 4).reshape(4, -1)
    keep = n11 + n22 + a + b <= n_engines
    if half:
        keep &= a >= b
    n11, n22, a, b = n11[keep], n22[keep], a[keep], b[keep]
    d = a - b  # m' - m
    lo = np.maximum(0, -d)
    cnt = np.maximum(np.minimum(n_batteries, n_batteries - d) - lo + 1, 0)
    rep = np.repeat(np.arange(n11.size), cnt)
    m = np.arange(rep.size) - np.repeat(np.cumsum(cnt) - cnt, cnt) + lo[rep]
    counts = np.stack([n_engines - n11 - n22 - a - b, n11, n22, a, b], axis=1)[rep]
    return counts.astype(np.int64), m.astype(np.int64)


def symmetric_space(n_engines: int, n_batteries: int) -> SymmetricSpace:
    """The stored unknowns of M engines and N batteries (n10 >= n01), in storage order."""
    counts, m = _enumerate(n_engines, n_batteries, half=True)
    empty = np.zeros(0, dtype=np.int64)
    keys = SymmetricSpace(n_engines, n_batteries, counts[:0], empty, empty).key(counts, m)
    order = np.argsort(keys, kind="stable")
    return SymmetricSpace(n_engines, n_batteries, counts[order], m[order], keys[order])


def unknowns(n_engines: int, n_batteries: int) -> int:
    """Number of stored unknowns, without enumerating them."""
    total = 0
    for a in range(n_engines + 1):
        for b in range(min(a, n_engines - a) + 1):
            k = n_engines - a - b
            total += (k + 1) * (k + 2) // 2 * max(n_batteries + 1 - (a - b), 0)
    return total


# ----------------------------------------------------------------------------- the generator
def _dicke_amplitude(n_batteries: int, k: IntArray) -> FloatArray:
    """s(k) = sqrt(k (N - k + 1)), the amplitude of S^- |k> = s(k) |k - 1>; zero at k = 0, N + 1."""
    k = np.asarray(k, dtype=float)
    return np.sqrt(np.clip(k * (n_batteries - k + 1.0), 0.0, None))


def _bath_moves(p: ModelParams) -> tuple[tuple[int, int, float], ...]:
    """(u, v, rate) of the one-engine population jumps of Eq. 1."""
    return (
        (U00, U22, p.gamma_h * p.boltz_h), (U22, U00, p.gamma_h),
        (U11, U22, p.gamma_c * p.boltz_c), (U22, U11, p.gamma_c),
    )


def _bath_diagonal(p: ModelParams, counts: IntArray) -> FloatArray:
    """Loss rate of each configuration: every engine leaves its unit, coherences at gamma_01."""
    out = p.gamma_01 * (counts[:, U10] + counts[:, U01]).astype(float)
    for u, _, rate in _bath_moves(p):
        out += rate * counts[:, u]
    return -out


def generator(p: ModelParams, space: SymmetricSpace | None = None) -> sp.csr_matrix:
    """Real sparse generator L of dx/dt = L x on the stored unknowns (module docstring)."""
    if p.protocol != "collective":
        raise ValueError("the symmetric solver is for the collective protocol; use p.pair() for Eq. 6")
    space = space or symmetric_space(p.n_engines, p.n_batteries)
    rows, cols, vals = _generator_entries(p, space)
    return sp.csr_matrix((vals, (rows, cols)), shape=(space.size, space.size))


def _generator_entries(
    p: ModelParams, space: SymmetricSpace
) -> tuple[NDArray[np.int32], NDArray[np.int32], FloatArray]:
    """(row, column, value) of L, duplicates to be summed.

    Built from all (counts, m), including n01 > n10, whose columns are those of their mirror
    images: a loop over the 4 bath moves, 8 coupling moves and 2 environment moves, each
    vectorized over every configuration at once.
    """
    n = p.n_batteries
    counts, m = _enumerate(p.n_engines, n, half=False)
    cols = space.index(counts, m)
    mb = m + counts[:, U10] - counts[:, U01]
    s_ket, s_bra = _dicke_amplitude(n, m), _dicke_amplitude(n, mb)
    s_ket_up, s_bra_up = _dicke_amplitude(n, m + 1), _dicke_amplitude(n, mb + 1)
    rows_all, cols_all, vals_all = [], [], []

    def add(new_counts: IntArray, new_m: IntArray, values: FloatArray) -> None:
        keep = (values != 0) & (new_counts[:, U10] >= new_counts[:, U01])
        rows_all.append(space.index(new_counts[keep], new_m[keep]).astype(np.int32))
        cols_all.append(cols[keep].astype(np.int32))
        vals_all.append(values[keep])

    def move(u: int, v: int) -> IntArray:
        new = counts.copy()
        new[:, u] -= 1
        new[:, v] += 1
        return new

    diag = _bath_diagonal(p, counts)
    for u, v, rate in _bath_moves(p):
        add(move(u, v), m, rate * counts[:, u])
    # -i[V, rho]: ket moves with S^-|m> or S^+|m>; bra moves with <m'|S^- = s(m'+1) <m'+1|
    # and <m'|S^+ = s(m') <m'-1|, where m' follows from the new counts.
    g = p.g_engine
    for u, v, sign, ket_shift, amp in (
        (U00, U10, +1.0, -1, s_ket), (U01, U11, +1.0, -1, s_ket),
        (U11, U01, -1.0, +1, s_ket_up), (U10, U00, -1.0, +1, s_ket_up),
        (U11, U10, -1.0, 0, s_bra_up), (U01, U00, -1.0, 0, s_bra_up),
        (U00, U01, +1.0, 0, s_bra), (U10, U11, +1.0, 0, s_bra),
    ):
        if g != 0:
            add(move(u, v), m + ket_shift, sign * g * amp * counts[:, u])
    if p.gamma_env > 0:
        down, up = p.gamma_env, p.gamma_env * math.exp(-p.beta_env * p.w0)
        add(counts, m - 1, down * s_ket * s_bra)
        add(counts, m + 1, up * s_ket_up * s_bra_up)
        diag = diag - 0.5 * down * (s_ket**2 + s_bra**2) - 0.5 * up * (s_ket_up**2 + s_bra_up**2)
    add(counts, m, diag)
    return np.concatenate(rows_all), np.concatenate(cols_all), np.concatenate(vals_all)


def _engine_weights(p: ModelParams, occupations: IntArray) -> FloatArray:
    """Multinomial weights of the occupation numbers (n00, n11, n22) in the product of Eq. 3."""
    log_w = (gammaln(p.n_engines + 1) - gammaln(occupations + 1).sum(axis=1)
             + occupations @ np.log(p.engine_steady_populations))
    return np.exp(log_w)


def initial_state(p: ModelParams, space: SymmetricSpace) -> FloatArray:
    """x at t = 0: engines in Eq. 3 (multinomial occupation numbers) or all in |0>; battery |0>."""
    x = np.zeros(space.size)
    first = np.flatnonzero(space.populations & (space.m == 0))
    occ = space.counts[first, :3]
    if p.engine_init == "steady":
        x[first] = _engine_weights(p, occ)
    else:
        x[first[occ[:, U00] == p.n_engines]] = 1.0
    return x


def _observables(p: ModelParams, space: SymmetricSpace, x: FloatArray) -> tuple[FloatArray, FloatArray]:
    """Dicke populations (T, N+1) and mean engine level populations (T, 3) of states x (T, size).

    Only n10 = n01 = 0 has a trace: tr(S_n / mult(n)) = 1 and m' = m there; the mean over engines
    of the population of level a in S_n / mult(n) is n_aa / M.
    """
    diag = np.flatnonzero(space.populations)
    pops = np.zeros((x.shape[0], p.n_batteries + 1))
    for k, row in enumerate(x):
        pops[k] = np.bincount(space.m[diag], weights=row[diag], minlength=p.n_batteries + 1)
    engines = x[:, diag] @ (space.counts[diag, :3] / p.n_engines)
    return pops, engines


# ----------------------------------------------------------------------------- time evolution
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
    gh, gc, bh, bc = p.gamma_h, p.gamma_c, p.boltz_h, p.boltz_c
    engine = np.array([[-gh * bh, 0.0, gh], [0.0, -gc * bc, gc], [gh * bh, gc * bc, -(gh + gc)]])
    n, big_m = p.n_batteries, p.n_engines
    a = big_m * max(float(-np.linalg.eigvals(engine).real.min()), p.gamma_01)
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


# ----------------------------------------------------------------------------- steady state
@dataclass(frozen=True)
class BathBlocks:
    """The bath part of the generator, -L_bath, as dense blocks in the storage order.

    For each c = n10 + n01 every block (fixed n10, m) is the same triangle n11 + n22 <= M - c with
    the same matrix (M - c independent engines relaxing, c coherences decaying at gamma_01), so one
    matrix per c serves all blocks: ``groups[c] = (lo, hi, matrix)`` over storage rows lo:hi.
    ``levels[c]`` holds n22 of each row of the block: every bath jump changes it by one, so the
    block is block tridiagonal over lines of constant n22 (solvers/lines.py).
    """

    groups: tuple[tuple[int, int, FloatArray], ...]
    levels: tuple[IntArray, ...]

    @classmethod
    def build(cls, p: ModelParams, space: SymmetricSpace) -> BathBlocks:
        c_all = space.counts[:, U10] + space.counts[:, U01]
        bounds = np.searchsorted(c_all, np.arange(p.n_engines + 2))  # storage is sorted by c
        groups, levels = [], []
        for c in range(p.n_engines + 1):
            lo, hi = int(bounds[c]), int(bounds[c + 1])
            if hi == lo:
                continue
            k = p.n_engines - c
            n11, n22 = np.array([(i, j) for i in range(k + 1) for j in range(k + 1 - i)]).T
            size = n11.size
            counts = np.stack([k - n11 - n22, n11, n22, np.full(size, c), np.zeros(size, int)], axis=1)
            row = {(i, j): r for r, (i, j) in enumerate(zip(n11, n22, strict=True))}
            block = np.diag(-_bath_diagonal(p, counts))
            for u, v, rate in _bath_moves(p):
                for col in np.flatnonzero(counts[:, u]):
                    new = counts[col].copy()
                    new[u] -= 1
                    new[v] += 1
                    block[row[(new[U11], new[U22])], col] -= rate * counts[col, u]
            groups.append((lo, hi, block))
            levels.append(n22)
        return cls(tuple(groups), tuple(levels))

    def inverse(self, sigma: complex) -> BathSolve:
        """(sigma - L_bath)^{-1}, one dense inverse per c (complex for complex sigma).

        Explicit inverses, applied as one matrix product per group, run about twice as fast as
        LU solves with the same many right-hand sides (K = 231 and 861 measured); the blocks
        are diagonally dominant M-matrices plus sigma, so nothing is lost in accuracy (4e-13).
        """
        dtype = complex if isinstance(sigma, complex) else float
        return BathSolve(tuple(
            (lo, hi, np.ascontiguousarray(
                np.linalg.inv(block + sigma * np.eye(block.shape[0], dtype=dtype)).T))
            for lo, hi, block in self.groups), sigma, tuple(block for _, _, block in self.groups))

    @property
    def bounds(self) -> tuple[tuple[int, int], ...]:
        """Storage rows (lo, hi) of each group."""
        return tuple((lo, hi) for lo, hi, _ in self.groups)


@dataclass(frozen=True)
class BathSolve:
    """(sigma - L_bath)^{-1} applied to vectors (n,) or blocks of columns (n, k).

    ``inverses`` holds (lo, hi, B_c^{-T}) per group: in storage order a group's rows are blocks
    of K consecutive entries, so y = r @ B^{-T} on the (blocks, K) view solves them all at once.
    ``blocks`` are the groups' -L_bath (BathBlocks), so B_c = sigma + blocks[c] (``matrix``).
    """

    inverses: tuple[tuple[int, int, NDArray], ...]
    sigma: complex = 0.0
    blocks: tuple[FloatArray, ...] = ()

    def matrix(self, index: int) -> NDArray:
        """B = sigma - L_bath on the blocks of group ``index``, dense."""
        block = self.blocks[index]
        return block + self.sigma * np.eye(block.shape[0])

    def __call__(self, r: NDArray) -> NDArray:
        y = np.empty(r.shape, dtype=np.result_type(r.dtype, self.inverses[0][2].dtype))
        for index, (lo, hi, _) in enumerate(self.inverses):
            y[lo:hi] = self.group(index, r[lo:hi])
        return y

    def group(self, index: int, rows: NDArray) -> NDArray:
        """The solve on the storage rows of one group (rows: (hi - lo,) or (hi - lo, k))."""
        inverse_t = self.inverses[index][2]
        size = inverse_t.shape[0]
        if rows.ndim == 1:
            return (rows.reshape(-1, size) @ inverse_t).reshape(rows.shape)
        blocks = rows.reshape(-1, size, rows.shape[1])
        return np.matmul(inverse_t.T, blocks).reshape(rows.shape)


def _product_steady_state(p: ModelParams, space: SymmetricSpace) -> FloatArray:
    """Eq. 3 engines times the battery of Eq. 13 at the engines' beta_e (docs/physics.md §3).

    The exact steady state without battery environment (for g > 0); the starting point of GMRES.
    """
    diag = np.flatnonzero(space.populations)
    m = np.arange(p.n_batteries + 1)
    log_q = -p.beta_e_w0_engines * m
    q = np.exp(log_q - log_q.max())
    q /= q.sum()
    x = np.zeros(space.size)
    x[diag] = _engine_weights(p, space.counts[diag, :3]) * q[space.m[diag]]
    return x


def _steady_vector(p: ModelParams, space: SymmetricSpace, gen: sp.csr_matrix,
                   method: str = "auto") -> FloatArray:
    """The kernel of L with tr rho = 1, by sparse LU ('direct') or preconditioned GMRES.

    Without a battery environment the product state x_ref is the exact kernel (Eq. 3 x Eq. 13)
    and is only checked. With one, GMRES solves L y = -L x_ref for the correction,
    right-preconditioned with (sigma - L_bath)^{-1}, sigma = gamma_01/10. Either way the result
    is accepted only if its residual max|L x| is below 1e-10 max|L|.
    """
    trace_row = space.populations.astype(float)
    if p.g_engine == 0 and p.gamma_env == 0:  # battery frozen: the kernel is degenerate
        return initial_state(p.replace(engine_init="steady"), space)
    if method == "direct" or (method == "auto" and space.size <= DIRECT_STEADY_MAX):
        return kernel_vector(gen, trace_row)
    weight = float(np.abs(gen.data).max())
    x_ref = _product_steady_state(p, space)
    if p.gamma_env > 0:
        precond = BathBlocks.build(p, space).inverse(0.1 * p.gamma_01)
        op = spla.LinearOperator(gen.shape, matvec=lambda v: gen @ precond(v), dtype=float)
        z, _ = spla.gmres(op, -(gen @ x_ref), rtol=1e-12, atol=1e-14 * weight,
                             restart=min(GMRES_RESTART, space.size), maxiter=20)
        x_ref = x_ref + precond(z)
    x = x_ref / (trace_row @ x_ref)
    residual = float(np.abs(gen @ x).max())
    if not np.all(np.isfinite(x)) or residual > 1e-10 * weight:
        raise IntegrationError(f"steady-state GMRES did not converge (residual {residual:.2e})")
    return x


# ----------------------------------------------------------------------------- public interface
def symmetric_solver_bytes(p: ModelParams, steady: bool = True) -> int:
    """Peak memory of steady_state (``steady``) or of a propagation alone: generator build,
    generator, and the vectors of the GMRES or Krylov bases.

    Per stored unknown S: about 12 nonzeros (12 bytes each in CSR, 16 in the COO being summed)
    and the enumeration of both halves (2 S x 14 int64/float64 columns). The steady state adds
    GMRES_RESTART + 4 vectors with a battery environment, 4 without (its kernel is then
    known). A propagation adds the 31 vectors of a stage-solve GMRES and KRYLOV_VECTORS of a
    Krylov space: a space may grow to krylov.MAX_DIMENSION + 1, but
    krylov.memory_dimension halves the window instead when the memory does not hold that many
    (the 121-point curves of make bench took 20-76); without a battery environment the CG solves
    of solvers/schur.py hold a second copy of the generator (its blocks by parity of c), and
    finding their weights a transpose for a while. Measured peaks (steady state,
    /usr/bin/time): 1.05 GB at N = M = 30 (estimate 1.14 GB), 4.16 GB at N = M = 40 (estimate
    4.21 GB); propagation at N = M = 40: 1.8-2.9 GiB in make bench.
    """
    size = unknowns(p.n_engines, p.n_batteries)
    build = size * (12 * 28 + 2 * 14 * 8)
    generator = size * 12 * 12
    if not steady:
        vectors = 31 + KRYLOV_VECTORS
        if p.gamma_env == 0:
            generator *= 2
    elif p.gamma_env > 0:
        vectors = min(GMRES_RESTART, size) + 4
    else:
        vectors = 4
    return int(generator + max(build, size * 8 * vectors) + 50 * 2**20)


def engine_battery_coherences(p: ModelParams, space: SymmetricSpace, x: FloatArray
                              ) -> tuple[FloatArray, FloatArray, FloatArray]:
    """The reduced state of one engine and the batteries, in its 2 x 2 blocks.

    By the U(1) symmetry (docs/physics.md §4) rho_{E_1 B} couples only |0, m+1> and |1, m>:
    (p(0, m+1), p(1, m), c(m)) with p(a, m) = sum over n10 = n01 = 0 of x(n, m) n_aa / M and
    c(m) = <1, m| rho |0, m+1> = sum over n10 = 1, n01 = 0 of x(n, m) / M (engine 1 carries
    |1><0| in 1/M of the assignments; the others are diagonal and trace to 1). Arrays over m = 0..N-1.
    """
    n, big_m = p.n_batteries, p.n_engines
    diag = space.populations
    p0 = np.bincount(space.m[diag], x[diag] * space.counts[diag, U00], minlength=n + 1) / big_m
    p1 = np.bincount(space.m[diag], x[diag] * space.counts[diag, U11], minlength=n + 1) / big_m
    coh = (space.counts[:, U10] == 1) & (space.counts[:, U01] == 0)
    c = np.bincount(space.m[coh], x[coh], minlength=n + 1)[:n] / big_m
    return p0[1:], p1[:-1], c


def _min_block_eigenvalue(p: ModelParams, space: SymmetricSpace, x: FloatArray) -> float:
    """Smallest eigenvalue of the 2 x 2 blocks of rho_{E_1 B} (engine_battery_coherences)."""
    a, b, c = engine_battery_coherences(p, space, x)
    if a.size == 0:
        return math.inf
    return float((0.5 * (a + b) - np.sqrt(0.25 * (a - b) ** 2 + c * c)).min())


def _trajectory(p: ModelParams, t: FloatArray, pops: FloatArray, engines: FloatArray,
                min_block: float = math.inf, growth: float = 0.0) -> Trajectory:
    # Hermiticity holds by construction (one half of x is stored), and every polynomial in L
    # keeps the trace; what a wrong step breaks is positivity: of the Dicke and engine
    # populations, and of the one-engine-batteries blocks that carry the coherence |1><0|.
    checks = {
        "trace_error": float(max(np.abs(pops.sum(axis=1) - 1).max(),
                                 np.abs(engines.sum(axis=1) - 1).max())),
        "hermiticity_error": 0.0,
        "min_eigenvalue": float(min(pops.min(), engines.min(), min_block)),
        "chebyshev_growth": float(growth),
    }
    return Trajectory(
        t=t,
        battery_populations=pops,
        energy=dicke_energy(pops, p.w0),
        sigma=dicke_sigma(pops, p.w0),
        ergotropy=ergotropy_dicke(pops, p.n_batteries, p.w0),
        engine_populations=engines,
        checks=checks,
    )


def implicit_system(p: ModelParams, space: SymmetricSpace, gen: sp.csr_matrix,
                    bath: BathBlocks | None = None) -> ImplicitSystem:
    """The generator with its bath blocks and slow space, for solvers/implicit.

    Z: engines in the multinomial occupation numbers of Eq. 3 (the bath's steady state, so
    L_bath Z = 0) times the battery population |m><m|; Y: the trace over engines at battery m.
    """
    diag = np.flatnonzero(space.populations)
    weights = _engine_weights(p, space.counts[diag, :3])
    n = p.n_batteries + 1
    slow = sp.csr_matrix((weights, (diag, space.m[diag])), shape=(space.size, n))
    dual = sp.csr_matrix((np.ones(diag.size), (space.m[diag], diag)), shape=(n, space.size))
    bath = bath or BathBlocks.build(p, space)
    # A battery environment moves m within a sector, so the bath blocks no longer invert the
    # sector-keeping part of L (solvers/schur.py needs that).
    sectors = None if p.gamma_env > 0 else space.counts[:, U10] + space.counts[:, U01]
    return ImplicitSystem(gen, bath.inverse, bath.bounds, slow, dual, sectors=sectors,
                          levels=bath.levels)


#: The implicit propagation starts after this many e-folds of the slowest fast rate (fast_rate):
#: the initial transient (bath relaxation, build-up of the engine coherence) is Chebyshev's.
HEAD_DECAYS = 25.0

#: Radau's step control bounds the error of its embedded order-3 solution; the order-5 solution it
#: keeps is far more accurate (N = 12: energy error 1.2e-9 in E/N at rtol 1e-6, 1.5e-11 at 1e-8,
#: against a Chebyshev reference at 1e-13). Its tolerances are this factor times the state
#: tolerances, so that the default rtol 1e-8 gives about 1e-9 in E/N (tests/test_implicit.py).
IMPLICIT_TOLERANCE_FACTOR = 100.0

#: Cost model of 'auto', in sparse real products with L. The CG iterations of a Krylov curve
#: (solvers/schur.py) grow as the time scales merge, because the preconditioner inverts the baths
#: and the slow manifold but not the coherent engine-battery exchange, whose preconditioned
#: spectrum reaches 1 + a^2, a ~ 4.5 kappa sqrt(N) (docs/performance.md), and they grow with N.
#: Measured on 121-point curves over 3 tau_eff, paper point, with the gamma of krylov_rung: at
#: N = 12, 105, 386, 597, 867 and 948 iterations at kappa_01 = 0.052, 0.52, 1.04, 1.56, 2.08
#: (kappa = 0.01, 0.1, 0.2, 0.3, 0.4); at N = 20 and 30, 161, 623, 1351, 1621, 1745 and 208, 976,
#: 2475, 3125, 3324, i.e. N^b with b = 0.8, 1.0, 1.55, 1.35, 1.3 at the five kappa_01 (N = 40,
#: kappa = 0.1: 1379 measured, 1290 by this b). log(iterations) and b are interpolated linearly
#: in kappa_01; beyond the last knot log(iterations) follows the end slope. kappa_01 =
#: g_e N'/gamma_01 rather than kappa because it follows other baths. An iteration (float32,
#: solvers/schur.py) costs about 2 products with L: measured 3.1, 2.3, 1.6 at N = 12, 20, 30,
#: with its share of the double-precision residuals.
#: With a battery environment the solves are GMRES (solvers/implicit.py), measured the same way:
#: 258, 673, 1023, 2349, 2280 iterations at N = 12 (the last knot kept at 2349, so that the
#: estimate does not fall with kappa) and 495, 1067, 7157, 4557, 3497 at N = 20 (b about 1.1
#: apart from kappa = 0.2), about 5 products per iteration.
KRYLOV_COST = {
    "cg": ((0.052, 0.52, 1.04, 1.56, 2.08), (105, 386, 597, 867, 948),
           (0.8, 1.0, 1.55, 1.35, 1.3), 2.0),
    "gmres": ((0.052, 0.52, 1.04, 1.56, 2.08), (258, 673, 1023, 2349, 2349),
              (1.1, 1.1, 1.1, 1.1, 1.1), 5.0),
}
KRYLOV_TABLE_N = 12
#: Beyond its iterations each solve costs about KRYLOV_SOLVE_PRODUCTS products (the right-hand
#: side and the odd unknowns, the residuals in double precision, Gram-Schmidt; measured 5.7 at
#: N = 30), and a curve takes about KRYLOV_SOLVES of them (44-56 measured at N = 12-40): what
#: makes Chebyshev the cheaper one on short, easy grids (N = 3: 290 products).
KRYLOV_SOLVE_PRODUCTS = 5
#: An iteration also has a fixed cost (Python, the coarse level, about 40 small block products):
#: as many entries as this, i.e. 2 + KRYLOV_ITERATION_NNZ / nnz(L) products per iteration
#: (measured 23 at N = 6, nnz 5160, and 3.1 at N = 12, nnz 98000: both give 1.1e5).
KRYLOV_ITERATION_NNZ = 110_000
KRYLOV_SOLVES = 50
#: Below this x the Krylov propagation starts at gamma = 0.003 of the window, above at 0.01
#: (krylov_rung). Measured at 0.003 / 0.01: N = 12, kappa = 0.3 (x = 1.56): 80 vectors and
#: halved windows, 7.0 s / 0.8 s; N = 20, kappa = 0.2 (x = 1.57): 5.3 / 4.8 s; kappa = 0.3, 0.4:
#: 81 s, 90 s / 4.3 s, 6.7 s; N = 30, kappa = 0.1 (x = 1.08): 24.2 / 29.8 s.
KRYLOV_RUNG_X = 1.4
#: Where the Krylov space outgrows krylov.MAX_DIMENSION (80) on its rungs, the curve costs several
#: spaces and krylov_products underestimates it, so 'auto' takes Krylov only while
#: y = kappa_01 (N / 12)^1.5 is below this (krylov_within_reach). Measured between the two sides:
#: N = 30, kappa = 0.3 (y = 6.2): one space of 80 vectors at 0.01, 69 s, where Chebyshev's plan
#: is 7560 products (about 100 s at the 13.5 ms per product of N = 30, kappa = 1); N = 40,
#: kappa = 0.215 (y = 6.8): more than 80 vectors at 0.01 and again at 0.03, stopped at 1056 s,
#: where Chebyshev's plan is 13320 products (about 840 s at 63 ms each).
KRYLOV_REACH = 6.5
#: The Krylov space is converged to this factor times options.atol relative to |x0|, as Radau's
#: tolerances (the energy error then measures 3e-10 to 7e-10 in E/(N w0), tests/test_krylov.py).
KRYLOV_TOLERANCE_FACTOR = 100.0
#: Krylov vectors the memory estimate of a propagation counts on (symmetric_solver_bytes).
KRYLOV_VECTORS = 40
#: After a Krylov space of an 'auto' propagation outgrew its dimension, the rest of the grid goes
#: to Chebyshev if its plan is below this times the products the failed space took (the next rung
#: takes harder solves and may fail again). In configs/validity_n40.yaml two points chosen by
#: krylov_within_reach failed this way on their long grids (t_end up to 17 tau_eff): N = 32,
#: kappa = 0.215, six failed spaces, 37218 CG iterations, 869 s, where Chebyshev had taken 475 s
#: (23759 products); N = 16, kappa = 0.464, nine failed spaces, 52 s against 5 s.
KRYLOV_SWITCH = 2.0


def fast_rate(p: ModelParams) -> float:
    """The slowest of the fast rates: the smallest nonzero relaxation rate of one engine's baths
    (Eq. 1) or gamma_01, the decay of its coherence |0><1| (docs/physics.md §3)."""
    gh, gc, bh, bc = p.gamma_h, p.gamma_c, p.boltz_h, p.boltz_c
    engine = np.array([[-gh * bh, 0.0, gh], [0.0, -gc * bc, gc], [gh * bh, gc * bc, -(gh + gc)]])
    rates = np.sort(-np.linalg.eigvals(engine).real)
    return float(min(rates[1], p.gamma_01))


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


def krylov_products(kappa_01: float, n_batteries: int, solves: str = "cg",
                    nnz: int | None = None) -> int:
    """The cost model's estimate of one Krylov propagation, in sparse products: independent of
    the grid and of ||L||, growing with kappa_01 (params.kappa_01) and N as the preconditioner
    weakens (KRYLOV_COST of the ``solves``: 'cg', or 'gmres' with a battery environment)."""
    knots, iterations, exponents, _ = KRYLOV_COST[solves]
    xs, logs = np.asarray(knots), np.log(np.asarray(iterations, dtype=float))
    if kappa_01 <= xs[-1]:
        log_iterations = float(np.interp(kappa_01, xs, logs))
    else:
        log_iterations = logs[-1] + (kappa_01 - xs[-1]) * (logs[-1] - logs[-2]) / (xs[-1] - xs[-2])
    exponent = float(np.interp(kappa_01, xs, exponents))
    log_iterations += exponent * math.log(n_batteries / KRYLOV_TABLE_N)
    per_iteration = _iteration_products(solves, nnz)
    return int(min(math.exp(log_iterations), 1e15) * per_iteration) + KRYLOV_SOLVES * KRYLOV_SOLVE_PRODUCTS


def _iteration_products(solves: str, nnz: int | None) -> float:
    """Products with L per iteration of the ``solves`` (KRYLOV_COST), plus the fixed cost of an
    iteration in products of an L with ``nnz`` entries (KRYLOV_ITERATION_NNZ), if given."""
    return KRYLOV_COST[solves][3] + (KRYLOV_ITERATION_NNZ / nnz if nnz else 0.0)


def krylov_within_reach(kappa_01: float, n_batteries: int) -> bool:
    """Whether one Krylov space of at most MAX_DIMENSION vectors is expected to hold the curve:
    y = kappa_01 (N / 12)^1.5 < KRYLOV_REACH. Beyond (measured at N = 40, kappa = 0.215) the
    space outgrew it on more than one rung, and krylov_products, which counts one space, no
    longer applies."""
    return kappa_01 * (n_batteries / KRYLOV_TABLE_N) ** 1.5 < KRYLOV_REACH


def prefer_krylov(kappa_01: float, n_batteries: int, chebyshev: int, solves: str = "cg",
                  nnz: int | None = None) -> bool:
    """The choice of 'auto': Krylov when it is within reach and its estimate (krylov_products)
    is below the ``chebyshev`` products of Chebyshev's plan for the same grid."""
    return (krylov_within_reach(kappa_01, n_batteries)
            and krylov_products(kappa_01, n_batteries, solves, nnz) < chebyshev)


def switch_to_chebyshev(chebyshev: int, iterations: float, solves: str = "cg",
                        nnz: int | None = None) -> bool:
    """Whether the rest of a curve goes to Chebyshev after a Krylov space failed: its plan of
    ``chebyshev`` products is below KRYLOV_SWITCH times the failed space's ``iterations`` in
    products (as krylov_products counts them)."""
    return chebyshev < KRYLOV_SWITCH * iterations * _iteration_products(solves, nnz)


def krylov_rung(kappa_01: float, n_batteries: int) -> int:
    """The first gamma fraction of the Krylov propagation (index into krylov.GAMMA_FRACTIONS):
    the smallest, 0.003, while x = kappa_01 (N / 12)^0.8 < KRYLOV_RUNG_X, else 0.01, where
    0.003 needs more than MAX_DIMENSION vectors."""
    x = kappa_01 * (n_batteries / KRYLOV_TABLE_N) ** 0.8
    return 0 if x < KRYLOV_RUNG_X else 1


def propagator(p: ModelParams, options: SolverOptions | None = None,
               stats: dict[str, float | str] | None = None) -> Propagator:
    """The collective model as a Propagator on the stored unknowns x.

    Three exact propagations, chosen per call by ``options.propagation``:

    * 'chebyshev': the expansion of chebyshev_propagate, ``options.atol`` per sub-step; its cost
      grows like ||L|| t, i.e. like 1/kappa at fixed effective dynamics. Where the ellipse admits
      no step (kappa ~ 1) or a sub-step raises the growth alarm, Radau takes over from the last
      good state.
    * 'krylov': shift-and-invert Krylov (solvers/krylov.py), the whole grid from one space of a
      few tens of vectors, each one solve with (1/gamma - L) by CG (solvers/schur.py; GMRES
      with a battery environment); its cost is set by the slow dynamics. If a solve stalls,
      Radau takes over from the last state.
    * 'implicit': Radau IIA with two-level preconditioned GMRES stage solves (solvers/implicit.py),
      about 150 steps of three solves for a 121-point curve; the times up to
      HEAD_DECAYS / fast_rate, where the initial transient lives, stay with Chebyshev. Slower
      than 'krylov' (N = 20, kappa = 0.01: 38 s against 3.5 s), kept as its fallback.
    * 'auto' takes Chebyshev or Krylov by the smaller cost estimate (chebyshev_products against
      krylov_products) for the grid of each call, Krylov only within krylov_within_reach. If a
      Krylov space outgrows its dimension where Chebyshev's plan for the rest of the grid is
      cheaper than another try (switch_to_chebyshev), Chebyshev continues from the last state
      returned, and takes every later call.

    ``stats`` receives the largest Chebyshev growth ratio, the propagation of the first call
    (and 'fallback', 'implicit' or 'chebyshev', if it handed over), the counts of Chebyshev
    products, implicit steps, the Krylov dimension and GMRES iterations.
    """
    options = options or SolverOptions()
    check_memory("symmetric", symmetric_solver_bytes(p, steady=False), p)
    space = symmetric_space(p.n_engines, p.n_batteries)
    gen = generator(p, space)
    bounds = spectral_bounds(p)
    stats = {} if stats is None else stats
    plan: dict[str, object] = {}
    krylov: dict[str, float] = {}
    head = HEAD_DECAYS / fast_rate(p)
    solves = "gmres" if p.gamma_env > 0 else "cg"  # as implicit_system's sectors
    built: dict[str, object] = {}

    def bath() -> BathBlocks:
        if "bath" not in built:
            built["bath"] = BathBlocks.build(p, space)
        return built["bath"]  # type: ignore[return-value]

    def system() -> ImplicitSystem:
        if "system" not in built:
            built["system"] = implicit_system(p, space, gen, bath())
        return built["system"]  # type: ignore[return-value]

    def choose(x0: FloatArray, t: FloatArray) -> str:
        if options.propagation != "auto":
            return options.propagation
        if "krylov" in built and built["krylov"].covers(x0, t):  # type: ignore[attr-defined]
            return "krylov"  # read off the space that gave x0, no solve
        if "outgrown" in built:
            return "chebyshev"
        if t.size < 2:
            return "chebyshev"
        try:
            cheb = chebyshev_products(bounds, t, options.atol, plan)
        except IntegrationError:
            return "krylov"
        take = prefer_krylov(p.kappa_01, p.n_batteries, cheb, solves, gen.nnz)
        return "krylov" if take else "chebyshev"

    def give_up(x: FloatArray, t: FloatArray, iterations: float) -> bool:
        if options.propagation != "auto":
            return False
        try:
            cheb = chebyshev_products(bounds, t, options.atol, plan)
        except IntegrationError:
            return False
        return switch_to_chebyshev(cheb, iterations, solves, gen.nnz)

    def by_chebyshev(x0: FloatArray, t: FloatArray) -> Iterator[FloatArray]:
        done, x = 0, np.array(x0, dtype=float)
        try:
            for x in chebyshev_propagate(gen, x0, t, bounds, options.atol, stats, plan):
                yield x
                done += 1
            return
        except IntegrationError:
            pass
        # Beyond the time-scale separation the ellipse admits no step within tolerance (or a
        # step raised the growth alarm): Radau takes over from the last state returned.
        stats["fallback"] = "implicit"
        start = max(done - 1, 0)
        states = radau(x, t[start:])
        if done:
            next(states)
        yield from states

    def radau(x0: FloatArray, t: FloatArray) -> Iterator[FloatArray]:
        factor = IMPLICIT_TOLERANCE_FACTOR
        yield from implicit_states(system(), x0, t, min(factor * options.rtol, 1e-3),
                                   min(factor * options.atol, 1e-3))
        stats.update({f"implicit_{k}": float(v) for k, v in system().stats.items()})

    def by_implicit(x0: FloatArray, t: FloatArray) -> Iterator[FloatArray]:
        split = max(float(t[0]), min(head, float(t[-1])))
        early = t[t < split]
        x = np.array(x0, dtype=float)
        if early.size:
            states = list(by_chebyshev(x0, np.concatenate([early, [split]])))
            yield from states[:-1]
            x = states[-1]
        states = radau(x, np.concatenate([[split], t[t >= split]]))
        next(states)  # the state at the split time
        yield from states

    def by_krylov(x0: FloatArray, t: FloatArray) -> Iterator[FloatArray]:
        done, x = 0, np.array(x0, dtype=float)
        if "krylov" not in built:
            tol = min(KRYLOV_TOLERANCE_FACTOR * options.atol, 1e-3)
            built["krylov"] = KrylovPropagation(system(), tol, krylov,
                                                krylov_rung(p.kappa_01, p.n_batteries), give_up)
        try:
            for x in built["krylov"].states(x0, t):  # type: ignore[attr-defined]
                yield x
                done += 1
            return
        except SpaceOutgrown:
            built["outgrown"] = True
        except IntegrationError:
            pass
        finally:
            stats.update({f"krylov_{k}": v for k, v in krylov.items()})
            stats.update({f"implicit_{k}": float(v) for k, v in system().stats.items()})
        if "outgrown" in built:  # Chebyshev from the last state returned
            stats["fallback"] = "chebyshev"
            states = by_chebyshev(x, t[max(done - 1, 0):])
            if done:
                next(states)
            yield from states
            return
        stats["fallback"] = "implicit"  # a solve stalled: Radau from the last state returned
        states = radau(x, t[max(done - 1, 0):])
        if done:
            next(states)
        yield from states

    methods = {"chebyshev": by_chebyshev, "krylov": by_krylov, "implicit": by_implicit}

    def advance(x0: FloatArray, t: FloatArray) -> Iterator[FloatArray]:
        t = np.asarray(t, dtype=float)
        method = choose(x0, t)
        stats.setdefault("propagation", method)
        yield from methods[method](x0, t)

    def populations(x: FloatArray) -> FloatArray:
        return _observables(p, space, x[None, :])[0][0]

    return Propagator(initial=initial_state(p, space), advance=advance, populations=populations)


def evolve(p: ModelParams, t: FloatArray, options: SolverOptions | None = None) -> Trajectory:
    """Battery and engine observables of the collective model on the grid t (t[0] = 0).

    The battery reduced state is Dicke-diagonal (only n10 = n01 = 0 has a trace, and there
    m' = m), so the ergotropy is that of observables.ergotropy_dicke.
    """
    return trajectory(p, np.asarray(t, dtype=float), options)[0]


def trajectory(p: ModelParams, t: FloatArray, options: SolverOptions | None = None,
               keep: NDArray[np.bool_] | None = None,
               watch: Callable[[int, FloatArray, FloatArray], None] | None = None,
               ) -> tuple[Trajectory, Propagator]:
    """evolve() on the points ``keep`` of t, calling ``watch(k, x_k, populations_k)`` at every t_k.

    Returns the trajectory and the propagator, so that a caller can continue from a state it kept.
    """
    stats: dict[str, float | str] = {}
    prop = propagator(p, options, stats)
    space = symmetric_space(p.n_engines, p.n_batteries)
    keep = np.ones(t.size, bool) if keep is None else keep
    pops = np.empty((int(keep.sum()), p.n_batteries + 1))
    engines = np.empty((pops.shape[0], 3))
    min_block, row = math.inf, 0
    with single_threaded_blas():
        for k, x in enumerate(prop.advance(prop.initial, t)):
            pop, engine = _observables(p, space, x[None, :])
            if watch is not None:
                watch(k, x, pop[0])
            if keep[k]:
                pops[row], engines[row] = pop[0], engine[0]
                min_block = min(min_block, _min_block_eigenvalue(p, space, x))
                row += 1
    traj = _trajectory(p, t[keep], pops, engines, min_block,
                       float(stats.get("chebyshev_growth", 0.0)))
    solver = {k: v for k, v in stats.items() if k != "chebyshev_growth"}
    return dataclasses.replace(traj, solver=solver), prop


def steady_state(p: ModelParams) -> SteadyState:
    """The steady state reached from the initial state: the kernel of L with the trace condition.

    Unique in this sector for g > 0 (the batteries stay symmetric, docs/physics.md §3), solved
    directly, not read off a late time.
    """
    check_memory("symmetric", symmetric_solver_bytes(p), p)
    space = symmetric_space(p.n_engines, p.n_batteries)
    gen = generator(p, space)
    with single_threaded_blas():
        x = _steady_vector(p, space, gen)
    traj = _trajectory(p, np.zeros(1), *_observables(p, space, x[None, :]))
    return SteadyState(
        battery_populations=traj.battery_populations[0],
        energy=float(traj.energy[0]),
        sigma=float(traj.sigma[0]),
        ergotropy=float(traj.ergotropy[0]),
        engine_populations=traj.engine_populations[0],
    )
