"""`setting(...)`: one declared field of a settings dataclass, with its help text and its roles.

Every settings section (data, model, sparsity, recipe, optimization, run) declares its
fields with this, so the command line, the widgets and the run record all read the same
declaration. Two roles say what a field means for a run that already exists:

- `shapes_mask`: a change gives a different mask (the mask methods' inputs): `sparsekit mask`
  takes exactly these, and a lottery ticket's saved rounds are reused only if they match;
- `resumable`: may differ between an interrupted run and its resumption (where files are,
  how fast the input pipeline runs, what is shown): everything else must match to resume.
"""
from dataclasses import field


def setting(default, help: str, choices=None, *, shapes_mask: bool = False, resumable: bool = False, **extra):
    return field(default=default, metadata={"help": help, "choices": choices, "shapes_mask": shapes_mask,
                                            "resumable": resumable, **extra})


def check_declared(section) -> None:
    """The checks every field declares: its type (text, True/False, optional text...) and its
    choices. Numbers are checked by the section itself, with their ranges."""
    from dataclasses import fields
    from typing import Optional

    from .checks import of_type
    from .errors import SparsekitError

    for f in fields(section):
        value = getattr(section, f.name)
        if f.type not in (int, float, Optional[int], Optional[float]) and not f.metadata.get("own_check"):
            of_type(f.name, value, f.type)
        choices = f.metadata.get("choices")
        if choices and value not in choices and not (value is None and f.default is None):
            raise SparsekitError(f"{f.name} must be one of: {', '.join(choices)} (got {value!r})")
