"""`SpectralProbe`: the full-spectrum coordinate of every run, at initialization and at the end.

The trainer installs it in every run. It measures the weights once the mask and every
callback have set them up (at the first epoch's start, before the first step: every
`on_run_start` has run by then) and the final weights (`on_run_end`). The record gets them under "spectral":
{"init": {...}, "end": {...}, "distance": L2 distance of the two coordinates}
(see `sparsekit.analysis.spectral` for the definitions). The initial numbers live in the
callback's state, so a resumed run reports the coordinate of its true start.
"""
from typing import Any, Dict, Optional

from ..analysis import spectral
from ..core.callbacks import Callback


class SpectralProbe(Callback):
    record_section = "spectral"

    def __init__(self):
        self.init: Optional[Dict[str, Any]] = None
        self.end: Optional[Dict[str, Any]] = None
        self.resumed = False

    def on_resume(self, state) -> None:
        self.resumed = True

    def on_epoch_start(self, state) -> None:
        # A checkpoint from before the probe existed carries no start: it stays unknown, never
        # guessed from the resumed weights.
        if self.init is None and not self.resumed and state.step == 0:
            self.init = spectral.coordinate_of(state.model, state.mask)

    def on_run_end(self, state) -> None:
        self.end = spectral.coordinate_of(state.model, state.mask)

    def record(self, state) -> Optional[Dict[str, Any]]:
        if self.end is None:  # still training: the start once known (measured, or from the checkpoint)
            return None if self.init is None else {"init": self.init}
        distance = None if self.init is None else spectral.distance(self.init["coordinate"], self.end["coordinate"])
        return {"init": self.init, "end": self.end, "distance": distance}

    def state_dict(self) -> Dict[str, Any]:
        return {"init": self.init}

    def load_state_dict(self, state: Dict[str, Any]) -> None:
        self.init = state.get("init")
