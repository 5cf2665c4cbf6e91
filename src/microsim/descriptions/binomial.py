"""The Dicke populations of a phase-averaged product of N identical batteries, kept as their
excitations and evaluated only when read (docs/physics.md §8).

The moment description's battery state at time t_k is p_m(t_k) = Binomial(N, n_k)(m) on the
levels m = 0..N. Held as the T numbers n_k, its observables are closed forms,

    E = w0 N n,    sigma = w0 sqrt(N n (1 - n)),    ergotropy = E - w0 (1 - max_m p_m),

the last the Dicke-diagonal ergotropy of model/observables.ergotropy_dicke with the maximum at
the binomial mode, so a trajectory costs O(T) memory whatever N is. Reading a row (``levels[k]``)
or the whole array (``np.asarray(levels)``) evaluates the pmf, O(N) per row.
"""

from __future__ import annotations

from typing import Any

import numpy as np
from numpy.typing import NDArray
from scipy.stats import binom

__all__ = ["BinomialLevels", "BinomialMixture", "LazyLevels", "binomial_row", "largest_binomial"]

FloatArray = NDArray[np.float64]


def binomial_row(n_batteries: int, excitation: float) -> FloatArray:
    """Binomial(N, n)(m) for m = 0..N, n clipped to [0, 1]."""
    n = float(np.clip(excitation, 0.0, 1.0))
    return binom.pmf(np.arange(n_batteries + 1), n_batteries, n)


def largest_binomial(n_batteries: int, excitation: FloatArray) -> FloatArray:
    """max_m Binomial(N, n)(m), element-wise in n: the pmf at the mode floor((N + 1) n) (or at
    the level below, which ties with it when (N + 1) n is an integer)."""
    n = np.clip(np.asarray(excitation, dtype=float), 0.0, 1.0)
    mode = np.clip(np.floor((n_batteries + 1) * n), 0, n_batteries)
    below = np.clip(mode - 1, 0, n_batteries)
    return np.maximum(binom.pmf(mode, n_batteries, n), binom.pmf(below, n_batteries, n))


class LazyLevels:
    """Dicke populations p_m(t_k), shape (T, N + 1), that are evaluated only when read: an
    integer index gives one row, any other index (and ``np.asarray``) the rows it needs.
    Subclasses hold ``n_batteries`` and ``excitation`` (first axis: time) and give ``rows``."""

    n_batteries: int
    excitation: FloatArray

    def rows(self, picked: NDArray[np.intp]) -> FloatArray:
        """The populations at the grid points ``picked`` (len(picked), N + 1)."""
        raise NotImplementedError

    @property
    def shape(self) -> tuple[int, int]:
        return (self.excitation.shape[0], self.n_batteries + 1)

    @property
    def ndim(self) -> int:
        return 2

    @property
    def dtype(self) -> np.dtype:
        return np.dtype(float)

    def __len__(self) -> int:
        return self.excitation.shape[0]

    def __getitem__(self, key: Any) -> FloatArray:
        rows, rest = (key[0], key[1:]) if isinstance(key, tuple) else (key, ())
        picked = np.arange(len(self))[rows]
        block = self.rows(np.atleast_1d(picked))
        if np.ndim(picked) == 0:
            block = block[0]
        return block[(..., *rest)] if rest else block

    def __array__(self, dtype: Any = None, copy: Any = None) -> FloatArray:
        out = self[:]
        return out if dtype is None else out.astype(dtype)

    def energy(self, w0: float) -> FloatArray:
        """<H_B> = w0 <m> at every grid point."""
        raise NotImplementedError

    def largest(self) -> FloatArray:
        """max_m p_m at every grid point."""
        raise NotImplementedError

    def ergotropy(self, w0: float) -> FloatArray:
        """E - w0 (1 - max_m p_m): Eq. 16 for a Dicke-diagonal state (the largest p_m fills the
        ground level, observables.ergotropy_dicke)."""
        return self.energy(w0) - w0 * (1.0 - self.largest())


class BinomialLevels(LazyLevels):
    """Dicke populations p_m(t_k) = Binomial(N, n_k)(m), shape (T, N + 1), stored as n_k.
    ``nbytes`` is what the object holds (8 T), not the size of the array it stands for."""

    def __init__(self, n_batteries: int, excitation: FloatArray) -> None:
        self.n_batteries = int(n_batteries)
        self.excitation = np.clip(np.asarray(excitation, dtype=float), 0.0, 1.0)
        if self.excitation.ndim != 1:
            raise ValueError("the excitations must be one number per grid point")

    @property
    def nbytes(self) -> int:
        return int(self.excitation.nbytes)

    def rows(self, picked: NDArray[np.intp]) -> FloatArray:
        return binom.pmf(np.arange(self.n_batteries + 1)[None, :], self.n_batteries,
                         self.excitation[picked][:, None])

    def energy(self, w0: float) -> FloatArray:
        """<H_B> = w0 N n (units of w0)."""
        return w0 * self.n_batteries * self.excitation

    def sigma(self, w0: float) -> FloatArray:
        """The binomial fluctuation w0 sqrt(N n (1 - n)) (Eq. 15's sigma of this state)."""
        return w0 * np.sqrt(self.n_batteries * self.excitation * (1.0 - self.excitation))

    def largest(self) -> FloatArray:
        """max_m p_m at every grid point, at the binomial mode."""
        return largest_binomial(self.n_batteries, self.excitation)


#: A binomial's mass beyond 12 sigma + 60 levels of its mean is below 1e-31 (Bernstein's
#: inequality), so a row of a mixture is summed on those windows only.
WINDOW_SIGMAS, WINDOW_LEVELS = 12.0, 60


class BinomialMixture(LazyLevels):
    """Dicke populations p_m(t_k) = sum_j w_j Binomial(N, n_kj)(m), shape (T, N + 1), stored as
    the excitations n (T, K) and the weights w (K, summing to 1): the delay description's battery
    state (descriptions/delay.py), a mixture of binomials over the quadrature of the delay.

    Rows are evaluated when read (O(K (sigma + 1)) work each, sigma = sqrt(N n (1 - n))), as in
    BinomialLevels; E and sigma are closed forms, the ergotropy needs each row's maximum.
    """

    def __init__(self, n_batteries: int, excitation: FloatArray, weights: FloatArray) -> None:
        self.n_batteries = int(n_batteries)
        self.excitation = np.clip(np.asarray(excitation, dtype=float), 0.0, 1.0)
        self.weights = np.asarray(weights, dtype=float)
        if self.excitation.ndim != 2 or self.excitation.shape[1] != self.weights.size:
            raise ValueError("the excitations must be (T, K) for K weights")

    @property
    def nbytes(self) -> int:
        return int(self.excitation.nbytes + self.weights.nbytes)

    def row(self, k: int) -> FloatArray:
        """p_m(t_k) for m = 0..N: each binomial on the levels within WINDOW_SIGMAS sigma +
        WINDOW_LEVELS of its mean (all N + 1 levels when that is fewer)."""
        n_b, n, w = self.n_batteries, self.excitation[k], self.weights
        half = int(np.ceil(WINDOW_SIGMAS * np.sqrt(n_b * n * (1.0 - n)).max() + WINDOW_LEVELS))
        if 2 * half + 1 >= n_b + 1:
            return w @ binom.pmf(np.arange(n_b + 1)[None, :], n_b, n[:, None])
        levels = np.rint(n_b * n).astype(int)[:, None] + np.arange(-half, half + 1)[None, :]
        inside = (levels >= 0) & (levels <= n_b)
        mass = w[:, None] * binom.pmf(levels, n_b, n[:, None])
        return np.bincount(levels[inside], mass[inside], minlength=n_b + 1)

    def rows(self, picked: NDArray[np.intp]) -> FloatArray:
        return np.array([self.row(int(k)) for k in picked])

    def energy(self, w0: float) -> FloatArray:
        """<H_B> = w0 N sum_j w_j n_j."""
        return w0 * self.n_batteries * (self.excitation @ self.weights)

    def sigma(self, w0: float) -> FloatArray:
        """sqrt(sum_j w_j [N n_j (1 - n_j) + N^2 (n_j - n_mean)^2]) w0: the binomial variances
        and the spread of the means, summed about the mean."""
        n_b, n = self.n_batteries, self.excitation
        mean = n @ self.weights
        var = (n_b * n * (1.0 - n) + n_b**2 * (n - mean[:, None]) ** 2) @ self.weights
        return w0 * np.sqrt(np.clip(var, 0.0, None))

    def largest(self) -> FloatArray:
        """max_m p_m at every grid point, row by row."""
        return np.array([self.row(k).max() for k in range(len(self))])
