"""The steady state of the symmetric solver: the kernel of L with the trace condition, in the
sector of the initial state (unique there for g > 0, docs/physics.md §3)."""

from __future__ import annotations

import numpy as np
import scipy.sparse as sp
import scipy.sparse.linalg as spla

from microsim.descriptions.numerics.linear import kernel_vector, single_threaded_blas
from microsim.descriptions.options import IntegrationError
from microsim.descriptions.resources import check_memory
from microsim.descriptions.result import SteadyState
from microsim.descriptions.symmetric.bath import BathBlocks
from microsim.descriptions.symmetric.generator import (
    generator,
    initial_state,
    observables,
    product_steady_state,
)
from microsim.descriptions.symmetric.policy import (
    DIRECT_STEADY_MAX,
    GMRES_RESTART,
    symmetric_solver_bytes,
)
from microsim.descriptions.symmetric.space import SymmetricSpace, symmetric_space
from microsim.model.params import ModelParams

__all__ = ["steady_state", "steady_vector"]

FloatArray = np.ndarray


def steady_vector(p: ModelParams, space: SymmetricSpace, gen: sp.csr_matrix,
                   method: str = "auto") -> FloatArray:
    """The kernel of L with tr rho = 1, by sparse LU ('direct') or preconditioned GMRES.

    Without a battery environment the product state x_ref is the exact kernel (Eq. 3 x Eq. 13)
    and is only checked. With one, GMRES solves L y = -L x_ref for the correction,
    right-preconditioned with (sigma - L_bath)^{-1}, sigma = gamma_01/10. Either way the result
    is accepted only if its residual max|L x| is below 1e-10 max|L|.
    """
    trace_row = space.populations.astype(float)
    if p.g_engine == 0 and p.gamma_env == 0:  # battery frozen: the kernel is degenerate
        return initial_state(p.replace(engine_init="steady"), space)
    if method == "direct" or (method == "auto" and space.size <= DIRECT_STEADY_MAX):
        return kernel_vector(gen, trace_row)
    weight = float(np.abs(gen.data).max())
    x_ref = product_steady_state(p, space)
    if p.gamma_env > 0:
        precond = BathBlocks.build(p, space).inverse(0.1 * p.gamma_01)
        op = spla.LinearOperator(gen.shape, matvec=lambda v: gen @ precond(v), dtype=float)
        z, _ = spla.gmres(op, -(gen @ x_ref), rtol=1e-12, atol=1e-14 * weight,
                             restart=min(GMRES_RESTART, space.size), maxiter=20)
        x_ref = x_ref + precond(z)
    x = x_ref / (trace_row @ x_ref)
    residual = float(np.abs(gen @ x).max())
    if not np.all(np.isfinite(x)) or residual > 1e-10 * weight:
        raise IntegrationError(f"steady-state GMRES did not converge (residual {residual:.2e})")
    return x


def steady_state(p: ModelParams) -> SteadyState:
    """The steady state reached from the initial state: the kernel of L with the trace condition.

    Unique in this sector for g > 0 (the batteries stay symmetric, docs/physics.md §3), solved
    directly, not read off a late time.
    """
    check_memory("symmetric", symmetric_solver_bytes(p), p)
    space = symmetric_space(p.n_engines, p.n_batteries)
    gen = generator(p, space)
    with single_threaded_blas():
        x = steady_vector(p, space, gen)
    pops, engines = observables(p, space, x[None, :])
    return SteadyState.from_populations(pops[0], p.w0, engines[0])
