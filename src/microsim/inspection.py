"""Formatting of a sweep file's provenance and summary table (text, CSV, JSON)."""

from __future__ import annotations

import csv
import io
import json
import math

import numpy as np

from microsim.comparison import FIGURES

__all__ = ["PROVENANCE_KEYS", "ordered_rows", "summary_csv", "summary_json", "summary_text"]

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


def _table_columns(attrs: dict[str, str], columns: dict[str, np.ndarray]) -> list[str]:
    swept = [k for k in _swept(attrs) if k in columns]
    derived = [k for k in ("beta_e_w0", "gamma_e", "kappa") if k not in swept]
    return [*swept, *derived, "n_batteries" if "n_batteries" not in swept else "", *FIGURES,
            *THERMO_COLUMNS, "wall_time", "status"]


def _fmt(x: object) -> str:
    if isinstance(x, str):
        return x
    value = float(x)
    if math.isnan(value):
        return "nan"
    if value == int(value) and abs(value) < 1e6:
        return str(int(value))
    return f"{value:.4g}"


def summary_text(attrs: dict[str, str], columns: dict[str, np.ndarray]) -> str:
    """Provenance lines, then an aligned table sorted by the swept parameters."""
    lines = [f"{k:<17} {attrs[k]}" for k in PROVENANCE_KEYS if k in attrs]
    if not columns:
        return "\n".join([*lines, "(no points stored yet)"])
    names = [c for c in _table_columns(attrs, columns) if c and c in columns]
    rows = [[_fmt(columns[c][i]) for c in names] for i in ordered_rows(attrs, columns)]
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
    """{"provenance": {...}, "config": "...", "summary": {column: [values]}} (NaN as null)."""
    order = ordered_rows(attrs, columns)

    def value(x: object) -> object:
        if isinstance(x, str):
            return x
        v = x.item() if hasattr(x, "item") else x
        return None if isinstance(v, float) and not math.isfinite(v) else v

    return json.dumps({
        "provenance": {k: attrs[k] for k in PROVENANCE_KEYS if k in attrs},
        "config": attrs.get("config", ""),
        "summary": {c: [value(columns[c][i]) for i in order] for c in columns},
    })
