"""The ToST recipe: ghost neurons, ghost skip connections, modified initialisation and label
smoothing, each a toggle of `Recipe` and each one callback in its own file."""
from .init import init_log  # noqa: F401
from .settings import PRESETS, TRICK_FIELDS, TRICKS, Recipe, recipe_fields, trick_name  # noqa: F401
