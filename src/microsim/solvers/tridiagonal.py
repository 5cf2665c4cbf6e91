"""Radau IIA (order 5) for dy/dt = A y with a constant tridiagonal A, one O(n) solve per stage.

The effective birth-death equation (Eq. 8) at N = 10^5 is stiff (rates up to Gamma_e N^2 / 4
against a charging time of order ln N / (Gamma_e N)), so it needs an L-stable implicit method.
SciPy's Radau takes a general sparse Jacobian: SuperLU factorizations and Newton iterations made
the N = 10^5 curve cost 25 s, almost all of it in the linear algebra. For a linear, autonomous,
tridiagonal system the stage equations are linear and are solved exactly, with no Newton
iteration, by one real and one complex tridiagonal LAPACK solve (?gttrf/?gttrs, ?gtsv, O(n)).

The method (Hairer & Wanner, Solving ODEs II, IV.8): with Z = Y - y the stage increments and C
the 3 x 3 Radau IIA matrix, the stages solve (C^{-1} (x) I - h I (x) A) Z = h 1 (x) A y. With
C^{-1} = T diag(lambda) T^{-1} this splits into W_k = (T^{-1} 1)_k (lambda_k / h - A)^{-1} A y and
Z = T W (the factor (T^{-1} 1)_k is folded into the columns of T). lambda is one real eigenvalue
and a complex-conjugate pair, so W_3 = conj(W_2) is never solved for. The step is y + Z_3 (stiffly
accurate). The error estimate is the embedded order-3 formula with weight gamma_0 = 1/lambda_real
at the left end point, filtered by (I - h gamma_0 A)^{-1}; steps are chosen by the usual
controller and land exactly on the output grid, so no dense-output interpolation enters the
returned values.
"""

from __future__ import annotations

import math
from collections.abc import Iterator
from dataclasses import dataclass

import numpy as np
from numpy.polynomial import polynomial as npoly
from numpy.typing import NDArray
from scipy.linalg import lapack

__all__ = ["RADAU", "RadauTableau", "Tridiagonal", "integrate_tridiagonal"]

FloatArray = NDArray[np.float64]

_FLUSH = 1e-290


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


@dataclass(frozen=True)
class Tridiagonal:
    """A = diag(lower, -1) + diag(diagonal) + diag(upper, +1), all real."""

    lower: FloatArray
    diagonal: FloatArray
    upper: FloatArray

    def __matmul__(self, y: FloatArray) -> FloatArray:
        out = self.diagonal * y
        out[1:] += self.lower * y[:-1]
        out[:-1] += self.upper * y[1:]
        return out

    @property
    def size(self) -> int:
        return self.diagonal.size

    def __iter__(self) -> Iterator[FloatArray]:
        """The bands (lower, diagonal, upper), for unpacking."""
        return iter((self.lower, self.diagonal, self.upper))


class _Factors:
    """LU factors of (lambda_real / h - A) and (lambda_complex / h - A) for one step size h."""

    def __init__(self, a: Tridiagonal, complex_bands: tuple[NDArray[np.complex128], ...], h: float):
        self.h = h
        real = lapack.dgttrf(-a.lower, RADAU.lam_real / h - a.diagonal, -a.upper)
        lower, diagonal, upper = complex_bands
        cplx = lapack.zgttrf(lower, RADAU.lam_complex / h + diagonal, upper)
        if real[-1] != 0 or cplx[-1] != 0:
            raise np.linalg.LinAlgError(f"tridiagonal LU failed for h = {h} (singular shift)")
        self.real, self.complex = real[:5], cplx[:5]

    def solve_real(self, b: FloatArray) -> FloatArray:
        return lapack.dgttrs(*self.real, b[:, None])[0][:, 0]

    def solve_complex(self, b: FloatArray) -> NDArray[np.complex128]:
        return lapack.zgttrs(*self.complex, b.astype(complex)[:, None])[0][:, 0]


def _rms(x: FloatArray) -> float:
    return float(np.sqrt(np.mean(x * x)))


class _Stepper:
    """One Radau IIA step of dy/dt = A y, with the LU factors of recent step sizes kept.

    Steps are fitted to the output grid (an interval is cut into equal sub-steps), so on a uniform
    grid the same h recurs and each factorization serves many steps. Step sizes within 1e-12
    relative of a cached one (the round-off of a linspace grid) use it: the solution then advances
    by the cached h, a time error of at most 1e-12 of the elapsed time.
    """

    CACHE = 4

    def __init__(self, a: Tridiagonal, rtol: float, atol: float) -> None:
        self.a, self.rtol, self.atol = a, rtol, atol
        self.complex_bands = (-a.lower.astype(complex), -a.diagonal.astype(complex),
                              -a.upper.astype(complex))
        self.cache: list[_Factors] = []
        self.factorizations = 0

    def factors(self, h: float) -> _Factors:
        for entry in self.cache:
            if abs(entry.h - h) <= 1e-12 * h:
                return entry
        entry = _Factors(self.a, self.complex_bands, h)
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
            err = lu.solve_real(self.a @ (y + err) + ez)
            error = _rms(err / scale)
        return y_new, error


def _initial_step(a: Tridiagonal, y: FloatArray, f: FloatArray, span: float, rtol: float,
                  atol: float) -> float:
    scale = atol + rtol * np.abs(y)
    d0, d1 = _rms(y / scale), _rms(f / scale)
    h = 0.01 * d0 / d1 if d0 > 1e-5 and d1 > 1e-5 else 1e-6 * span
    return min(h, span)


def integrate_tridiagonal(
    a: Tridiagonal, y0: FloatArray, t: FloatArray, rtol: float = 1e-8, atol: float = 1e-11,
    max_steps: int = 1_000_000, first_step: float | None = None,
) -> tuple[FloatArray, dict[str, int]]:
    """y(t_k) = exp(A (t_k - t_0)) y0 on the grid t, shape (len(t), n), and step statistics.

    The local error of every step (embedded estimate, RMS norm weighted by atol + rtol |y|) is
    below 1; t must be non-decreasing. ``first_step`` overrides the initial step-size guess.
    """
    t = np.asarray(t, dtype=float)
    if np.any(np.diff(t) < 0):
        raise ValueError("t must be non-decreasing")
    if a.size < 3:  # SciPy's ?gttrf wrapper needs n >= 3: add uncoupled components that stay 0
        pad = 3 - a.size
        padded = Tridiagonal(*(np.concatenate([band, np.zeros(pad)]) for band in a))
        ys, stats = integrate_tridiagonal(padded, np.concatenate([y0, np.zeros(pad)]), t, rtol, atol,
                                          max_steps, first_step)
        return ys[:, : a.size], stats
    out = np.empty((t.size, a.size))
    y = np.array(y0, dtype=float)
    out[0] = y
    stats = {"steps": 0, "rejected": 0, "factorizations": 0}
    if t.size == 1 or t[-1] == t[0]:
        out[:] = y
        return out, stats
    stepper = _Stepper(a, rtol, atol)
    now = float(t[0])
    f = a @ y
    # A generator has a kernel, so lambda/h - A is singular as h -> infinity: keep its condition
    # number below about 1e10, far above what accuracy asks for on any useful grid.
    h_max = 1e10 * RADAU.lam_real / max(float(np.abs(a.diagonal).max()), 1e-300)
    h = min(first_step or _initial_step(a, y, f, float(t[-1] - t[0]), rtol, atol), h_max)
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
            y_new[np.abs(y_new) < _FLUSH] = 0.0
            y, f = y_new, a @ y_new
            h = _next_step(h, step, factor, after_rejection=refine)
            h = min(h, h_max)
            refine = False
        out[k] = y
    stats["factorizations"] = stepper.factorizations
    return out, stats


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
