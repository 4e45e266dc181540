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
