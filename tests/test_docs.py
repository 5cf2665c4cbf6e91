"""The published numbers are traceable: every sweep file docs/results.md and docs/current.md cite
was written by a clean commit of this repository, several commits are declared with the solver
changes between them, and every file is complete."""

from __future__ import annotations

import re
import subprocess
from pathlib import Path

import pytest

DOCS = Path(__file__).resolve().parent.parent / "docs"


def _git(*args: str) -> str:
    return subprocess.run(["git", *args], cwd=DOCS.parent, capture_output=True, text=True,
                          check=True).stdout.strip()


def _data_lines(page: Path) -> list[str]:
    text = page.read_text()
    section = text[text.index("## Data"):]
    return [line for line in section.splitlines() if line.startswith("* `")]


@pytest.mark.parametrize("page", ["results.md", "current.md"])
def test_page_cites_files_of_clean_commits(page):
    """No file of a dirty tree, every file complete, and where the files come from several
    commits, the page says so and lists the solver changes between them (or that there are
    none); each cited commit is one of this repository's."""
    text = (DOCS / page).read_text()
    lines = _data_lines(DOCS / page)
    assert lines, f"docs/{page} lists no sweep files"
    assert not [line for line in lines if "(dirty)" in line], "a file of a dirty commit"
    commits = {m.group(1) for line in lines for m in [re.search(r"commit ([0-9a-f]{10})", line)]
               if m}
    assert commits, "no commit named"
    if len(commits) > 1:
        assert f"The files come from {len(commits)} commits" in text
        assert "change the solvers" in text
    if (DOCS.parent / ".git").exists():
        for commit in commits:
            assert _git("cat-file", "-t", commit) == "commit", f"{commit} is not one of ours"
        ordered = sorted(commits, key=lambda c: int(_git("log", "-1", "--format=%ct", c)))
        solvers = _git("log", "--format=%h", f"{ordered[0]}..{ordered[-1]}", "--",
                       "src/microsim/descriptions", "src/microsim/model", "src/microsim/analysis")
        missing = [c for c in solvers.split() if f"* {c} " not in text]
        assert not missing, f"solver commits between the files' commits not named: {missing}"
    assert all("complete /" in line for line in lines)


def test_the_check_fails_on_a_dirty_line(tmp_path):
    page = tmp_path / "p.md"
    page.write_text("# R\n\n## Data\n\n* `a.h5`: sweep `a`, 1 complete / 1 points, commit "
                    "0123456789 (dirty), written now\n")
    lines = _data_lines(page)
    assert [line for line in lines if "(dirty)" in line]
