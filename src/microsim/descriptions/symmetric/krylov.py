"""Shift-and-invert Krylov propagation: exp(L t) x0 on a whole time window from a few linear solves.

With gamma > 0 and Z = (1 - gamma L)^{-1}, the Arnoldi process on Z from v_1 = x0/|x0| gives an
orthonormal basis V_m and Z V_m = V_m H_m + h_{m+1,m} v_{m+1} e_m^T. Then

    exp(L t) x0 ~ |x0| V_m exp(t A_m) e_1,   A_m = (1 - H_m^{-1}) / gamma,

for every t of the window at once: the approximation is a rational function of L with a single
repeated pole, whose error bound depends on gamma/t and on m, not on ||L|| (van den Eshof and
Hochbruck, SIAM J. Sci. Comput. 27, 1438 (2006)). The stiffness of the bath part therefore costs
nothing in the number of vectors; it enters only through the solves with (1/gamma - L), which
schur.py does by CG on a symmetric positive definite Schur complement (or, with a
battery environment, implicit.py by GMRES), both preconditioned with the bath blocks and
the adiabatic slow space. A 121-point charging curve takes 20-36 solves at kappa = 0.01 and 44-76 at 0.1
(N = 10-40), against about 450 for Radau IIA on the same grid.

Convergence is checked on the coefficients: V is orthonormal, so the state changes between m - 4
and m vectors by exactly |c_m(t) - c_{m-4}(t)|, which costs no product with V. A window that
does not converge within MAX_DIMENSION vectors is retried with a larger gamma, then halved. A
space that the memory stops earlier keeps the times on which it has converged (its prefix of the
window), and the next space starts from the last of them.
"""

from __future__ import annotations

import weakref
from collections.abc import Callable, Iterator
from dataclasses import dataclass

import numpy as np
import scipy.linalg as sla
from numpy.typing import NDArray

from microsim.descriptions.numerics.linear import IntegrationError
from microsim.descriptions.resources import available_memory
from microsim.descriptions.symmetric.implicit import ImplicitSystem
from microsim.descriptions.symmetric.schur import shifted_solve

__all__ = ["GAMMA_FRACTIONS", "MAX_DIMENSION", "KrylovPropagation", "SpaceOutgrown", "Window",
           "krylov_states", "memory_dimension"]

FloatArray = NDArray[np.float64]
#: Asked after a space failed, with the state it started from, the times left (from that state's
#: time on) and the solver iterations the failed space took: True stops the propagation there.
GiveUp = Callable[[FloatArray, FloatArray, float], bool]


class SpaceOutgrown(IntegrationError):
    """A Krylov space outgrew its dimension and the caller's ``give_up`` chose to stop; the
    states returned so far stand."""

#: gamma = a fraction of the window length, from this ladder. A smaller gamma makes the solves
#: easier (the shift 1/gamma strengthens the diagonal of the Schur complement) and, while the
#: dynamics over the window is slow, needs no more vectors; where the coherent engine-battery
#: exchange is underdamped (larger kappa and N), a small gamma needs more than MAX_DIMENSION
#: vectors. A space that does not converge is therefore retried one rung up before its window is
#: halved, and the rung reached is kept for the next windows. Measured on 121-point curves (rung:
#: vectors, CG iterations, wall): N = 30, kappa = 0.1: 0.1: 64, 1816, 40.6 s; 0.01: 56, 1296,
#: 29.8 s; 0.003: 48, 981, 24.2 s; 0.001: 76, 856, 32.8 s. N = 40, kappa = 0.1: 0.1: 76, 2599;
#: 0.003: 48, 1379. N = 20, kappa = 0.4: 0.01: 68, 1745, 6.7 s; 0.003: not within 80 vectors
#: (90 s after nine halvings). The first rung comes from the caller (symmetric.krylov_rung).
GAMMA_FRACTIONS = (0.003, 0.01, 0.03, 0.1)
#: Vectors at most before a window is halved (121-point curves at N = 10-40 measured need 20-76).
MAX_DIMENSION = 80
#: A new space takes at most this fraction of the memory available when it starts. At N = 60
#: (1.9e7 unknowns, 155 MB a vector) the propagation's own structures hold about 7.5 GB and
#: 0.6 of the rest held 64 vectors, where the kappa = 0.1 curve needs more (its weights had
#: fallen only to 1e-7 there); 0.8 holds 80 and leaves about 3 GB of the 24 GB machine.
MEMORY_FRACTION = 0.8
#: Convergence is tested every CHECK_EVERY vectors, against the approximation that many before.
CHECK_EVERY = 4
#: The solves are converged to this factor times the tolerance on the state: their error enters
#: the basis vector by vector (at 3e-9 against 1e-9, the energy error measured 3e-10 to 7e-10 in
#: E/(N w0) at N = 12 and 20, kappa = 0.01 and 0.1, against Radau at rtol 1e-10).
SOLVE_FACTOR = 3.0
#: A solve's error enters A_m = (1 - H_m^{-1}) / gamma divided by gamma, so the state at time t
#: by about t / gamma: below this fraction the solves are tightened by fraction / it (measured:
#: near the steady state at t = 400, N = M = 4 with a battery environment, the populations were
#: 1e-7 off at gamma = 0.003 of the window without, 1e-10 at 0.1).
SOLVE_REFERENCE_FRACTION = 0.1
#: Loosest solve tolerance. The error of solve j enters the result multiplied by the weight of
#: v_j, |e_j^T exp(s A_m) e_1|, which falls as the space converges; so after each check the solves
#: are converged to SOLVE_FACTOR tol / (the largest weight of the last CHECK_EVERY vectors), at
#: most this (inexact Krylov, Simoncini and Szyld 2003). A weight above 1 counts as 1: the basis
#: is orthonormal, so a weight is at most |x(s)| / |x0|, and solve j then errs by at most base
#: relative to the larger of |x0| and |x(s)|. (|x| is not conserved: its maximum over a curve
#: measured 1.0, 3.4 and 40 times |x0| at N = 6, 12, 20 and kappa = 0.1, 0.4, 1.) Weights far
#: above that belong to a space that has not converged (7e4 measured at N = 20, kappa = 0.4);
#: taken at face value they asked the solves for 1e-16 and stalled them, and with only the floor
#: (SOLVE_FLOOR) for 1e-13, where N = 40, kappa = 0.215 did not finish in 720 s
#: (docs/performance.md). Measured: GMRES iterations down 30-36 %
#: at N = 12 and 20, kappa = 0.1, the energy error unchanged (7.9e-11 and 6.5e-10 against Radau
#: at rtol 1e-11).
RELAXED_MAX = 1e-2
#: Tightest solve tolerance (a tight options.atol): below it CG stalls near round-off.
SOLVE_FLOOR = 1e-13
#: Times of the window, besides the grid's, on which convergence is checked.
CHECK_TIMES = 32
#: States formed per product with the basis (chunk x m times m x n).
CHUNK = 8


@dataclass(frozen=True)
class Window:
    """One converged Krylov space: exp(L s) x0 ~ V^T beta exp(s A_m) e_1 for s in [0, length]."""

    basis: FloatArray  #: V (m, n), orthonormal rows
    generator: FloatArray  #: A_m = (1 - H_m^{-1}) / gamma
    beta: float  #: |x0|
    length: float  #: the window's extent in time

    def coefficients(self, s: FloatArray) -> FloatArray:
        """beta exp(s_k A_m) e_1 for every s_k, as rows (k, m)."""
        return _expm_columns(self.generator, s, self.beta)

    def states(self, s: FloatArray) -> Iterator[FloatArray]:
        """The states at the times s (each in [0, length]), CHUNK at a time."""
        coefficients = self.coefficients(s)
        for lo in range(0, coefficients.shape[0], CHUNK):
            yield from coefficients[lo: lo + CHUNK] @ self.basis


class KrylovPropagation:
    """krylov_states that remembers the window of every state it returned.

    A refinement continues the solution from a stored state over a short grid
    (analysis/refinement.py); when that state came from a window that covers the grid, the states are read
    off the same rational approximation (a product of the m x m exponential with V) instead of
    building a new space: the refined values are then values of the very curve returned on the
    grid, and cost no solve.
    """

    def __init__(self, system: ImplicitSystem, tol: float,
                 stats: dict[str, float] | None = None, rung: int = 0,
                 give_up: GiveUp | None = None) -> None:
        self.system, self.tol, self.rung, self.give_up = system, tol, rung, give_up
        self.stats = {} if stats is None else stats
        self._known: dict[int, tuple[weakref.ref, Window, float]] = {}

    def covers(self, x0: FloatArray, t: FloatArray) -> tuple[Window, FloatArray] | None:
        """The window that x0 came from and the times of t in it, if it reaches t[-1]."""
        entry = self._known.get(id(x0))
        if entry is None or entry[0]() is not x0:
            return None
        _, window, s0 = entry
        s = s0 + (np.asarray(t, dtype=float) - t[0])
        return (window, s) if s[-1] <= window.length * (1.0 + 1e-12) else None

    def states(self, x0: FloatArray, t: FloatArray) -> Iterator[FloatArray]:
        """Yield x(t_k) = exp(L (t_k - t_0)) x0, the first being x0 itself."""
        t = np.asarray(t, dtype=float)
        known = self.covers(x0, t)
        if known is None:
            yield from krylov_states(self.system, x0, t, self.tol, self.stats, self, self.rung,
                                     self.give_up)
            return
        self.stats["reused"] = float(self.stats.get("reused", 0)) + 1.0
        yield x0
        yield from self._remember(known[0], known[1][1:])

    def remember(self, x: FloatArray, window: Window, s: float) -> None:
        """Note that x is the state at time s of window (kept as long as x lives)."""
        key = id(x)
        self._known[key] = (weakref.ref(x), window, float(s))
        weakref.finalize(x, self._known.pop, key, None)

    def _remember(self, window: Window, s: FloatArray) -> Iterator[FloatArray]:
        for sk, x in zip(s, window.states(s), strict=True):
            self.remember(x, window, sk)
            yield x


def krylov_states(system: ImplicitSystem, x0: FloatArray, t: FloatArray, tol: float,
                  stats: dict[str, float] | None = None,
                  memory: KrylovPropagation | None = None, rung: int = 0,
                  give_up: GiveUp | None = None) -> Iterator[FloatArray]:
    """Yield x(t_k) = exp(L (t_k - t_0)) x0, the first being x0 itself.

    ``tol``: bound on |x(t) - x_m(t)| / |x0| (2-norm) estimated between successive dimensions;
    the solves are converged to SOLVE_FACTOR tol relative to their right-hand side, relaxed as
    the weights of the new vectors fall (RELAXED_MAX). ``rung``: the first gamma fraction, an
    index into GAMMA_FRACTIONS. ``stats`` receives the largest dimension used ('dimension'), the
    number of windows ('windows'), the last gamma fraction ('gamma_fraction'), the spaces that
    did not converge ('failed') and those the memory stopped on part of their window ('partial');
    ``memory`` remembers the window of each state returned (not of a partial one, whose vectors
    the next space needs). Raises
    IntegrationError if a solve stalls, SpaceOutgrown if ``give_up`` says so after a space failed.
    """
    t = np.asarray(t, dtype=float)
    stats = {} if stats is None else stats
    first = np.array(x0, dtype=float)
    yield first
    x, start = first, 0
    while start < t.size - 1:
        end = t.size - 1
        partial = False
        while True:
            stats["gamma_fraction"] = GAMMA_FRACTIONS[rung]
            before = float(system.stats.get("iterations", 0))
            window = _window(system, x, t[start: end + 1] - t[start], tol, stats,
                             GAMMA_FRACTIONS[rung])
            if window is not None:
                covered = start + int(np.searchsorted(t[start: end + 1] - t[start], window.length,
                                                      side="right")) - 1
                partial = covered < end  # a space the memory stopped: its converged prefix
                if partial:
                    stats["partial"] = float(stats.get("partial", 0)) + 1.0
                    end = covered
                break
            stats["failed"] = float(stats.get("failed", 0)) + 1.0
            spent = float(system.stats.get("iterations", 0)) - before
            if give_up is not None and give_up(x, t[start:], spent):
                raise SpaceOutgrown(f"the Krylov space at gamma = {GAMMA_FRACTIONS[rung]} of the "
                                    f"window outgrew {memory_dimension(x.size)} vectors")
            # The memory, not gamma, stopped the space: a larger gamma would need more vectors.
            limited = memory_dimension(x.size) < MAX_DIMENSION and end - start > 1
            if rung + 1 < len(GAMMA_FRACTIONS) and not limited:
                rung += 1
                continue
            if end - start == 1:
                raise IntegrationError(f"shift-and-invert Krylov did not converge within "
                                       f"{memory_dimension(x.size)} vectors on "
                                       f"[{t[start]:.6g}, {t[end]:.6g}]")
            end = start + (end - start) // 2
        s = t[start + 1: end + 1] - t[start]
        keep = memory is not None and not partial
        if keep and start == 0:
            memory.remember(first, window, 0.0)
        for x in (memory._remember(window, s) if keep else window.states(s)):
            yield x
        del window  # its basis must not take the memory of the next space
        start = end


def _window(system: ImplicitSystem, x0: FloatArray, s: FloatArray, tol: float,
            stats: dict[str, float], fraction: float) -> Window | None:
    """The Krylov space converged on the times s (s[0] = 0), or None if it does not converge.

    If the memory stops the space before MAX_DIMENSION vectors, the window returned reaches the
    last time of s before the first checked time on which it has not converged (None if that is
    s[1]): those states are converged to tol, and it was the machine, not gamma, that stopped."""
    beta = float(np.linalg.norm(x0))
    if beta == 0.0 or s[-1] <= 0.0:  # exp(L s) x0 = x0
        return Window(x0[None, :] / max(beta, 1.0), np.zeros((1, 1)), max(beta, 1.0),
                      max(float(s[-1]), 0.0))
    gamma = fraction * float(s[-1])
    base = SOLVE_FACTOR * tol * min(1.0, fraction / SOLVE_REFERENCE_FRACTION)
    solve = shifted_solve(system, 1.0 / gamma, base)
    limit = memory_dimension(x0.size)
    basis = np.empty((limit + 1, x0.size))  # pages are committed as the vectors are written
    hess = np.zeros((limit + 1, limit))
    basis[0] = x0 / beta
    previous = None
    relaxed = base
    # The change is checked on the grid and on CHECK_TIMES evenly spaced times between its first
    # and last time: with a coarse grid (two long steps) the change can pass through a small
    # value at the grid's times by chance while the space has not converged. (Not before the
    # first time: the initial transient would ask for vectors the grid does not need.)
    checked = np.union1d(s[1:], np.linspace(float(s[1]), float(s[-1]), CHECK_TIMES))
    reached, m_reached = 0.0, 0  # the converged prefix of the last check, and its dimension
    for j in range(limit):
        w = solve.solve(basis[j], relaxed) / gamma
        before = float(np.linalg.norm(w))
        for _ in range(2):  # classical Gram-Schmidt, repeated once when it cancels much of w
            coeffs = basis[: j + 1] @ w
            w -= coeffs @ basis[: j + 1]
            hess[: j + 1, j] += coeffs
            after = float(np.linalg.norm(w))
            if after > 0.7 * before:
                break
            before = after
        hess[j + 1, j] = after
        m = j + 1
        if after <= 1e-14 * float(np.abs(hess[: m, j]).max()):  # invariant space: exact
            return _finish(basis, hess, m, gamma, beta, float(s[-1]), stats)
        basis[m] = w / after
        if m % CHECK_EVERY:
            continue
        coefficients = _expm_columns(_projected(hess[:m, :m], gamma), checked, beta)
        if previous is not None:
            change = np.abs(coefficients).copy()
            change[:, : previous.shape[1]] = coefficients[:, : previous.shape[1]] - previous
            errors = np.linalg.norm(change, axis=1)
            if float(errors.max()) <= tol * beta:
                return _finish(basis, hess, m, gamma, beta, float(s[-1]), stats)
            reached, m_reached = _converged_prefix(s, checked, errors <= tol * beta), m
        weight = float(np.abs(coefficients[:, -CHECK_EVERY:]).max()) / beta
        relaxed = min(max(base / min(max(weight, tol), 1.0), SOLVE_FLOOR), RELAXED_MAX)
        previous = coefficients
    if limit < MAX_DIMENSION and reached > 0.0:
        return _finish(basis, hess, m_reached, gamma, beta, reached, stats)
    return None


def _converged_prefix(s: FloatArray, checked: FloatArray, converged: NDArray[np.bool_]) -> float:
    """The last time of s before the first of the (sorted) ``checked`` times that has not
    ``converged``; 0 if there is none."""
    bad = np.flatnonzero(~converged)
    if bad.size == 0:
        return float(s[-1])
    good = s[s < checked[bad[0]]]
    return float(good[-1])


def memory_dimension(size: int) -> int:
    """Vectors a new space may hold: MAX_DIMENSION, or as many as MEMORY_FRACTION of the memory
    available holds (at least 2 CHECK_EVERY); a window that needs more is halved."""
    fit = int(MEMORY_FRACTION * available_memory() / (8 * size)) - 1
    return max(min(MAX_DIMENSION, fit), 2 * CHECK_EVERY)


def _projected(hess: FloatArray, gamma: float) -> FloatArray:
    """A_m = (1 - H_m^{-1}) / gamma."""
    return (np.eye(hess.shape[0]) - np.linalg.inv(hess)) / gamma


def _expm_columns(generator: FloatArray, s: FloatArray, beta: float) -> FloatArray:
    """beta exp(s_k A) e_1 for every s_k, as rows (k, m)."""
    return np.array([beta * sla.expm(sk * generator)[:, 0] for sk in s]).reshape(len(s), -1)


def _finish(basis: FloatArray, hess: FloatArray, m: int, gamma: float, beta: float,
            length: float, stats: dict[str, float]) -> Window:
    stats["dimension"] = max(float(stats.get("dimension", 0)), float(m))
    stats["windows"] = float(stats.get("windows", 0)) + 1.0
    return Window(basis[:m], _projected(hess[:m, :m], gamma), beta, length)
