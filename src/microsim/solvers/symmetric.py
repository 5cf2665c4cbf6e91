"""Exact permutation-symmetric solver of the collective microscopic problem (Eq. 1 + Eq. 5).

Basis (physics.md §4). rho is invariant under engine permutations, the batteries stay in the Dicke
space |m>, and only the engine units |0><0|, |1><1|, |2><2|, |1><0|, |0><1| occur. With counts
n = (n00, n11, n22, n10, n01), sum = M, let S_n be the sum of the tensor products of units with
these counts over all mult(n) = M!/(n00! n11! n22! n10! n01!) distinct engine assignments. Then

    rho = sum_{n, m} x(n, m) (S_n / mult(n)) (x) |m><m'|,   m' = m + n10 - n01  (Q_ket = Q_bra),

so x(n, m) is the weight of a configuration: for n10 = n01 = 0 it is the probability of the
engine occupation numbers (n00, n11, n22) with m battery excitations, and tr rho = sum x over them.
In this normalization a one-engine map u -> v of amplitude r, applied to every engine, sends
x(n) to x(n - e_u + e_v) with the coefficient r n_u (n_u engines can make the move):

    d x(n')/dt = sum_{u, v} r(u -> v) n_u x(n)  (n = n' + e_u - e_v)  + battery terms,

* baths (Eq. 1): 00 -> 22 at Gamma_h e^{-beta_h w_h}, 22 -> 00 at Gamma_h, 11 -> 22 at
  Gamma_c e^{-beta_c w_c}, 22 -> 11 at Gamma_c, the coherences 10, 01 decay at gamma_01;
* coupling (Eq. 5), -i[V, rho] with V = i g_e sum_j (|1><0|_j S^- - |0><1|_j S^+):
  + g_e (00 -> 10 or 01 -> 11) s(m) m -> m - 1,      - g_e (11 -> 01 or 10 -> 00) s(m+1) m -> m + 1,
  - g_e (11 -> 10 or 01 -> 00) s(m'+1) m' -> m' + 1, + g_e (00 -> 01 or 10 -> 11) s(m') m' -> m' - 1,
  s(m) = sqrt(m (N - m + 1)); all coefficients are real and H_E + H_B drops out (it commutes with V);
* battery environment Gamma (D[S^-] + e^{-beta w0} D[S^+]) on the Dicke part only.

Hermiticity, x(n00, n11, n22, n10, n01, m) = x(n00, n11, n22, n01, n10, m'), halves the unknowns:
only n10 >= n01 is stored. About C(M + 4, 4) (N + 1) / 2 real unknowns (9.2e4 at N = M = 20).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import scipy.sparse as sp
from numpy.typing import NDArray
from scipy.special import gammaln

from microsim.observables import dicke_energy, dicke_sigma, ergotropy_dicke
from microsim.params import ModelParams
from microsim.resources import check_memory
from microsim.solvers.linear import SolverOptions, integrate, kernel_vector
from microsim.solvers.result import SteadyState, Trajectory

__all__ = [
    "SymmetricSpace",
    "evolve",
    "generator",
    "initial_state",
    "steady_state",
    "symmetric_solver_bytes",
    "symmetric_space",
]

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
        return int(self.m.size)

    def key(self, counts: IntArray, m: IntArray) -> IntArray:
        """Sort key of (counts, m); monotone in the storage order."""
        big_m, n = self.n_engines + 1, self.n_batteries + 1
        c = counts[..., U10] + counts[..., U01]
        return (((c * big_m + counts[..., U10]) * n + m) * big_m + counts[..., U11]) * big_m + counts[
            ..., U22
        ]

    def index(self, counts: IntArray, m: IntArray) -> IntArray:
        """Storage index of (counts, m), mirrored to n10 >= n01 by hermiticity first."""
        counts, m = _canonical(counts, m)
        return np.searchsorted(self.keys, self.key(counts, m))


def _canonical(counts: IntArray, m: IntArray) -> tuple[IntArray, IntArray]:
    """Mirror (n10, n01, m) -> (n01, n10, m') where n10 < n01: x is real and rho hermitian."""
    flip = counts[:, U10] < counts[:, U01]
    if not flip.any():
        return counts, m
    counts = counts.copy()
    m = m.copy()
    m[flip] += counts[flip, U10] - counts[flip, U01]
    counts[flip, U10], counts[flip, U01] = counts[flip, U01], counts[flip, U10].copy()
    return counts, m


def _enumerate(n_engines: int, n_batteries: int, half: bool) -> tuple[IntArray, IntArray]:
    """All (counts, m) of the sector Q_ket = Q_bra, with n10 >= n01 only if ``half``."""
    big_m = n_engines
    n11, n22, a, b = np.indices((big_m + 1,) * 4).reshape(4, -1)
    keep = n11 + n22 + a + b <= big_m
    if half:
        keep &= a >= b
    n11, n22, a, b = n11[keep], n22[keep], a[keep], b[keep]
    d = a - b  # m' - m
    lo = np.maximum(0, -d)
    cnt = np.maximum(np.minimum(n_batteries, n_batteries - d) - lo + 1, 0)
    rep = np.repeat(np.arange(n11.size), cnt)
    m = np.arange(rep.size) - np.repeat(np.cumsum(cnt) - cnt, cnt) + lo[rep]
    counts = np.stack([big_m - n11 - n22 - a - b, n11, n22, a, b], axis=1)[rep]
    return counts.astype(np.int64), m.astype(np.int64)


def symmetric_space(n_engines: int, n_batteries: int) -> SymmetricSpace:
    """The stored unknowns of M engines and N batteries (n10 >= n01), sorted."""
    counts, m = _enumerate(n_engines, n_batteries, half=True)
    probe = SymmetricSpace(n_engines, n_batteries, counts[:0], m[:0], m[:0])
    keys = probe.key(counts, m)
    order = np.argsort(keys, kind="stable")
    return SymmetricSpace(n_engines, n_batteries, counts[order], m[order], keys[order])


def _unknowns(n_engines: int, n_batteries: int) -> int:
    """Number of stored unknowns without enumerating them."""
    total = 0
    for a in range(n_engines + 1):
        for b in range(min(a, n_engines - a) + 1):
            k = n_engines - a - b
            total += (k + 1) * (k + 2) // 2 * max(n_batteries + 1 - (a - b), 0)
    return total


def _dicke_amplitude(n_batteries: int, k: IntArray) -> FloatArray:
    """s(k) = sqrt(k (N - k + 1)), the amplitude of S^- |k> = s(k) |k - 1>; zero at k = 0, N + 1."""
    k = np.asarray(k, dtype=float)
    return np.sqrt(np.clip(k * (n_batteries - k + 1.0), 0.0, None))


def generator(p: ModelParams, space: SymmetricSpace | None = None) -> sp.csr_matrix:
    """Real sparse generator L of d x/dt = L x on the stored unknowns (module docstring).

    Built from all (counts, m), including n01 > n10, whose columns are those of their mirror
    images: a loop over the 4 bath moves, 8 coupling moves and 2 environment moves, each
    vectorized over every configuration at once.
    """
    if p.protocol != "collective":
        raise ValueError("the symmetric solver is for the collective protocol; use p.pair() for Eq. 6")
    n = p.n_batteries
    space = space or symmetric_space(p.n_engines, n)
    counts, m = _enumerate(p.n_engines, n, half=False)
    cols = space.index(counts, m)
    mb = m + counts[:, U10] - counts[:, U01]
    g = p.g_engine
    gh_up, gh_down = p.gamma_h * p.boltz_h, p.gamma_h
    gc_up, gc_down = p.gamma_c * p.boltz_c, p.gamma_c
    s_ket, s_bra = _dicke_amplitude(n, m), _dicke_amplitude(n, mb)
    s_ket_up, s_bra_up = _dicke_amplitude(n, m + 1), _dicke_amplitude(n, mb + 1)

    rows_all, cols_all, vals_all = [], [], []

    def add(new_counts: IntArray, new_m: IntArray, values: FloatArray) -> None:
        keep = (values != 0) & (new_counts[:, U10] >= new_counts[:, U01])
        rows_all.append(space.index(new_counts[keep], new_m[keep]))
        cols_all.append(cols[keep])
        vals_all.append(values[keep])

    def move(u: int, v: int) -> IntArray:
        new = counts.copy()
        new[:, u] -= 1
        new[:, v] += 1
        return new

    diag = -(gh_up * counts[:, U00] + gc_up * counts[:, U11] + (gh_down + gc_down) * counts[:, U22]
             + p.gamma_01 * (counts[:, U10] + counts[:, U01]))
    for u, v, rate in ((U00, U22, gh_up), (U22, U00, gh_down), (U11, U22, gc_up),
                       (U22, U11, gc_down)):
        add(move(u, v), m, rate * counts[:, u])
    # -i[V, rho]: ket moves with S^-|m> or S^+|m>, bra moves with <m'|S^- = s(m'+1)<m'+1| etc.
    for u, v, sign, ket_shift, amp in (
        (U00, U10, +1.0, -1, s_ket), (U01, U11, +1.0, -1, s_ket),
        (U11, U01, -1.0, +1, s_ket_up), (U10, U00, -1.0, +1, s_ket_up),
        (U11, U10, -1.0, 0, s_bra_up), (U01, U00, -1.0, 0, s_bra_up),
        (U00, U01, +1.0, 0, s_bra), (U10, U11, +1.0, 0, s_bra),
    ):
        add(move(u, v), m + ket_shift, sign * g * amp * counts[:, u])
    if p.gamma_env > 0:
        down, up = p.gamma_env, p.gamma_env * math.exp(-p.beta_env * p.w0)
        add(counts, m - 1, down * s_ket * s_bra)
        add(counts, m + 1, up * s_ket_up * s_bra_up)
        diag = diag - 0.5 * down * (s_ket**2 + s_bra**2) - 0.5 * up * (s_ket_up**2 + s_bra_up**2)
    add(counts, m, diag)
    size = space.size
    return sp.csr_matrix(
        (np.concatenate(vals_all), (np.concatenate(rows_all), np.concatenate(cols_all))),
        shape=(size, size),
    )


def initial_state(p: ModelParams, space: SymmetricSpace) -> FloatArray:
    """Weights x(n, m) at t = 0: engines in Eq. 3 (multinomial occupation numbers) or |0>, battery |0>."""
    x = np.zeros(space.size)
    first = (space.counts[:, U10] == 0) & (space.counts[:, U01] == 0) & (space.m == 0)
    big_m = p.n_engines
    occ = space.counts[first][:, :3]
    if p.engine_init == "steady":
        log_p = np.log(p.engine_steady_populations)
        log_w = gammaln(big_m + 1) - gammaln(occ + 1).sum(axis=1) + occ @ log_p
        x[first] = np.exp(log_w)
    else:
        x[np.flatnonzero(first)[occ[:, 0] == big_m]] = 1.0
    return x


def _observables(p: ModelParams, space: SymmetricSpace, x: FloatArray) -> tuple[FloatArray, FloatArray]:
    """Dicke populations (T, N+1) and mean engine level populations (T, 3) of states x (T, size).

    Only n10 = n01 = 0 has a trace: tr(S_n / mult(n)) = 1, and the mean over engines of the
    population of level a in S_n / mult(n) is n_aa / M.
    """
    diag = np.flatnonzero((space.counts[:, U10] == 0) & (space.counts[:, U01] == 0))
    n = p.n_batteries
    onehot = sp.csr_matrix(
        (np.ones(diag.size), (diag, space.m[diag])), shape=(space.size, n + 1)
    )
    pops = np.asarray(onehot.T @ x.T).T
    occ = space.counts[diag][:, :3] / p.n_engines
    engines = x[:, diag] @ occ
    return pops, engines


def _trajectory(p: ModelParams, t: FloatArray, x: FloatArray, space: SymmetricSpace) -> Trajectory:
    pops, engines = _observables(p, space, x)
    return Trajectory(
        t=t,
        battery_populations=pops,
        energy=dicke_energy(pops, p.w0),
        sigma=dicke_sigma(pops, p.w0),
        ergotropy=ergotropy_dicke(pops, p.n_batteries, p.w0),
        engine_populations=engines,
    )


def symmetric_solver_bytes(p: ModelParams) -> int:
    return 0


def evolve(p: ModelParams, t: FloatArray, options: SolverOptions | None = None) -> Trajectory:
    t = np.asarray(t, dtype=float)
    check_memory("symmetric", symmetric_solver_bytes(p), p)
    space = symmetric_space(p.n_engines, p.n_batteries)
    gen = generator(p, space)
    xs = integrate(gen, initial_state(p, space), t, options or SolverOptions())
    return _trajectory(p, t, xs, space)


def steady_state(p: ModelParams) -> SteadyState:
    check_memory("symmetric", symmetric_solver_bytes(p), p)
    space = symmetric_space(p.n_engines, p.n_batteries)
    gen = generator(p, space)
    trace_row = ((space.counts[:, U10] == 0) & (space.counts[:, U01] == 0)).astype(float)
    x = kernel_vector(gen, trace_row)
    traj = _trajectory(p, np.zeros(1), x[None, :], space)
    return SteadyState(
        battery_populations=traj.battery_populations[0],
        energy=float(traj.energy[0]),
        sigma=float(traj.sigma[0]),
        ergotropy=float(traj.ergotropy[0]),
        engine_populations=traj.engine_populations[0],
    )
