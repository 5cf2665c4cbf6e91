"""Hamiltonians, jump operators and initial states of Eq. 1, 5, 6 and 8 as QuTiP objects.

The battery register is represented either in the full tensor space (2^N) or in its symmetric
(Dicke) subspace J = N/2 with basis |m>, m = 0..N excitations; every battery operator of the model
is collective, so the second is exact for the collective protocol started in |0...0>.
Engines come first in every tensor product, then the batteries.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Literal

import numpy as np
import qutip
from numpy.typing import NDArray

from microsim.model.params import ModelParams

__all__ = [
    "BatterySpace",
    "MicroscopicModel",
    "battery_operators",
    "dicke_lowering",
    "effective_collapse_operators",
    "engine_collapse_operators",
    "engine_hamiltonian",
    "excitation_numbers",
    "microscopic_model",
    "transition",
]

BatterySpace = Literal["full", "dicke"]


def transition(a: int, b: int, dim: int = 3) -> qutip.Qobj:
    """The matrix unit |a><b| of a dim-level system."""
    return qutip.basis(dim, a) * qutip.basis(dim, b).dag()


def engine_hamiltonian(p: ModelParams) -> qutip.Qobj:
    """H_E = w_h |2><2| + w_0 |1><1| of one engine (Eq. 1)."""
    return p.wh * transition(2, 2) + p.w0 * transition(1, 1)


def engine_collapse_operators(p: ModelParams) -> list[qutip.Qobj]:
    """Jump operators of one engine's hot and cold baths (Eq. 1).

    sqrt(Gamma_h) |0><2|, sqrt(Gamma_h e^{-beta_h w_h}) |2><0|,
    sqrt(Gamma_c) |1><2|, sqrt(Gamma_c e^{-beta_c w_c}) |2><1|.
    """
    return [
        math.sqrt(p.gamma_h) * transition(0, 2),
        math.sqrt(p.gamma_h * p.boltz_h) * transition(2, 0),
        math.sqrt(p.gamma_c) * transition(1, 2),
        math.sqrt(p.gamma_c * p.boltz_c) * transition(2, 1),
    ]


def excitation_numbers(n: int) -> NDArray[np.int64]:
    """Number of excited batteries in each basis state of the 2^N register (qutip ordering)."""
    idx = np.arange(2**n)
    return np.array([bin(i).count("1") for i in idx], dtype=np.int64)


def dicke_lowering(n: int) -> qutip.Qobj:
    """Collective S^- in the Dicke basis |m>: S^-|m> = sqrt(m (N - m + 1)) |m - 1> (Eq. 9-12)."""
    m = np.arange(1, n + 1)
    return qutip.Qobj(np.diag(np.sqrt(m * (n - m + 1.0)), k=1))


def battery_operators(n: int, space: BatterySpace) -> tuple[qutip.Qobj, qutip.Qobj]:
    """Collective S^- and excitation number sum_k |1><1|_k of N batteries in the chosen space."""
    if space == "dicke":
        return dicke_lowering(n), qutip.num(n + 1)
    ident = [qutip.qeye(2)] * n
    s_minus = 0
    number = 0
    for k in range(n):
        ops = list(ident)
        ops[k] = transition(0, 1, 2)
        s_minus = s_minus + qutip.tensor(ops)
        ops[k] = transition(1, 1, 2)
        number = number + qutip.tensor(ops)
    return s_minus, number


def effective_collapse_operators(p: ModelParams, space: BatterySpace) -> list[qutip.Qobj]:
    """Jump operators of Eq. 8: sqrt(Gamma_e) S^- and sqrt(Gamma_e e^{-beta_e w0}) S^+.

    Gamma_e and beta_e include the battery environment (ModelParams.gamma_e, .beta_e_w0).
    """
    s_minus, _ = battery_operators(p.n_batteries, space)
    return [
        math.sqrt(p.gamma_e) * s_minus,
        math.sqrt(p.gamma_e * math.exp(-p.beta_e_w0)) * s_minus.dag(),
    ]


@dataclass(frozen=True)
class MicroscopicModel:
    """H, jump operators and initial state of the collective microscopic problem (Eq. 1, 5).

    ``free`` is H_E + H_B, ``coupling`` is V; ``battery_number`` and ``engine_projectors[j][a]``
    (|a><a| on engine j) are the operators the observables need.
    """

    hamiltonian: qutip.Qobj
    free: qutip.Qobj
    coupling: qutip.Qobj
    c_ops: list[qutip.Qobj]
    rho0: qutip.Qobj
    battery_number: qutip.Qobj
    engine_dims: list[int]
    battery_dims: list[int]


def _embed(op: qutip.Qobj, position: int, dims: list[int]) -> qutip.Qobj:
    return qutip.tensor([op if k == position else qutip.qeye(d) for k, d in enumerate(dims)])


def _individual_coupling(p: ModelParams, eye_e: qutip.Qobj) -> qutip.Qobj:
    """V of Eq. 6 on the full space: sum_j i g (|1><0|_{E_j} S_j^- - |0><1|_{E_j} S_j^+)."""
    n = p.n_batteries
    dims = [3] * n + [2] * n
    coupling = 0 * qutip.tensor(eye_e, qutip.qeye([2] * n))
    for j in range(n):
        raise_e = _embed(transition(1, 0), j, dims)
        lower_b = _embed(transition(0, 1, 2), n + j, dims)
        coupling += 1j * p.g * (raise_e * lower_b - (raise_e * lower_b).dag())
    return coupling


def _environment_operators(p: ModelParams, eye_e: qutip.Qobj, s_minus: qutip.Qobj) -> list[qutip.Qobj]:
    """Jump operators of the battery environment Gamma (D[L] + e^{-beta w0} D[L^dag]).

    Collective protocol: L = S^-, one environment for the whole register. Individual protocol
    (Eq. 6): L = sigma_k^- for each battery k, its own environment, so that the N pairs stay
    independent copies (docs/physics.md §1).
    """
    if p.gamma_env == 0:
        return []
    if p.protocol == "collective":
        lowering = [qutip.tensor(eye_e, s_minus)]
    else:
        n = p.n_batteries
        lowering = [qutip.tensor(eye_e, _embed(transition(0, 1, 2), k, [2] * n)) for k in range(n)]
    down = math.sqrt(p.gamma_env)
    up = math.sqrt(p.gamma_env * math.exp(-p.beta_env * p.w0))
    return [op for lower in lowering for op in (down * lower, up * lower.dag())]


def microscopic_model(p: ModelParams, space: BatterySpace = "full") -> MicroscopicModel:
    """The microscopic problem of Eq. 1 + Eq. 5 (collective) or Eq. 6 (individual).

    Collective: V = sum_j i g_engine (|1><0|_{E_j} S^- - |0><1|_{E_j} S^+), g_engine = g/sqrt(N)
    or g, for M engines and N batteries, in the full or the Dicke battery space. Individual
    (full space only): engine j couples to battery j alone with strength g. The battery
    environment adds sqrt(Gamma) S^-, sqrt(Gamma e^{-beta w0}) S^+. Engines start in Eq. 3
    (``engine_init='steady'``) or in |0>, batteries in |0...0>.
    """
    if p.protocol == "individual" and space != "full":
        raise ValueError("the individual protocol (Eq. 6) has no Dicke representation")
    m_engines, n = p.n_engines, p.n_batteries
    s_minus, number = battery_operators(n, space)
    battery_dims = list(s_minus.dims[0])

    def engine_op(op: qutip.Qobj, j: int) -> qutip.Qobj:
        return _embed(op, j, [3] * m_engines) if m_engines > 1 else op

    eye_e = qutip.qeye([3] * m_engines) if m_engines > 1 else qutip.qeye(3)
    eye_b = qutip.qeye(battery_dims)
    free = p.w0 * qutip.tensor(eye_e, number)
    coupling = 0 * free
    c_ops: list[qutip.Qobj] = []
    for j in range(m_engines):
        free += qutip.tensor(engine_op(engine_hamiltonian(p), j), eye_b)
        raise_e = engine_op(transition(1, 0), j)
        if p.protocol == "collective":
            coupling += 1j * p.g_engine * (
                qutip.tensor(raise_e, s_minus) - qutip.tensor(raise_e.dag(), s_minus.dag())
            )
        c_ops += [qutip.tensor(engine_op(c, j), eye_b) for c in engine_collapse_operators(p)]
    if p.protocol == "individual":
        coupling = _individual_coupling(p, eye_e)
    c_ops += _environment_operators(p, eye_e, s_minus)
    if p.engine_init == "steady":
        engine_state = qutip.Qobj(np.diag(p.engine_steady_populations))
    else:
        engine_state = qutip.fock_dm(3, 0)
    rho_e = qutip.tensor([engine_state] * m_engines) if m_engines > 1 else engine_state
    rho_b = qutip.fock_dm(battery_dims, [0] * len(battery_dims))
    return MicroscopicModel(
        hamiltonian=free + coupling,
        free=free,
        coupling=coupling,
        c_ops=c_ops,
        rho0=qutip.tensor(rho_e, rho_b),
        battery_number=qutip.tensor(eye_e, number),
        engine_dims=[3] * m_engines,
        battery_dims=battery_dims,
    )
