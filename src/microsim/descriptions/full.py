"""Microscopic solver on the full tensor space engines (x) batteries, dimension 3^M 2^N (Eq. 1, 5).

This is the brute-force reference: QuTiP builds H = H_E + H_B + V and the Lindblad dissipators of
Eq. 1 literally, and the Liouvillian (dimension 36^N for M = N) is integrated with an implicit
method (see descriptions.numerics.linear). The steady state is solved directly in the sector of the initial
state: in the full 2^N battery space the kernel is degenerate for N >= 2 (every battery
J-sector keeps its own steady state, docs/physics.md §3), so it is solved with the batteries restricted
to their symmetric (Dicke) subspace, which holds the initial state |0...0> and is invariant under
every collective operator.
"""

from __future__ import annotations

import math
from collections.abc import Iterator
from typing import TYPE_CHECKING

import numpy as np
from numpy.typing import NDArray

from microsim.descriptions.numerics.linear import integrate, kernel_vector
from microsim.descriptions.options import SolverOptions
from microsim.descriptions.protocol import Description, Watch, follow
from microsim.descriptions.resources import check_memory, full_solver_bytes, full_steady_state_bytes
from microsim.descriptions.result import Propagator, SteadyState, Trajectory

if TYPE_CHECKING:
    from microsim.model.operators import MicroscopicModel
from microsim.model.observables import passive_energy, shannon
from microsim.model.params import ModelParams

__all__ = [
    "DESCRIPTION",
    "dicke_vectors",
    "evolve",
    "evolve_states",
    "liouvillian",
    "propagator",
    "state_checks",
    "steady_state",
    "trajectory",
]

FloatArray = NDArray[np.float64]


def liouvillian(model: MicroscopicModel):  # -> scipy.sparse.csr_matrix
    """Column-stacked Liouvillian superoperator of the model as a SciPy CSR matrix."""
    import qutip  # QuTiP's import takes seconds: only where the full space is solved

    return qutip.liouvillian(model.hamiltonian, model.c_ops).data_as("csr_matrix")


def dicke_vectors(n: int) -> FloatArray:
    """Columns |N/2, m - N/2> (m = 0..N) of the symmetric subspace in the 2^N product basis."""
    from microsim.model.operators import excitation_numbers

    exc = excitation_numbers(n)
    vecs = np.zeros((2**n, n + 1))
    vecs[np.arange(2**n), exc] = 1.0
    return vecs / np.sqrt(vecs.sum(axis=0))


def propagator(p: ModelParams, options: SolverOptions | None = None) -> Propagator:
    """The full tensor space as a Propagator: the state is rho stacked by columns (d^2 entries)."""
    return _propagator(p, options)[0]


def _propagator(p: ModelParams, options: SolverOptions | None) -> tuple[Propagator, MicroscopicModel]:
    from microsim.model.operators import microscopic_model

    options = options or SolverOptions()
    model = microscopic_model(p, "full")
    gen = liouvillian(model)
    dim = model.rho0.shape[0]
    dicke = dicke_vectors(p.n_batteries)

    def advance(x0: NDArray, t: FloatArray) -> Iterator[NDArray]:
        t = np.asarray(t, dtype=float)
        yield from integrate(gen, x0, t - t[0], options)

    def populations(x: NDArray) -> FloatArray:
        rho_b, _ = _battery_and_engine(x.reshape(1, dim, dim).transpose(0, 2, 1), model)
        return np.einsum("im,ij,jm->m", dicke, rho_b[0], dicke).real

    return Propagator(initial=model.rho0.full().ravel(order="F"), advance=advance,
                      populations=populations), model


def evolve_states(
    p: ModelParams, t: FloatArray, options: SolverOptions | None = None
) -> tuple[NDArray[np.complex128], MicroscopicModel]:
    """Full density matrices rho(t_k), shape (len(t), d, d), d = 3^M 2^N, and the model."""
    check_memory("full", full_solver_bytes(p, len(t)), p)
    prop, model = _propagator(p, options)
    ys = np.array(list(prop.advance(prop.initial, np.asarray(t, float))))
    dim = math.isqrt(prop.initial.size)
    return ys.reshape(len(t), dim, dim).transpose(0, 2, 1), model


def _battery_and_engine(rho: NDArray, model: MicroscopicModel) -> tuple[NDArray, NDArray]:
    """Reduced battery states (T, 2^N, 2^N) and engine level populations averaged over engines."""
    d_e = int(np.prod(model.engine_dims))
    d_b = int(np.prod(model.battery_dims))
    r = rho.reshape(rho.shape[0], d_e, d_b, d_e, d_b)
    rho_b = np.einsum("taiaj->tij", r)
    engine_diag = np.einsum("taiai->ta", r).real
    m_engines = len(model.engine_dims)
    marginals = engine_diag.reshape((rho.shape[0],) + (3,) * m_engines)
    engine_pops = np.mean(
        [marginals.sum(axis=tuple(1 + k for k in range(m_engines) if k != j))
         for j in range(m_engines)],
        axis=0,
    )
    return rho_b, engine_pops


def evolve(p: ModelParams, t: FloatArray, options: SolverOptions | None = None) -> Trajectory:
    """Battery observables of the collective microscopic model on the grid t.

    Energy and sigma from the diagonal of the reduced battery state, ergotropy from its full
    2^N spectrum, Dicke populations <m|rho_B|m> with the Dicke vectors of dicke_vectors().
    """
    return trajectory(p, np.asarray(t, float), options)[0]


def trajectory(p: ModelParams, t: FloatArray, options: SolverOptions | None = None,
               keep: NDArray[np.bool_] | None = None,
               watch: Watch | None = None,
               ) -> tuple[Trajectory, Propagator]:
    """evolve() on the points ``keep`` of t, calling ``watch(k, x_k, populations_k)`` at every t_k."""
    check_memory("full", full_solver_bytes(p, len(t)), p)
    prop, model = _propagator(p, options)
    kept = [x for x, _ in follow(prop.advance(prop.initial, t), keep, watch, prop.populations)]
    dim = math.isqrt(prop.initial.size)
    rho = np.array(kept).reshape(len(kept), dim, dim).transpose(0, 2, 1)
    return _observables(p, t if keep is None else t[keep], rho, model), prop


def _observables(p: ModelParams, t: FloatArray, rho: NDArray, model: MicroscopicModel) -> Trajectory:
    """Battery and engine observables and state checks of full density matrices rho[k]."""
    from microsim.model.operators import excitation_numbers

    spectra = np.array([np.linalg.eigvalsh(0.5 * (r + r.conj().T)) for r in rho])
    checks = state_checks(rho, spectra)
    rho_b, engine_pops = _battery_and_engine(rho, model)
    n = p.n_batteries
    exc = excitation_numbers(n).astype(float)
    diag = np.einsum("tii->ti", rho_b).real
    energy = p.w0 * diag @ exc
    var = diag @ exc**2 - (diag @ exc) ** 2
    dicke = dicke_vectors(n)
    pops = np.einsum("im,tij,jm->tm", dicke, rho_b, dicke).real
    ergotropy = np.array(
        [e - passive_energy(np.linalg.eigvalsh(r), n, p.w0) for e, r in zip(energy, rho_b, strict=True)]
    )
    return Trajectory(
        t=t,
        battery_populations=pops,
        energy=energy,
        sigma=p.w0 * np.sqrt(np.clip(var, 0.0, None)),
        ergotropy=ergotropy,
        engine_populations=engine_pops,
        checks=checks,
        entropy=shannon(spectra),
    )


def state_checks(rho: NDArray[np.complex128], spectra: FloatArray) -> dict[str, float]:
    """Trace, hermiticity and positivity of density matrices rho[k] with eigenvalues spectra[k]
    (the run's worst values)."""
    return {
        "trace_error": float(np.abs(np.trace(rho, axis1=1, axis2=2) - 1.0).max()),
        "hermiticity_error": float(np.abs(rho - rho.conj().transpose(0, 2, 1)).max()),
        "min_eigenvalue": float(spectra.min()),
    }


def steady_state(p: ModelParams) -> SteadyState:
    """The steady state in the sector of the initial state (engines (x) Dicke subspace).

    Solved as the kernel of the restricted Liouvillian with the trace condition (one sparse
    direct solve); its kernel is one-dimensional, unlike that of the full 2^N battery space.
    """
    from microsim.model.operators import microscopic_model

    check_memory("full", full_steady_state_bytes(p), p)
    model = microscopic_model(p, "dicke")
    dim = model.rho0.shape[0]
    trace_row = np.eye(dim).ravel(order="F")
    x = kernel_vector(liouvillian(model), trace_row)
    rho = x.reshape(dim, dim).T[None]
    rho_b, engine_pops = _battery_and_engine(rho, model)
    n = p.n_batteries
    pops = np.diag(rho_b[0]).real
    m = np.arange(n + 1)
    energy = float(p.w0 * pops @ m)
    var = float(pops @ m**2 - (pops @ m) ** 2)
    eigs = np.linalg.eigvalsh(0.5 * (rho_b[0] + rho_b[0].conj().T))
    return SteadyState(
        battery_populations=pops,
        energy=energy,
        sigma=p.w0 * math.sqrt(max(var, 0.0)),
        ergotropy=energy - passive_energy(eigs, n, p.w0),
        engine_populations=engine_pops[0],
    )


def full_memory(p: ModelParams, points: int) -> int:
    """Peak memory of a trajectory or of the steady state, the larger (descriptions/resources.py)."""
    return max(full_solver_bytes(p, points), full_steady_state_bytes(p))


def _supports(p: ModelParams) -> str:
    return "" if p.protocol == "collective" else "solves the collective problem (the pair for Eq. 6)"


DESCRIPTION = Description(
    name="full", suffix="mic", label="microscopic", exact=True, required=True,
    summary="the microscopic model on the full tensor space, 3^M 2^N levels (QuTiP); N + M <= 6",
    trajectory=trajectory, steady_state=steady_state, memory=full_memory, supports=_supports,
)
