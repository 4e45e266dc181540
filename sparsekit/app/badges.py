"""The Binder badges: one setting holds the repository they point to, and one command
rewrites every badge (README.md, notebooks/README.md, each notebook's title cell) from it.

The repository has no public home yet, so the setting is a placeholder; when publishing,
change `REPOSITORY` here and run

    python -m sparsekit.app.badges

The test suite checks that every badge agrees with `REPOSITORY`.
"""
import re
import sys
from pathlib import Path
from typing import Dict, List

REPOSITORY = "OWNER/sparsekit"  # GitHub "account/name" that Binder builds from
ROOT = Path(__file__).resolve().parents[2]
NOTEBOOKS = ROOT / "notebooks"
READMES = (ROOT / "README.md", NOTEBOOKS / "README.md")
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


def badge_files() -> List[Path]:
    return [*READMES, *sorted(NOTEBOOKS.glob("[0-9]*.ipynb"))]


def links_in(path: Path) -> List[str]:
    """Every Binder link found in a file, as written."""
    return [match.group(0) for match in BADGE_LINK.finditer(path.read_text())]


def expected_links(path: Path, repository: str = REPOSITORY) -> List[str]:
    """What the file's links should be: a notebook opens itself; a README opens the index."""
    name = path.stem if path.suffix == ".ipynb" else LANDING
    return [badge_link(name, repository) for _ in links_in(path)]


def regenerate(repository: str = REPOSITORY) -> Dict[str, int]:
    """Rewrite every badge link from `repository`; returns {file: links rewritten}. Notebooks
    are edited as text so nothing else in them (cell ids, metadata) changes."""
    changed = {}
    for path in badge_files():
        text = path.read_text()
        name = path.stem if path.suffix == ".ipynb" else LANDING
        new, count = BADGE_LINK.subn(badge_link(name, repository), text)
        if new != text:
            path.write_text(new)
            changed[str(path.relative_to(ROOT))] = count
    return changed


def main() -> int:
    changed = regenerate()
    print(f"badges point to {REPOSITORY}; rewritten in {len(changed)} file(s)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
