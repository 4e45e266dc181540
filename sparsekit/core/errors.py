"""The one exception type that means "the user asked for something we cannot do".

Everything raised as `SparsekitError` carries a one-line message that says what was wrong
and what is accepted; the CLI prints it as `error: ...` and exits with status 2, without a
traceback. Anything else escaping is a bug in sparsekit, and keeps its traceback.
"""


class SparsekitError(ValueError):
    """A problem with the user's input (a name, a value, a file), explained in one line."""

    def __init__(self, message: str):
        super().__init__(" ".join(str(message).split()))


def unknown_name(kind: str, name: str, valid) -> SparsekitError:
    """The standard error for a name that is not in a registry, listing the valid names."""
    return SparsekitError(f"unknown {kind} {name!r}; choose one of: {', '.join(sorted(valid))}")
