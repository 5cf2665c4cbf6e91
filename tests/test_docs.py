"""The published numbers are traceable: every sweep file docs/results.md and docs/current.md cite
was written by one clean commit, and every one is complete."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

DOCS = Path(__file__).resolve().parent.parent / "docs"


def _data_lines(page: Path) -> list[str]:
    text = page.read_text()
    section = text[text.index("## Data"):]
    return [line for line in section.splitlines() if line.startswith("* `")]


@pytest.mark.parametrize("page", ["results.md", "current.md"])
def test_page_cites_files_of_one_clean_commit(page):
    lines = _data_lines(DOCS / page)
    assert lines, f"docs/{page} lists no sweep files"
    assert not [line for line in lines if "(dirty)" in line], "a file of a dirty commit"
    commits = {m.group(1) for line in lines for m in [re.search(r"commit ([0-9a-f]{10})", line)]
               if m}
    assert len(commits) == 1, f"the files come from several commits: {sorted(commits)}"
    assert all("complete /" in line for line in lines)


def test_the_check_fails_on_a_dirty_line(tmp_path):
    page = tmp_path / "p.md"
    page.write_text("# R\n\n## Data\n\n* `a.h5`: sweep `a`, 1 complete / 1 points, commit "
                    "0123456789 (dirty), written now\n")
    lines = _data_lines(page)
    assert [line for line in lines if "(dirty)" in line]
