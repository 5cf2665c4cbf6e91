"""Radau IIA (order 5) for a linear, autonomous system dy/dt = A y, given solves with lambda/h - A.

For a linear system the stage equations are linear and are solved exactly, with no Newton
iteration, by one real and one complex solve with the shifted matrix. The method (Hairer &
Wanner, Solving ODEs II, IV.8): with Z = Y - y the stage increments and C the 3 x 3 Radau IIA
matrix, the stages solve (C^{-1} (x) I - h I (x) A) Z = h 1 (x) A y. With
C^{-1} = T diag(lambda) T^{-1} this splits into W_k = (T^{-1} 1)_k (lambda_k / h - A)^{-1} A y and
Z = T W (the factor (T^{-1} 1)_k is folded into the columns of T). lambda is one real eigenvalue
and a complex-conjugate pair, so W_3 = conj(W_2) is never solved for. The step is y + Z_3 (stiffly
accurate). The error estimate is the embedded order-3 formula with weight gamma_0 = 1/lambda_real
at the left end point, filtered by (I - h gamma_0 A)^{-1}; steps are chosen by the usual
controller and land exactly on the output grid, so no dense-output interpolation enters the
returned values.

How the shifted systems are solved is the caller's: exact tridiagonal LU for Eq. 8
(descriptions/numerics/tridiagonal.py), preconditioned GMRES for the permutation-symmetric generator
(descriptions/symmetric/implicit.py). A solver object for one step size h has ``h``, ``solve_real(b)`` for
(lambda_real/h - A) x = b and ``solve_complex(b)`` for (lambda_complex/h - A) x = b.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Protocol

import numpy as np
from numpy.polynomial import polynomial as npoly
from numpy.typing import NDArray

__all__ = ["RADAU", "RadauTableau", "ShiftedSolves", "radau_states"]

FloatArray = NDArray[np.float64]

#: Entries below this are flushed to zero after each step (see radau_states).
FLUSH = 1e-290


@dataclass(frozen=True)
class RadauTableau:
    """The 3-stage Radau IIA collocation method and the constants of its linear-system form."""

    nodes: FloatArray  #: c_i = (4 -+ sqrt 6)/10, 1
    matrix: FloatArray  #: C_ij = int_0^{c_i} l_j(s) ds, l_j the Lagrange basis on the nodes
    lam_real: float  #: real eigenvalue of C^{-1}
    lam_complex: complex  #: eigenvalue of C^{-1} with positive imaginary part
    t_real: FloatArray  #: column of T for lam_real, times its entry of T^{-1} 1
    t_complex: NDArray[np.complex128]  #: column of T for lam_complex, times its entry of T^{-1} 1
    error_weights: FloatArray  #: e with y_embedded - y_new = h gamma_0 f(y) + sum_j e_j Z_j
    error_real: float  #: sum_j e_j t_real[j], so that sum_j e_j Z_j = this W_1 + 2 Re(. W_2)
    error_complex: complex  #: sum_j e_j t_complex[j]

    @classmethod
    def build(cls) -> RadauTableau:
        """Derive every constant from the nodes, so that none is typed in by hand."""
        s6 = math.sqrt(6.0)
        nodes = np.array([(4.0 - s6) / 10.0, (4.0 + s6) / 10.0, 1.0])
        matrix = np.empty((3, 3))
        for j in range(3):
            others = np.delete(nodes, j)
            basis = npoly.polyfromroots(others) / np.prod(nodes[j] - others)
            antiderivative = npoly.polyint(basis)
            matrix[:, j] = npoly.polyval(nodes, antiderivative)
        inverse = np.linalg.inv(matrix)
        eigvals, vecs = np.linalg.eig(inverse)
        real = int(np.argmin(np.abs(eigvals.imag)))
        cplx = int(np.argmax(eigvals.imag))
        coeffs = np.linalg.solve(vecs, np.ones(3))
        gamma0 = 1.0 / eigvals[real].real
        # embedded order-3 quadrature on the nodes (0, c_1, c_2, c_3) with weight gamma_0 at 0
        vander = np.vander(nodes, 3, increasing=True).T
        moments = 1.0 / np.arange(1, 4) - np.array([gamma0, 0.0, 0.0])
        b_hat = np.linalg.solve(vander, moments)
        error_weights = np.asarray((b_hat - matrix[-1]) @ inverse, dtype=float)  # hf(Y) = C^{-1} Z
        t_real = (vecs[:, real] * coeffs[real]).real
        t_complex = vecs[:, cplx] * coeffs[cplx]
        return cls(
            nodes=nodes,
            matrix=matrix,
            lam_real=float(eigvals[real].real),
            lam_complex=complex(eigvals[cplx]),
            t_real=t_real,
            t_complex=t_complex,
            error_weights=error_weights,
            error_real=float(error_weights @ t_real),
            error_complex=complex(error_weights @ t_complex),
        )


RADAU = RadauTableau.build()


class ShiftedSolves(Protocol):
    """Solves with lambda/h - A for the Radau eigenvalues at one step size h."""

    h: float

    def solve_real(self, b: FloatArray) -> FloatArray: ...

    def solve_complex(self, b: FloatArray) -> NDArray[np.complex128]: ...


def _rms(x: FloatArray) -> float:
    return float(np.sqrt(np.mean(x * x)))


class _Stepper:
    """One Radau IIA step of dy/dt = A y, with the solvers of recent step sizes kept.

    Steps are fitted to the output grid (an interval is cut into equal sub-steps), so on a uniform
    grid the same h recurs and each factorization (or preconditioner) serves many steps. Step
    sizes within 1e-12 relative of a cached one (the round-off of a linspace grid) use it: the
    solution then advances by the cached h, a time error of at most 1e-12 of the elapsed time.
    """

    CACHE = 4

    def __init__(self, matvec: Callable[[FloatArray], FloatArray],
                 shifted: Callable[[float], ShiftedSolves], rtol: float, atol: float) -> None:
        self.matvec, self.shifted, self.rtol, self.atol = matvec, shifted, rtol, atol
        self.cache: list[ShiftedSolves] = []
        self.factorizations = 0

    def factors(self, h: float) -> ShiftedSolves:
        for entry in self.cache:
            if abs(entry.h - h) <= 1e-12 * h:
                return entry
        entry = self.shifted(h)
        self.factorizations += 1
        self.cache = [entry, *self.cache[: self.CACHE - 1]]
        return entry
    def attempt(self, y: FloatArray, f: FloatArray, h: float, refine: bool) -> tuple[FloatArray, float]:
        """(y_new, scaled error norm) of one step of size h from y with f = A y."""
        tab, lu = RADAU, self.factors(h)
        w1 = lu.solve_real(f)
        w2 = lu.solve_complex(f)
        re, im = w2.real, w2.imag
        last = tab.t_complex[2]
        y_new = y + tab.t_real[2] * w1 + (2.0 * last.real) * re - (2.0 * last.imag) * im
        scale = np.maximum(np.abs(y), np.abs(y_new))
        scale *= self.rtol
        scale += self.atol
        c = tab.lam_real / lu.h
        ez = (c * tab.error_real) * w1
        ez += (2.0 * c * tab.error_complex.real) * re
        ez -= (2.0 * c * tab.error_complex.imag) * im
        err = lu.solve_real(f + ez)
        error = _rms(err / scale)
        if refine and error > 1.0:  # Hairer's second filtering: first step and after a rejection
            err = lu.solve_real(self.matvec(y + err) + ez)
            error = _rms(err / scale)
        return y_new, error


def _initial_step(y: FloatArray, f: FloatArray, span: float, rtol: float, atol: float) -> float:
    scale = atol + rtol * np.abs(y)
    d0, d1 = _rms(y / scale), _rms(f / scale)
    h = 0.01 * d0 / d1 if d0 > 1e-5 and d1 > 1e-5 else 1e-6 * span
    return min(h, span)


def radau_states(
    matvec: Callable[[FloatArray], FloatArray], shifted: Callable[[float], ShiftedSolves],
    y0: FloatArray, t: FloatArray, rtol: float = 1e-8, atol: float = 1e-11, h_max: float = math.inf,
    max_steps: int = 1_000_000, first_step: float | None = None, stats: dict[str, int] | None = None,
) -> Iterator[FloatArray]:
    """Yield y(t_k) = exp(A (t_k - t_0)) y0 for k = 0, 1, ... (A y = matvec(y)).

    The local error of every step (embedded estimate, RMS norm weighted by atol + rtol |y|) is
    below 1; t must be non-decreasing. ``shifted(h)`` returns the solves for step size h;
    ``h_max`` bounds the step (a generator has a kernel, so lambda/h - A is singular as
    h -> infinity); ``first_step`` overrides the initial step-size guess. ``stats`` receives the
    numbers of steps, rejections and factorizations.
    """
    t = np.asarray(t, dtype=float)
    if np.any(np.diff(t) < 0):
        raise ValueError("t must be non-decreasing")
    stats = {} if stats is None else stats
    stats.update(steps=0, rejected=0, factorizations=0)
    y = np.array(y0, dtype=float)
    yield y.copy()
    if t.size == 1 or t[-1] == t[0]:
        for _ in t[1:]:
            yield y.copy()
        return
    stepper = _Stepper(matvec, shifted, rtol, atol)
    now = float(t[0])
    f = matvec(y)
    h = min(first_step or _initial_step(y, f, float(t[-1] - t[0]), rtol, atol), h_max)
    refine = True  # also: the last attempt was rejected, so the next accepted step may not grow h
    for k in range(1, t.size):
        target = float(t[k])
        while now < target:
            if stats["steps"] + stats["rejected"] >= max_steps:
                raise RuntimeError(f"Radau took more than {max_steps} steps before t = {target}")
            pieces = max(1, math.ceil((target - now) / h * (1.0 - 1e-12)))
            step = (target - now) / pieces
            y_new, error = stepper.attempt(y, f, step, refine)
            if not math.isfinite(error):
                raise FloatingPointError(f"Radau error estimate is {error} at t = {now}")
            factor = min(10.0, max(0.2, 0.9 * error**-0.25)) if error > 0 else 10.0
            if error > 1.0:
                stats["rejected"] += 1
                h = step * factor
                refine = True
                continue
            stats["steps"] += 1
            now = target if pieces == 1 else now + step
            # tails of the populations underflow: subnormal numbers slow every later operation on
            # them by orders of magnitude, and at 1e-280 below atol they carry no information
            y_new[np.abs(y_new) < FLUSH] = 0.0
            y, f = y_new, matvec(y_new)
            h = _next_step(h, step, factor, after_rejection=refine)
            h = min(h, h_max)
            refine = False
        stats["factorizations"] = stepper.factorizations
        yield y.copy()


def _next_step(h: float, step: float, factor: float, after_rejection: bool) -> float:
    """Step size after an accepted step of size ``step`` (<= h) whose error asks for ``factor``.

    No growth right after a rejection (Hairer's rule against reject cycles); a step shortened to
    land on the grid does not shrink h unless its own error asks for it; h (and its LU factors)
    is kept when the gain would be under 20 %.
    """
    if after_rejection:
        factor = min(factor, 1.0)
    if factor < 1.0:
        return step * factor
    if step < h * (1.0 - 1e-12):
        return max(h, step * factor)
    return step * factor if factor > 1.2 else h
