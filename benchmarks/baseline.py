"""The code the serving benchmark compares against: a git worktree of an earlier commit.

The issue that set the serving targets (#18) asks for its gains measured against the commit
before its first commit, in the same run, on the same machine: no old code path is kept in the
tree, the old code is checked out beside it for the run and removed after.
"""

from __future__ import annotations

import shutil
import subprocess
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from benchmarks.stack import REPO

# The commit before "#18 part 1" (8f16a8c): serving as it was when the issue was filed.
BEFORE_SERVING_WORK = "ad88ca4403a74275b95925f08b0f72598294f91a"


class BaselineUnavailable(RuntimeError):
    """No git history to check the baseline out of (an exported tree, a shallow clone)."""


@contextmanager
def baseline_checkout(revision: str = BEFORE_SERVING_WORK) -> Iterator[Path]:
    """A detached worktree of `revision` in a temporary folder, removed at the end."""
    git = shutil.which("git")
    if git is None or not (REPO / ".git").exists():
        raise BaselineUnavailable(f"{REPO} is not a git checkout: no baseline to compare with")
    known = subprocess.run(
        [git, "-C", str(REPO), "cat-file", "-e", f"{revision}^{{commit}}"], capture_output=True
    )
    if known.returncode != 0:
        raise BaselineUnavailable(f"commit {revision} is not in this clone's history")
    folder = Path(tempfile.mkdtemp(prefix="bench-baseline-")) / "checkout"
    subprocess.run(
        [git, "-C", str(REPO), "worktree", "add", "--detach", "--quiet", str(folder), revision],
        check=True,
        capture_output=True,
    )
    try:
        yield folder
    finally:
        subprocess.run(
            [git, "-C", str(REPO), "worktree", "remove", "--force", str(folder)],
            capture_output=True,
        )
        shutil.rmtree(folder.parent, ignore_errors=True)
