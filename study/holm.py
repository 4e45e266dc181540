"""Holm's family-wise correction on top of the engine's paired intervals (REANALYSIS.md, rule 2).

Each interval comes from `sparsekit.report.verdict.paired_verdict` (Student t, n - 1 degrees of
freedom, the spread floored at the test set's resolution). Its standard error is read back from
it, so the p-value here is the test that interval inverts: p < 0.05 exactly when the 95%
interval excludes 0. Holm's adjusted p-values over a family, then each member's interval at
confidence 1 - alpha * p / p_Holm: Holm's own step level where the running maximum and the cap do
not bind, and in every case an interval that excludes 0 exactly when Holm rejects.
"""
from dataclasses import dataclass
from typing import List, Optional, Sequence

from scipy import stats

from sparsekit.report.verdict import CONFIDENCE, Verdict, t_quantile

ALPHA = 1 - CONFIDENCE  # the family-wise error rate, two-sided


@dataclass(frozen=True)
class Corrected:
    p: float  # the two-sided p-value of the paired t-test
    p_holm: float  # Holm's adjusted p-value within its family
    family_size: int
    low: float  # the interval at confidence 1 - ALPHA * p / p_holm
    high: float

    @property
    def word(self) -> str:
        if self.low > 0:
            return "better"
        if self.high < 0:
            return "worse"
        return "no measurable difference"


def standard_error(verdict: Verdict) -> float:
    """The standard error behind a paired_verdict interval (half its width over t)."""
    return (verdict.high - verdict.mean) / t_quantile(verdict.seeds - 1)


def p_value(verdict: Verdict) -> float:
    """Two-sided p of the t-test the verdict's 95% interval inverts."""
    se = standard_error(verdict)
    return float(2 * stats.t.sf(abs(verdict.mean) / se, verdict.seeds - 1))


def holm_adjusted(p_values: Sequence[float]) -> List[float]:
    """Holm's step-down adjusted p-values, in the order given: sorted ascending, p_(r) times
    (m - r + 1), a running maximum so the order is kept, capped at 1."""
    m = len(p_values)
    order = sorted(range(m), key=lambda i: p_values[i])
    adjusted, running = [0.0] * m, 0.0
    for rank, index in enumerate(order):
        running = max(running, min(1.0, (m - rank) * p_values[index]))
        adjusted[index] = running
    return adjusted


def interval_at(verdict: Verdict, alpha: float) -> tuple:
    """The verdict's t-interval at two-sided level 1 - alpha (same mean, standard error, df)."""
    half = float(stats.t.ppf(1 - alpha / 2, verdict.seeds - 1)) * standard_error(verdict)
    return verdict.mean - half, verdict.mean + half


def correct(family: Sequence[Verdict]) -> List[Optional[Corrected]]:
    """Holm over one family; None for a member with no interval (too few pairs: not tested)."""
    tested = [i for i, v in enumerate(family) if v.low is not None]
    raw = [p_value(family[i]) for i in tested]
    adjusted = holm_adjusted(raw)
    found: List[Optional[Corrected]] = [None] * len(family)
    for i, p, p_holm in zip(tested, raw, adjusted):
        # p == 0 only when the mean is infinitely many standard errors from 0: any level rejects
        alpha = ALPHA * p / p_holm if p_holm > 0 else ALPHA
        low, high = interval_at(family[i], alpha)
        found[i] = Corrected(p, p_holm, len(tested), low, high)
    return found
