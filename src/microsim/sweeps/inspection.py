"""Formatting of a sweep file's provenance and summary table (text, CSV, JSON)."""

from __future__ import annotations

import csv
import io
import json
import math

import numpy as np

from microsim.sweeps.points import FLAGS, missing_taus

__all__ = [
    "PROVENANCE_KEYS",
    "ordered_rows",
    "point_counts",
    "row_flags",
    "summary_csv",
    "summary_json",
    "summary_text",
]

#: Thermodynamic columns in the text table (schema 1.1; absent from 1.0 files and then skipped).
THERMO_COLUMNS = ("heat_h_tau", "efficiency_tau", "efficiency_ergotropy_tau", "efficiency_ssd",
                  "efficiency_carnot", "entropy_production_end")

PROVENANCE_KEYS = (
    "name", "schema_version", "microsim_version", "git_commit", "git_dirty", "created", "updated",
    "host", "config_path", "config_digest", "swept", "qutip_version", "numpy_version",
    "scipy_version", "h5py_version",
)


def _swept(attrs: dict[str, str]) -> list[str]:
    try:
        return list(json.loads(attrs.get("swept", "[]")))
    except json.JSONDecodeError:
        return []


def ordered_rows(attrs: dict[str, str], columns: dict[str, np.ndarray]) -> list[int]:
    """Row indices sorted by the swept parameters (in the order the config names them)."""
    n = len(columns.get("key", []))
    swept = [k for k in _swept(attrs) if k in columns]
    return sorted(range(n), key=lambda i: tuple(_sort_value(columns[k][i]) for k in swept))


def _sort_value(x: object) -> tuple[int, object]:
    # derived values (kappa recomputed from the microscopic point) differ from the swept ones in
    # the last bits: compare at 12 significant digits
    return (1, str(x)) if isinstance(x, str) else (0, float(f"{float(x):.12g}"))


def row_flags(columns: dict[str, np.ndarray]) -> list[tuple[str, ...]]:
    """Flags of every row (FLAGS keys; empty for failed points).

    From the ``flags`` column (schema >= 1.2), else derived from the charging times of the
    complete points the way the sweep sets them (sweep.missing_taus), so older files are
    counted too.
    """
    n = len(columns.get("key", []))
    if "flags" in columns:
        return [tuple(f for f in str(columns["flags"][i]).split(",") if f) for i in range(n)]
    needed = ("status", "method", "tau_mic", "tau_eff")
    if not all(k in columns for k in needed):
        return [()] * n
    return [missing_taus(float(columns["tau_mic"][i]), float(columns["tau_eff"][i]),
                         str(columns["method"][i]) != "effective")  # the methods before 1.2
            if columns["status"][i] == "complete" else () for i in range(n)]


def point_counts(columns: dict[str, np.ndarray]) -> dict[str, int]:
    """Points stored, complete, failed, complete with a warning ("flagged") and each flag."""
    status = [str(x) for x in columns.get("status", [])]
    flags = row_flags(columns)
    counts = {"points": len(status), "complete": status.count("complete"),
              "failed": status.count("failed"), "flagged": sum(bool(f) for f in flags)}
    counts.update({flag: sum(flag in f for f in flags) for flag in FLAGS})
    return counts


def _counts_line(columns: dict[str, np.ndarray]) -> str:
    c = point_counts(columns)
    line = f"{c['points']} ({c['complete']} complete, {c['failed']} failed)"
    if c["flagged"]:
        kinds = ", ".join(f"{c[flag]} x {flag}" for flag in FLAGS if c[flag])
        line += (f"; {c['flagged']} complete with a warning ({kinds}: the grid ends before the "
                 "charging time, tau and the figures that need it are NaN; the text is in each "
                 "point's 'warning' attribute)")
    return line


#: The main figures of the compact table, when the file has them (each approximate description's
#: eps_traj follows them, and the predicted one of Eq. 8).
MAIN_FIGURES = ("tau_mic", "tau_eff", "eps_traj", "eps_traj_predicted", "eps_tau")


def _table_columns(attrs: dict[str, str], columns: dict[str, np.ndarray],
                   compact: bool = True) -> list[str]:
    """The columns of the text table: the swept parameters, kappa and N where they are not, the
    main figures and the other descriptions' eps_traj (compact), or every figure with the
    thermodynamics (all)."""
    swept = [k for k in _swept(attrs) if k in columns]
    flagged = any(row_flags(columns))
    figures = [k for k in json.loads(attrs.get("summary_figures", "[]")) if k in columns]
    if compact:
        others = [k for k in figures if k.startswith("eps_traj_")]
        fixed = ["kappa" if "kappa" not in swept else "",
                 "n_batteries" if "n_batteries" not in swept else ""]
        main = [k for k in MAIN_FIGURES if k in columns]
        return [*swept, *fixed, *main, *others, "wall_time", "status",
                "flags" if flagged else ""]
    derived = [k for k in ("beta_e_w0", "gamma_e", "kappa") if k not in swept]
    return [*swept, *derived, "n_batteries" if "n_batteries" not in swept else "", *figures,
            "eps_traj_predicted", "eps_tau_predicted", *THERMO_COLUMNS, "wall_time", "status",
            "flags" if flagged else ""]


def _fmt(x: object, digits: int = 4) -> str:
    """A cell: text as it is, integers whole, other numbers to ``digits`` significant digits
    (12 for the swept values, which are stored so: the printed value selects the point)."""
    if isinstance(x, str):
        return x
    value = float(x)
    if math.isnan(value):
        return "nan"
    if value == int(value) and abs(value) < 1e6:
        return str(int(value))
    return f"{value:.{digits}g}"


def summary_text(attrs: dict[str, str], columns: dict[str, np.ndarray], compact: bool = True) -> str:
    """Provenance lines, then an aligned table sorted by the swept parameters: the parameters
    that vary and the main figures (``compact``), or every figure and the thermodynamics."""
    lines = [f"{k:<17} {attrs[k]}" for k in PROVENANCE_KEYS if k in attrs]
    if not columns:
        return "\n".join([*lines, "(no points stored yet)"])
    lines.append(f"{'points':<17} {_counts_line(columns)}")
    names = list(dict.fromkeys(c for c in _table_columns(attrs, columns, compact)
                               if c and c in columns))
    swept = set(_swept(attrs))
    rows = [[_fmt(columns[c][i], 12 if c in swept else 4) for c in names]
            for i in ordered_rows(attrs, columns)]
    widths = [max(len(c), *(len(r[j]) for r in rows)) for j, c in enumerate(names)]
    lines.append("")
    lines.append("  ".join(c.rjust(w) for c, w in zip(names, widths, strict=True)))
    lines += ["  ".join(v.rjust(w) for v, w in zip(r, widths, strict=True)) for r in rows]
    return "\n".join(lines)


def summary_csv(attrs: dict[str, str], columns: dict[str, np.ndarray]) -> str:
    """All summary columns as CSV, rows sorted by the swept parameters."""
    out = io.StringIO()
    names = list(columns)
    writer = csv.writer(out)
    writer.writerow(names)
    for i in ordered_rows(attrs, columns):
        writer.writerow([columns[c][i] if isinstance(columns[c][i], str) else repr(
            columns[c][i].item()) for c in names])
    return out.getvalue()


def summary_json(attrs: dict[str, str], columns: dict[str, np.ndarray]) -> str:
    """{"provenance": {...}, "config": "...", "counts": {...}, "summary": {column: [values]}}.

    NaN is written as null; "counts" is point_counts (points, complete, failed, flagged and the
    number of points with each flag).
    """
    order = ordered_rows(attrs, columns)

    def value(x: object) -> object:
        if isinstance(x, str):
            return x
        v = x.item() if hasattr(x, "item") else x
        return None if isinstance(v, float) and not math.isfinite(v) else v

    return json.dumps({
        "provenance": {k: attrs[k] for k in PROVENANCE_KEYS if k in attrs},
        "config": attrs.get("config", ""),
        "counts": point_counts(columns),
        "summary": {c: [value(columns[c][i]) for i in order] for c in columns},
    })
