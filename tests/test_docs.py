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
    out = subprocess.run(["git", *args], cwd=DOCS.parent, capture_output=True, text=True)
    return out.stdout.strip() if out.returncode == 0 else ""


def _history() -> bool:
    """A full git history to check the cited commits against (not a shallow clone)."""
    return (DOCS.parent / ".git").exists() and \
        _git("rev-parse", "--is-shallow-repository") == "false"


def _data_lines(page: Path) -> list[str]:
    text = page.read_text()
    section = text[text.index("## Data"):]
    return [line for line in section.splitlines() if line.startswith("* `")]


def _problems(page: Path) -> list[str]:
    """What makes the page's numbers untraceable: no files, a dirty tree, a partial file, a
    commit that is not ours, several commits without the solver changes between them named."""
    text = page.read_text()
    lines = _data_lines(page)
    if not lines:
        return ["lists no sweep files"]
    found = [f"dirty: {line}" for line in lines if "(dirty)" in line]
    for line in lines:
        m = re.search(r"(\d+) complete / (\d+) points", line)
        if not m or m[1] != m[2]:
            found.append(f"not complete: {line}")
    commits = {m.group(1) for line in lines for m in [re.search(r"commit ([0-9a-f]{10})", line)]
               if m}
    if not commits:
        return [*found, "no commit named"]
    if len(commits) > 1 and f"The files come from {len(commits)} commits" not in text:
        found.append("several commits, not declared")
    if _history():
        ours = [c for c in commits if _git("cat-file", "-t", c) == "commit"]
        found += [f"{c} is not a commit of this repository" for c in commits - set(ours)]
        if len(ours) > 1:
            ordered = sorted(ours, key=lambda c: int(_git("log", "-1", "--format=%ct", c)))
            solvers = _git("log", "--format=%h", f"{ordered[0]}..{ordered[-1]}", "--",
                           "src/microsim/descriptions", "src/microsim/model",
                           "src/microsim/analysis")
            found += [f"solver commit {c} not named" for c in solvers.split()
                      if f"* {c} " not in text]
    return found


@pytest.mark.parametrize("page", ["results.md", "current.md"])
def test_page_cites_complete_files_of_clean_commits(page):
    """No file of a dirty tree, every file complete, and where the files come from several
    commits the page says so and names the solver commits between them; each cited commit is
    one of this repository's."""
    assert _problems(DOCS / page) == []


@pytest.mark.parametrize("line, problem", [
    ("1 complete / 1 points, commit 1db64d7028 (dirty)", "dirty"),
    ("1 complete / 2 points, commit 1db64d7028", "not complete"),
    ("1 complete / 1 points, commit 0123456789", "not a commit of this repository"),
])
def test_the_check_fails_on_an_untraceable_line(tmp_path, line, problem):
    page = tmp_path / "p.md"
    page.write_text(f"# R\n\n## Data\n\n* `a.h5`: sweep `a`, {line}, written now\n")
    if problem.startswith("not a commit") and not _history():
        pytest.skip("no git history to check commits against")
    assert any(problem in p for p in _problems(page))


def test_the_check_wants_the_solver_commits_between_two_commits(tmp_path):
    if not _history():
        pytest.skip("no git history")
    page = tmp_path / "p.md"
    page.write_text("# R\n\n## Data\n\n* `a.h5`: 1 complete / 1 points, commit 1db64d7028\n"
                    "* `b.h5`: 1 complete / 1 points, commit 6262b67472\n\n"
                    "The files come from 2 commits.\n")
    assert "solver commit 4c18979 not named" in _problems(page)
