"""Reference systems shared by the tests (written out once, reused everywhere)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import h5py
import numpy as np
import pytest

from microsim.analysis import comparison
from microsim.descriptions import resolve_method
from microsim.model.params import ModelParams
from microsim.sweeps.storage import read_summary

#: The paper's effective point (Fig. 4-5): beta_e w0 = -0.8, Gamma_e / w0 = 0.1.
PAPER_X = -0.8
PAPER_GAMMA_E = 0.1


def paper_point(n: int, kappa: float = 0.2, **kw) -> ModelParams:
    """The microscopic point whose effective description is the paper's, at a given kappa."""
    return ModelParams.from_effective(PAPER_X, PAPER_GAMMA_E, kappa, n, **kw)


#: The descriptions beyond Eq. 8 built for large N (docs/physics.md §8). At the N <= 6 of most
#: tests the cumulant one costs 1-3 s a point, more than the exact solver, so in-process
#: comparisons that do not name their descriptions run them only in the modules about them.
#: Sweeps in worker processes (loky, the CLI's subprocesses, the CI regression sweep of
#: ``ci_sweep`` below) always run every description.
LARGE_N_DESCRIPTIONS = ("cumulant", "moments", "delay")
ALL_DESCRIPTIONS_MODULES = ("test_cumulant", "test_large_n", "test_registry", "test_simulation")


@pytest.fixture(scope="module", autouse=True)
def _large_n_descriptions_where_tested(request: pytest.FixtureRequest) -> Iterator[None]:
    """In-process comparisons default to Eq. 8 and the corrected description outside
    ALL_DESCRIPTIONS_MODULES (module scope, so that module fixtures' sweeps see it too)."""
    if request.module.__name__ in ALL_DESCRIPTIONS_MODULES:
        yield
        return
    every = comparison.default_descriptions

    def without_large_n(method: str, q: ModelParams) -> tuple[str, ...]:
        asked = resolve_method(method, q)  # `method="cumulant"` still runs it
        return tuple(n for n in every(method, q) if n not in LARGE_N_DESCRIPTIONS or n == asked)

    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(comparison, "default_descriptions", without_large_n)
        yield


@pytest.fixture(scope="session")
def ci_sweep(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """configs/ci.yaml swept once per session through the CLI on loky (every description): the
    file the CI regression test (test_regression.py) and the Dask comparison (test_dask.py) read."""
    from regression import run_ci_sweep

    out = tmp_path_factory.mktemp("ci") / "ci.h5"
    run_ci_sweep(out)
    return out


@pytest.fixture
def grid() -> np.ndarray:
    """A short grid (about 1.5 effective charging times at N = 1) for cheap trajectory checks."""
    return np.linspace(0.0, 30.0, 61)


def complete_points(path: Path) -> int:
    """Points stored as complete in a sweep file (0 while the file does not exist yet)."""
    try:
        with h5py.File(path, "r") as f:
            return sum(f["points"][k].attrs["status"] == "complete" for k in f["points"])
    except (OSError, KeyError):
        return 0


#: The figures a recovered sweep must reproduce exactly.
SUMMARY_FIGURES = ("eps_traj", "eps_ss", "eps_tau", "D_max", "tau_mic", "tau_eff", "E_ss_mic",
                   "E_ss_eff")


def assert_same_summary(path: Path, reference: Path) -> None:
    """Every point complete, with the reference's figures (same code, same numbers: 1e-12)."""
    _, got = read_summary(path)
    _, want = read_summary(reference)
    assert list(got["key"]) == list(want["key"])
    assert list(got["status"]) == ["complete"] * len(want["key"])
    for name in SUMMARY_FIGURES:
        np.testing.assert_allclose(got[name], want[name], rtol=1e-12, atol=1e-15, err_msg=name)


def text_problems(fig) -> list[str]:
    """What a reader would stumble on: drawn text beyond the canvas (the figure's tight bounding
    box leaves it), and overlapping annotations or tick labels within one axis."""
    from matplotlib.text import Annotation

    fig.canvas.draw()
    renderer = fig.canvas.get_renderer()
    problems = []
    box = fig.get_tightbbox(renderer).transformed(fig.dpi_scale_trans)  # in pixels
    if box.x0 < -1 or box.y0 < -1 or box.x1 > fig.bbox.width + 1 or box.y1 > fig.bbox.height + 1:
        problems.append(f"text leaves the canvas: {box.bounds} vs {fig.bbox.bounds}")
    for ax in fig.axes:
        notes = [t for t in ax.texts if isinstance(t, Annotation) and t.get_visible()]
        groups = [notes]
        for axis in (ax.xaxis, ax.yaxis):
            lo, hi = sorted(axis.get_view_interval())
            groups.append([t.label1 for t in axis.get_major_ticks()
                           if t.label1.get_visible() and t.label1.get_text()
                           and lo - 1e-12 * abs(hi) <= t.get_loc() <= hi + 1e-12 * abs(hi)])
        for texts in groups:
            boxes = [(t.get_text(), t.get_window_extent(renderer)) for t in texts]
            for i, (a, ba) in enumerate(boxes):
                for b, bb in boxes[i + 1:]:
                    if ba.overlaps(bb):
                        problems.append(f"{a!r} overlaps {b!r}")
    return problems
