"""The collapse analysis of the criterion study (microsim.criterion): its numbers against curves
with a known answer, and read from a real sweep with unequal baths."""

from __future__ import annotations

import math

import numpy as np
import pytest

from microsim import criterion
from microsim.cli import main
from microsim.figures import load
from microsim.params import ModelParams


def bath_sweep(tmp_path, ratios: str, kappas: str):
    """A small collective sweep over Gamma_c/Gamma_h and kappa at N = 1; returns its file."""
    config = tmp_path / "c.yaml"
    config.write_text(
        "name: c\nmodel: {beta_e_w0: -0.8, gamma_e: 0.1, protocol: collective}\n"
        f"sweep:\n  gamma_ratio: {ratios}\n  kappa: {kappas}\n  n_batteries: [1]\n"
        "time: {points: 101}\nparallel: {n_jobs: 1}\n")
    out = tmp_path / "c.h5"
    assert main(["sweep", str(config), "--output", str(out)]) == 0
    return out


def synthetic(factors, amplitude=3.0, bend=0.0):
    """y = A (c_b kappa)^2 (1 + bend c_b kappa) on kappa = 0.01..1: the variable v = c_b kappa
    collapses the curves exactly, kappa itself spreads them by max c_b^2 / min c_b^2."""
    kappa = np.geomspace(0.01, 1.0, 7)
    curves_v, curves_k = [], []
    for c in factors:
        y = amplitude * (c * kappa) ** 2 * (1 + bend * c * kappa)
        curves_v.append((c * kappa, y, kappa))
        curves_k.append((kappa, y, kappa))
    return curves_v, curves_k


@pytest.mark.parametrize("factors", [(1.0, 2.0), (0.5, 1.0, 4.0)])
def test_collapse_of_curves_with_a_known_answer(factors):
    curves_v, curves_k = synthetic(factors)
    prefactor, prefactor_spread, spread = criterion.collapse(curves_v)
    assert prefactor == pytest.approx(3.0, rel=1e-12)
    assert prefactor_spread == pytest.approx(1.0, rel=1e-12)
    assert spread == pytest.approx(1.0, rel=1e-9)
    expected = max(factors) ** 2 / min(factors) ** 2
    _, prefactor_spread, spread = criterion.collapse(curves_k)
    assert prefactor_spread == pytest.approx(expected, rel=1e-12)
    assert spread == pytest.approx(expected, rel=1e-9)


def test_spread_sees_a_bend_that_the_prefactor_does_not():
    """A correction linear in v that differs between baths only at large v: the prefactor fitted
    at kappa <= 0.03 collapses to within 1 + O(0.03 c), the spread over the range does not."""
    curves_v, _ = synthetic((1.0, 3.0), bend=0.0)
    bent = [(v, y * (1 + (2.0 if i else 0.0) * v), k) for i, (v, y, k) in enumerate(curves_v)]
    _, prefactor_spread, spread = criterion.collapse(bent)
    assert prefactor_spread < 1.1
    assert spread > 2.0


def test_collapse_table_from_a_sweep_with_unequal_baths(tmp_path):
    """A small sweep (N = 1, Gamma_c/Gamma_h = 0.2 and 5, three kappa) read back: the three
    variables are the ModelParams values of each point, every (measure, variable) has its two
    baths, and the numbers are finite and at least 1 where they are ratios."""
    data = load(bath_sweep(tmp_path, "[0.2, 5.0]", "[0.01, 0.02, 0.05]"))
    rows = data.rows()
    for row in rows:
        p = ModelParams.from_effective(-0.8, 0.1, float(data.column("kappa")[row]), 1,
                                       gamma_ratio=float(data.column("gamma_c")[row]
                                                         / data.column("gamma_h")[row]))
        assert data.column("kappa_01")[row] == pytest.approx(p.kappa_01, rel=1e-12)
        assert data.column("kappa_up")[row] == pytest.approx(p.kappa_up, rel=1e-12)
    table = criterion.collapse_table(data)
    assert len(table) == len(criterion.MEASURES) * len(criterion.VARIABLES)
    for entry in table:
        assert entry.baths == 2
        assert math.isfinite(entry.prefactor) and entry.prefactor > 0
        assert entry.prefactor_spread >= 1.0 and entry.spread >= 1.0


def test_criterion_figure_plots_the_file(tmp_path):
    """microsim plot draws the criterion figure (and not the one-bath error figures) for a sweep
    over baths and kappa; every plotted point is a (variable, eps_traj) pair of a row of the file,
    one line per bath configuration in each of the three panels."""
    pytest.importorskip("matplotlib")
    from microsim.figures import FIGURES, supported_figures

    out = bath_sweep(tmp_path, "[0.2, 1.0, 5.0]", "[0.01, 0.03]")
    data = load(out)
    assert supported_figures(data) == ["criterion"]
    fig = FIGURES["criterion"][1](data)
    rows = data.rows()
    for ax, variable in zip(fig.axes, criterion.VARIABLES, strict=True):
        lines = [line for line in ax.lines if str(line.get_gid()).startswith("eps_traj:")]
        assert len(lines) == 3
        pairs = {(round(float(x), 12), round(float(y), 12)) for x, y in
                 zip(data.column(variable)[rows], data.column("eps_traj")[rows], strict=True)}
        for line in lines:
            assert str(line.get_gid()).split(":")[1] == variable
            for x, y in zip(*line.get_data(), strict=True):
                assert (round(float(x), 12), round(float(y), 12)) in pairs
    assert main(["plot", str(out), "--out", str(tmp_path / "fig")]) == 0
    assert (tmp_path / "fig" / "c_criterion.png").exists()


def test_only_the_boltzmann_factors_of_the_baths_enter_the_errors():
    """At fixed beta_e w0 the pairs (w_h, beta_c) = (3, 1) and (5, 0.5) have the same
    beta_h w_h = 1.2 and beta_c w_c = 2, hence the same rates at the same kappa: every figure of
    compare agrees to the solver tolerance (1e-8), although the energies w_h, w_c differ. A pair
    with another beta_c w_c (2.5, 2) does not agree (the criterion sweep varies that one)."""
    from microsim.comparison import compare, default_time_grid

    figures = []
    for wh, beta_c in ((3.0, 1.0), (5.0, 0.5), (2.5, 2.0)):
        p = ModelParams.from_effective(-0.8, 0.1, 0.05, 2, wh=wh, beta_c=beta_c, gamma_ratio=0.5)
        figures.append(compare(p, default_time_grid(p, points=101)).figures)
    for name in ("eps_traj", "D_max", "eps_tau", "tau_mic"):
        assert figures[1][name] == pytest.approx(figures[0][name], rel=1e-8, abs=1e-10), name
    assert abs(figures[2]["eps_traj"] / figures[0]["eps_traj"] - 1) > 0.1
