"""The paper's figures (Fig. 2-5) from effective sweeps over N, with the closed forms of Eq. 13-20."""

from __future__ import annotations

import math
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np
from numpy.typing import NDArray

from microsim.model import closed_forms as cf
from microsim.report.measures import (
    dense_n,
    effective_point,
    ergotropy_ratio_collective,
    tau_ratio_data,
    vs_n_rows,
)
from microsim.report.plotting import (
    COLORS,
    LABELS,
    MARKERS,
    draw,
    new_figure,
    palette,
    row_label,
    title,
)
from microsim.sweeps.reading import SweepData, as_data

if TYPE_CHECKING:
    from matplotlib.figure import Figure

FloatArray = NDArray[np.float64]


def fig2ab_charging(source: SweepData | Path | str) -> Figure:
    """Fig. 2(a, b): <H_B>(t)/(N w0) and sigma(t)/w0 of every point, with the steady-state lines.

    Effective solution of Eq. 8 (solid); microscopic (dashed) where the file has it. Steady-state
    lines: collective N e_N (Eq. 14) and sigma_N of Eq. 13; individual (Eq. 6) the single-battery
    values, energies N e_1 and fluctuation sqrt(N) sigma_1.
    """
    data = as_data(source)
    rows = data.rows(sort_by=["protocol", *data.swept])
    fig, (ax_e, ax_s) = new_figure(2)
    colors = palette(len(rows))
    for color, r in zip(colors, rows, strict=True):
        r = int(r)
        key = str(data.column("key")[r])
        n, w0 = int(data.column("n_batteries")[r]), float(data.column("w0")[r])
        t = data.array(r, "t") * w0
        label = row_label(data, r)
        draw(ax_e, t, data.array(r, "energy_eff") / (n * w0), f"energy_eff@{key}", color=color,
              label=f"{label} (Eq. 8)")
        draw(ax_s, t, data.array(r, "sigma_eff") / w0, f"sigma_eff@{key}", color=color,
              label=f"{label} (Eq. 8)")
        if np.isfinite(data.column("E_ss_mic")[r]):
            draw(ax_e, t, data.array(r, "energy_mic") / (n * w0), f"energy_mic@{key}",
                  color=color, ls="--", label=f"{label} (microscopic)")
            draw(ax_s, t, data.array(r, "sigma_mic") / w0, f"sigma_mic@{key}", color=color,
                  ls="--", label=f"{label} (microscopic)")
        x = float(data.column("beta_e_w0")[r])
        if x < 0:
            if data.column("protocol")[r] == "collective":
                e_ss, s_ss = cf.capacity(n, x), cf.fluctuation(n, x, w0)
            else:
                e_ss, s_ss = cf.capacity(1, x), math.sqrt(n) * cf.fluctuation(1, x, w0)
            ax_e.axhline(e_ss, color=color, ls=":", lw=1, gid=f"closed:e_ss@{key}",
                         label=f"steady state, Eq. 13-14 ({e_ss:.4f})")
            ax_s.axhline(s_ss / w0, color=color, ls=":", lw=1, gid=f"closed:sigma_ss@{key}",
                         label=f"steady state, Eq. 13 ({s_ss / w0:.4f})")
    for ax, ylabel, tag in ((ax_e, "energy", "(a)"), (ax_s, "sigma", "(b)")):
        ax.set_xlabel(LABELS["time"])
        ax.set_ylabel(LABELS[ylabel])
        ax.set_title(tag, loc="left")
        ax.legend(fontsize="small")
    fig.suptitle(title(data, rows, "Charging and fluctuation (Fig. 2(a, b))",
                        ("n_batteries", "beta_e_w0", "gamma_e")))
    return fig


def fig2cd_steady(source: SweepData | Path | str) -> Figure:
    """Fig. 2(c, d): capacity e_N (Eq. 14) and fluctuation sigma_N (Eq. 13, limit Eq. 15) vs N.

    Markers: the effective steady states of the file (e_N = E_ss_eff/(N w0)); lines: the closed
    forms at the file's beta_e w0, the N -> infinity limits e_N -> 1 and (w0/2) csch(-x/2), and
    the individual values e_1 and sqrt(N) sigma_1 (Eq. 6).
    """
    data = as_data(source)
    groups = vs_n_rows(data)
    every = data.rows()
    point = effective_point(data, every)
    fig, (ax_e, ax_s) = new_figure(2)
    for protocol, rows in groups.items():
        n = data.column("n_batteries")[rows].astype(float)
        w0 = data.column("w0")[rows].astype(float)
        e_n = data.column("E_ss_eff")[rows] / (n * w0)
        sigma = np.array([data.steady(int(r), "sigma") for r in rows]) / w0
        style = {"ls": "none", "marker": MARKERS[protocol], "color": COLORS[protocol],
                 "label": f"{protocol}, Eq. 8"}
        draw(ax_e, n, e_n, f"E_ss_eff/N:{protocol}", **style)
        draw(ax_s, n, sigma, f"sigma_ss_eff:{protocol}", **style)
    if point is not None:
        x, _, w0 = point
        n_all = data.column("n_batteries")[every].astype(float)
        dense = dense_n(n_all)
        if "collective" in groups:
            draw(ax_e, dense, [cf.capacity(int(k), x) for k in dense], "closed:capacity",
                  color="k", lw=1, label=r"collective, Eq. 14")
            draw(ax_s, dense, [cf.fluctuation(int(k), x, w0) / w0 for k in dense],
                  "closed:fluctuation", color="k", lw=1, label="collective, Eq. 13")
            ax_e.axhline(1.0, color="0.5", ls=":", gid="closed:capacity_limit",
                         label=r"$N\to\infty$: $e_N \to 1$")
            limit = cf.fluctuation_limit(x, w0) / w0
            ax_s.axhline(limit, color="0.5", ls=":", gid="closed:fluctuation_limit",
                         label=rf"$N\to\infty$, Eq. 15: $\frac{{1}}{{2}}{{\rm csch}}(-x/2) = {limit:.4f}$")
        ax_e.axhline(cf.capacity(1, x), color="C1", ls="--", lw=1, gid="closed:capacity_individual",
                     label=rf"individual: $e_1 = {cf.capacity(1, x):.4f}$")
        if "individual" in groups:
            draw(ax_s, dense, np.sqrt(dense) * cf.fluctuation(1, x, w0) / w0,
                  "closed:fluctuation_individual", color="C1", ls="--", lw=1,
                  label=r"individual: $\sqrt{N}\,\sigma_1$")
            ax_s.set_yscale("log")
    for ax, ylabel, tag in ((ax_e, "e_N", "(c)"), (ax_s, "sigma_N", "(d)")):
        ax.set_xscale("log")
        ax.set_xlabel(LABELS["N"])
        ax.set_ylabel(LABELS[ylabel])
        ax.set_title(tag, loc="left")
        ax.legend(fontsize="small")
    fig.suptitle(title(data, every, "Steady-state capacity and fluctuation (Fig. 2(c, d))"))
    return fig


def fig3_ergotropy(source: SweepData | Path | str) -> Figure:
    """Fig. 3: ergotropy/energy of the steady state vs N (Eq. 16).

    Collective: 1 - w0 (1 - e^{-xN}/Z_N)/(N w0 e_N) -> 1; individual: 1 - e^{x} for every N.
    """
    data = as_data(source)
    groups = vs_n_rows(data)
    every = data.rows()
    point = effective_point(data, every)
    fig, (ax,) = new_figure(1, width=6.0)
    for protocol, rows in groups.items():
        n = data.column("n_batteries")[rows].astype(float)
        ratio = np.array([data.steady(int(r), "ergotropy") for r in rows]) / \
            data.column("E_ss_eff")[rows]
        draw(ax, n, ratio, f"ergotropy_ss_eff/E_ss_eff:{protocol}", ls="none",
              marker=MARKERS[protocol], color=COLORS[protocol], label=f"{protocol}, Eq. 8")
    if point is not None:
        x, _, w0 = point
        dense = dense_n(data.column("n_batteries")[every].astype(float))
        if "collective" in groups:
            closed = [ergotropy_ratio_collective(int(k), x, w0) for k in dense]
            draw(ax, dense, closed, "closed:ergotropy_ratio", color="k", lw=1,
                  label="collective, Eq. 16")
        individual = 1.0 - math.exp(x)
        ax.axhline(individual, color="C1", ls="--", lw=1, gid="closed:ergotropy_ratio_individual",
                   label=rf"individual: $1 - e^{{\beta_e w_0}} = {individual:.4f}$")
    ax.set_xscale("log")
    ax.set_xlabel(LABELS["N"])
    ax.set_ylabel(LABELS["ergo_ratio"])
    ax.legend(fontsize="small")
    fig.suptitle(title(data, every, "Ergotropy per energy of the steady state (Fig. 3)"))
    return fig


def fig4_tau_ratio(source: SweepData | Path | str) -> Figure:
    """Fig. 4: tau_1/tau_N vs N (Eq. 17) with the mean-field N/log N estimate (Eq. 18-20).

    tau_N is the file's tau_eff; tau_1 = ln(1/eps)/(Gamma_e (1 + e^{-x})) exactly.
    """
    data = as_data(source)
    n, ratio, x, eps, rows = tau_ratio_data(data)
    fig, (ax,) = new_figure(1, width=6.0)
    draw(ax, n, ratio, "tau_1/tau_eff:collective", ls="none", marker="o",
          label=r"collective, Eq. 8 ($\tau_1$ exact)")
    dense = dense_n(n)
    draw(ax, dense, [cf.charging_time_ratio_estimate(int(k), x, eps) for k in dense],
          "closed:tau_ratio_estimate", color="k", lw=1, label=r"estimate $\propto N/\ln N$ (Eq. 18-20)")
    ax.set_xscale("log")
    ax.set_yscale("log")
    ax.set_xlabel(LABELS["N"])
    ax.set_ylabel(LABELS["tau_ratio"])
    ax.legend(fontsize="small")
    fig.suptitle(title(data, rows, rf"Charging speed-up (Fig. 4), $\epsilon = {eps:g}$"))
    return fig


def fig5_tau_ratio_scaled(source: SweepData | Path | str) -> Figure:
    """Fig. 5: (tau_1/tau_N)/(N/ln N) vs N for N >= 2, with the estimate of Eq. 18-20 scaled alike."""
    data = as_data(source)
    n, ratio, x, eps, rows = tau_ratio_data(data)
    keep = n >= 2
    n, ratio = n[keep], ratio[keep]
    fig, (ax,) = new_figure(1, width=6.0)
    scale = n / np.log(n)
    draw(ax, n, ratio / scale, "tau_1/tau_eff/(N/lnN):collective", ls="none", marker="o",
          label="collective, Eq. 8")
    dense = dense_n(n)
    dense = dense[dense >= 2]
    draw(ax, dense, [cf.charging_time_ratio_estimate(int(k), x, eps) * math.log(k) / k for k in dense],
          "closed:tau_ratio_estimate_scaled", color="k", lw=1, label="estimate (Eq. 18-20)")
    ax.set_xscale("log")
    ax.set_xlabel(LABELS["N"])
    ax.set_ylabel(LABELS["tau_scaled"])
    ax.legend(fontsize="small")
    fig.suptitle(title(data, rows[keep], rf"Speed-up over $N/\ln N$ (Fig. 5), $\epsilon = {eps:g}$"))
    return fig
