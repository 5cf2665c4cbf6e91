"""Radau IIA (order 5) for dy/dt = A y with a constant tridiagonal A, one O(n) solve per stage.

The effective birth-death equation (Eq. 8) at N = 10^5 is stiff (rates up to Gamma_e N^2 / 4
against a charging time of order ln N / (Gamma_e N)), so it needs an L-stable implicit method.
SciPy's Radau takes a general sparse Jacobian: SuperLU factorizations and Newton iterations made
the N = 10^5 curve cost 25 s, almost all of it in the linear algebra. For a linear, autonomous,
tridiagonal system the stage equations of Radau IIA (descriptions/numerics/radau.py) are solved exactly by one
real and one complex tridiagonal LAPACK solve (?gttrf/?gttrs, O(n)).
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass

import numpy as np
from numpy.typing import NDArray
from scipy.linalg import lapack

from microsim.descriptions.numerics.radau import RADAU, RadauTableau, radau_states

__all__ = ["RADAU", "RadauTableau", "ShiftedTridiagonal", "Tridiagonal", "integrate_tridiagonal"]

FloatArray = NDArray[np.float64]


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


class ShiftedTridiagonal:
    """LU factors of (lambda_real / h - A) and (lambda_complex / h - A) for one step size h
    (the ShiftedSolves of radau_states)."""

    def __init__(self, a: Tridiagonal, h: float,
                 complex_bands: tuple[NDArray[np.complex128], ...] | None = None) -> None:
        if complex_bands is None:
            complex_bands = tuple(-band.astype(complex) for band in a)
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


def integrate_tridiagonal(
    a: Tridiagonal, y0: FloatArray, t: FloatArray, rtol: float = 1e-8, atol: float = 1e-11,
    max_steps: int = 1_000_000, first_step: float | None = None,
) -> tuple[FloatArray, dict[str, int]]:
    """y(t_k) = exp(A (t_k - t_0)) y0 on the grid t, shape (len(t), n), and step statistics.

    The local error of every step (embedded estimate, RMS norm weighted by atol + rtol |y|) is
    below 1; t must be non-decreasing. ``first_step`` overrides the initial step-size guess.
    """
    t = np.asarray(t, dtype=float)
    if a.size < 3:  # SciPy's ?gttrf wrapper needs n >= 3: add uncoupled components that stay 0
        pad = 3 - a.size
        padded = Tridiagonal(*(np.concatenate([band, np.zeros(pad)]) for band in a))
        ys, stats = integrate_tridiagonal(padded, np.concatenate([y0, np.zeros(pad)]), t, rtol, atol,
                                          max_steps, first_step)
        return ys[:, : a.size], stats
    complex_bands = (-a.lower.astype(complex), -a.diagonal.astype(complex), -a.upper.astype(complex))
    # A generator has a kernel, so lambda/h - A is singular as h -> infinity: keep its condition
    # number below about 1e10, far above what accuracy asks for on any useful grid.
    h_max = 1e10 * RADAU.lam_real / max(float(np.abs(a.diagonal).max()), 1e-300)
    stats: dict[str, int] = {}
    states = radau_states(a.__matmul__, lambda h: ShiftedTridiagonal(a, h, complex_bands), y0, t, rtol, atol,
                          h_max, max_steps, first_step, stats)
    out = np.empty((t.size, a.size))
    for k, y in enumerate(states):
        out[k] = y
    return out, stats
