"""Callbacks: the places where recipe tricks, dynamic masks and plots plug into training.

The trainer calls every hook of every callback in order; a hook that a callback does not
define does nothing. Adding a feature means writing a callback, never editing the loop.
"""
from typing import Any, Dict, Iterable, List


class Callback:
    """Override the hooks you need. `state` is the trainer's `TrainState`."""

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
        """After each optimizer step and re-masking; `state.step` counts finished steps."""

    def on_epoch_end(self, state) -> None:
        """After evaluation; `state.epoch_record` is the epoch's row and may be extended."""

    def on_run_end(self, state) -> None:
        pass

    def state_dict(self) -> Dict[str, Any]:
        """Whatever the callback needs to resume exactly; saved in every checkpoint."""
        return {}

    def load_state_dict(self, state: Dict[str, Any]) -> None:
        pass


class CallbackList:
    """Calls one hook on every callback, in the order given."""

    def __init__(self, callbacks: Iterable[Callback]):
        self.callbacks: List[Callback] = list(callbacks)

    def call(self, hook: str, state) -> None:
        for callback in self.callbacks:
            getattr(callback, hook)(state)

    def state_dict(self) -> List[Dict[str, Any]]:
        return [callback.state_dict() for callback in self.callbacks]

    def load_state_dict(self, states: List[Dict[str, Any]]) -> None:
        for callback, state in zip(self.callbacks, states):
            callback.load_state_dict(state)
