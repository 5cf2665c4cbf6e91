"""The validity of Eq. 8 against the exact model: errors against kappa, charging curves, the boundary
in N, the speed-up at fixed kappa and at fixed coupling."""

from __future__ import annotations

import math
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
from numpy.typing import NDArray

from microsim.report import criterion
from microsim.report.measures import (
    descriptions_in,
    error_measures_of,
    mic_vs_eff_rows,
    microscopic_curves,
    series_or_none,
    single_value,
    speed_up_data,
    tau_ratio_mic_eff_data,
    unique,
)
from microsim.report.plotting import (
    COLORS,
    CRITERION_LABELS,
    LABELS,
    MARKERS,
    draw,
    new_figure,
    palette,
    short,
    title,
)
from microsim.sweeps.reading import SweepData, as_data

if TYPE_CHECKING:
    from matplotlib.figure import Figure

FloatArray = NDArray[np.float64]


def fig_errors_vs_kappa(source: SweepData | Path | str) -> Figure:
    """Error measures of the effective description vs kappa (Eq. 7) on log-log axes.

    One curve per (N, protocol); the dotted guide is C kappa^2, the leading order of adiabatic
    elimination, through the smallest-kappa point of the first curve. eps_ss gets a panel only if
    it exceeds round-off (it vanishes exactly without a battery environment, docs/physics.md §3).
    """
    data = as_data(source)
    curves = microscopic_curves(data)
    measures = error_measures_of(data)
    fig, axes = new_figure(len(measures), width=4.2)
    sizes = sorted({n for n, _ in curves})
    colors = dict(zip(sizes, palette(len(sizes)), strict=True))  # one colour per N
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
            draw(ax, kappa[ok], value[ok], f"{measure}:{n}:{protocol}", color=color,
                  marker="s" if individual else "o", ls="--" if individual else "-",
                  mfc="none" if individual else color, label=f"$N = {n}$, {protocol}")
            legend.setdefault(f"$N = {n}$, {protocol}", ax.lines[-1])
            if guide_anchor is None:
                guide_anchor = (kappa[ok][0], value[ok][0])
        if guide_anchor is not None:
            k_all = data.column("kappa")[every].astype(float)
            # the guide spans one decade from the anchor, so it does not stretch the axis
            k = np.geomspace(k_all.min(), min(k_all.max(), 10 * k_all.min()), 50)
            draw(ax, k, guide_anchor[1] * (k / guide_anchor[0]) ** 2, f"guide:kappa2:{measure}",
                  color="0.4", ls=":", label=r"$\propto\kappa^2$")
            legend.setdefault("guide", ax.lines[-1])
        ax.set_xscale("log")
        ax.set_yscale("log")
        ax.set_xlabel(LABELS["kappa"])
        ax.set_ylabel(LABELS[measure])
    handles = [legend[k] for k in legend if k != "guide"] + [legend[k] for k in legend if k == "guide"]
    fig.legend(handles, [h.get_label() for h in handles], loc="outside right center",
               fontsize="x-small", ncol=2 if len(handles) > 14 else 1)
    fig.suptitle(title(data, every, "Effective (Eq. 8) vs microscopic: errors against the "
                        r"time-scale separation $\kappa$ (Eq. 7)"))
    return fig


def fig_mic_vs_eff(source: SweepData | Path | str) -> Figure:
    """Charging curves <H_B>(t)/(N w0), microscopic (solid) against Eq. 8 (dashed) and, where the
    file has them, the other approximate descriptions (dotted: the corrected one of docs/physics.md
    §7, then dash-dotted), for a few kappa at one N,
    and their differences; the maximum over t is eps_traj (docs/physics.md §3).

    Time in units of Eq. 8's charging time tau_eff (the same for every kappa at fixed effective
    dynamics) on a log axis: at kappa = 1 the microscopic charging takes 30-100 tau_eff, and on a
    linear axis the small-kappa curves shrank into its first percent. t = 0 is left out."""
    data = as_data(source)
    n, protocol, rows = mic_vs_eff_rows(data)
    fig, (ax, ax_d) = new_figure(2, width=5.2)
    legend: dict[str, Any] = {}
    others = descriptions_in(data)[1:]
    drawn: dict[str, tuple[str, Any]] = {}
    for color, r in zip(palette(rows.size), rows, strict=True):
        r = int(r)
        key = str(data.column("key")[r])
        w0 = float(data.column("w0")[r])
        t = data.array(r, "t") / float(data.column("tau_eff")[r])
        show = t > 0
        mic = data.array(r, "energy_mic") / (n * w0)
        eff = data.array(r, "energy_eff") / (n * w0)
        label = rf"$\kappa = {short(float(data.column('kappa')[r]))}$"
        draw(ax, t[show], mic[show], f"energy_mic@{key}", color=color, label=label)
        draw(ax, t[show], eff[show], f"energy_eff@{key}", color=color, ls="--")
        legend.setdefault(label, ax.lines[-2])
        draw(ax_d, t[show], (mic - eff)[show], f"energy_mic-energy_eff@{key}", color=color)
        for d, ls in zip(others, (":", "-.", (0, (1, 3))), strict=False):
            energy = series_or_none(data, r, f"energy_{d.suffix}")
            if energy is not None and np.isfinite(energy).all():
                energy = energy / (n * w0)
                draw(ax, t[show], energy[show], f"energy_{d.suffix}@{key}", color=color, ls=ls)
                draw(ax_d, t[show], (mic - energy)[show], f"energy_mic-energy_{d.suffix}@{key}",
                     color=color, ls=ls)
                drawn[d.suffix] = (d.label, ls)
    legend["microscopic"] = ax.plot([], [], color="0.3", label="microscopic", gid="key:mic")[0]
    legend["Eq. 8"] = ax.plot([], [], color="0.3", ls="--", label="Eq. 8", gid="key:eff")[0]
    for suffix, (label, ls) in drawn.items():
        legend[label] = ax.plot([], [], color="0.3", ls=ls, label=label, gid=f"key:{suffix}")[0]
    ax.set_ylabel(LABELS["energy"])
    ax_d.set_ylabel(r"$(\langle H_B\rangle_{\rm mic} - \langle H_B\rangle_{\rm eff})/(N w_0)$")
    ax_d.axhline(0.0, color="0.5", lw=0.8, gid="guide:zero")
    for a in (ax, ax_d):
        a.set_xscale("log")
        a.set_xlabel(r"$t/\tau_{\rm eff}$ ($\tau_{\rm eff}$: Eq. 8, Eq. 17)")
    fig.legend(list(legend.values()), list(legend), loc="outside right center", fontsize="small")
    fig.suptitle(title(data, rows, f"Microscopic vs effective charging, $N = {n}$, {protocol}"))
    return fig


def fig_boundary(source: SweepData | Path | str) -> Figure:
    """The validity boundary against N: the kappa (Eq. 7, left) and kappa_01 (right) at which
    eps_traj reaches 1 % (top) and eps_tau 10 % (bottom) (criterion.LEVELS, criterion.crossing),
    on log-log axes; collective solid, individual dashed; one colour per bath configuration if
    the file has several, with the fitted exponent of N (N >= 2) in each panel's legend if it
    has one. If Eq. 7's sqrt(N) is right, the boundary in kappa is flat."""
    data = as_data(source)
    variables = ("kappa", "kappa_01")
    measures = [m for m in criterion.LEVELS]
    found = [b for b in criterion.boundaries(data, variables) if math.isfinite(b.value)]
    baths = unique(np.array([b.bath for b in found], dtype=object))
    several = len(baths) > 1
    colors = palette(len(baths))
    fig, axes = new_figure(len(variables), len(measures), width=4.6, height=3.2)
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
                    draw(ax, n, value, f"boundary:{variable}:{measure}:{protocol}:{bath}",
                          color=color, marker=MARKERS[protocol], ms=4,
                          ls="-" if protocol == "collective" else "--",
                          mfc=color if protocol == "collective" else "none", label=label)
                    if several:
                        legend.setdefault(bath, ax.lines[-1])
            ax.set_xscale("log")
            ax.set_yscale("log")
            ax.set_xlabel(LABELS["N"])
            ax.set_ylabel(CRITERION_LABELS[variable])
            ax.set_title(f"{measure} = {short(criterion.LEVELS[measure])}", fontsize="small")
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
    fig.suptitle(title(data, data.rows(), r"Validity boundary of Eq. 8 against $N$ "
                        r"($\alpha$: fit $\propto N^\alpha$, $N \geq 2$)"))
    return fig


def fig_speed_up(source: SweepData | Path | str) -> Figure:
    """The collective speed-up tau_1/tau_N (Eq. 17) at fixed kappa, microscopic (one colour per
    kappa) against Eq. 8 (black, the same for every kappa at fixed effective dynamics), and the
    lag tau_mic/tau_eff against N."""
    data = as_data(source)
    curves = speed_up_data(data)
    fig, (ax, lag) = new_figure(2, width=4.6, height=3.8)
    widest = max(curves.values(), key=lambda c: c["n"].size)
    draw(ax, widest["n"], widest["eff"], "speed_up:eff", color="k", ls="--", marker="s", ms=3,
          label="Eq. 8", zorder=3)
    for color, (kappa, c) in zip(palette(len(curves)), curves.items(), strict=True):
        label = rf"$\kappa = {short(kappa)}$"
        draw(ax, c["n"], c["mic"], f"speed_up:mic:{kappa:.6g}", color=color, marker="o", ms=3,
              label=label)
        draw(lag, c["n"], c["lag"], f"lag:{kappa:.6g}", color=color, marker="o", ms=3, label=label)
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
    fig.suptitle(title(data, data.rows(protocol="collective"),
                        "Collective speed-up at fixed $\\kappa$: microscopic vs Eq. 8"))
    return fig


def fig_tau_ratio_mic_eff(source: SweepData | Path | str) -> Figure:
    """tau_1/tau_N vs N (Eq. 17), microscopic and effective, at the file's fixed g or kappa.

    tau_1 is each description's own N = 1 value when the file has it, else the exact effective tau_1.
    With the sqrt(N) normalization of Eq. 5 at fixed g, kappa grows as sqrt(N) (Eq. 7).
    """
    from matplotlib.ticker import ScalarFormatter

    data = as_data(source)
    d = tau_ratio_mic_eff_data(data)
    fig, (ax,) = new_figure(1, width=8.0, height=4.4)
    draw(ax, d["n"], d["mic"], "tau_1/tau_mic:collective", marker="o", label="microscopic")
    draw(ax, d["n"], d["eff"], "tau_1/tau_eff:collective", marker="s", ls="--", label="Eq. 8")
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
    fig.suptitle(title(data, d["rows"], f"Charging speed-up, microscopic vs effective, fixed {fixed}",
                        ("beta_e_w0", "gamma_e", fixed)))
    return fig
