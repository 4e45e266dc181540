"""A `SparsekitError` in a notebook as its one line, the full traceback one click away.

IPython's default shows every frame between the cell and the `raise` (through dataclasses,
the registry, the trainer): 50-odd red lines with the one that explains, "sparsity must be
in [0, 1) ... got 1.0", at the bottom. `install()` (called by the course's set-up call,
`notebook_warnings.one_line()`) registers a custom exception handler for `SparsekitError`
only: the cell fails as before (Run All stops, papermill reports the error), its red box
holds "SparsekitError: message", and below it a collapsed "full traceback" (an HTML
<details>; `%tb` prints it too). An interrupt (Kernel > Interrupt, a KeyboardInterrupt) is
folded the same way under one line that says what running the cell again does: a grid's
(`GridInterrupted`) says what it kept and whether it continues or restarts. Any other
exception is a bug and keeps IPython's traceback.
"""
import re
import sys
from html import escape

from ..core.errors import SparsekitError
from .sweeps.progress import GridInterrupted

ANSI = re.compile(r"\x1b\[[0-9;]*m")
SUMMARY = "full traceback (sparsekit's internals; the line above says what to change)"
INTERRUPT_SUMMARY = "full traceback (where the interrupt stopped the cell)"
# An interrupt outside a grid: nothing the cell did is known to be kept.
PLAIN_INTERRUPT = "interrupted: the cell stopped; run it again to restart"


def one_line(value: BaseException) -> str:
    return f"{type(value).__name__}: {value}"


def interrupt_line(value: BaseException) -> str:
    """What an interrupted cell shows: the grid's own line, or the plain one."""
    return str(value) if isinstance(value, GridInterrupted) and str(value) else PLAIN_INTERRUPT


def details_html(traceback_text: str, summary: str = SUMMARY) -> str:
    """The full traceback, collapsed until clicked."""
    return (f"<details><summary>{escape(summary)}</summary>"
            f"<pre style='font-size: 0.85em'>{escape(ANSI.sub('', traceback_text))}</pre></details>")


def show_one_line(shell, etype, value, tb, tb_offset=None):
    """The handler IPython calls for a `SparsekitError` or an interrupt raised by a cell."""
    from IPython.display import HTML, display

    sys.last_type, sys.last_value, sys.last_traceback = etype, value, tb  # for %tb
    if hasattr(sys, "last_exc"):
        sys.last_exc = value
    full = shell.InteractiveTB.stb2text(shell.InteractiveTB.structured_traceback(etype, value, tb, tb_offset=tb_offset))
    if isinstance(value, KeyboardInterrupt):
        line, summary = f"\x1b[0;31m{interrupt_line(value)}\x1b[0m", INTERRUPT_SUMMARY
    else:
        line, summary = f"\x1b[0;31m{type(value).__name__}\x1b[0m: {value}", SUMMARY
    # The error output the frontend draws red, and the reply that tells papermill the cell failed.
    shell._showtraceback(etype, value, [line])
    display(HTML(details_html(full, summary)), metadata={"sparsekit": "traceback"})
    return None


def install(shell=None) -> bool:
    """Show `SparsekitError`s and interrupts in this IPython session as one line; False outside IPython."""
    if shell is None:
        from IPython import get_ipython

        shell = get_ipython()
    if shell is None:
        return False
    shell.set_custom_exc((SparsekitError, KeyboardInterrupt), show_one_line)
    return True
