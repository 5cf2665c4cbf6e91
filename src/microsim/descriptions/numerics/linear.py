"""Integration and kernel of a time-independent sparse linear system d y/dt = L y.

Shared by every solver: the Liouvillians here are stiff (bath rates exceed Gamma_e by about
N / kappa^2), so explicit small-step integration is the slow way. We use SciPy's variable-order BDF
with the exact sparse Jacobian L: each step solves (I - h c L) x = b with a sparse LU that BDF reuses
until the step size changes. Measured on the full tensor space at N = M = 2 (201 points over
4 tau_eff, rtol 1e-8, both runs on the same loaded 2-core machine): at kappa = 0.02 BDF takes 6.4 s
and QuTiP's default Adams integrator 35 s (and deviates by 2.6e-7 in energy); at kappa = 0.1, where
the problem is barely stiff, Adams takes 1.4 s against 7.0 s. The validity sweeps live at small
kappa, hence BDF. Radau (order 5) is the alternative for long, smooth runs.
"""

from __future__ import annotations

import numpy as np
import scipy.sparse as sp
import scipy.sparse.linalg as spla
from numpy.typing import NDArray
from scipy.integrate import solve_ivp
from threadpoolctl import threadpool_limits

from microsim.descriptions.options import PROPAGATIONS, STIFF_METHODS, IntegrationError, SolverOptions

__all__ = [
    "PROPAGATIONS",
    "STIFF_METHODS",
    "IntegrationError",
    "SolverOptions",
    "integrate",
    "kernel_vector",
    "single_threaded_blas",
]


def single_threaded_blas() -> threadpool_limits:
    """Context in which BLAS uses one thread.

    The solvers' dense work is many small blocks (bath blocks of 91-861 rows, Krylov updates,
    level-1 updates of the Chebyshev sum): on this 2-core machine OpenBLAS's second thread made
    it slower, not faster (N = 12, kappa = 0.1: the implicit curve 104 s with 2 threads against
    9.6 s with one; the Chebyshev curve at N = 6, 4.7 s against 2.4 s), and sweeps already run
    one process per core.
    """
    return threadpool_limits(limits=1, user_api="blas")


def integrate(
    generator: sp.spmatrix | sp.sparray,
    y0: NDArray,
    t: NDArray[np.float64],
    options: SolverOptions,
) -> NDArray:
    """y(t_k) = exp(L t_k) y0 on the grid t (t[0] = 0), returned as an array (len(t), len(y0))."""
    t = np.asarray(t, dtype=float)
    generator = sp.csc_matrix(generator)
    y0 = np.asarray(y0)
    if t.size == 1 or t[-1] == t[0]:
        return np.repeat(y0[None, :], t.size, axis=0)
    if np.iscomplexobj(y0) or np.iscomplexobj(generator.data):
        if options.method != "BDF":  # Radau in SciPy is real only: integrate [Re y, Im y]
            real = sp.bmat([[generator.real, -generator.imag], [generator.imag, generator.real]])
            ys = integrate(real, np.concatenate([y0.real, y0.imag]), t, options)
            return ys[:, : y0.size] + 1j * ys[:, y0.size :]
        y0 = y0.astype(complex)
    sol = solve_ivp(
        lambda _t, y: generator @ y,
        (t[0], t[-1]),
        y0,
        method=options.method,
        t_eval=t,
        jac=generator,
        rtol=options.rtol,
        atol=options.atol,
    )
    if not sol.success:
        raise IntegrationError(f"BDF integration failed: {sol.message}")
    return sol.y.T


def kernel_vector(generator: sp.spmatrix | sp.sparray, trace_row: NDArray) -> NDArray:
    """The state x with L x = 0 and trace_row . x = 1, by one direct sparse solve.

    The trace condition is added to the first equation (as QuTiP's direct method does); L must
    have a one-dimensional kernel in the space it acts on, which the callers ensure by restricting
    to the sector of the initial state.
    """
    lhs = sp.lil_matrix(generator, dtype=np.result_type(generator.dtype, trace_row.dtype))
    weight = float(np.abs(generator).max()) or 1.0
    lhs[0, :] = lhs[0, :].toarray() + weight * trace_row[None, :]
    rhs = np.zeros(generator.shape[0], dtype=lhs.dtype)
    rhs[0] = weight
    x = spla.spsolve(sp.csc_matrix(lhs), rhs)
    residual = np.abs(generator @ x).max()
    if not np.all(np.isfinite(x)) or residual > 1e-8 * weight:
        raise IntegrationError(f"steady-state solve is singular (residual {residual:.2e})")
    return x
