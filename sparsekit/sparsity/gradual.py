"""Gradual pruning on the cubic schedule of Zhu & Gupta 2017, over any scores of the current
weights: the schedule (when, how many) is orthogonal to the score (which). `--mask gmp` is it on
magnitude (`dynamic_gmp.py`); `--mask M --schedule gmp` is it on score method M
(`ScoreMethod.sparsifier`). GMP's timing options and their defaults are declared once, here.
"""
from typing import Any, Callable, Dict, Mapping, Optional

import torch

from ..core.errors import SparsekitError
from ..core.mask import Mask
from .distributions import check_distribution, keep_top_scores
from .schedules import check_fraction, check_interval, gmp_sparsity, is_gmp_update, step_at, update_interval
from .sparsifier import Sparsifier

# GMP's timing options (besides the distribution), with their defaults.
GMP_TIMING: Dict[str, Any] = {"update_every": 100, "initial_sparsity": 0.0, "start_at": 0.0, "end_at": 0.75}
GMP_OPTIONS = tuple(GMP_TIMING)


def timing(options: Mapping[str, Any]) -> Dict[str, Any]:
    """GMP's timing from `options` (the others left out), defaults filled in."""
    return {**GMP_TIMING, **{name: value for name, value in options.items() if name in GMP_OPTIONS}}


Scores = Callable[[torch.nn.Module, Dict[str, torch.nn.Parameter]], Dict[str, torch.Tensor]]


class GradualPruning(Sparsifier):
    name = "gmp"
    description = "GMP: prune the lowest scores on a cubic schedule during training (Zhu & Gupta 2017)"

    def __init__(self, params: Dict[str, torch.nn.Parameter], sparsity: float, scores: Scores, score_name: str,
                 distribution: Optional[str], update_every: int, initial_sparsity: float, start_at: float,
                 end_at: float):
        self.names = list(params)
        self.sparsity, self.scores, self.score_name = sparsity, scores, score_name
        self.distribution = check_distribution(distribution or "global")
        self.update_every = check_interval(update_every)
        self.initial_sparsity = check_fraction("initial_sparsity", initial_sparsity, low_open=False)
        if self.initial_sparsity > sparsity:
            raise SparsekitError(f"initial_sparsity {initial_sparsity} is above the target sparsity {sparsity}: "
                                 f"gradual pruning only removes weights")
        self.start_at = check_fraction("start_at", start_at, low_open=False)
        self.end_at = check_fraction("end_at", end_at, low_open=False)
        if self.start_at > self.end_at:
            raise SparsekitError(f"start_at {start_at} is after end_at {end_at}")

    def window(self, total_steps: int):
        """(first update step, last update step, steps between updates)."""
        start, end = step_at(self.start_at, total_steps), step_at(self.end_at, total_steps)
        return start, end, update_interval(self.update_every, end - start)

    def _ranked(self, model, keep: Optional[Dict[str, torch.Tensor]], sparsity: float) -> Mask:
        params = dict(model.named_parameters())
        scores = self.scores(model, {name: params[name] for name in self.names})
        lowest = torch.tensor(-float("inf"), dtype=torch.float64)
        if keep is not None:  # a pruned weight stays pruned
            scores = {name: torch.where(keep[name], s.detach().cpu().double(), lowest) for name, s in scores.items()}
        return Mask(keep_top_scores(scores, sparsity, self.distribution))

    def initial_mask(self, model, data) -> Mask:
        if self.initial_sparsity == 0:
            params = dict(model.named_parameters())
            return Mask({name: torch.ones(params[name].shape, dtype=torch.bool) for name in self.names})
        return self._ranked(model, None, self.initial_sparsity)

    def update(self, state) -> Optional[Mask]:
        start, end, interval = self.window(state.total_steps)
        if not is_gmp_update(state.step, start, end, interval):
            return None
        target = gmp_sparsity(state.step, self.initial_sparsity, self.sparsity, start, end)
        mask = self._ranked(state.model, state.mask, target)
        return None if mask.same_as(state.mask) else mask

    def describe(self, total_steps: Optional[int] = None) -> dict:
        described = {"name": self.name, "description": self.description, "schedule": "gmp",
                     "scores": self.score_name, "distribution": self.distribution, "update_every": self.update_every,
                     "initial_sparsity": self.initial_sparsity, "start_at": self.start_at, "end_at": self.end_at}
        if total_steps:
            start, end, interval = self.window(total_steps)
            described.update(update_every_used=interval, first_update_step=start, last_update_step=end)
        return described
