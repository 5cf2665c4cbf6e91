"""The stored unknowns of the exact symmetric solver: configurations of engine units with a
battery Dicke level (docs/physics.md §4, the basis of descriptions/symmetric).

With counts n = (n00, n11, n22, n10, n01) of the engine units |0><0|, |1><1|, |2><2|, |1><0|,
|0><1| (sum M) and the ket's battery excitations m, the bra has m' = m + n10 - n01 (Q_ket =
Q_bra); x is real and rho hermitian, so only n10 >= n01 is stored.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from numpy.typing import NDArray

__all__ = ["U00", "U01", "U10", "U11", "U22", "SymmetricSpace", "dicke_amplitude",
           "enumerate_configurations", "symmetric_space", "unknowns"]

FloatArray = NDArray[np.float64]
IntArray = NDArray[np.int64]

#: Column of each engine unit in the count arrays: |0><0|, |1><1|, |2><2|, |1><0|, |0><1|.
U00, U11, U22, U10, U01 = range(5)


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


def enumerate_configurations(n_engines: int, n_batteries: int, half: bool) -> tuple[IntArray, IntArray]:
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
    counts, m = enumerate_configurations(n_engines, n_batteries, half=True)
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


def dicke_amplitude(n_batteries: int, k: IntArray) -> FloatArray:
    """s(k) = sqrt(k (N - k + 1)), the amplitude of S^- |k> = s(k) |k - 1>; zero at k = 0, N + 1."""
    k = np.asarray(k, dtype=float)
    return np.sqrt(np.clip(k * (n_batteries - k + 1.0), 0.0, None))
