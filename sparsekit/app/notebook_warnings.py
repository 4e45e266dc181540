"""Warnings in a notebook as one readable line each.

Python's default format repeats the file, the line number and the source line that warned,
which in a notebook shows up as a red box quoting sparsekit's internals. `one_line()` (called
by the course notebooks' import cell) prints just "RuntimeWarning: message".
"""
import warnings


def format_one_line(message, category, filename, lineno, line=None) -> str:
    return f"{category.__name__}: {message}\n"


def one_line() -> None:
    """From now on, in this process, every warning prints as one line."""
    warnings.formatwarning = format_one_line
