"""The approximate descriptions beyond Eq. 8 against the exact model and at large N."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
from numpy.typing import NDArray

from microsim.report.measures import (
    LARGE_N_REFERENCE,
    against_reference,
    beyond_exact_rows,
    computed,
    description_curves,
    descriptions_in,
    large_n_data,
    speed_up_large_data,
    validation_rows,
)
from microsim.report.plotting import (
    LABELS,
    bath_text,
    draw,
    legend_line,
    new_figure,
    palette,
    title,
)
from microsim.sweeps.reading import SweepData, as_data

if TYPE_CHECKING:
    from matplotlib.figure import Figure

FloatArray = NDArray[np.float64]


#: Styles of the approximate descriptions after Eq. 8 (solid), in the file's order.
STYLES: tuple[dict[str, Any], ...] = (
    dict(ls="--", marker="s", mfc="none"), dict(ls="-.", marker="^", mfc="none"),
    dict(ls=":", marker="D", mfc="none"),
)


def styles_of(data: SweepData) -> dict[str, dict[str, Any]]:
    """Line style of each approximate description in the file: Eq. 8 solid with dots, the others
    from STYLES."""
    shown = descriptions_in(data)
    out = {shown[0].suffix: dict(ls="-", marker="o")}
    for d, style in zip(shown[1:], STYLES * 3, strict=False):
        out[d.suffix] = style
    return out


def fig_corrected(source: SweepData | Path | str) -> Figure:
    """eps_traj and eps_tau of Eq. 8 (filled, solid) and of every other approximate description
    in the file (open, dashed: the corrected description of docs/physics.md §7, and any other)
    against kappa, one colour per N, one column per bath configuration."""
    data = as_data(source)
    curves = description_curves(data)
    shown = descriptions_in(data)
    styles = styles_of(data)
    baths = sorted({bath for bath, _ in curves})
    sizes = sorted({n for _, n in curves})
    colors = dict(zip(sizes, palette(len(sizes)), strict=True))
    measures = ("eps_traj", "eps_tau")
    fig, axes = new_figure(len(baths), len(measures), width=4.0 if len(baths) > 1 else 6.5,
                           height=3.3)
    legend: dict[str, Any] = {}
    for c, bath in enumerate(baths):
        for r, measure in enumerate(measures):
            ax = axes[r * len(baths) + c]
            for (b, n), rows in curves.items():
                if b != bath:
                    continue
                kappa = data.column("kappa")[rows].astype(float)
                for d in shown:
                    y = data.column(measure + d.errors)[rows].astype(float)
                    ok = np.isfinite(y) & (y > 0)
                    if ok.any():
                        draw(ax, kappa[ok], y[ok], f"{measure}{d.errors}:{bath}:{n}",
                             color=colors[n], ms=3, label=f"$N = {n}$", **styles[d.suffix])
                        legend.setdefault(f"$N = {n}$", ax.lines[-1])
            ax.set_xscale("log")
            ax.set_yscale("log")
            ax.set_xlabel(LABELS["kappa"])
            ax.set_ylabel(LABELS[measure])
            if r == 0:
                ax.set_title(bath_text(bath), fontsize="small")
    line = legend_line()
    keys = [line([], [], color="0.3", label=d.label, **styles[d.suffix]) for d in shown]
    handles = keys + list(legend.values())
    fig.legend(handles, [h.get_label() for h in handles], loc="outside right center",
               fontsize="x-small")
    every = np.concatenate(list(curves.values())) if curves else np.array([], dtype=np.intp)
    names = " and ".join(d.label for d in shown) if len(shown) <= 2 else "every description"
    fig.suptitle(title(data, every, f"Errors against the exact model: {names}"))
    return fig


def fig_speed_up_large(source: SweepData | Path | str) -> Figure:
    """tau_1/tau_N (Eq. 17) vs N at fixed g: Eq. 8 (line), every other approximate description of
    the file (dashed, open markers; the corrected one to N = 1000 where it is stable) and the exact
    model (dots) where the files have it, one colour per g."""
    from matplotlib.ticker import ScalarFormatter

    data = as_data(source)
    curves = speed_up_large_data(data)
    fig, (ax,) = new_figure(1, width=8.0, height=4.6)
    styles = {**styles_of(data), "mic": dict(ls="none", marker="o", ms=6)}
    styles[descriptions_in(data)[0].suffix] = dict(ls="-", marker="none")
    names = {"mic": "exact", **{d.suffix: d.label for d in descriptions_in(data)}}
    for color, (g, by_kind) in zip(palette(len(curves)), curves.items(), strict=True):
        for kind, (n, ratio) in by_kind.items():
            draw(ax, n, ratio, f"tau_1/tau_{kind}:g={g:g}", color=color,
                 label=f"{names[kind]}, $g = {g:.3g}$", **{"ms": 4, **styles[kind]})
    ax.set_xscale("log")
    ax.set_yscale("log")
    ax.xaxis.set_major_formatter(ScalarFormatter())
    ax.set_xlabel(LABELS["N"])
    ax.set_ylabel(LABELS["tau_ratio"])
    fig.legend(loc="outside right center", fontsize="x-small")
    shown = descriptions_in(data)
    beyond = " and ".join(d.label for d in shown) if len(shown) <= 2 else "the others"
    fig.suptitle(f"Charging speed-up at fixed coupling g: exact where it runs, {beyond} beyond"
                 f"\n[{data.name}]", fontsize="medium")
    return fig


#: How each description is drawn in the large-N figure (the exact model as dots).
LARGE_N_STYLES: dict[str, dict[str, Any]] = {
    "mic": dict(ls="none", marker="o", ms=6, mfc="none"),
    "eff": dict(ls="-", marker="none", lw=1.2),
    "corr": dict(ls=":", marker="none", lw=1.2),
    "cum": dict(ls="--", marker="s", ms=3, mfc="none"),
    "mom": dict(ls="-.", marker="^", ms=3, mfc="none"),
    "dly": dict(ls="-", marker="D", ms=2.5, mfc="none", lw=0.8),
}


def fig_large_n(source: SweepData | Path | str) -> Figure:
    """tau_1/tau_N (left) and the power per engine P/M (right, P = (1 - eps) E_ss/tau) against N
    for each family of the large-N study (one colour: fixed couplings with M = N in both
    normalizations and with M = 1, fixed kappa), each description in its own style; the dotted
    line is the bath-limited throughput w0 r_cyc of one engine (model.engine.cycle_rate)."""
    from microsim.model.engine import cycle_rate
    from microsim.model.params import ModelParams

    data = as_data(source)
    curves = large_n_data(data)
    names = {"mic": "exact", **{d.suffix: d.label for d in descriptions_in(data)}}
    fig, (left, right) = new_figure(2, width=5.6, height=4.6)
    for color, (family, by_kind) in zip(palette(len(curves)), curves.items(), strict=True):
        for kind, c in by_kind.items():
            style = LARGE_N_STYLES.get(kind, dict(ls="--"))
            engines = c["n"] if family.engines == "M = N" else np.ones_like(c["n"])
            label = f"{names.get(kind, kind)}: {family.label}" + \
                (" (exact tau_1)" if c["tau_1"] == "exact" else "")
            draw(left, c["n"], c["ratio"], f"large_n:tau_ratio:{kind}:{family.label}",
                 color=color, label=label, **style)
            draw(right, c["n"], c["power"] / engines, f"large_n:power:{kind}:{family.label}",
                 color=color, label=label, **style)
    rows = data.rows()
    if rows.size:
        r = int(rows[0])
        p = ModelParams(**{k: data.column(k)[r].item() if hasattr(data.column(k)[r], "item")
                           else data.column(k)[r] for k in ("w0", "wh", "beta_h", "beta_c",
                                                            "gamma_h", "gamma_c", "g")})
        bound = p.w0 * cycle_rate(p)
        right.axhline(bound, color="0.3", ls=":", lw=1, gid="guide:cycle_rate",
                      label=f"bath limit w0 r_cyc = {bound:.3g}")
    for ax, ylabel in ((left, LABELS["tau_ratio"]), (right, r"$P_N/(M w_0)$ (per engine)")):
        ax.set_xscale("log")
        ax.set_yscale("log")
        ax.set_xlabel(LABELS["N"])
        ax.set_ylabel(ylabel)
    handles, labels = right.get_legend_handles_labels()
    fig.legend(handles, labels, loc="outside right center", fontsize="xx-small")
    exact = [c["n"].max() for by_kind in curves.values() for kind, c in by_kind.items()
             if kind == "mic" and len(c["n"])]
    reach = f"exact to N = {max(exact):g}, the others beyond" if exact else "no exact points"
    fig.suptitle(f"Charging speed-up and power per engine at large N ({reach})\n[{data.name}]",
                 fontsize="medium")
    return fig


def fig_description_map(source: SweepData | Path | str) -> Figure:
    """Where each approximate description is within 1 % of the exact charging curve: one panel
    per description over (N, kappa) of the collective M = N rows at the paper's baths, filled
    where eps_traj < 1 %, open where not, a cross where it failed (its status says why); the
    colour is log10 eps_traj. Beyond the exact solver (squares) the same against the large-N
    reference (measures.LARGE_N_REFERENCE), whose own panel marks only where it failed there."""
    from matplotlib import colormaps
    from matplotlib import colors as mcolors

    data = as_data(source)
    rows = validation_rows(data)
    beyond = beyond_exact_rows(data)
    shown = descriptions_in(data)
    reference = next((d for d in shown if d.suffix == LARGE_N_REFERENCE), None)
    fig, axes = new_figure(len(shown), width=3.6, height=3.6)
    norm = mcolors.Normalize(vmin=-5, vmax=0)
    scatter = None

    def mark(ax: Any, n: FloatArray, kappa: FloatArray, eps: FloatArray, marker: str,
             where: str) -> tuple[int, Any]:
        ok = np.isfinite(eps)
        inside = ok & (eps < 0.01)
        value = np.log10(np.clip(eps, 1e-12, None))
        filled = ax.scatter(n[inside], kappa[inside], c=value[inside], norm=norm, cmap="viridis",
                            s=36, marker=marker, gid=f"map:inside:{where}")
        ax.scatter(n[ok & ~inside], kappa[ok & ~inside], s=36, marker=marker, facecolors="none",
                   edgecolors=colormaps["viridis"](norm(value[ok & ~inside])),
                   gid=f"map:outside:{where}")
        ax.scatter(n[~ok], kappa[~ok], marker="x", color="0.4", s=30, gid=f"map:failed:{where}")
        return int(inside.sum()), filled

    for ax, d in zip(axes, shown, strict=True):
        n = data.column("n_batteries")[rows].astype(float)
        kappa = data.column("kappa")[rows].astype(float)
        eps = data.column(f"eps_traj{d.errors}")[rows].astype(float)
        inside, scatter = mark(ax, n, kappa, eps, "o", d.suffix)
        text = f"{d.label}: {inside} of {rows.size} within 1 % of exact"
        if beyond.size and reference is not None:
            n_far = data.column("n_batteries")[beyond].astype(float)
            kappa_far = data.column("kappa")[beyond].astype(float)
            if d is reference:
                ok = np.array([computed(data, int(r), d.suffix) for r in beyond])
                ax.scatter(n_far[ok], kappa_far[ok], s=36, marker="s", facecolors="none",
                           edgecolors="0.6", gid=f"map:reference:{d.suffix}")
                ax.scatter(n_far[~ok], kappa_far[~ok], marker="x", color="0.4", s=30,
                           gid=f"map:failed:{d.suffix}:beyond")
                text += f";\nthe reference beyond (grey squares), failed at {int((~ok).sum())}"
            else:
                far = np.array([against_reference(data, int(r), d.suffix).eps_traj
                                for r in beyond])
                close, _ = mark(ax, n_far, kappa_far, far, "s", f"{d.suffix}:beyond")
                text += f";\n{close} of {beyond.size} of {reference.label} (squares)"
        ax.set_xscale("log")
        ax.set_yscale("log")
        ax.set_xlabel(LABELS["N"])
        ax.set_ylabel(LABELS["kappa"])
        ax.set_title(text, fontsize="small")
    if scatter is not None:
        fig.colorbar(scatter, ax=axes, label=r"$\log_{10}\epsilon_{\rm traj}$", shrink=0.8)
    against = (f"; squares: of {reference.label}, beyond the exact solver"
               if beyond.size and reference is not None else "")
    fig.suptitle("Where each description is within 1 % of the exact model (filled; open: not; "
                 f"x: failed){against}, M = N, paper's baths\n[{data.name}]", fontsize="medium")
    return fig
