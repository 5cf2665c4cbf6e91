"""The generator L of dx/dt = L x on the stored unknowns, the initial state and the readout of
the battery and engine populations (docs/physics.md §4; the rules are in descriptions/symmetric).
"""

from __future__ import annotations

import math

import numpy as np
import scipy.sparse as sp
from numpy.typing import NDArray
from scipy.special import gammaln

from microsim.descriptions.result import Trajectory
from microsim.descriptions.symmetric.space import (
    U00,
    U01,
    U10,
    U11,
    SymmetricSpace,
    dicke_amplitude,
    enumerate_configurations,
    symmetric_space,
)
from microsim.model.engine import jumps
from microsim.model.params import ModelParams

__all__ = ["bath_diagonal", "engine_battery_coherences", "engine_weights", "generator",
           "initial_state", "min_block_eigenvalue", "observables", "product_steady_state", "readout"]

FloatArray = NDArray[np.float64]
IntArray = NDArray[np.int64]


def bath_diagonal(p: ModelParams, counts: IntArray) -> FloatArray:
    """Loss rate of each configuration: every engine leaves its unit, coherences at gamma_01."""
    out = p.gamma_01 * (counts[:, U10] + counts[:, U01]).astype(float)
    for u, _, rate in jumps(p):
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
    counts, m = enumerate_configurations(p.n_engines, n, half=False)
    cols = space.index(counts, m)
    mb = m + counts[:, U10] - counts[:, U01]
    s_ket, s_bra = dicke_amplitude(n, m), dicke_amplitude(n, mb)
    s_ket_up, s_bra_up = dicke_amplitude(n, m + 1), dicke_amplitude(n, mb + 1)
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

    diag = bath_diagonal(p, counts)
    for u, v, rate in jumps(p):
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

def engine_weights(p: ModelParams, occupations: IntArray) -> FloatArray:
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
        x[first] = engine_weights(p, occ)
    else:
        x[first[occ[:, U00] == p.n_engines]] = 1.0
    return x

def observables(p: ModelParams, space: SymmetricSpace, x: FloatArray) -> tuple[FloatArray, FloatArray]:
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

def product_steady_state(p: ModelParams, space: SymmetricSpace) -> FloatArray:
    """Eq. 3 engines times the battery of Eq. 13 at the engines' beta_e (docs/physics.md §3).

    The exact steady state without battery environment (for g > 0); the starting point of GMRES.
    """
    diag = np.flatnonzero(space.populations)
    m = np.arange(p.n_batteries + 1)
    log_q = -p.beta_e_w0_engines * m
    q = np.exp(log_q - log_q.max())
    q /= q.sum()
    x = np.zeros(space.size)
    x[diag] = engine_weights(p, space.counts[diag, :3]) * q[space.m[diag]]
    return x

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

def min_block_eigenvalue(p: ModelParams, space: SymmetricSpace, x: FloatArray) -> float:
    """Smallest eigenvalue of the 2 x 2 blocks of rho_{E_1 B} (engine_battery_coherences)."""
    a, b, c = engine_battery_coherences(p, space, x)
    if a.size == 0:
        return math.inf
    return float((0.5 * (a + b) - np.sqrt(0.25 * (a - b) ** 2 + c * c)).min())


def readout(p: ModelParams, t: FloatArray, pops: FloatArray, engines: FloatArray,
            min_block: float = math.inf, growth: float = 0.0) -> Trajectory:
    """The Trajectory of Dicke populations pops[k, m] and engine populations engines[k, a], with
    the state checks: hermiticity holds by construction (one half of x is stored), and every
    polynomial in L keeps the trace; what a wrong step breaks is positivity: of the Dicke and
    engine populations, and of the one-engine-batteries blocks that carry the coherence |1><0|
    (``min_block``, min_block_eigenvalue)."""
    checks = {
        "trace_error": float(max(np.abs(pops.sum(axis=1) - 1).max(),
                                 np.abs(engines.sum(axis=1) - 1).max())),
        "hermiticity_error": 0.0,
        "min_eigenvalue": float(min(pops.min(), engines.min(), min_block)),
        "chebyshev_growth": float(growth),
    }
    return Trajectory.from_populations(t, pops, p.w0, engines, checks)
