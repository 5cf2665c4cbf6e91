"""What a caller tells the solvers, without importing them: tolerances, integrator and propagation
(SolverOptions), their allowed names, and the error a failed integration raises. Light on purpose:
the command line and the config reader need these before any solver is loaded."""

from __future__ import annotations

from dataclasses import dataclass

__all__ = ["PROPAGATIONS", "STIFF_METHODS", "IntegrationError", "SolverOptions"]

#: Implicit integrators of scipy.integrate.solve_ivp that take a sparse Jacobian.
STIFF_METHODS: tuple[str, ...] = ("BDF", "Radau")

#: Time propagation of the permutation-symmetric solver: chosen by cost ('auto'), the Chebyshev
#: expansion (cost ~ ||L|| t), or Radau IIA with preconditioned GMRES (cost ~ slow dynamics).
PROPAGATIONS: tuple[str, ...] = ("auto", "chebyshev", "krylov", "implicit")


class IntegrationError(RuntimeError):
    """The time integration failed (too stiff for the step control, or diverged)."""


@dataclass(frozen=True)
class SolverOptions:
    """Tolerances of the time integration (relative and absolute, on the state vector), the
    integrator of SciPy's solve_ivp (full solver) and the symmetric solver's propagation."""

    rtol: float = 1e-8
    atol: float = 1e-11
    method: str = "BDF"
    propagation: str = "auto"

    def __post_init__(self) -> None:
        for name in ("rtol", "atol"):
            value = getattr(self, name)
            if isinstance(value, bool) or not (isinstance(value, int | float) and 0 < value < 1):
                raise ValueError(f"{name} must be in (0, 1), got {value!r}")
        if self.method not in STIFF_METHODS:
            raise ValueError(f"method must be one of {', '.join(STIFF_METHODS)}, got {self.method!r}")
        if self.propagation not in PROPAGATIONS:
            raise ValueError(f"propagation must be one of {', '.join(PROPAGATIONS)}, "
                             f"got {self.propagation!r}")
