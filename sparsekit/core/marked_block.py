"""A generated block inside a hand-written Markdown page: everything from a start marker line to
an end marker line, rewritten by a command and checked by a test, so the numbers a page quotes
(runtimes, verdicts, the course's table) cannot drift from the files they come from while the
prose around them stays the author's."""
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Callable, Optional, Union

from .atomic import write_text
from .errors import SparsekitError


@dataclass(frozen=True)
class MarkedBlock:
    start: str  # the marker lines, HTML comments, so the rendered page does not show them
    end: str
    what: str  # named in the error for a page without the markers ("course table")

    def wrap(self, body: str) -> str:
        """The whole block: the markers around `body`."""
        return f"{self.start}\n{body.rstrip()}\n{self.end}"

    def current(self, text: str, path) -> str:
        """The block as the page at `path` (whose text is `text`) has it now, markers included."""
        if self.start not in text or self.end not in text[text.find(self.start):]:
            raise SparsekitError(f"{path} has no {self.what} markers ({self.start!r} ... {self.end!r})")
        start = text.index(self.start)
        return text[start:text.index(self.end, start) + len(self.end)]

    def rewrite(self, path, block: Union[str, Callable[[], str]]) -> bool:
        """Put `block` (markers included; or a function that makes it, called once the page's
        markers are found, so a page without them is one error line before any work) in place of
        the page's; True when the page changed. Written whole or not at all."""
        path = Path(path)
        text = path.read_text()
        old = self.current(text, path)
        new = text.replace(old, block() if callable(block) else block)
        if new != text:
            write_text(new, path)
        return new != text

    def rewrite_readme(self, root: Optional[Path], make: Callable[[Path], str]) -> bool:
        """The block of the repository's README.md (under `root`, default the working directory)
        from `make(root)`; True when it changed."""
        root = Path(root) if root is not None else Path.cwd()
        readme = root / "README.md"
        if not readme.is_file():
            raise SparsekitError(f"{root} is not the repository's root (no README.md): run the command from there")
        return self.rewrite(readme, lambda: make(root))

    def command(self, rewrite: Callable[[], bool]) -> int:
        """A command's exit status around `rewrite`: one line saying what it did, or one error line and 2."""
        try:
            changed = rewrite()
        except SparsekitError as exc:
            print(f"error: {exc}", file=sys.stderr)
            return 2
        print(f"README.md: {self.what} rewritten" if changed else f"README.md: {self.what} already up to date")
        return 0
