"""One engine's baths (Eq. 1-2): its population jumps, their generator and its relaxation rates.

The hot bath couples |0> and |2>, the cold bath |1> and |2>. For the level populations
P = (P_0, P_1, P_2) the Lindblad dissipator of Eq. 1 is the rate equation dP/dt = A P with

    0 -> 2 at Gamma_h e^{-beta_h w_h},   2 -> 0 at Gamma_h,
    1 -> 2 at Gamma_c e^{-beta_c w_c},   2 -> 1 at Gamma_c,

and the coherence |0><1| decays at gamma_01 = (Gamma_h e^{-beta_h w_h} + Gamma_c e^{-beta_c w_c}) / 2
(ModelParams.gamma_01). Every description that keeps an engine explicit (the exact symmetric
solver, the corrected and the large-N descriptions) builds its bath part from these functions.
Rates in the unit of w0.
"""

from __future__ import annotations

import numpy as np
from numpy.typing import NDArray

from microsim.model.params import ModelParams

__all__ = ["LEVELS", "cycle_rate", "depletion_response", "jumps", "population_generator", "relaxation_rates"]

#: Engine levels |0>, |1>, |2> as indices of P.
LEVELS: tuple[int, int, int] = (0, 1, 2)


def jumps(p: ModelParams) -> tuple[tuple[int, int, float], ...]:
    """(from, to, rate) of the four population jumps of Eq. 1, in the order 0->2, 2->0, 1->2, 2->1."""
    return (
        (0, 2, p.gamma_h * p.boltz_h), (2, 0, p.gamma_h),
        (1, 2, p.gamma_c * p.boltz_c), (2, 1, p.gamma_c),
    )


def population_generator(p: ModelParams) -> NDArray[np.float64]:
    """The 3 x 3 rate matrix A of dP/dt = A P (columns: from, rows: to); its kernel is Eq. 3."""
    gh, gc, bh, bc = p.gamma_h, p.gamma_c, p.boltz_h, p.boltz_c
    return np.array([[-gh * bh, 0.0, gh],
                     [0.0, -gc * bc, gc],
                     [gh * bh, gc * bc, -(gh + gc)]])


def relaxation_rates(p: ModelParams) -> NDArray[np.float64]:
    """The two nonzero relaxation rates mu_1 <= mu_2 of the populations (minus the eigenvalues
    of A other than 0), sorted."""
    rates = np.sort(-np.linalg.eigvals(population_generator(p)).real)
    return rates[1:]


def depletion_response(p: ModelParams) -> NDArray[np.float64]:
    """Z_ab = int_0^inf [P(a, t | b) - p_a] dt for a, b in {0, 1}: minus the group inverse of A
    (docs/physics.md §3, "Which rates bound the error of Eq. 8").

    How long, and by how much, an engine put into |b> stays away from Eq. 3 in level a. The
    chain 0 - 2 - 1 gives, with the uphill rates u_h = Gamma_h e^{-beta_h w_h} (0 -> 2) and
    u_c = Gamma_c e^{-beta_c w_c} (1 -> 2) and p = Eq. 3,

        Z_00 = (1 - p0)^2/u_h + p0 p1/u_c,          Z_11 = p0 p1/u_h + (1 - p1)^2/u_c,
        Z_01 = -p0 (1 - p0)/u_h - p0 (1 - p1)/u_c,   Z_10 = -p1 (1 - p0)/u_h - p1 (1 - p1)/u_c:

    set by the uphill rates, in units of time (the downhill rates enter only through p).
    """
    p0, p1, _ = p.engine_steady_populations
    uh, uc = p.gamma_h * p.boltz_h, p.gamma_c * p.boltz_c
    return np.array([[(1 - p0) ** 2 / uh + p0 * p1 / uc, -p0 * (1 - p0) / uh - p0 * (1 - p1) / uc],
                     [-p1 * (1 - p0) / uh - p1 * (1 - p1) / uc, p0 * p1 / uh + (1 - p1) ** 2 / uc]])


def cycle_rate(p: ModelParams) -> float:
    """r_cyc = 1/T: T is the mean time an engine left in |0> (it gave its quantum) takes to be
    back in |1> through its baths, |0> -> |2> at Gamma_h e^{-beta_h w_h}, then |2> -> |1> at
    Gamma_c or back to |0> at Gamma_h: T = (1 + Gamma_h/Gamma_c)/(Gamma_h e^{-beta_h w_h}) +
    1/Gamma_c. No engine delivers more than r_cyc quanta per unit time, so the charging power of M
    engines is at most M w0 r_cyc (the bath-limited throughput)."""
    return 1.0 / ((1 + p.gamma_h / p.gamma_c) / (p.gamma_h * p.boltz_h) + 1.0 / p.gamma_c)
