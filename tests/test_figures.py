"""Figures: every figure is rendered from a small sweep file made here, the images are not blank,
and the plotted numbers are the file's numbers (read back from the matplotlib artists)."""

from __future__ import annotations

import ast
import math
import sys
from pathlib import Path

import h5py
import numpy as np
import pytest

from conftest import text_problems
from microsim.cli import main
from microsim.report import figures, measures
from microsim.sweeps.reading import combine

pytest.importorskip("matplotlib")

from matplotlib.image import imread

#: The paper's effective point (Fig. 4-5) and its exact single-battery charging time (Eq. 17).
X, GAMMA_E, EPS = -0.8, 0.1, 1e-3
TAU_1 = math.log(1 / EPS) / (GAMMA_E * (1 + math.exp(-X)))

EFFECTIVE = """
model:
  beta_e_w0: -0.8
  gamma_e: 0.1
  kappa: 0.05
{model}
sweep:
{sweep}
time:
{time}
solver:
  method: effective
parallel:
  n_jobs: 1
  backend: sequential
"""

MICROSCOPIC = """
model:
{model}
sweep:
{sweep}
time:
  points: 21
solver:
  method: full
  rtol: 1.0e-6
  atol: 1.0e-9
parallel:
  n_jobs: 1
  backend: sequential
"""

CONFIGS = {
    # Fig. 2(a, b): one N, both protocols, a grid long enough to reach the steady state
    "time": EFFECTIVE.format(model="  n_batteries: 2", sweep="  protocol: [collective, individual]",
                             time="  t_end: 60.0\n  points: 61"),
    # Fig. 2(c, d), 3, 4, 5: N swept, both protocols
    "vs_n": EFFECTIVE.format(model="", sweep="  protocol: [collective, individual]\n"
                             "  n_batteries: [1, 2, 3, 5]", time="  t_end_tau: 3.0\n  points: 61"),
    # validity map: kappa x N, microscopic
    "kappa": MICROSCOPIC.format(model="  beta_e_w0: -0.8\n  gamma_e: 0.1",
                                sweep="  kappa: [0.05, 0.1]\n  n_batteries: [1, 2]"),
    # fixed microscopic g, N swept
    "fixed_g": MICROSCOPIC.format(
        model="  beta_h: 0.4\n  beta_c: 1.0\n  gamma_h: 3.0\n  gamma_c: 3.0\n  g: 0.2",
        sweep="  n_batteries: [1, 2]"),
    # fixed g beyond the exact solvers: Eq. 8 and the corrected description (unstable at N = 100)
    "large_n": """
model:
  beta_h: 0.4
  beta_c: 1.0
  gamma_h: 3.0
  gamma_c: 3.0
  g: 0.3
sweep:
  n_batteries: [1, 4, 10, 100]
time:
  points: 41
solver:
  method: effective
parallel:
  n_jobs: 1
  backend: sequential
""",
}
SUPPORTED = {
    "time": ["fig2ab"],
    "vs_n": ["fig2cd", "fig3", "fig4", "fig5"],
    "kappa": ["errors", "mic_vs_eff", "boundary", "corrected"],
    "fixed_g": ["tau_ratio_mic_eff"],
    "large_n": ["fig2cd", "fig3", "fig4", "fig5", "speed_up_large"],
}


@pytest.fixture(scope="module")
def files(tmp_path_factory) -> dict[str, Path]:
    """The sweep files, each made by `microsim sweep` (about 8 s in all)."""
    base = tmp_path_factory.mktemp("sweeps")
    out = {}
    for name, text in CONFIGS.items():
        config = base / f"{name}.yaml"
        config.write_text(f"name: {name}\n{text}")
        out[name] = base / f"{name}.h5"
        assert main(["sweep", str(config), "--output", str(out[name])]) == 0
    return out


def _table(path: Path) -> dict[str, np.ndarray]:
    """The /summary columns, read with h5py directly (not through microsim)."""
    with h5py.File(path, "r") as f:
        return {k: (v.asstr()[()] if v.dtype.kind == "O" else v[()]) for k, v in f["summary"].items()}


def _series(path: Path, key: str, name: str) -> np.ndarray:
    with h5py.File(path, "r") as f:
        return f["points"][key][name][()]


def _lines(fig) -> dict[str, object]:
    out = {}
    for ax in fig.axes:
        for line in ax.get_lines():
            gid = line.get_gid()
            assert gid not in out, f"two lines with gid {gid}"
            out[gid] = line
    return out


def _xy(line) -> tuple[np.ndarray, np.ndarray]:
    return np.asarray(line.get_xdata(), dtype=float), np.asarray(line.get_ydata(), dtype=float)


def _rows(table, order="n_batteries", **equal) -> np.ndarray:
    mask = np.ones(table["key"].size, dtype=bool)
    for k, v in equal.items():
        mask &= table[k] == v
    idx = np.flatnonzero(mask)
    return idx[np.argsort(table[order][idx], kind="stable")]


# ---------------------------------------------------------------------------------- rendering
@pytest.mark.parametrize("name", list(CONFIGS))
def test_render_writes_every_supported_figure_nonblank(files, tmp_path, name):
    assert figures.supported_figures(files[name]) == SUPPORTED[name]
    written = figures.render(files[name], tmp_path / "out")
    expected = [tmp_path / "out" / f"{name}_{fig}.{ext}" for fig in SUPPORTED[name]
                for ext in ("png", "pdf")]
    assert written == expected
    for path in written:
        assert path.stat().st_size > 1000
        if path.suffix == ".pdf":
            assert path.read_bytes()[:5] == b"%PDF-"
        else:
            pixels = imread(path)
            assert pixels.ndim == 3 and pixels.shape[0] > 300 and pixels.shape[1] > 300
            assert pixels[..., :3].var() > 1e-3  # not a blank canvas


@pytest.mark.parametrize("name", list(CONFIGS))
def test_no_text_leaves_the_canvas_or_overlaps(files, name):
    for fig_id in SUPPORTED[name]:
        fig = figures.PLOTS[fig_id][1](files[name])
        assert not text_problems(fig), (fig_id, text_problems(fig))


def test_the_text_check_can_fail():
    """The check above on a figure made to fail it: a title far wider than the canvas and two
    annotations on the same spot."""
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    fig = Figure(figsize=(3, 2), layout="constrained")
    FigureCanvasAgg(fig)
    ax = fig.subplots()
    fig.suptitle("a title much wider than a three-inch figure can ever hold, on one line")
    ax.annotate("here", (0.5, 0.5))
    ax.annotate("there", (0.5, 0.5))
    problems = text_problems(fig)
    assert any("leaves the canvas" in p for p in problems)
    assert any("'here' overlaps 'there'" in p for p in problems)


def test_render_only_and_unsupported(files, tmp_path):
    written = figures.render(files["vs_n"], tmp_path, only=["fig4"], formats=("png",))
    assert written == [tmp_path / "vs_n_fig4.png"]
    with pytest.raises(ValueError, match="does not support figure 'errors'"):
        figures.render(files["vs_n"], tmp_path, only=["errors"])
    with pytest.raises(ValueError, match="figure must be one of"):
        figures.render(files["vs_n"], tmp_path, only=["fig9"])


def test_missing_matplotlib_says_how_to_install(files, tmp_path, monkeypatch):
    monkeypatch.setitem(sys.modules, "matplotlib.figure", None)
    with pytest.raises(figures.PlotDependencyError, match=r"pip install microsim\[plot\]"):
        figures.render(files["time"], tmp_path)
    assert issubclass(figures.PlotDependencyError, ImportError)
    assert not list(tmp_path.iterdir())


def test_matplotlib_is_imported_only_inside_functions():
    # (qutip itself imports matplotlib when it is installed, so sys.modules cannot tell)
    report = Path(figures.__file__).parent.parent
    sources = sorted((report / "figures").glob("*.py")) + sorted(report.glob("*.py"))
    for source in sources:
        tree = ast.parse(source.read_text())
        top = [node for node in tree.body if isinstance(node, ast.Import | ast.ImportFrom)]
        modules = [a.name for n in top if isinstance(n, ast.Import) for a in n.names]
        modules += [n.module or "" for n in top if isinstance(n, ast.ImportFrom)]
        assert not any(m.split(".")[0] == "matplotlib" for m in modules), source
    assert "matplotlib" in (report / "plotting.py").read_text()


# ---------------------------------------------------------------------------------- paper figures
def test_fig2ab_lines_are_the_trajectories_and_reach_the_closed_form(files):
    path = files["time"]
    table = _table(path)
    lines = _lines(figures.fig2ab_charging(path))
    assert len(table["key"]) == 2
    for i, key in enumerate(table["key"]):
        t = _series(path, key, "t")
        energy = _series(path, key, "energy_eff") / 2.0  # N = 2, w0 = 1
        sigma = _series(path, key, "sigma_eff")
        x, y = _xy(lines[f"energy_eff@{key}"])
        np.testing.assert_array_equal(x, t)
        np.testing.assert_array_equal(y, energy)
        np.testing.assert_array_equal(_xy(lines[f"sigma_eff@{key}"])[1], sigma)
        assert f"energy_mic@{key}" not in lines  # method effective: no microscopic curve
        # the steady-state line is Eq. 13-14, and the trajectory ends on it (t_end ~ 3 tau)
        e_line = _xy(lines[f"closed:e_ss@{key}"])[1][0]
        s_line = _xy(lines[f"closed:sigma_ss@{key}"])[1][0]
        u = math.exp(X)
        if table["protocol"][i] == "collective":  # p_m ~ u^{N - m}, m = 0, 1, 2
            p = np.array([u**2, u, 1.0]) / (1 + u + u**2)
            assert e_line == pytest.approx((p[1] + 2 * p[2]) / 2, rel=1e-12)
            assert s_line == pytest.approx(math.sqrt(p[1] + 4 * p[2] - (p[1] + 2 * p[2]) ** 2), rel=1e-12)
        else:  # two independent batteries, each excited with probability 1/(1 + u)
            q = 1 / (1 + u)
            assert e_line == pytest.approx(q, rel=1e-12)
            assert s_line == pytest.approx(math.sqrt(2 * q * (1 - q)), rel=1e-12)
        assert energy[-1] == pytest.approx(e_line, abs=1e-6)
        assert sigma[-1] == pytest.approx(s_line, abs=1e-5)


def test_fig2cd_and_fig3_points_are_the_steady_states(files):
    path = files["vs_n"]
    table = _table(path)
    lines_2cd = _lines(figures.fig2cd_steady(path))
    lines_3 = _lines(figures.fig3_ergotropy(path))
    for protocol in ("collective", "individual"):
        rows = _rows(table, protocol=protocol)
        n = table["n_batteries"][rows].astype(float)
        keys = table["key"][rows]
        e_n = table["E_ss_eff"][rows] / n
        sigma = np.array([_series(path, k, "sigma_eff")[-1] for k in keys])
        ratio = np.array([_series(path, k, "ergotropy_eff")[-1] for k in keys]) / table["E_ss_eff"][rows]
        for line, y in ((lines_2cd[f"E_ss_eff/N:{protocol}"], e_n),
                        (lines_2cd[f"sigma_ss_eff:{protocol}"], sigma),
                        (lines_3[f"ergotropy_ss_eff/E_ss_eff:{protocol}"], ratio)):
            np.testing.assert_array_equal(_xy(line)[0], [1, 2, 3, 5])
            np.testing.assert_array_equal(_xy(line)[1], y)
        if protocol == "individual":  # e_1, 1 - e^{x}: the same for every N (Eq. 6)
            np.testing.assert_allclose(e_n, 1 / (1 + math.exp(X)), rtol=1e-9)
            np.testing.assert_allclose(ratio, 1 - math.exp(X), rtol=1e-6)
    # the closed forms pass through the collective points (curves on integer N include 1, 2, 3, 5)
    for closed, data in (("closed:capacity", "E_ss_eff/N:collective"),
                         ("closed:fluctuation", "sigma_ss_eff:collective")):
        xc, yc = _xy(lines_2cd[closed])
        xd, yd = _xy(lines_2cd[data])
        np.testing.assert_allclose(np.interp(xd, xc, yc), yd, rtol=1e-6)
    xc, yc = _xy(lines_3["closed:ergotropy_ratio"])
    xd, yd = _xy(lines_3["ergotropy_ss_eff/E_ss_eff:collective"])
    np.testing.assert_allclose(np.interp(xd, xc, yc), yd, rtol=1e-6)
    assert _xy(lines_3["closed:ergotropy_ratio_individual"])[1][0] == pytest.approx(0.5506710358827784)
    assert _xy(lines_2cd["closed:fluctuation_limit"])[1][0] == pytest.approx(
        0.5 / math.sinh(0.4), rel=1e-12)


def test_fig4_and_fig5_are_tau_1_over_tau_n(files):
    path = files["vs_n"]
    table = _table(path)
    rows = _rows(table, protocol="collective")
    n = table["n_batteries"][rows].astype(float)
    ratio = TAU_1 / table["tau_eff"][rows]
    assert ratio[0] == pytest.approx(1.0, rel=1e-3)  # N = 1: the file's tau_1 is the exact one
    assert np.all(np.diff(ratio) > 0)  # collective charging is faster for every larger N
    x, y = _xy(_lines(figures.fig4_tau_ratio(path))["tau_1/tau_eff:collective"])
    np.testing.assert_array_equal(x, n)
    np.testing.assert_allclose(y, ratio, rtol=1e-14)
    x, y = _xy(_lines(figures.fig5_tau_ratio_scaled(path))["tau_1/tau_eff/(N/lnN):collective"])
    np.testing.assert_array_equal(x, n[1:])
    np.testing.assert_allclose(y, ratio[1:] * np.log(n[1:]) / n[1:], rtol=1e-14)


# ---------------------------------------------------------------------------------- microscopic
def test_error_figure_plots_each_measure_per_n(files):
    path = files["kappa"]
    table = _table(path)
    lines = _lines(figures.fig_errors_vs_kappa(path))
    assert not any(gid.startswith("eps_ss") for gid in lines)  # eps_ss is round-off here
    assert np.max(table["eps_ss"]) < 1e-9
    for measure in ("eps_traj", "eps_tau", "D_max"):
        for n in (1, 2):
            rows = _rows(table, order="kappa", n_batteries=n)
            x, y = _xy(lines[f"{measure}:{n}:collective"])
            np.testing.assert_allclose(x, [0.05, 0.1], rtol=1e-12)
            np.testing.assert_array_equal(y, table[measure][rows])
            assert np.all(y > 0)
        xg, yg = _xy(lines[f"guide:kappa2:{measure}"])
        slope = np.diff(np.log(yg)) / np.diff(np.log(xg))
        np.testing.assert_allclose(slope, 2.0, rtol=1e-10)
        # anchored on the smallest-kappa point of the N = 1 curve
        assert yg[0] == pytest.approx(table[measure][_rows(table, order="kappa", n_batteries=1)][0])


def test_boundary_figure_is_the_crossing_of_the_files_errors(files):
    """The boundary figure's points are where each N's eps_tau curve of the file reaches 10 %,
    computed here by hand from the two kappa around it (log-log straight line); eps_traj is
    above 1 % already at the smallest kappa of the file, so it has no line."""
    path = files["kappa"]
    table = _table(path)
    fig = figures.fig_boundary(path)
    assert not text_problems(fig)
    lines = _lines(fig)
    assert not any(":eps_traj:" in gid for gid in lines)
    x, y = _xy(next(line for gid, line in lines.items()
                    if gid.startswith("boundary:kappa:eps_tau:collective")))
    np.testing.assert_array_equal(x, [1, 2])
    for n, value in zip(x, y, strict=True):
        rows = _rows(table, order="kappa", n_batteries=int(n))
        k, e = table["kappa"][rows], table["eps_tau"][rows]
        assert e[0] < 0.1 <= e[1]
        expected = math.exp(math.log(k[0]) + math.log(0.1 / e[0]) * math.log(k[1] / k[0])
                            / math.log(e[1] / e[0]))
        assert value == pytest.approx(expected, rel=1e-12)


def test_combined_files_give_the_speed_up_at_fixed_kappa(files, tmp_path):
    """Two sweep files read as one (sweeps.reading.combine, microsim plot A B): the rows of both, each
    series read from its own file; the speed-up figure's points are tau_1/tau_N of the files'
    columns at each kappa, Eq. 8's the same at both kappa (fixed effective dynamics)."""
    more = tmp_path / "more.yaml"
    more.write_text("name: more\n" + MICROSCOPIC.format(
        model="  beta_e_w0: -0.8\n  gamma_e: 0.1",
        sweep="  kappa: [0.05, 0.1]\n  n_batteries: [3]").replace("method: full",
                                                                 "method: symmetric"))
    assert main(["sweep", str(more), "--output", str(tmp_path / "more.h5")]) == 0
    data = combine([files["kappa"], tmp_path / "more.h5"])
    assert data.name == "kappa+more"
    assert data.files == (files["kappa"], tmp_path / "more.h5")
    table = {k: np.concatenate([_table(files["kappa"])[k], _table(tmp_path / "more.h5")[k]])
             for k in ("n_batteries", "kappa", "tau_mic", "tau_eff", "key")}
    for row in data.rows():
        source = files["kappa"] if row < 4 else tmp_path / "more.h5"
        np.testing.assert_array_equal(data.array(int(row), "energy_mic"),
                                      _series(source, str(table["key"][row]), "energy_mic"))
    assert "speed_up" in figures.supported_figures(data)
    fig = figures.fig_speed_up(data)
    assert not text_problems(fig)
    lines = _lines(fig)
    for kappa in (0.05, 0.1):
        rows = np.flatnonzero(np.isclose(table["kappa"], kappa, rtol=1e-12))
        rows = rows[np.argsort(table["n_batteries"][rows])]
        x, y = _xy(lines[f"speed_up:mic:{kappa:.6g}"])
        np.testing.assert_array_equal(x, [1, 2, 3])
        np.testing.assert_allclose(y, table["tau_mic"][rows[0]] / table["tau_mic"][rows],
                                   rtol=1e-12)
        eff = table["tau_eff"][rows[0]] / table["tau_eff"][rows]
        np.testing.assert_allclose(_xy(lines["speed_up:eff"])[1], eff, rtol=1e-6)
    written = tmp_path / "figs"
    assert main(["plot", str(files["kappa"]), str(tmp_path / "more.h5"), "--out",
                 str(written), "--only", "speed_up"]) == 0
    assert (written / "kappa+more_speed_up.png").stat().st_size > 1000


def test_mic_vs_eff_curves_and_their_difference_is_eps_traj(files):
    path = files["kappa"]
    table = _table(path)
    lines = _lines(figures.fig_mic_vs_eff(path))
    rows = _rows(table, order="kappa", n_batteries=2)  # the group shown: most kappa, then largest N
    for r in rows:
        key = table["key"][r]
        t = _series(path, key, "t")
        mic, eff = (_series(path, key, f"energy_{k}")[t > 0] / 2.0 for k in ("mic", "eff"))
        # time in units of tau_eff on a log axis, t = 0 left out
        np.testing.assert_allclose(_xy(lines[f"energy_mic@{key}"])[0],
                                   t[t > 0] / table["tau_eff"][r], rtol=1e-15)
        np.testing.assert_array_equal(_xy(lines[f"energy_mic@{key}"])[1], mic)
        np.testing.assert_array_equal(_xy(lines[f"energy_eff@{key}"])[1], eff)
        diff = _xy(lines[f"energy_mic-energy_eff@{key}"])[1]
        # the plotted difference is sampled on the stored grid (here coarse: 30 % below the peak
        # at the smallest kappa); eps_traj is the maximum of the solution (refinement.py)
        assert np.max(np.abs(diff)) <= table["eps_traj"][r] * (1 + 1e-12)
        assert diff[diff.size // 4] < 0  # the microscopic charging lags (docs/physics.md §3)
    assert not any(k in lines for k in (f"energy_mic@{table['key'][r]}"
                                        for r in _rows(table, n_batteries=1)))


def test_tau_ratio_mic_eff_uses_each_descriptions_own_tau_1(files):
    path = files["fixed_g"]
    table = _table(path)
    rows = _rows(table)
    lines = _lines(figures.fig_tau_ratio_mic_eff(path))
    for kind in ("mic", "eff"):
        tau = table[f"tau_{kind}"][rows]
        x, y = _xy(lines[f"tau_1/tau_{kind}:collective"])
        np.testing.assert_array_equal(x, [1, 2])
        np.testing.assert_allclose(y, tau[0] / tau, rtol=1e-14)
        assert y[0] == 1.0
    assert np.ptp(table["g"]) == 0 and np.ptp(table["kappa"]) > 0  # fixed g: kappa grows with N


def test_corrected_figure_plots_both_descriptions_errors(files):
    """Collective rows only (individual: the corrected description is the exact pair), Eq. 8's
    and the corrected errors of the file per N, against kappa."""
    path = files["kappa"]
    table = _table(path)
    lines = _lines(figures.fig_corrected(path))
    bath = (1.0, 3.0, 1.0)
    for n in (1, 2):
        rows = _rows(table, "kappa", n_batteries=n, protocol="collective")
        for name in ("eps_traj", "eps_traj_corr", "eps_tau", "eps_tau_corr"):
            x, y = _xy(lines[f"{name.replace('_corr', '')}{'_corr' if 'corr' in name else ''}"
                             f":{bath}:{n}"])
            np.testing.assert_allclose(x, table["kappa"][rows], rtol=1e-14)
            np.testing.assert_allclose(y, table[name][rows], rtol=1e-14)
    assert not any(":individual" in gid for gid in lines if gid)
    # the corrected description beats Eq. 8 at every point of the file (kappa = 0.05, 0.1)
    rows = _rows(table, protocol="collective")
    assert np.all(table["eps_traj_corr"][rows] < table["eps_traj"][rows] / 10)


def test_speed_up_large_is_each_descriptions_tau_1_over_tau_n(files):
    """Eq. 8 at every N; the corrected description where it is stable, with the reason stored
    where it is not (N = 100 at this coupling: N kappa^2 = 13)."""
    path = files["large_n"]
    table = _table(path)
    rows = _rows(table)
    lines = _lines(figures.fig_speed_up_large(path))
    g = float(table["g"][0])
    x, y = _xy(lines[f"tau_1/tau_eff:g={g:g}"])
    np.testing.assert_array_equal(x, [1, 4, 10, 100])
    np.testing.assert_allclose(y, table["tau_eff"][rows][0] / table["tau_eff"][rows], rtol=1e-14)
    tau_corr = table["tau_corr"][rows]
    stable = np.isfinite(tau_corr)
    assert stable[:2].all() and not stable[-1]
    x, y = _xy(lines[f"tau_1/tau_corr:g={g:g}"])
    np.testing.assert_array_equal(x, table["n_batteries"][rows][stable])
    np.testing.assert_allclose(y, tau_corr[0] / tau_corr[stable], rtol=1e-14)
    with h5py.File(path, "r") as f:
        key = table["key"][rows][-1]
        assert f["points"][key].attrs["corr_status"].startswith("unstable")
        assert np.isnan(f["points"][key]["energy_corr"][()]).all()


def test_loglog_slope():
    x = np.geomspace(0.01, 1, 7)
    assert measures.loglog_slope(x, 3 * x**2)[0] == pytest.approx(2.0, rel=1e-12)
    y = np.where(x <= 0.1, 3 * x**2, 3 * x)
    slope, lo, hi = measures.loglog_slope(x, y, x_max=0.1)
    assert slope == pytest.approx(2.0, rel=1e-12) and lo == 0.01 and hi == pytest.approx(0.1)
    assert measures.loglog_slope(x, y, x_max=0.001)[1:] == (0.01, pytest.approx(x[1]))


# ---------------------------------------------------------------------------------- results.md
def test_results_document_embeds_every_figure_with_measured_numbers(files, tmp_path):
    from microsim.report.results import main

    out = tmp_path / "docs" / "results.md"
    assert main([str(files[k]) for k in CONFIGS] + ["--out", str(out)]) == 0
    text = out.read_text()
    for name, ids in SUPPORTED.items():
        for fig_id in ids:
            assert f"](figures/{name}_{fig_id}.png)" in text
            assert (tmp_path / "docs" / "figures" / f"{name}_{fig_id}.png").stat().st_size > 1000
    # Fig. 4: tau_1/tau_N at the largest N (5) of the file, 4 significant digits
    table = _table(files["vs_n"])
    row = _rows(table, protocol="collective")[-1]
    assert table["n_batteries"][row] == 5
    assert f"Largest N = 5: tau_1/tau_N = {TAU_1 / table['tau_eff'][row]:.4g}," in text
    # validity map: only kappa = 0.05, 0.1 -> the slope of the two points, per N
    table = _table(files["kappa"])
    for n in (1, 2):
        eps = table["eps_traj"][_rows(table, order="kappa", n_batteries=n)]
        slope = math.log(eps[1] / eps[0]) / math.log(2.0)
        assert 1.0 < slope < 3.0
        assert f"N = {n} (collective): slopes eps_traj {slope:.3g} (kappa 0.05..0.1)" in text
    assert "n/a" not in text and "nan" not in text.lower()
