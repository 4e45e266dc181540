"""The ToST recipe: ghost neurons, ghost skip connections, modified initialisation and label
smoothing, each a toggle of `Recipe` and each one callback in its own file."""
from .settings import PRESETS, TRICK_FIELDS, TRICKS, Recipe, recipe_fields  # noqa: F401
