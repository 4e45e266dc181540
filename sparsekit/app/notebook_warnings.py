"""The course notebooks' set-up call: warnings, and sparsekit's errors, as one readable line.

Python's default warning format repeats the file, the line number and the source line that
warned, which in a notebook shows up as a red box quoting sparsekit's internals. `one_line()`
(called by every course notebook's import cell) prints just "RuntimeWarning: message", and
in IPython shows a `SparsekitError` as its one line with the traceback folded away
(`sparsekit.app.notebook_errors`).
"""
import warnings

from . import notebook_errors


def format_one_line(message, category, filename, lineno, line=None) -> str:
    return f"{category.__name__}: {message}\n"


def one_line() -> None:
    """From now on, in this process, every warning prints as one line, and in IPython every
    SparsekitError shows as one line."""
    warnings.formatwarning = format_one_line
    notebook_errors.install()
