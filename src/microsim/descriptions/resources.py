"""Memory estimates of the solvers, checked before anything large is built, and the cores a solve
may use."""

from __future__ import annotations

import os

from microsim.model.params import ModelParams

__all__ = [
    "ResourceError",
    "available_memory",
    "check_memory",
    "full_solver_bytes",
    "full_steady_state_bytes",
    "solver_threads",
]

#: Environment variable with the number of threads one solve may use (a sweep that runs its
#: points one per core sets it to 1 in its workers).
THREADS_VARIABLE = "MICROSIM_THREADS"


class ResourceError(MemoryError):
    """The problem does not fit into this machine's memory; the message names the alternative."""


def available_memory() -> int:
    """Bytes of memory available to a new computation (MemAvailable, else total physical memory)."""
    try:
        with open("/proc/meminfo") as fh:
            for line in fh:
                if line.startswith("MemAvailable:"):
                    return int(line.split()[1]) * 1024
    except OSError:
        pass
    return os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES")


def solver_threads() -> int:
    """Threads one solve may use: MICROSIM_THREADS if set (at least 1), else the cores this
    process may run on."""
    value = os.environ.get(THREADS_VARIABLE, "")
    if value.strip().isdigit():
        return max(int(value), 1)
    try:
        return max(len(os.sched_getaffinity(0)), 1)
    except AttributeError:  # not Linux
        return max(os.cpu_count() or 1, 1)


def full_solver_bytes(p: ModelParams, points: int = 401) -> int:
    """Peak memory of the full-tensor evolution: Liouvillian, its sparse LU and the stored states.

    The Liouvillian of d^2 unknowns (d = 3^M 2^N) has about (0.8 + 0.7 s/2 + 0.6 (s/2)^2) d^2
    nonzeros, s = M + N (measured 2.1, 4.6, 8.3 per row at N = M = 1, 2, 3), and the sparse LU
    of (I - h L) fills in by 1.5, 3.0, 20.5 at s = 2, 4, 6 (SuperLU, COLAMD; measured), which we
    extrapolate as 1.5 * 3.7^((s - 2)/2). Complex entries with their indices take 20 bytes; the
    integrator returns all ``points`` states (16 bytes per entry each).
    """
    return _liouvillian_bytes(3**p.n_engines * 2**p.n_batteries, p, points)


def full_steady_state_bytes(p: ModelParams) -> int:
    """Peak memory of the steady-state solve on engines (x) Dicke space, d = 3^M (N + 1)."""
    return _liouvillian_bytes(3**p.n_engines * (p.n_batteries + 1), p, 1)


def _liouvillian_bytes(d: int, p: ModelParams, points: int) -> int:
    half = (p.n_engines + p.n_batteries) / 2.0
    nnz = (0.8 + 0.7 * half + 0.6 * half**2) * d * d
    fill = 1.5 * 3.7 ** (half - 1.0)
    return int(nnz * 20 * (1 + fill) + (points + 4) * d * d * 16)


def check_memory(method: str, needed: int, p: ModelParams) -> None:
    """Raise ResourceError if ``needed`` bytes exceed 80 % of the available memory."""
    limit = int(0.8 * available_memory())
    if needed > limit:
        raise ResourceError(
            f"the {method} solver needs about {needed / 2**30:.1f} GiB for N = {p.n_batteries}, "
            f"M = {p.n_engines}, more than the {limit / 2**30:.1f} GiB available; use the "
            "symmetric solver (collective protocol), the effective one (Eq. 8) or fewer batteries"
        )
