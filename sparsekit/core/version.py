"""The package version, and the exact code a run used, in the lowest layer so that run records
can name them."""
import functools
import subprocess
from pathlib import Path
from typing import Dict, Optional

VERSION = "0.1.0"


@functools.lru_cache(maxsize=1)
def code_version() -> Dict[str, Optional[object]]:
    """The git commit of the checkout the package runs from and whether its tracked files
    differ from it (a run from a modified tree cannot be rerun from the commit alone); both
    None for an installed copy outside git."""
    root = Path(__file__).resolve().parents[2]

    def git(*args: str) -> Optional[str]:
        try:
            done = subprocess.run(["git", "-C", str(root), *args], capture_output=True, text=True, timeout=10)
        except (OSError, subprocess.SubprocessError):
            return None
        return done.stdout.strip() if done.returncode == 0 else None

    commit = git("rev-parse", "HEAD")
    if commit is None:
        return {"commit": None, "modified": None}
    changes = git("status", "--porcelain", "--untracked-files=no", "--", "sparsekit")
    return {"commit": commit, "modified": bool(changes) if changes is not None else None}
