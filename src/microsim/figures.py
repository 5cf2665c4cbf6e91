"""Figures of a sweep file: the paper's (Fig. 2-5) and the microscopic validity map.

Every figure is built from sweep HDF5 files (docs/hdf5.md) alone, read through
``microsim.dataset``: the /summary columns and the time series of ``/points/<key>``. Which figures a file
supports is decided by what was swept (root attribute ``swept``) and by whether the microscopic
columns hold numbers (``solver: {method: effective}`` leaves them NaN):

* effective only, one N: ``fig2ab`` (charging curves and fluctuation vs time, Fig. 2(a, b));
* effective only, N swept: ``fig2cd`` (e_N and sigma_N, Eq. 14-15), ``fig3`` (ergotropy/energy,
  Eq. 16), ``fig4`` (tau_1/tau_N, Eq. 17-20) and ``fig5`` (tau_1/tau_N over N/log N);
* microscopic, kappa or g swept: ``errors`` (eps_traj, eps_tau, D_max, eps_ss vs kappa, Eq. 7)
  and ``mic_vs_eff`` (charging curves of both descriptions for a few kappa at one N);
* microscopic, N swept at fixed g (or kappa): ``tau_ratio_mic_eff``;
* microscopic, kappa and bath parameters swept (criterion.BATH_AXES): ``criterion`` (an error
  against kappa and the candidate separation variables, one colour per bath configuration) in
  place of ``errors`` and ``mic_vs_eff``, which would mix the baths;
* microscopic, kappa and N swept: ``boundary`` (where eps_traj = 1 % and eps_tau = 10 %, vs N)
  and, at one bath configuration, ``speed_up`` (tau_1/tau_N at fixed kappa).

Several files can be read as one (dataset.combine), e.g. a sweep and its continuation in N.

Closed forms (Eq. 13-20, ``microsim.closed_forms``) are overlaid where they exist. Units: hbar = 1,
energies in units of w0, times in units of 1/w0. matplotlib is optional (``pip install
microsim[plot]``); it is imported only when a figure is drawn, and only the Agg canvas is used, so
no global pyplot state is touched.

Data lines carry a ``gid`` naming the /summary column or the point dataset they show (for instance
``E_ss_eff/N:collective`` or ``energy_mic@<key>``); guides and closed forms carry ``guide:...`` and
``closed:...``. Tests use the gids to compare the plotted numbers with the file.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterable, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
from numpy.typing import NDArray

from microsim import closed_forms as cf
from microsim import criterion
from microsim.dataset import SweepData, combine, load
from microsim.dataset import as_data as _as_data

if TYPE_CHECKING:
    from matplotlib.axes import Axes
    from matplotlib.figure import Figure

__all__ = [
    "FIGURES",
    "PlotDependencyError",
    "SweepData",
    "effective_point",
    "ergotropy_ratio_collective",
    "fig2ab_charging",
    "fig2cd_steady",
    "fig3_ergotropy",
    "fig4_tau_ratio",
    "fig5_tau_ratio_scaled",
    "fig_criterion",
    "fig_errors_vs_kappa",
    "fig_mic_vs_eff",
    "fig_tau_ratio_mic_eff",
    "load",
    "loglog_slope",
    "mic_vs_eff_rows",
    "microscopic_curves",
    "render",
    "single_value",
    "supported_figures",
    "tau_ratio_data",
    "tau_ratio_mic_eff_data",
]

FloatArray = NDArray[np.float64]

#: Error measures of the validity map (docs/physics.md §3), in panel order.
ERROR_MEASURES: tuple[str, ...] = ("eps_traj", "eps_tau", "D_max", "eps_ss")
#: eps_ss is exactly 0 without a battery environment (docs/physics.md §3); below this it is round-off
#: and its panel is left out.
EPS_SS_ROUNDOFF = 1e-9
#: At most this many kappa values in the microscopic-vs-effective charging figure.
MAX_CURVES = 4
#: Parameters that make the points of a file different physical problems along the kappa axis.
KAPPA_AXES = ("kappa", "g")

LABELS = {
    "time": r"$t$ [$1/w_0$]",
    "energy": r"$\langle H_B\rangle/(N w_0)$",
    "sigma": r"$\sigma/w_0$",
    "e_N": r"$e_N = \langle H_B\rangle_{\rm ss}/(N w_0)$",
    "sigma_N": r"$\sigma_N/w_0$",
    "N": r"$N$",
    "kappa": r"$\kappa$",
    "ergo_ratio": r"$\mathcal{E}_{\rm ss}/\langle H_B\rangle_{\rm ss}$",
    "tau_ratio": r"$\tau_1/\tau_N$",
    "tau_scaled": r"$(\tau_1/\tau_N)\,/\,(N/\ln N)$",
    "eps_traj": r"$\epsilon_{\rm traj}$",
    "eps_tau": r"$\epsilon_{\tau}$",
    "D_max": r"$D_{\max}$",
    "eps_ss": r"$\epsilon_{\rm ss}$",
}
#: How the title shows a parameter held fixed over the plotted points.
TITLE_SYMBOLS = {
    "n_batteries": "N", "n_engines": "M", "beta_e_w0": r"\beta_e w_0", "gamma_e": r"\Gamma_e/w_0",
    "kappa": r"\kappa", "g": "g/w_0",
}


class PlotDependencyError(ImportError):
    """matplotlib is not installed; figures need the optional ``plot`` extra."""


def _matplotlib() -> tuple[Any, Any]:
    """The Figure class and the Agg canvas, imported on first use."""
    try:
        from matplotlib.backends.backend_agg import FigureCanvasAgg
        from matplotlib.figure import Figure
    except ImportError as exc:
        raise PlotDependencyError(
            f"figures need matplotlib, which is not installed ({exc}); "
            "install it with `pip install microsim[plot]`"
        ) from None
    return Figure, FigureCanvasAgg


def _new_figure(ncols: int, nrows: int = 1, width: float = 5.0, height: float = 3.8
                ) -> tuple[Figure, list[Axes]]:
    figure_cls, canvas_cls = _matplotlib()
    fig = figure_cls(figsize=(width * ncols, height * nrows), layout="constrained")
    canvas_cls(fig)
    axes = fig.subplots(nrows, ncols, squeeze=False)
    return fig, list(axes.ravel())


# ---------------------------------------------------------------------------------- helpers
def _unique(values: np.ndarray) -> list[Any]:
    out: list[Any] = []
    for v in values.tolist():
        if not any(v == u or (isinstance(v, float) and isinstance(u, float)
                              and math.isclose(v, u, rel_tol=1e-9)) for u in out):
            out.append(v)
    return out


def single_value(data: SweepData, rows: NDArray[np.intp], name: str) -> Any:
    """The common value of a column over ``rows``, or None if it varies."""
    values = _unique(data.column(name)[rows])
    return values[0] if len(values) == 1 else None


def _fmt(value: Any) -> str:
    if isinstance(value, float | np.floating):
        return f"{float(value):.3g}"
    return str(value)


def _title(data: SweepData, rows: NDArray[np.intp], what: str,
           names: Sequence[str] = ("beta_e_w0", "gamma_e")) -> str:
    """'what' and the parameters held fixed over ``rows`` (sweep name and method last)."""
    parts = []
    for name in names:
        value = single_value(data, rows, name)
        if value is None:
            continue
        if name in ("gamma_e", "g"):
            w0 = single_value(data, rows, "w0") or 1.0
            value = float(value) / float(w0)
        parts.append(f"${TITLE_SYMBOLS.get(name, name)} = {_fmt(value)}$")
    method = single_value(data, rows, "method")
    source = "Eq. 8" if method == "effective" else f"{method} vs Eq. 8"
    return f"{what}\n{', '.join(parts)}  [{data.name}, {source}]"


def effective_point(data: SweepData, rows: NDArray[np.intp]) -> tuple[float, float, float] | None:
    """(beta_e w0, Gamma_e, w0) shared by ``rows``, or None if they differ or are not inverted."""
    x, gamma_e, w0 = (single_value(data, rows, k) for k in ("beta_e_w0", "gamma_e", "w0"))
    if x is None or gamma_e is None or w0 is None or not float(x) < 0:
        return None
    return float(x), float(gamma_e), float(w0)


def _dense_n(n: FloatArray, count: int = 200) -> FloatArray:
    """Integers log-spaced over the range of n, for closed-form curves."""
    return np.unique(np.round(np.geomspace(max(n.min(), 1), n.max(), count)))


def _epsilon(data: SweepData, rows: NDArray[np.intp]) -> float:
    eps = {float(data.point_attr(int(r), "epsilon")) for r in rows}
    if len(eps) != 1:
        raise ValueError(f"{data.path}: the rows use different tau thresholds epsilon {sorted(eps)}")
    return eps.pop()


def _plot(ax: Axes, x: Any, y: Any, gid: str, **kw: Any) -> None:
    (line,) = ax.plot(np.asarray(x, dtype=float), np.asarray(y, dtype=float), **kw)
    line.set_gid(gid)


def _protocols(data: SweepData, rows: NDArray[np.intp]) -> list[str]:
    present = set(data.column("protocol")[rows].tolist())
    return [p for p in ("collective", "individual") if p in present]


MARKERS = {"collective": "o", "individual": "s"}
COLORS = {"collective": "C0", "individual": "C1"}


def loglog_slope(x: Sequence[float] | FloatArray, y: Sequence[float] | FloatArray,
                 x_max: float | None = None) -> tuple[float, float, float]:
    """Least-squares slope of log y against log x over the points with x <= x_max.

    Used for the error law of adiabatic elimination, eps ~ kappa^2 (Eq. 7-8). Points with
    non-positive or non-finite values are left out; if fewer than two remain below x_max, the two
    smallest x are used. Returns (slope, x_lo, x_hi), the range actually fitted.
    """
    x, y = np.asarray(x, dtype=float), np.asarray(y, dtype=float)
    ok = np.isfinite(x) & np.isfinite(y) & (x > 0) & (y > 0)
    x, y = x[ok], y[ok]
    order = np.argsort(x)
    x, y = x[order], y[order]
    if x.size < 2:
        raise ValueError(f"a slope needs at least two positive points, got {x.size}")
    use = x <= x_max if x_max is not None else np.ones(x.size, dtype=bool)
    if use.sum() < 2:
        use = np.arange(x.size) < 2
    slope = np.polyfit(np.log(x[use]), np.log(y[use]), 1)[0]
    return float(slope), float(x[use][0]), float(x[use][-1])


# ---------------------------------------------------------------------------------- Fig. 2(a, b)
def fig2ab_charging(source: SweepData | Path | str) -> Figure:
    """Fig. 2(a, b): <H_B>(t)/(N w0) and sigma(t)/w0 of every point, with the steady-state lines.

    Effective solution of Eq. 8 (solid); microscopic (dashed) where the file has it. Steady-state
    lines: collective N e_N (Eq. 14) and sigma_N of Eq. 13; individual (Eq. 6) the single-battery
    values, energies N e_1 and fluctuation sqrt(N) sigma_1.
    """
    data = _as_data(source)
    rows = data.rows(sort_by=["protocol", *data.swept])
    fig, (ax_e, ax_s) = _new_figure(2)
    colors = _colors(len(rows))
    for color, r in zip(colors, rows, strict=True):
        r = int(r)
        key = str(data.column("key")[r])
        n, w0 = int(data.column("n_batteries")[r]), float(data.column("w0")[r])
        t = data.array(r, "t") * w0
        label = _row_label(data, r)
        _plot(ax_e, t, data.array(r, "energy_eff") / (n * w0), f"energy_eff@{key}", color=color,
              label=f"{label} (Eq. 8)")
        _plot(ax_s, t, data.array(r, "sigma_eff") / w0, f"sigma_eff@{key}", color=color,
              label=f"{label} (Eq. 8)")
        if np.isfinite(data.column("E_ss_mic")[r]):
            _plot(ax_e, t, data.array(r, "energy_mic") / (n * w0), f"energy_mic@{key}",
                  color=color, ls="--", label=f"{label} (microscopic)")
            _plot(ax_s, t, data.array(r, "sigma_mic") / w0, f"sigma_mic@{key}", color=color,
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
    fig.suptitle(_title(data, rows, "Charging and fluctuation (Fig. 2(a, b))",
                        ("n_batteries", "beta_e_w0", "gamma_e")))
    return fig


def _colors(n: int) -> list[Any]:
    _matplotlib()
    from matplotlib import colormaps

    if n <= 10:
        return [colormaps["tab10"](i) for i in range(n)]
    return [colormaps["viridis"](i / (n - 1) * 0.9) for i in range(n)]  # no repeated colour


def _row_label(data: SweepData, row: int) -> str:
    """The swept values of one row, e.g. 'collective, N = 10'."""
    parts = []
    for name in data.swept or ("protocol",):
        value = data.column(name)[row]
        if name == "protocol":
            parts.append(str(value))
        else:
            parts.append(f"${TITLE_SYMBOLS.get(name, name)} = {_fmt(value)}$")
    if "protocol" not in data.swept:
        parts.insert(0, str(data.column("protocol")[row]))
    return ", ".join(parts)


# ---------------------------------------------------------------------------------- vs N
def _vs_n_rows(data: SweepData) -> dict[str, NDArray[np.intp]]:
    return {p: data.rows(sort_by="n_batteries", protocol=p)
            for p in _protocols(data, data.rows())}


def fig2cd_steady(source: SweepData | Path | str) -> Figure:
    """Fig. 2(c, d): capacity e_N (Eq. 14) and fluctuation sigma_N (Eq. 13, limit Eq. 15) vs N.

    Markers: the effective steady states of the file (e_N = E_ss_eff/(N w0)); lines: the closed
    forms at the file's beta_e w0, the N -> infinity limits e_N -> 1 and (w0/2) csch(-x/2), and
    the individual values e_1 and sqrt(N) sigma_1 (Eq. 6).
    """
    data = _as_data(source)
    groups = _vs_n_rows(data)
    every = data.rows()
    point = effective_point(data, every)
    fig, (ax_e, ax_s) = _new_figure(2)
    for protocol, rows in groups.items():
        n = data.column("n_batteries")[rows].astype(float)
        w0 = data.column("w0")[rows].astype(float)
        e_n = data.column("E_ss_eff")[rows] / (n * w0)
        sigma = np.array([data.steady(int(r), "sigma") for r in rows]) / w0
        style = {"ls": "none", "marker": MARKERS[protocol], "color": COLORS[protocol],
                 "label": f"{protocol}, Eq. 8"}
        _plot(ax_e, n, e_n, f"E_ss_eff/N:{protocol}", **style)
        _plot(ax_s, n, sigma, f"sigma_ss_eff:{protocol}", **style)
    if point is not None:
        x, _, w0 = point
        n_all = data.column("n_batteries")[every].astype(float)
        dense = _dense_n(n_all)
        if "collective" in groups:
            _plot(ax_e, dense, [cf.capacity(int(k), x) for k in dense], "closed:capacity",
                  color="k", lw=1, label=r"collective, Eq. 14")
            _plot(ax_s, dense, [cf.fluctuation(int(k), x, w0) / w0 for k in dense],
                  "closed:fluctuation", color="k", lw=1, label="collective, Eq. 13")
            ax_e.axhline(1.0, color="0.5", ls=":", gid="closed:capacity_limit",
                         label=r"$N\to\infty$: $e_N \to 1$")
            limit = cf.fluctuation_limit(x, w0) / w0
            ax_s.axhline(limit, color="0.5", ls=":", gid="closed:fluctuation_limit",
                         label=rf"$N\to\infty$, Eq. 15: $\frac{{1}}{{2}}{{\rm csch}}(-x/2) = {limit:.4f}$")
        ax_e.axhline(cf.capacity(1, x), color="C1", ls="--", lw=1, gid="closed:capacity_individual",
                     label=rf"individual: $e_1 = {cf.capacity(1, x):.4f}$")
        if "individual" in groups:
            _plot(ax_s, dense, np.sqrt(dense) * cf.fluctuation(1, x, w0) / w0,
                  "closed:fluctuation_individual", color="C1", ls="--", lw=1,
                  label=r"individual: $\sqrt{N}\,\sigma_1$")
            ax_s.set_yscale("log")
    for ax, ylabel, tag in ((ax_e, "e_N", "(c)"), (ax_s, "sigma_N", "(d)")):
        ax.set_xscale("log")
        ax.set_xlabel(LABELS["N"])
        ax.set_ylabel(LABELS[ylabel])
        ax.set_title(tag, loc="left")
        ax.legend(fontsize="small")
    fig.suptitle(_title(data, every, "Steady-state capacity and fluctuation (Fig. 2(c, d))"))
    return fig


def ergotropy_ratio_collective(n: int, x: float, w0: float = 1.0) -> float:
    """Ergotropy/energy of the collective steady state: 1 - w0 (1 - e^{-xN}/Z_N)/(N w0 e_N) (Eq. 14, 16)."""
    return 1.0 - cf.passive_energy_collective(n, x, w0) / (n * w0 * cf.capacity(n, x))


def fig3_ergotropy(source: SweepData | Path | str) -> Figure:
    """Fig. 3: ergotropy/energy of the steady state vs N (Eq. 16).

    Collective: 1 - w0 (1 - e^{-xN}/Z_N)/(N w0 e_N) -> 1; individual: 1 - e^{x} for every N.
    """
    data = _as_data(source)
    groups = _vs_n_rows(data)
    every = data.rows()
    point = effective_point(data, every)
    fig, (ax,) = _new_figure(1, width=6.0)
    for protocol, rows in groups.items():
        n = data.column("n_batteries")[rows].astype(float)
        ratio = np.array([data.steady(int(r), "ergotropy") for r in rows]) / \
            data.column("E_ss_eff")[rows]
        _plot(ax, n, ratio, f"ergotropy_ss_eff/E_ss_eff:{protocol}", ls="none",
              marker=MARKERS[protocol], color=COLORS[protocol], label=f"{protocol}, Eq. 8")
    if point is not None:
        x, _, w0 = point
        dense = _dense_n(data.column("n_batteries")[every].astype(float))
        if "collective" in groups:
            closed = [ergotropy_ratio_collective(int(k), x, w0) for k in dense]
            _plot(ax, dense, closed, "closed:ergotropy_ratio", color="k", lw=1,
                  label="collective, Eq. 16")
        individual = 1.0 - math.exp(x)
        ax.axhline(individual, color="C1", ls="--", lw=1, gid="closed:ergotropy_ratio_individual",
                   label=rf"individual: $1 - e^{{\beta_e w_0}} = {individual:.4f}$")
    ax.set_xscale("log")
    ax.set_xlabel(LABELS["N"])
    ax.set_ylabel(LABELS["ergo_ratio"])
    ax.legend(fontsize="small")
    fig.suptitle(_title(data, every, "Ergotropy per energy of the steady state (Fig. 3)"))
    return fig


def tau_ratio_data(data: SweepData) -> tuple[FloatArray, FloatArray, float, float, NDArray[np.intp]]:
    """N, tau_1/tau_N (tau_1 exact, Eq. 17 at N = 1), x and epsilon of the collective rows."""
    rows = data.rows(sort_by="n_batteries", protocol="collective")
    point = effective_point(data, rows)
    if point is None:
        raise ValueError(f"{data.path}: the collective rows need one beta_e_w0 < 0 and one gamma_e")
    x, gamma_e, _ = point
    eps = _epsilon(data, rows)
    tau = data.column("tau_eff")[rows].astype(float)
    ok = np.isfinite(tau)
    rows = rows[ok]
    n = data.column("n_batteries")[rows].astype(float)
    return n, cf.charging_time_single(gamma_e, x, eps) / tau[ok], x, eps, rows


def fig4_tau_ratio(source: SweepData | Path | str) -> Figure:
    """Fig. 4: tau_1/tau_N vs N (Eq. 17) with the mean-field N/log N estimate (Eq. 18-20).

    tau_N is the file's tau_eff; tau_1 = ln(1/eps)/(Gamma_e (1 + e^{-x})) exactly.
    """
    data = _as_data(source)
    n, ratio, x, eps, rows = tau_ratio_data(data)
    fig, (ax,) = _new_figure(1, width=6.0)
    _plot(ax, n, ratio, "tau_1/tau_eff:collective", ls="none", marker="o",
          label=r"collective, Eq. 8 ($\tau_1$ exact)")
    dense = _dense_n(n)
    _plot(ax, dense, [cf.charging_time_ratio_estimate(int(k), x, eps) for k in dense],
          "closed:tau_ratio_estimate", color="k", lw=1, label=r"estimate $\propto N/\ln N$ (Eq. 18-20)")
    ax.set_xscale("log")
    ax.set_yscale("log")
    ax.set_xlabel(LABELS["N"])
    ax.set_ylabel(LABELS["tau_ratio"])
    ax.legend(fontsize="small")
    fig.suptitle(_title(data, rows, rf"Charging speed-up (Fig. 4), $\epsilon = {eps:g}$"))
    return fig


def fig5_tau_ratio_scaled(source: SweepData | Path | str) -> Figure:
    """Fig. 5: (tau_1/tau_N)/(N/ln N) vs N for N >= 2, with the estimate of Eq. 18-20 scaled alike."""
    data = _as_data(source)
    n, ratio, x, eps, rows = tau_ratio_data(data)
    keep = n >= 2
    n, ratio = n[keep], ratio[keep]
    fig, (ax,) = _new_figure(1, width=6.0)
    scale = n / np.log(n)
    _plot(ax, n, ratio / scale, "tau_1/tau_eff/(N/lnN):collective", ls="none", marker="o",
          label="collective, Eq. 8")
    dense = _dense_n(n)
    dense = dense[dense >= 2]
    _plot(ax, dense, [cf.charging_time_ratio_estimate(int(k), x, eps) * math.log(k) / k for k in dense],
          "closed:tau_ratio_estimate_scaled", color="k", lw=1, label="estimate (Eq. 18-20)")
    ax.set_xscale("log")
    ax.set_xlabel(LABELS["N"])
    ax.set_ylabel(LABELS["tau_scaled"])
    ax.legend(fontsize="small")
    fig.suptitle(_title(data, rows[keep], rf"Speed-up over $N/\ln N$ (Fig. 5), $\epsilon = {eps:g}$"))
    return fig


# ---------------------------------------------------------------------------------- microscopic
def microscopic_curves(data: SweepData) -> dict[tuple[int, str], NDArray[np.intp]]:
    """Microscopic rows grouped by (N, protocol), each sorted by kappa."""
    out: dict[tuple[int, str], NDArray[np.intp]] = {}
    for r in data.rows(sort_by=["protocol", "n_batteries", "kappa"]):
        if not np.isfinite(data.column("E_ss_mic")[r]):
            continue
        group = (int(data.column("n_batteries")[r]), str(data.column("protocol")[r]))
        out[group] = np.append(out.get(group, np.array([], dtype=np.intp)), r)
    return out


def _error_measures(data: SweepData) -> list[str]:
    rows = data.rows()
    measures = list(ERROR_MEASURES[:3])
    eps_ss = data.column("eps_ss")[rows].astype(float)
    if np.nanmax(np.abs(eps_ss), initial=0.0) > EPS_SS_ROUNDOFF:
        measures.append("eps_ss")
    return measures


def fig_errors_vs_kappa(source: SweepData | Path | str) -> Figure:
    """Error measures of the effective description vs kappa (Eq. 7) on log-log axes.

    One curve per (N, protocol); the dotted guide is C kappa^2, the leading order of adiabatic
    elimination, through the smallest-kappa point of the first curve. eps_ss gets a panel only if
    it exceeds round-off (it vanishes exactly without a battery environment, docs/physics.md §3).
    """
    data = _as_data(source)
    curves = microscopic_curves(data)
    measures = _error_measures(data)
    fig, axes = _new_figure(len(measures), width=4.2)
    sizes = sorted({n for n, _ in curves})
    colors = dict(zip(sizes, _colors(len(sizes)), strict=True))  # one colour per N
    every = np.concatenate(list(curves.values())) if curves else np.array([], dtype=np.intp)
    legend: dict[str, Any] = {}
    for ax, measure in zip(axes, measures, strict=True):
        guide_anchor: tuple[float, float] | None = None
        for (n, protocol), rows in curves.items():
            color = colors[n]
            kappa = data.column("kappa")[rows].astype(float)
            value = data.column(measure)[rows].astype(float)
            ok = np.isfinite(value) & (value > 0)
            if not ok.any():
                continue
            individual = protocol == "individual"
            _plot(ax, kappa[ok], value[ok], f"{measure}:{n}:{protocol}", color=color,
                  marker="s" if individual else "o", ls="--" if individual else "-",
                  mfc="none" if individual else color, label=f"$N = {n}$, {protocol}")
            legend.setdefault(f"$N = {n}$, {protocol}", ax.lines[-1])
            if guide_anchor is None:
                guide_anchor = (kappa[ok][0], value[ok][0])
        if guide_anchor is not None:
            k_all = data.column("kappa")[every].astype(float)
            # the guide spans one decade from the anchor, so it does not stretch the axis
            k = np.geomspace(k_all.min(), min(k_all.max(), 10 * k_all.min()), 50)
            _plot(ax, k, guide_anchor[1] * (k / guide_anchor[0]) ** 2, f"guide:kappa2:{measure}",
                  color="0.4", ls=":", label=r"$\propto\kappa^2$")
            legend.setdefault("guide", ax.lines[-1])
        ax.set_xscale("log")
        ax.set_yscale("log")
        ax.set_xlabel(LABELS["kappa"])
        ax.set_ylabel(LABELS[measure])
    handles = [legend[k] for k in legend if k != "guide"] + [legend[k] for k in legend if k == "guide"]
    fig.legend(handles, [h.get_label() for h in handles], loc="outside right center",
               fontsize="x-small", ncol=2 if len(handles) > 14 else 1)
    fig.suptitle(_title(data, every, "Effective (Eq. 8) vs microscopic: errors against the "
                        r"time-scale separation $\kappa$ (Eq. 7)"))
    return fig


def corrected_curves(data: SweepData) -> dict[tuple[tuple[float, ...], int], NDArray[np.intp]]:
    """Collective rows with both Eq. 8's and the corrected errors, grouped by (bath, N) and sorted
    by kappa; the bath is (Gamma_c/Gamma_h, w_h, beta_c). The individual protocol is left out: there
    the corrected description is the exact pair (docs/physics.md §7)."""
    if "eps_traj_corr" not in data.summary:
        return {}
    out: dict[tuple[tuple[float, ...], int], NDArray[np.intp]] = {}
    for r in data.rows(sort_by=["n_batteries", "kappa"]):
        if str(data.column("protocol")[r]) != "collective" or \
                not np.isfinite(data.column("eps_traj")[r]):
            continue
        ratio = float(data.column("gamma_c")[r]) / float(data.column("gamma_h")[r])
        bath = (round(ratio, 9), float(data.column("wh")[r]), float(data.column("beta_c")[r]))
        group = (bath, int(data.column("n_batteries")[r]))
        out[group] = np.append(out.get(group, np.array([], dtype=np.intp)), r)
    return out


def bath_text(bath: tuple[float, ...]) -> str:
    """'Gamma_c/Gamma_h = r, w_h = ., beta_c = .' of a corrected_curves bath."""
    r, wh, beta_c = bath
    return rf"$\Gamma_c/\Gamma_h = {r:g}$, $\omega_h = {wh:g}$, $\beta_c = {beta_c:g}$"


def fig_corrected(source: SweepData | Path | str) -> Figure:
    """eps_traj and eps_tau of Eq. 8 (filled, solid) and of the corrected description (open,
    dashed; docs/physics.md §7) against kappa, one colour per N, one column per bath
    configuration; dotted guides C kappa^2 and C kappa^4 through the smallest-kappa points."""
    data = _as_data(source)
    curves = corrected_curves(data)
    baths = sorted({bath for bath, _ in curves})
    sizes = sorted({n for _, n in curves})
    colors = dict(zip(sizes, _colors(len(sizes)), strict=True))
    measures = ("eps_traj", "eps_tau")
    fig, axes = _new_figure(len(baths), len(measures), width=4.0 if len(baths) > 1 else 6.5,
                            height=3.3)
    legend: dict[str, Any] = {}
    for c, bath in enumerate(baths):
        for r, measure in enumerate(measures):
            ax = axes[r * len(baths) + c]
            for (b, n), rows in curves.items():
                if b != bath:
                    continue
                kappa = data.column("kappa")[rows].astype(float)
                for suffix, style in (("", dict(ls="-", marker="o")),
                                      ("_corr", dict(ls="--", marker="s", mfc="none"))):
                    y = data.column(measure + suffix)[rows].astype(float)
                    ok = np.isfinite(y) & (y > 0)
                    if ok.any():
                        _plot(ax, kappa[ok], y[ok], f"{measure}{suffix}:{bath}:{n}",
                              color=colors[n], ms=3, label=f"$N = {n}$", **style)
                        legend.setdefault(f"$N = {n}$", ax.lines[-1])
            ax.set_xscale("log")
            ax.set_yscale("log")
            ax.set_xlabel(LABELS["kappa"])
            ax.set_ylabel(LABELS[measure])
            if r == 0:
                ax.set_title(bath_text(bath), fontsize="small")
    line = _matplotlib_line()
    style = [line([], [], color="0.3", ls="-", marker="o", label="Eq. 8"),
             line([], [], color="0.3", ls="--", marker="s", mfc="none", label="corrected (§7)")]
    handles = style + list(legend.values())
    fig.legend(handles, [h.get_label() for h in handles], loc="outside right center",
               fontsize="x-small")
    every = np.concatenate(list(curves.values())) if curves else np.array([], dtype=np.intp)
    fig.suptitle(_title(data, every, "Errors of Eq. 8 and of the corrected description (§7)"))
    return fig


def _matplotlib_line() -> Callable[..., Any]:
    from matplotlib.lines import Line2D

    return Line2D


def fig_criterion(source: SweepData | Path | str, measure: str = "eps_traj") -> Figure:
    """The criterion test: one error measure against kappa (Eq. 7) and the two candidate variables
    kappa_01, kappa_up (docs/physics.md §3), one colour per bath configuration, at the largest N of
    the file; one row per protocol. A variable that governs the error puts the colours on one
    curve; the panel titles give the prefactor spread of the v^2 law (criterion.collapse)."""
    from matplotlib.ticker import NullFormatter

    data = _as_data(source)
    rows = data.rows()
    n = int(max(data.column("n_batteries")[rows]))
    protocols = _protocols(data, rows)
    fig, axes = _new_figure(len(criterion.VARIABLES), len(protocols), width=4.0, height=3.3)
    legend: dict[str, Any] = {}
    for r, protocol in enumerate(protocols):
        for c, variable in enumerate(criterion.VARIABLES):
            ax = axes[r * len(criterion.VARIABLES) + c]
            curves = criterion.bath_curves(data, measure, variable, protocol, n)
            colors = _colors(len(curves))
            for color, (label, (v, y, _)) in zip(colors, curves.items(), strict=True):
                _plot(ax, v, y, f"{measure}:{variable}:{protocol}:{label}", color=color,
                      marker="o", ms=3, label=label)
                legend.setdefault(label, ax.lines[-1])
            _, spread, _ = criterion.collapse(list(curves.values()))
            xs = np.concatenate([v for v, _, _ in curves.values()]) if curves else np.ones(1)
            if xs.max() <= xs.min() * (1 + 1e-6):  # one kappa per bath (thin large-N grid): dots
                ax.set_xlim(xs.min() / 2, xs.max() * 2)
            ax.set_xscale("log")
            ax.set_yscale("log")
            ax.xaxis.set_minor_formatter(NullFormatter())  # they collide on a short decade
            ax.set_xlabel(CRITERION_LABELS[variable])
            ax.set_ylabel(LABELS[measure])
            ax.set_title(f"{protocol}, $N = {n}$: $A$ spread {_fmt(spread)}", fontsize="small")
    fig.legend(list(legend.values()), list(legend), loc="outside right center", fontsize="x-small")
    fig.suptitle(_title(data, rows, f"Does one variable collapse {measure} across the baths?"))
    return fig


def fig_boundary(source: SweepData | Path | str) -> Figure:
    """The validity boundary against N: the kappa (Eq. 7, left) and kappa_01 (right) at which
    eps_traj reaches 1 % (top) and eps_tau 10 % (bottom) (criterion.LEVELS, criterion.crossing),
    on log-log axes; collective solid, individual dashed; one colour per bath configuration if
    the file has several, with the fitted exponent of N (N >= 2) in each panel's legend if it
    has one. If Eq. 7's sqrt(N) is right, the boundary in kappa is flat."""
    data = _as_data(source)
    variables = ("kappa", "kappa_01")
    measures = [m for m in criterion.LEVELS]
    found = [b for b in criterion.boundaries(data, variables) if math.isfinite(b.value)]
    baths = _unique(np.array([b.bath for b in found], dtype=object))
    several = len(baths) > 1
    colors = _colors(len(baths))
    fig, axes = _new_figure(len(variables), len(measures), width=4.6, height=3.2)
    legend: dict[str, Any] = {}
    for r, measure in enumerate(measures):
        for c, variable in enumerate(variables):
            ax = axes[r * len(variables) + c]
            for protocol in ("collective", "individual"):
                for bath in baths:
                    mine = sorted((b for b in found if (b.protocol, b.measure, b.bath, b.variable)
                                   == (protocol, measure, bath, variable)),
                                  key=lambda b: b.n_batteries)
                    if not mine:
                        continue
                    n = np.array([b.n_batteries for b in mine], dtype=float)
                    value = np.array([b.value for b in mine])
                    color = colors[baths.index(bath)] if several else COLORS[protocol]
                    alpha = criterion.exponent(n[n >= 2], value[n >= 2])
                    label = protocol if several or not math.isfinite(alpha) else \
                        rf"{protocol} ($\alpha = {0.0 if abs(alpha) < 5e-4 else alpha:.2f}$)"
                    _plot(ax, n, value, f"boundary:{variable}:{measure}:{protocol}:{bath}",
                          color=color, marker=MARKERS[protocol], ms=4,
                          ls="-" if protocol == "collective" else "--",
                          mfc=color if protocol == "collective" else "none", label=label)
                    if several:
                        legend.setdefault(bath, ax.lines[-1])
            ax.set_xscale("log")
            ax.set_yscale("log")
            ax.set_xlabel(LABELS["N"])
            ax.set_ylabel(CRITERION_LABELS[variable])
            ax.set_title(f"{measure} = {_fmt(criterion.LEVELS[measure])}", fontsize="small")
            if ax.lines and not several:
                ax.legend(fontsize="x-small")
    if several:
        handles = [ax.plot([], [], color="0.3", marker=MARKERS[p], mfc="0.3" if p == "collective"
                           else "none", ls="-" if p == "collective" else "--", label=p,
                           gid=f"key:{p}")[0] for p in ("collective", "individual")]
        handles += [ax.plot([], [], color=colors[i], label=bath, gid=f"key:{bath}")[0]
                    for i, bath in enumerate(baths)]
        fig.legend(handles, [h.get_label() for h in handles], loc="outside right center",
                   fontsize="x-small")
    fig.suptitle(_title(data, data.rows(), r"Validity boundary of Eq. 8 against $N$ "
                        r"($\alpha$: fit $\propto N^\alpha$, $N \geq 2$)"))
    return fig


def speed_up_data(data: SweepData) -> dict[float, dict[str, FloatArray]]:
    """By kappa: N, tau_1/tau_N microscopic and Eq. 8, and tau_mic/tau_eff, over the collective
    rows of that kappa, tau_1 being each description's own N = 1 value at the same kappa (kappa
    values without an N = 1 row or with fewer than three N are left out)."""
    rows = data.rows(sort_by=("kappa", "n_batteries"), protocol="collective")
    kappa = data.column("kappa")[rows].astype(float)
    out: dict[float, dict[str, FloatArray]] = {}
    for value in _unique(kappa):
        mine = rows[np.isclose(kappa, value, rtol=1e-9)]
        mine = mine[np.argsort(data.column("n_batteries")[mine], kind="stable")]
        n = data.column("n_batteries")[mine].astype(float)
        mic, eff = (data.column(f"tau_{k}")[mine].astype(float) for k in ("mic", "eff"))
        ok = np.isfinite(mic) & np.isfinite(eff)
        if not (n[ok] == 1).any() or ok.sum() < 3:
            continue
        first = int(np.flatnonzero(ok & (n == 1))[0])
        out[float(value)] = {"n": n[ok], "mic": mic[first] / mic[ok], "eff": eff[first] / eff[ok],
                             "lag": mic[ok] / eff[ok]}
    return out


def fig_speed_up(source: SweepData | Path | str) -> Figure:
    """The collective speed-up tau_1/tau_N (Eq. 17) at fixed kappa, microscopic (one colour per
    kappa) against Eq. 8 (black, the same for every kappa at fixed effective dynamics), and the
    lag tau_mic/tau_eff against N."""
    data = _as_data(source)
    curves = speed_up_data(data)
    fig, (ax, lag) = _new_figure(2, width=4.6, height=3.8)
    widest = max(curves.values(), key=lambda c: c["n"].size)
    _plot(ax, widest["n"], widest["eff"], "speed_up:eff", color="k", ls="--", marker="s", ms=3,
          label="Eq. 8", zorder=3)
    for color, (kappa, c) in zip(_colors(len(curves)), curves.items(), strict=True):
        label = rf"$\kappa = {_fmt(kappa)}$"
        _plot(ax, c["n"], c["mic"], f"speed_up:mic:{kappa:.6g}", color=color, marker="o", ms=3,
              label=label)
        _plot(lag, c["n"], c["lag"], f"lag:{kappa:.6g}", color=color, marker="o", ms=3, label=label)
    for a in (ax, lag):
        a.set_xscale("log")
        a.set_xlabel(LABELS["N"])
    ax.set_yscale("log")
    lag.set_yscale("log")
    ax.set_ylabel(LABELS["tau_ratio"])
    lag.set_ylabel(r"$\tau_{mic}/\tau_{eff}$")
    lag.axhline(1.0, color="0.6", lw=0.8)
    handles, labels = ax.get_legend_handles_labels()
    fig.legend(handles, labels, loc="outside right center", fontsize="x-small")
    fig.suptitle(_title(data, data.rows(protocol="collective"),
                        "Collective speed-up at fixed $\\kappa$: microscopic vs Eq. 8"))
    return fig


#: Axis labels of the candidate separation variables.
CRITERION_LABELS = {
    "kappa": r"$\kappa$ (Eq. 7)",
    "kappa_01": r"$\kappa_{01} = g_e N'/\gamma_{01}$",
    "kappa_up": r"$\kappa_{\uparrow} = g_e N'/\min_b \Gamma_b e^{-\beta_b w_b}$",
}


def mic_vs_eff_rows(data: SweepData) -> tuple[int, str, NDArray[np.intp]]:
    """(N, protocol, rows) for the charging comparison: the group with most kappa values (ties:
    largest N), at most MAX_CURVES kappa spread over its range."""
    curves = microscopic_curves(data)
    (n, protocol), rows = max(curves.items(), key=lambda item: (item[1].size, item[0][0]))
    if rows.size > MAX_CURVES:
        pick = np.unique(np.round(np.linspace(0, rows.size - 1, MAX_CURVES)).astype(int))
        rows = rows[pick]
    return n, protocol, rows


def fig_mic_vs_eff(source: SweepData | Path | str) -> Figure:
    """Charging curves <H_B>(t)/(N w0), microscopic (solid) against Eq. 8 (dashed) and, where the
    file has it, the corrected description (dotted, docs/physics.md §7), for a few kappa at one N,
    and their differences; the maximum over t is eps_traj (docs/physics.md §3).

    Time in units of Eq. 8's charging time tau_eff (the same for every kappa at fixed effective
    dynamics) on a log axis: at kappa = 1 the microscopic charging takes 30-100 tau_eff, and on a
    linear axis the small-kappa curves shrank into its first percent. t = 0 is left out."""
    data = _as_data(source)
    n, protocol, rows = mic_vs_eff_rows(data)
    fig, (ax, ax_d) = _new_figure(2, width=5.2)
    legend: dict[str, Any] = {}
    corrected = False
    for color, r in zip(_colors(rows.size), rows, strict=True):
        r = int(r)
        key = str(data.column("key")[r])
        w0 = float(data.column("w0")[r])
        t = data.array(r, "t") / float(data.column("tau_eff")[r])
        show = t > 0
        mic = data.array(r, "energy_mic") / (n * w0)
        eff = data.array(r, "energy_eff") / (n * w0)
        label = rf"$\kappa = {_fmt(float(data.column('kappa')[r]))}$"
        _plot(ax, t[show], mic[show], f"energy_mic@{key}", color=color, label=label)
        _plot(ax, t[show], eff[show], f"energy_eff@{key}", color=color, ls="--")
        legend.setdefault(label, ax.lines[-2])
        _plot(ax_d, t[show], (mic - eff)[show], f"energy_mic-energy_eff@{key}", color=color)
        corr = _series_or_none(data, r, "energy_corr")
        if corr is not None and np.isfinite(corr).all():
            corr = corr / (n * w0)
            _plot(ax, t[show], corr[show], f"energy_corr@{key}", color=color, ls=":")
            _plot(ax_d, t[show], (mic - corr)[show], f"energy_mic-energy_corr@{key}",
                  color=color, ls=":")
            corrected = True
    legend["microscopic"] = ax.plot([], [], color="0.3", label="microscopic", gid="key:mic")[0]
    legend["Eq. 8"] = ax.plot([], [], color="0.3", ls="--", label="Eq. 8", gid="key:eff")[0]
    if corrected:
        legend["corrected (§7)"] = ax.plot([], [], color="0.3", ls=":", label="corrected (§7)",
                                           gid="key:corr")[0]
    ax.set_ylabel(LABELS["energy"])
    ax_d.set_ylabel(r"$(\langle H_B\rangle_{\rm mic} - \langle H_B\rangle_{\rm eff})/(N w_0)$")
    ax_d.axhline(0.0, color="0.5", lw=0.8, gid="guide:zero")
    for a in (ax, ax_d):
        a.set_xscale("log")
        a.set_xlabel(r"$t/\tau_{\rm eff}$ ($\tau_{\rm eff}$: Eq. 8, Eq. 17)")
    fig.legend(list(legend.values()), list(legend), loc="outside right center", fontsize="small")
    fig.suptitle(_title(data, rows, f"Microscopic vs effective charging, $N = {n}$, {protocol}"))
    return fig


def _series_or_none(data: SweepData, row: int, name: str) -> FloatArray | None:
    """A point's series, or None where the file predates it (schema < 1.4 for the _corr ones)."""
    try:
        return data.array(row, name)
    except (KeyError, ValueError):
        return None


def tau_ratio_mic_eff_data(data: SweepData) -> dict[str, Any]:
    rows = np.array([r for r in data.rows(sort_by="n_batteries", protocol="collective")
                     if np.isfinite(data.column("E_ss_mic")[r])], dtype=np.intp)
    n = data.column("n_batteries")[rows].astype(float)
    out: dict[str, Any] = {"rows": rows, "n": n}
    single = rows[n == 1]
    for kind in ("mic", "eff"):
        tau = data.column(f"tau_{kind}")[rows].astype(float)
        if single.size:
            tau_1 = float(data.column(f"tau_{kind}")[single[0]])
            out["tau_1_source"] = "N = 1 row of the file"
        else:
            point = effective_point(data, rows)
            if point is None:
                raise ValueError(f"{data.path}: no N = 1 row and no common inverted beta_e_w0")
            tau_1 = cf.charging_time_single(point[1], point[0], _epsilon(data, rows))
            out["tau_1_source"] = "exact effective tau_1 (Eq. 17)"
        out[kind] = tau_1 / tau
    return out


def speed_up_large_data(data: SweepData) -> dict[float, dict[str, tuple[FloatArray, FloatArray]]]:
    """tau_1/tau_N by fixed coupling g and description ('mic', 'eff', 'corr'): (N, ratio), each
    from the rows where that description's tau is finite, tau_1 from its own N = 1 row (a
    description without one is left out). Files read together may repeat an N: the first counts."""
    out: dict[float, dict[str, tuple[FloatArray, FloatArray]]] = {}
    rows = data.rows(sort_by="n_batteries", protocol="collective")
    g = data.column("g").astype(float)
    for value in sorted({round(float(g[r]), 12) for r in rows}):
        group = [r for r in rows if abs(g[r] - value) <= 1e-9 * value]
        out[value] = {}
        for kind in ("mic", "eff", "corr"):
            n_seen: dict[int, float] = {}
            for r in group:
                tau = float(data.column(f"tau_{kind}")[r])
                n = int(data.column("n_batteries")[r])
                if math.isfinite(tau) and n not in n_seen:
                    n_seen[n] = tau
            if 1 in n_seen and len(n_seen) > 1:
                n_arr = np.array(sorted(n_seen), dtype=float)
                tau_arr = np.array([n_seen[int(k)] for k in n_arr])
                out[value][kind] = (n_arr, n_seen[1] / tau_arr)
    return out


def fig_speed_up_large(source: SweepData | Path | str) -> Figure:
    """tau_1/tau_N (Eq. 17) vs N at fixed g: Eq. 8 (line), the corrected description (dashed,
    open squares; docs/physics.md §7) to N = 1000 where it is stable, and the exact model (dots)
    where the files have it, one colour per g."""
    from matplotlib.ticker import ScalarFormatter

    data = _as_data(source)
    curves = speed_up_large_data(data)
    fig, (ax,) = _new_figure(1, width=8.0, height=4.6)
    styles = {"eff": dict(ls="-", marker="none"),
              "corr": dict(ls="--", marker="s", mfc="none", ms=4),
              "mic": dict(ls="none", marker="o", ms=6)}
    names = {"eff": "Eq. 8", "corr": "corrected (§7)", "mic": "exact"}
    for color, (g, by_kind) in zip(_colors(len(curves)), curves.items(), strict=True):
        for kind, (n, ratio) in by_kind.items():
            _plot(ax, n, ratio, f"tau_1/tau_{kind}:g={g:g}", color=color,
                  label=f"{names[kind]}, $g = {g:.3g}$", **styles[kind])
    ax.set_xscale("log")
    ax.set_yscale("log")
    ax.xaxis.set_major_formatter(ScalarFormatter())
    ax.set_xlabel(LABELS["N"])
    ax.set_ylabel(LABELS["tau_ratio"])
    fig.legend(loc="outside right center", fontsize="x-small")
    fig.suptitle("Charging speed-up at fixed coupling g, exact to N = 40, corrected and Eq. 8 "
                 f"beyond\n[{data.name}]", fontsize="medium")
    return fig


def fig_tau_ratio_mic_eff(source: SweepData | Path | str) -> Figure:
    """tau_1/tau_N vs N (Eq. 17), microscopic and effective, at the file's fixed g or kappa.

    tau_1 is each description's own N = 1 value when the file has it, else the exact effective tau_1.
    With the sqrt(N) normalization of Eq. 5 at fixed g, kappa grows as sqrt(N) (Eq. 7).
    """
    from matplotlib.ticker import ScalarFormatter

    data = _as_data(source)
    d = tau_ratio_mic_eff_data(data)
    fig, (ax,) = _new_figure(1, width=8.0, height=4.4)
    _plot(ax, d["n"], d["mic"], "tau_1/tau_mic:collective", marker="o", label="microscopic")
    _plot(ax, d["n"], d["eff"], "tau_1/tau_eff:collective", marker="s", ls="--", label="Eq. 8")
    ax.set_xscale("log")
    ax.xaxis.set_major_formatter(ScalarFormatter())
    ax.set_xlabel(LABELS["N"])
    ax.set_ylabel(LABELS["tau_ratio"])
    ax.legend(fontsize="small", title=rf"$\tau_1$: {d['tau_1_source']}", title_fontsize="small")
    kappa = data.column("kappa")[d["rows"]].astype(float)
    scale = kappa / np.sqrt(d["n"])  # kappa = c sqrt(N) at fixed g with g/sqrt(N) (Eq. 5, 7)
    if np.allclose(scale, scale[0], rtol=1e-9):
        top = ax.secondary_xaxis("top", functions=(lambda n: scale[0] * np.sqrt(np.abs(n)),
                                                   lambda k: (k / scale[0]) ** 2))
        top.set_xlabel(r"$\kappa$ (Eq. 7) at this $N$")
    fixed = "g" if single_value(data, d["rows"], "g") is not None else "kappa"
    fig.suptitle(_title(data, d["rows"], f"Charging speed-up, microscopic vs effective, fixed {fixed}",
                        ("beta_e_w0", "gamma_e", fixed)))
    return fig


# ---------------------------------------------------------------------------------- selection
def _n_values(data: SweepData, **equal: Any) -> int:
    return len(_unique(data.column("n_batteries")[data.rows(**equal)]))


def _supports_fig2ab(data: SweepData) -> bool:
    return 0 < data.rows().size <= 12 and _n_values(data) == 1 and not (
        data.has_microscopic() and any(k in data.swept for k in KAPPA_AXES))


def _supports_vs_n(data: SweepData) -> bool:
    return ("n_batteries" in data.swept and not data.has_microscopic()
            and _n_values(data, protocol="collective") >= 2
            and effective_point(data, data.rows()) is not None)


def _supports_fig4(data: SweepData) -> bool:
    if not _supports_vs_n(data):
        return False
    return int(np.isfinite(data.column("tau_eff")[data.rows(protocol="collective")]).sum()) >= 2


def _supports_fig5(data: SweepData) -> bool:
    rows = data.rows(protocol="collective")
    ok = np.isfinite(data.column("tau_eff")[rows]) & (data.column("n_batteries")[rows] >= 2)
    return _supports_vs_n(data) and int(ok.sum()) >= 2


def _supports_kappa(data: SweepData) -> bool:
    """kappa (or g) swept at one bath configuration (several: _supports_criterion)."""
    if not data.has_microscopic() or not any(k in data.swept for k in KAPPA_AXES):
        return False
    if any(k in data.swept for k in criterion.BATH_AXES):
        return False
    return any(rows.size >= 2 for rows in microscopic_curves(data).values())


def _supports_corrected(data: SweepData) -> bool:
    """kappa swept with microscopic results and the corrected description's errors stored."""
    if not data.has_microscopic() or not any(k in data.swept for k in KAPPA_AXES):
        return False
    return any(rows.size >= 2 and np.isfinite(data.column("eps_traj_corr")[rows]).any()
               for rows in corrected_curves(data).values())


def _supports_speed_up_large(data: SweepData) -> bool:
    """N swept beyond the exact solvers (N >= 100) at fixed g, with the corrected description."""
    if "n_batteries" not in data.swept or "tau_corr" not in data.summary:
        return False
    rows = data.rows(protocol="collective")
    return bool(rows.size) and data.column("n_batteries")[rows].max() >= 100 and \
        any("corr" in kinds for kinds in speed_up_large_data(data).values())


def _supports_tau_ratio_mic_eff(data: SweepData) -> bool:
    if not data.has_microscopic() or "n_batteries" not in data.swept:
        return False
    if any(k in data.swept for k in KAPPA_AXES):
        return False
    rows = data.rows(protocol="collective")
    return len(_unique(data.column("n_batteries")[rows])) >= 2


def _supports_criterion(data: SweepData) -> bool:
    return (data.has_microscopic() and "kappa" in data.swept
            and any(k in data.swept for k in criterion.BATH_AXES))


def _supports_boundary(data: SweepData) -> bool:
    """kappa and N swept: some (protocol, measure) crosses its level at two or more N."""
    if not data.has_microscopic() or not {"kappa", "n_batteries"} <= set(data.swept):
        return False
    found = [b for b in criterion.boundaries(data, ("kappa",)) if math.isfinite(b.value)]
    groups = {(b.protocol, b.measure, b.bath) for b in found}
    return any(sum((b.protocol, b.measure, b.bath) == g for b in found) >= 2 for g in groups)


def _supports_speed_up(data: SweepData) -> bool:
    """kappa and N swept at one bath configuration, N = 1 and two more N at some kappa."""
    if not data.has_microscopic() or not {"kappa", "n_batteries"} <= set(data.swept):
        return False
    if any(k in data.swept for k in criterion.BATH_AXES):
        return False
    return bool(speed_up_data(data))


#: Figure id -> (does the file support it, how to draw it), in the order they are rendered.


FIGURES: dict[str, tuple[Callable[[SweepData], bool], Callable[[SweepData | Path | str], Figure]]] = {
    "fig2ab": (_supports_fig2ab, fig2ab_charging),
    "fig2cd": (_supports_vs_n, fig2cd_steady),
    "fig3": (_supports_vs_n, fig3_ergotropy),
    "fig4": (_supports_fig4, fig4_tau_ratio),
    "fig5": (_supports_fig5, fig5_tau_ratio_scaled),
    "errors": (_supports_kappa, fig_errors_vs_kappa),
    "mic_vs_eff": (_supports_kappa, fig_mic_vs_eff),
    "tau_ratio_mic_eff": (_supports_tau_ratio_mic_eff, fig_tau_ratio_mic_eff),
    "criterion": (_supports_criterion, fig_criterion),
    "boundary": (_supports_boundary, fig_boundary),
    "speed_up": (_supports_speed_up, fig_speed_up),
    "corrected": (_supports_corrected, fig_corrected),
    "speed_up_large": (_supports_speed_up_large, fig_speed_up_large),
}


def supported_figures(source: SweepData | Path | str) -> list[str]:
    """Ids of the figures (keys of FIGURES) that a sweep file supports."""
    data = _as_data(source)
    return [fig_id for fig_id, (supports, _) in FIGURES.items() if supports(data)]


def render(path: SweepData | Path | str | Sequence[Path | str], out_dir: Path | str,
           only: Iterable[str] | None = None, formats: Sequence[str] = ("png", "pdf"),
           dpi: int = 150) -> list[Path]:
    """Write every figure the sweep file supports (or those in ``only``) as ``<name>_<id>.<fmt>``;
    several files are read as one (combine, named 'a+b').

    Returns the written paths, PNG before PDF for each figure. Raises PlotDependencyError without
    matplotlib, ValueError for a figure id that does not exist or that the file does not support.
    """
    data = combine([path] if isinstance(path, SweepData | str | Path) else list(path))
    out_dir = Path(out_dir)
    available = supported_figures(data)
    if only is None:
        wanted = available
    else:
        wanted = list(only)
        for fig_id in wanted:
            if fig_id not in FIGURES:
                raise ValueError(f"figure must be one of {', '.join(FIGURES)}, got {fig_id!r}")
            if fig_id not in available:
                raise ValueError(f"{path}: does not support figure {fig_id!r} (supports: "
                                 f"{', '.join(available) or 'none'})")
    if wanted:
        _matplotlib()
        out_dir.mkdir(parents=True, exist_ok=True)
    written = []
    for fig_id in wanted:
        fig = FIGURES[fig_id][1](data)
        for fmt in formats:
            target = out_dir / f"{data.name}_{fig_id}.{fmt}"
            fig.savefig(target, dpi=dpi)
            written.append(target)
    return written
