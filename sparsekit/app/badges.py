"""The Binder badges: one setting holds the repository they point to, and one command
rewrites every badge (README.md, notebooks/README.md, each notebook's title cell) from it.

The repository has no public home yet, so the setting is a placeholder; when publishing,
change `REPOSITORY` here and run

    python -m sparsekit.app.badges      # from the repository's root: it edits the files there

The test suite checks that every badge agrees with `REPOSITORY`.
"""
import re
import sys
from pathlib import Path
from typing import Dict, List

from ..core.errors import SparsekitError

REPOSITORY = "OWNER/sparsekit"  # GitHub "account/name" that Binder builds from
LANDING = "00_index"  # where the READMEs' badges open JupyterLab

# Any Binder badge link, whatever repository and notebook it names.
BADGE_LINK = re.compile(r"https://mybinder\.org/v2/gh/[^/\s)]+/[^/\s)]+/HEAD\?urlpath=lab/tree/notebooks/"
                        r"(?P<name>[^)\s]+)\.ipynb")


def badge_link(notebook: str, repository: str = REPOSITORY) -> str:
    """The Binder address opening `notebook` (a name such as "03_snip") in JupyterLab."""
    return f"https://mybinder.org/v2/gh/{repository}/HEAD?urlpath=lab/tree/notebooks/{notebook}.ipynb"


def badge(notebook: str, repository: str = REPOSITORY) -> str:
    """The badge as Markdown."""
    return f"[![Binder](https://mybinder.org/badge_logo.svg)]({badge_link(notebook, repository)})"


def badge_files(root=None) -> List[Path]:
    """The files holding badges in a checkout (default: the current directory, its root)."""
    root = Path(root) if root is not None else Path.cwd()
    notebooks = root / "notebooks"
    if not (root / "README.md").is_file() or not notebooks.is_dir():
        raise SparsekitError(f"{root} is not the repository's root (no README.md and notebooks/): run the badge "
                             f"command from there")
    return [root / "README.md", notebooks / "README.md", *sorted(notebooks.glob("[0-9]*.ipynb"))]


def links_in(path: Path) -> List[str]:
    """Every Binder link found in a file, as written."""
    return [match.group(0) for match in BADGE_LINK.finditer(path.read_text())]


def expected_links(path: Path, repository: str = REPOSITORY) -> List[str]:
    """What the file's links should be: a notebook opens itself; a README opens the index."""
    name = path.stem if path.suffix == ".ipynb" else LANDING
    return [badge_link(name, repository) for _ in links_in(path)]


def regenerate(repository: str = REPOSITORY, root=None) -> Dict[str, int]:
    """Rewrite every badge link from `repository`; returns {file: links rewritten}. Notebooks
    are edited as text so nothing else in them (cell ids, metadata) changes."""
    changed = {}
    root = Path(root) if root is not None else Path.cwd()
    for path in badge_files(root):
        text = path.read_text()
        name = path.stem if path.suffix == ".ipynb" else LANDING
        new, count = BADGE_LINK.subn(badge_link(name, repository), text)
        if new != text:
            path.write_text(new)
            changed[str(path.relative_to(root))] = count
    return changed


def main() -> int:
    try:
        changed = regenerate()
    except SparsekitError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    print(f"badges point to {REPOSITORY}; rewritten in {len(changed)} file(s)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
