"""The tables of docs/hdf5.md that follow from the registry and the field schema.

``python -m microsim.report.tables docs/hdf5.md`` rewrites the text between the markers
``<!-- generated: NAME -->`` and ``<!-- end: NAME -->`` (``make doc-tables``); a test checks that
the committed file is what this prints, so a new description or field cannot go undocumented.
"""

from __future__ import annotations

import argparse
import re
import sys
from collections.abc import Callable, Sequence
from pathlib import Path

from microsim.analysis.fields import (
    COMMON_SERIES,
    PREDICTED,
    description_figures,
    description_series,
    fields_table,
)
from microsim.descriptions import approximate, available, get

__all__ = ["TABLES", "descriptions_table", "render", "update"]


def descriptions_table() -> str:
    """Every registered description: name, figure suffix, error suffix, exact or not, summary."""
    lines = ["| description | suffix | error figures | role | what it is |",
             "| --- | --- | --- | --- | --- |"]
    for name in available():
        d = get(name)
        role = "exact reference" if d.exact else "approximation"
        errors = "—" if d.exact else f"`eps_traj{d.error_suffix}`, ..."
        lines.append(f"| `{name}` | `{d.suffix}` | {errors} | {role} | {d.summary} |")
    return "\n".join(lines)


def figures_table() -> str:
    """The figures of the reference and of every approximate description."""
    fields = list(description_figures(None))
    for name in approximate():
        fields += description_figures(get(name))
    return fields_table(tuple(fields))


def series_table() -> str:
    """The datasets of a point: each description's series, then the common ones."""
    fields = [COMMON_SERIES[0], *description_series(None)]
    for name in approximate():
        fields += description_series(get(name))
    return fields_table((*fields, *COMMON_SERIES[1:]))


#: The generated blocks, by marker name.
TABLES: dict[str, Callable[[], str]] = {
    "descriptions": descriptions_table,
    "figures": figures_table,
    "series": series_table,
    "predicted": lambda: fields_table(PREDICTED),
}


def render(text: str) -> str:
    """``text`` with every generated block replaced by its current table."""
    for name, table in TABLES.items():
        pattern = re.compile(rf"(<!-- generated: {name} -->\n)(?:.*?\n)?(<!-- end: {name} -->)",
                             re.S)
        if not pattern.search(text):
            raise ValueError(f"no block '<!-- generated: {name} -->' ... '<!-- end: {name} -->'")
        text = pattern.sub(lambda m, t=table: m.group(1) + t() + "\n" + m.group(2), text)
    return text


def update(path: Path | str) -> bool:
    """Rewrite the generated blocks of ``path``; True if it changed."""
    path = Path(path)
    old = path.read_text()
    new = render(old)
    if new != old:
        path.write_text(new)
    return new != old


def main(argv: Sequence[str] | None = None) -> int:
    """``python -m microsim.report.tables FILE...``."""
    parser = argparse.ArgumentParser(prog="python -m microsim.report.tables",
                                     description=__doc__.split("\n")[0])
    parser.add_argument("files", nargs="+", help="Markdown files with generated blocks")
    for name in parser.parse_args(argv).files:
        try:
            changed = update(name)
        except (OSError, ValueError) as exc:
            sys.stderr.write(f"microsim: error: {name}: {exc}\n")
            return 2
        print(f"{name}: {'updated' if changed else 'up to date'}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
