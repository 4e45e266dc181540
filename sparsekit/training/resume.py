"""Resuming an interrupted run: its checkpoint, and the check that the settings asking to
resume describe the same run (`cannot resume: ...`, one line, before any work)."""
import json
from pathlib import Path
from typing import Any, Dict

from ..core.errors import SparsekitError
from . import checkpoint
from .config import TrainConfig, names_with
from .state import TrainState

# Settings that may differ between an interrupted run and its resumption (declared by role).
RESUMABLE_CHANGES = frozenset(names_with("resumable"))


def checkpoint_to_resume(config: TrainConfig) -> Dict[str, Any]:
    """The checkpoint in `config.out`, once the settings are known to be the interrupted run's."""
    resumed = checkpoint.load(config.out)
    run_dir = Path(config.out)
    # A setting added after the interrupted run was written had its default value there.
    saved_config, saved_recipe = TrainState.saved_settings(resumed)
    before = TrainConfig.from_record(saved_config).to_dict()
    for name, value in config.to_dict().items():
        if name not in RESUMABLE_CHANGES and before.get(name) != value:
            raise SparsekitError(f"cannot resume: setting {name!r} was {before.get(name)!r} in the interrupted "
                                 f"run, now {value!r}")
    # Runs from before recipes were always stored hold None: the default recipe, the same run. A
    # recipe written before a setting existed is read as what it ran (`Recipe.read`).
    if type(config.recipe).read(saved_recipe) != config.recipe:
        raise SparsekitError("cannot resume: the recipe differs from the interrupted run's")
    diverged = _previous_record(run_dir).get("diverged")
    if diverged:
        raise SparsekitError(f"cannot resume: the run in {run_dir} diverged at step {diverged['step']} and would "
                             f"diverge again; start it anew with other settings (overwrite=True, --overwrite)")
    return resumed


def _previous_record(run_dir: Path) -> dict:
    try:
        return json.loads((run_dir / "record.json").read_text())
    except (OSError, ValueError):
        return {}
