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

__all__ = ["LEVELS", "jumps", "population_generator", "relaxation_rates"]

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
