"""Memory estimates of the solvers, checked before anything large is built."""

from __future__ import annotations

import os

from microsim.params import ModelParams

__all__ = ["ResourceError", "available_memory", "check_memory", "full_solver_bytes"]


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


def full_solver_bytes(p: ModelParams) -> int:
    """Peak memory of the full-tensor solver: Liouvillian, its sparse LU and the stored states.

    The Liouvillian has d^2 rows, d = 3^M 2^N, with about 2 (1 + 2 M N) + 6 M + 4 nonzeros per row
    (commutator with H, the four engine jumps each in a rho a^dag and the anticommutator); the
    LU of (I - h L) fills in by a factor FILL measured at N = M = 3, and BDF holds two LUs.
    """
    d = 3**p.n_engines * 2**p.n_batteries
    rows = d * d
    nnz = rows * (2 * (1 + 2 * p.n_engines * p.n_batteries) + 6 * p.n_engines + 4)
    return int(nnz * 16 * (1 + 2 * FILL) + rows * 16 * 20)


#: Fill-in of the sparse LU over the Liouvillian, measured (see bench/).
FILL = 10.0


def check_memory(method: str, needed: int, p: ModelParams) -> None:
    """Raise ResourceError if ``needed`` bytes exceed 80 % of the available memory."""
    limit = int(0.8 * available_memory())
    if needed > limit:
        raise ResourceError(
            f"the {method} solver needs about {needed / 2**30:.1f} GiB for N = {p.n_batteries}, "
            f"M = {p.n_engines}, more than the {limit / 2**30:.1f} GiB available; use the effective "
            "solver (Eq. 8) or fewer batteries"
        )
