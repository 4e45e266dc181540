"""What every study command shares: one study folder as its argument, and bad input answered by one
`error:` line with exit status 2."""
import sys
from typing import Callable, List, Optional

from sparsekit.core.errors import SparsekitError


def run_on_folder(module: str, act: Callable[[str], str], argv: Optional[List[str]] = None) -> int:
    """`act(folder)` returns the line to print once it has written everything."""
    argv = sys.argv[1:] if argv is None else argv
    try:
        if len(argv) != 1:
            raise SparsekitError(f"give one study folder: python -m {module} FOLDER")
        print(act(argv[0]))
    except SparsekitError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    return 0
