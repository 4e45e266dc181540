"""Callbacks: the places where recipe tricks, dynamic masks and plots plug into training.

The trainer calls every hook of every callback in order; a hook that a callback does not
define does nothing. Adding a feature means writing a callback, never editing the loop.
The loop's own bookkeeping (evaluation, checkpoints, the record, the progress bar, the
divergence watch) is made of callbacks too (`sparsekit.training.standard_callbacks`).

A callback that puts something in the run record declares it: `record_section` names the
record key it owns and `record(state)` gives its value (None: nothing to say yet). Two
callbacks of one run cannot own the same key, so no record entry is written from two places.
"""
from typing import Any, Dict, Iterable, List, Optional

from .errors import SparsekitError


class Callback:
    """Override the hooks you need. `state` is the trainer's `TrainState`."""

    record_section: Optional[str] = None  # the run record's key this callback writes, if any

    def record(self, state) -> Any:
        """The value of `record_section` in the record built now; None leaves it out."""
        return None

    def check(self, state) -> None:
        """Before any callback changes anything: refuse (SparsekitError) a run this callback
        cannot serve, so a refusal never comes after minutes of another trick's work."""

    def before_mask(self, state) -> None:
        """A new run (not a resumed one): the model holds its dense initial weights and
        `state.mask` is known but not yet applied. For what must see the dense network."""

    def on_setup(self, state) -> None:
        """Model and mask ready, optimizer not yet built: change the architecture, the
        initialisation or `state.loss_fn` here (new parameters join the optimizer)."""

    def on_resume(self, state) -> None:
        """Resuming after `state.epoch` finished epochs, before the checkpoint's weights load:
        bring the model to the architecture it had then."""

    def on_run_start(self, state) -> None:
        """Optimizer built; training is about to begin (or continue, when resuming)."""

    def on_epoch_start(self, state) -> None:
        pass

    def on_step(self, state) -> None:
        """After each optimizer step and re-masking; `state.step` counts finished steps and
        `state.loss`, `state.logits`, `state.targets` are the step's (on the device)."""

    def on_epoch_end(self, state) -> None:
        """After evaluation; `state.epoch_record` is the epoch's row and may be extended."""

    def on_run_end(self, state) -> None:
        pass

    def on_diverged(self, state) -> None:
        """The loss became non-finite (`state.diverged` holds the `Diverged` error); the run
        stops with that error once every callback has seen it."""

    def state_dict(self) -> Dict[str, Any]:
        """Whatever the callback needs to resume exactly; saved in every checkpoint."""
        return {}

    def load_state_dict(self, state: Dict[str, Any]) -> None:
        pass


class CallbackList:
    """Calls one hook on every callback, in the order given."""

    def __init__(self, callbacks: Iterable[Callback]):
        self.callbacks: List[Callback] = list(callbacks)
        owners: Dict[str, Callback] = {}
        for callback in self.callbacks:
            section = callback.record_section
            if section is not None and section in owners:
                raise SparsekitError(f"two callbacks write the record's {section!r}: "
                                     f"{type(owners[section]).__name__} and {type(callback).__name__}")
            if section is not None:
                owners[section] = callback

    def call(self, hook: str, state) -> None:
        for callback in self.callbacks:
            getattr(callback, hook)(state)

    def record_sections(self, state) -> Dict[str, Any]:
        """Every declared record section that has a value now, in callback order."""
        sections = {}
        for callback in self.callbacks:
            if callback.record_section is not None:
                value = callback.record(state)
                if value is not None:
                    sections[callback.record_section] = value
        return sections

    def state_dict(self) -> List[Dict[str, Any]]:
        return [callback.state_dict() for callback in self.callbacks]

    def load_state_dict(self, states: List[Dict[str, Any]]) -> None:
        for callback, state in zip(self.callbacks, states):
            callback.load_state_dict(state)
