"""A gate for the fault tests: points that wait, inside the worker, until the test has acted.

The fault tests kill a worker or interrupt a sweep while a point is being computed. Timing alone
cannot guarantee that (a point takes a fraction of a second), so the per-point compute function
``microsim.analysis.comparison.compare`` (and its alias in ``microsim.sweeps.execute``) is wrapped
in every process that computes points: a held point writes ``started-<pid>-<kappa>`` into the
gate directory and blocks until the test creates ``release`` there. The wrapper then calls the
real ``compare``, so the numbers are those of an ungated run.

Worker processes get the wrapper in one of two ways:

* loky workers of a ``microsim sweep`` subprocess: :func:`gated_environment` writes a
  ``sitecustomize.py`` that installs the gate at interpreter start-up in the subprocess and in
  every process it spawns (they inherit the environment);
* Dask workers: ``client.run(install, directory)``; workers restarted by their nanny start
  without it.
"""

from __future__ import annotations

import math
import os
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

__all__ = [
    "GATE_ENV",
    "gated_environment",
    "install",
    "release",
    "started",
    "uninstall",
    "wait_until",
]

#: Environment variables read by the generated sitecustomize.
GATE_ENV = "MICROSIM_TEST_GATE"
HOLD_ENV = "MICROSIM_TEST_GATE_HOLD"

#: How long a held point waits for ``release`` before it fails (so a broken test cannot hang).
TIMEOUT = 120.0

_SITECUSTOMIZE = '''"""Installs the fault tests' gate (tests/gates.py) when MICROSIM_TEST_GATE is set."""
import os

if os.environ.get("MICROSIM_TEST_GATE"):
    import gates

    above, below = os.environ.get("MICROSIM_TEST_GATE_HOLD", "0 inf").split()
    gates.install(os.environ["MICROSIM_TEST_GATE"], float(above), float(below))
'''


def install(directory: str | os.PathLike[str], hold_above: float = 0.0,
            hold_below: float = math.inf) -> None:
    """Hold, in this process, every point with hold_above < kappa < hold_below until release.

    A sequential sweep runs the config's order (kappa rising: let the smallest through with
    hold_above); a parallel one starts the larger kappa first at equal N (sweep.longest_first:
    let the largest through with hold_below)."""
    from microsim.analysis import comparison
    from microsim.sweeps import execute as sweep

    gate = Path(directory)
    real = getattr(comparison.compare, "_ungated", comparison.compare)

    def gated(p: Any, *args: Any, **kw: Any) -> Any:
        if hold_above < p.kappa < hold_below and not (gate / "release").exists():
            (gate / f"started-{os.getpid()}-{p.kappa:.6g}").touch()
            deadline = time.monotonic() + TIMEOUT
            while not (gate / "release").exists():
                if time.monotonic() > deadline:
                    raise TimeoutError(f"gate {gate} was never released")
                time.sleep(0.02)
        return real(p, *args, **kw)

    gated._ungated = real  # type: ignore[attr-defined]
    comparison.compare = gated
    sweep.compare = gated  # run_point calls it directly when the config fixes t_end


def uninstall() -> None:
    """Restore the real compare in this process (a no-op where no gate is installed)."""
    from microsim.analysis import comparison
    from microsim.sweeps import execute as sweep

    real = getattr(comparison.compare, "_ungated", comparison.compare)
    comparison.compare = real
    sweep.compare = real


def gated_environment(directory: Path, hold_above: float = 0.0,
                      hold_below: float = math.inf) -> dict[str, str]:
    """Environment for a ``microsim`` subprocess whose processes all install the gate."""
    site = directory / "site"
    site.mkdir(parents=True, exist_ok=True)
    (site / "sitecustomize.py").write_text(_SITECUSTOMIZE)
    tests = str(Path(__file__).resolve().parent)
    path = os.pathsep.join(p for p in (str(site), tests, os.environ.get("PYTHONPATH", "")) if p)
    return {**os.environ, "PYTHONPATH": path, GATE_ENV: str(directory),
            HOLD_ENV: f"{hold_above!r} {hold_below!r}"}


def started(directory: Path) -> list[tuple[int, float]]:
    """(pid, kappa) of the held points that have started, in the order of their files' names."""
    out = []
    for entry in sorted(directory.glob("started-*")):
        _, pid, kappa = entry.name.split("-", 2)
        out.append((int(pid), float(kappa)))
    return out


def wait_until(predicate: Callable[[], bool], alive: Callable[[], bool],
               timeout: float = TIMEOUT) -> bool:
    """Poll ``predicate`` until it holds, ``alive`` turns false or ``timeout`` seconds pass."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline and alive():
        if predicate():
            return True
        time.sleep(0.02)
    return predicate()


def release(directory: Path) -> None:
    """Let every held point (and every later one) through."""
    (directory / "release").touch()
