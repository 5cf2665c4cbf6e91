"""The large-N study's figure and paragraph on a small study of the same shape, and the
bath-limited throughput they compare with."""

from __future__ import annotations

import numpy as np
import pytest

from microsim.model.engine import cycle_rate
from microsim.model.params import ModelParams
from microsim.report import figures, measures, paragraphs
from microsim.sweeps.config import parse_config
from microsim.sweeps.execute import execute, tasks
from microsim.sweeps.reading import combine, open_sweep
from microsim.sweeps.storage import SweepStore

STUDY = """
name: large_n
model: {w0: 1.0, wh: 3.0, beta_h: 0.4, beta_c: 1.0, gamma_h: 2.98592006641,
        gamma_c: 2.98592006641, g: 0.339002040432}
sweep: {n_batteries: [1, 8, 1000], n_engines: [1, 8, 1000], together: [n_batteries, n_engines]}
time: {points: 61}
solver: {method: moments}
parallel: {backend: sequential}
"""


def test_cycle_rate_is_the_mean_return_time_of_an_engine():
    """r_cyc from the closed form against the mean first-passage time 0 -> 1 of the engine's
    rate matrix with |1> made absorbing (solved as a linear system; round-off)."""
    p = ModelParams.from_effective(-0.8, 0.1, 0.1, 1, gamma_ratio=3.0)
    uh, gh, gc = p.gamma_h * p.boltz_h, p.gamma_h, p.gamma_c
    # mean times T_0, T_2 to reach |1>: T_0 = 1/uh + T_2, T_2 = 1/(gh + gc) + gh/(gh + gc) T_0
    a = np.array([[1.0, -1.0], [-gh / (gh + gc), 1.0]])
    t0, _ = np.linalg.solve(a, [1 / uh, 1 / (gh + gc)])
    assert cycle_rate(p) == pytest.approx(1 / t0, rel=1e-12)


@pytest.fixture(scope="module")
def study(tmp_path_factory):
    directory = tmp_path_factory.mktemp("large_n")
    config = parse_config(STUDY, directory / "large_n.yaml")
    path = directory / "large_n.h5"
    with SweepStore(config, path) as store:
        store.add(execute(tasks(config), config.parallel))
    return open_sweep(path)


def test_large_n_figure_plots_the_files_ratios(study):
    assert "large_n" in figures.supported_figures(study)
    curves = measures.large_n_data(study)
    (family, by_kind), = curves.items()
    assert family.engines == "M = N" and set(by_kind) == {"eff", "mom"}
    tau = study.column("tau_mom")[study.rows(sort_by="n_batteries")]
    np.testing.assert_allclose(by_kind["mom"]["ratio"], tau[0] / tau, rtol=1e-12)
    fig = figures.fig_large_n(study)
    lines = {line.get_gid(): line for ax in fig.axes for line in ax.lines}
    np.testing.assert_allclose(lines[f"large_n:tau_ratio:mom:{family.label}"].get_ydata(),
                               tau[0] / tau, rtol=1e-12)


class _Columns:
    """A SweepData with some columns replaced (the rest delegated)."""

    def __init__(self, data, **columns):
        self.data, self.columns = data, columns

    def column(self, name):
        return self.columns[name] if name in self.columns else self.data.column(name)

    def __getattr__(self, name):
        return getattr(self.data, name)


def test_a_description_without_n_1_takes_the_exact_tau_1_or_none(study):
    """A description with no N = 1 point (the delay one refuses below its threshold) is drawn
    against the exact tau_1 and marked so; with no exact N = 1 either it is left out rather
    than divided by anything else."""
    n = study.column("n_batteries")
    tau = np.where(n == 1, np.nan, study.column("tau_mom"))
    no_exact = _Columns(study, tau_mom=tau, tau_mic=np.full(n.size, np.nan))
    (_, by_kind), = measures.large_n_data(no_exact).items()
    assert "mom" not in by_kind and by_kind["eff"]["tau_1"] == "own"
    exact = _Columns(study, tau_mom=tau, tau_mic=np.where(n == 1, 2.0, np.nan))
    (_, by_kind), = measures.large_n_data(exact).items()
    mom = by_kind["mom"]
    assert mom["tau_1"] == "exact"
    np.testing.assert_allclose(mom["ratio"], 2.0 / mom["tau"], rtol=1e-15)
    assert mom["n"].min() > 1


FIXED_KAPPA = """
name: large_n_fixed_kappa
model: {beta_e_w0: -0.8, gamma_e: 0.1, kappa: 0.1}
sweep: {n_batteries: [1, 8, 64]}
time: {points: 61}
solver: {method: moments}
parallel: {backend: sequential}
"""


def test_fixed_kappa_takes_the_exact_tau_1_of_the_same_point_at_fixed_g(study, tmp_path):
    """Fixed kappa = 0.1 and the fixed couplings of the study meet at N = 1: a fixed-kappa
    description without its own tau_1 takes the exact tau_1 stored at fixed g, and only while
    the couplings of the two N = 1 rows agree."""
    config = parse_config(FIXED_KAPPA, tmp_path / "large_n_fixed_kappa.yaml")
    path = tmp_path / "large_n_fixed_kappa.h5"
    with SweepStore(config, path) as store:
        store.add(execute(tasks(config), config.parallel))
    data = combine([study.path, path])
    n = data.column("n_batteries")
    fixed_g = data.sweep_names() == "large_n"
    tau_mom = np.where(n == 1, np.nan, data.column("tau_mom"))
    tau_mic = np.where((n == 1) & fixed_g, 2.0, np.nan)
    curves = measures.large_n_data(_Columns(data, tau_mom=tau_mom, tau_mic=tau_mic))
    kappa = next(by_kind for family, by_kind in curves.items() if family.fixed == "kappa")
    assert kappa["mom"]["tau_1"] == "exact"
    np.testing.assert_allclose(kappa["mom"]["ratio"], 2.0 / kappa["mom"]["tau"], rtol=1e-15)
    g = np.where((n == 1) & fixed_g, data.column("g") * (1 + 1e-6), data.column("g"))
    other = measures.large_n_data(_Columns(data, tau_mom=tau_mom, tau_mic=tau_mic, g=g))
    kappa = next(by_kind for family, by_kind in other.items() if family.fixed == "kappa")
    assert "mom" not in kappa


def test_large_n_paragraph_names_the_crossover(study):
    text = paragraphs.PARAGRAPHS["large_n"](study)
    assert "bath-limited" in text and "N_x =" in text


GRID = """
name: grid
model: {beta_e_w0: -0.8, gamma_e: 0.1}
sweep: {kappa: [0.1, 0.3, 1.0], n_batteries: [1, 2, 3]}
time: {points: 81}
parallel: {backend: sequential}
"""


def test_description_map_marks_what_is_within_one_percent(tmp_path):
    config = parse_config(GRID, tmp_path / "grid.yaml")
    path = tmp_path / "grid.h5"
    with SweepStore(config, path) as store:
        store.add(execute(tasks(config), config.parallel))
    data = open_sweep(path)
    assert "description_map" in figures.supported_figures(data)
    fig = figures.fig_description_map(data)
    inside = {c.get_gid(): c for ax in fig.axes for c in ax.collections}
    for d in measures.descriptions_in(data):
        eps = data.column(f"eps_traj{d.errors}")[measures.validation_rows(data)]
        assert len(inside[f"map:inside:{d.suffix}"].get_offsets()) == int(np.sum(eps < 0.01))
    text = paragraphs.PARAGRAPHS["description_map"](data)
    assert "| 3 | 3 | 1 |" in text and "**cumulant**" in text


BEYOND = """
name: beyond
model: {beta_e_w0: -0.8, gamma_e: 0.1}
sweep: {kappa: [0.1, 0.3], n_batteries: [1, 2]}
time: {points: 401}
solver: {method: METHOD, descriptions: [effective, cumulant, moments]}
parallel: {backend: sequential}
"""


@pytest.fixture(scope="module")
def beyond(tmp_path_factory):
    """The same four points twice: with the exact model (auto) and without it (cumulant)."""
    directory = tmp_path_factory.mktemp("beyond")
    out = {}
    for method in ("auto", "cumulant"):
        config = parse_config(BEYOND.replace("METHOD", method), directory / f"{method}.yaml")
        path = directory / f"{method}.h5"
        with SweepStore(config, path) as store:
            store.add(execute(tasks(config), config.parallel))
        out[method] = open_sweep(path)
    return out


def test_against_reference_reproduces_the_exact_errors_where_the_reference_is_exact(beyond):
    """At N = M = 1 the cumulant description is exact, so Eq. 8 and the moments measured against
    it on the stored grid (no exact solution in that file) give the errors the exact file holds,
    refined in time (docs/physics.md §3). The grid's maximum (parabolic vertex) differs from the
    refined one by the sampling only: 401 points resolve it to 1e-3 (relative; measured 3e-4 at
    kappa = 0.1, 0.3, where the maximum comes early and sharp), and by less than the grid's
    maximum moves when every second point is dropped; where both are exact (the moments
    at M = 1) the two differ by the integration error, below 1e-8 (rtol 1e-8)."""
    exact, alone = beyond["auto"], beyond["cumulant"]
    assert measures.beyond_exact_rows(exact).size == 0
    rows = measures.beyond_exact_rows(alone)
    assert rows.size == 4
    for r in rows:
        if int(alone.column("n_batteries")[r]) != 1:
            continue
        kappa = float(alone.column("kappa")[r])
        twin = exact.row(n_batteries=1, kappa=kappa)
        for suffix, errors in (("eff", ""), ("mom", "_mom")):
            got = measures.against_reference(alone, int(r), suffix)
            stored = float(exact.column(f"eps_traj{errors}")[twin])
            assert got.reason == "ok"
            assert got.eps_traj == pytest.approx(stored, rel=1e-3, abs=1e-8), (suffix, kappa)
            # what the paragraph quotes as the sampling's effect bounds the real one
            assert abs(got.eps_traj - stored) <= abs(got.eps_traj - got.eps_traj_coarse) + 1e-8
            tau = float(exact.column(f"eps_tau{errors}")[twin])
            assert got.eps_tau == pytest.approx(tau, rel=1e-6, abs=1e-8), (suffix, kappa)


def test_description_map_shows_the_points_beyond_the_exact_solver(beyond):
    from microsim.sweeps.reading import combine

    data = combine([beyond["auto"], beyond["cumulant"]])
    fig = figures.fig_description_map(data)
    marks = {c.get_gid(): c for ax in fig.axes for c in ax.collections}
    rows = measures.beyond_exact_rows(data)
    eps = [measures.against_reference(data, int(r), "eff").eps_traj for r in rows]
    assert len(marks["map:inside:eff:beyond"].get_offsets()) == sum(e < 0.01 for e in eps)
    assert len(marks["map:reference:cum"].get_offsets()) == rows.size
    text = paragraphs.PARAGRAPHS["description_map"](data)
    assert "**Beyond the exact solver** (4 points" in text and "| 2 | 2 | 0.3 | ok |" in text


def test_a_kept_reference_counts_and_a_stopped_one_does_not(beyond):
    """The map judges a description by what it left, not by its status word: a reference whose
    status reports a kept positivity warning is still measured against, a description whose tau
    is NaN (as a stopped run stores) is a failure with its status as the reason."""
    import dataclasses

    alone = beyond["cumulant"]
    summary = {k: v.copy() for k, v in alone.summary.items()}
    r, s = (int(x) for x in measures.beyond_exact_rows(alone)[:2])
    summary["cum_status"] = summary["cum_status"].astype(object)
    summary["cum_status"][r] = "positivity violated (smallest block eigenvalue -5e-07); figures kept"
    summary["mom_status"] = summary["mom_status"].astype(object)
    summary["mom_status"][s] = "unphysical moments: test"
    summary["tau_mom"][s] = np.nan
    data = dataclasses.replace(alone, summary=summary)
    kept = measures.against_reference(data, r, "eff")
    assert measures.computed(data, r, "cum") and kept.reason == "ok"
    assert kept.eps_traj == measures.against_reference(alone, r, "eff").eps_traj
    stopped = measures.against_reference(data, s, "mom")
    assert not measures.computed(data, s, "mom") and np.isnan(stopped.eps_traj)
    assert stopped.reason == "mom: unphysical moments: test"
