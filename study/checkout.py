"""The git side of a study's bookkeeping: the checkout a study folder lives in, which of its
paths git ignores, and commits of named paths only, so that whatever else is staged in the
checkout is left as it is."""
import subprocess
from pathlib import Path
from typing import List


def git(*args: str, cwd: Path) -> subprocess.CompletedProcess:
    return subprocess.run(["git", *args], cwd=cwd, capture_output=True, text=True)


def checkout_root(study: Path) -> Path:
    return Path(git("rev-parse", "--show-toplevel", cwd=study).stdout.strip())


def ignored(root: Path, paths: List[str]) -> set:
    """Those of `paths` that .gitignore keeps out: a recipe arm's mask.pt is a copy of its cell's
    default mask (the record names that file), so only the default's and the capacity arm's are
    committed; one ignored path must not stop the others from being committed."""
    found = git("check-ignore", "--", *paths, cwd=root) if paths else None
    return set(found.stdout.splitlines()) if found is not None else set()


def commit_paths(root: Path, paths: List[str], message: str) -> None:
    """`git commit -- PATHS`: only these paths go into the commit."""
    done = git("commit", "-q", "-m", message, "--", *paths, cwd=root)
    if done.returncode != 0:
        raise RuntimeError(done.stderr.strip() or done.stdout.strip() or "git commit failed")
