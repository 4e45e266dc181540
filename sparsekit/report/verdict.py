"""A claim put to the numbers: the paired difference "variant - baseline" over seeds, its mean
and 95% interval, and a verdict in words generated from them, never written by hand:

    v = paired_verdict([0.012, -0.004, 0.020], "tost vs default")
    print(v)   # tost vs default: no measurable difference (mean +0.0093, 95% interval [...], 3 seeds)

The rule, in full:

- fewer than `MIN_PAIRS` (3) pairs: "too few seeds to tell", no interval. Two seeds give a
  t-interval with one degree of freedom (t = 12.7): either absurdly wide, or, when the two
  differences happen to be equal, of zero width;
- a spread of zero (every pair differs by the same amount, common on a finite test set where
  accuracies move in steps of one image): the standard deviation is raised to `resolution`
  (one test image's share of the accuracy, 1 / test-set size) when the caller gives it, and
  otherwise the verdict is "too few seeds to tell": equal differences are not certainty;
- else the 95% Student-t interval of the mean difference (standard deviation never below
  `resolution` when given): "better" when the whole interval lies above 0, "worse" when below,
  "no measurable difference" when it contains 0.
"""
import math
import statistics
from dataclasses import dataclass
from typing import Dict, List, Optional, Sequence

from ..core.errors import SparsekitError

CONFIDENCE = 0.95
MIN_PAIRS = 3
TOO_FEW = "too few seeds to tell"
# A spread below this is float rounding of equal differences (accuracies are multiples of 1/n).
ZERO_SPREAD = 1e-9


def t_quantile(degrees: int) -> float:
    """The two-sided 95% quantile of Student's t with `degrees` degrees of freedom."""
    from scipy import stats

    return float(stats.t.ppf(0.5 + CONFIDENCE / 2, degrees))


@dataclass(frozen=True)
class Verdict:
    label: str
    differences: tuple
    mean: float
    low: Optional[float]  # None when the rule gives no interval (too few pairs, or no spread to measure)
    high: Optional[float]
    unit: str = "seeds"  # what one difference is: a seed, or a (mask, seed) pair when pooled
    reason: str = ""  # why there is no interval, or how it was widened

    @property
    def seeds(self) -> int:
        return len(self.differences)

    @property
    def word(self) -> str:
        if self.low is None:
            return TOO_FEW
        if self.low > 0:
            return "better"
        if self.high < 0:
            return "worse"
        return "no measurable difference"

    def __str__(self) -> str:
        count = f"{self.seeds} {'seed' if self.seeds == 1 and self.unit == 'seeds' else self.unit}"
        if self.low is None:
            return f"{self.label}: {self.word} (mean difference {self.mean:+.4f}, {count}; {self.reason})"
        note = f"; {self.reason}" if self.reason else ""
        return (f"{self.label}: {self.word} (mean {self.mean:+.4f}, 95% interval [{self.low:+.4f}, "
                f"{self.high:+.4f}], {count}{note})")

    def to_dict(self) -> Dict:
        return {"label": self.label, "verdict": self.word, "mean": self.mean, "low": self.low, "high": self.high,
                "differences": list(self.differences), "unit": self.unit, "reason": self.reason}


def paired_verdict(differences: Sequence[float], label: str, unit: str = "seeds",
                   resolution: Optional[float] = None) -> Verdict:
    """The verdict on paired differences (one per seed, same mask and initialisation; or one
    per (mask, seed) pair when pooled, `unit="mask-seed pairs"`). `resolution`: the smallest
    step of the measured accuracy (1 / test-set size), the floor of the spread."""
    values = tuple(float(d) for d in differences)
    if not values:
        raise SparsekitError("a verdict needs at least one paired difference")
    mean = statistics.fmean(values)
    if len(values) < MIN_PAIRS:
        return Verdict(label, values, mean, None, None, unit, f"a verdict needs {MIN_PAIRS} or more")
    spread = statistics.stdev(values)
    reason = ""
    if spread < ZERO_SPREAD and not resolution:
        return Verdict(label, values, mean, None, None, unit,
                       "every pair differs by the same amount, a spread of 0 is not certainty: run more seeds")
    if resolution and spread < resolution:
        spread, reason = resolution, f"spread raised to the test set's resolution {resolution:.4f}"
    half = t_quantile(len(values) - 1) * spread / math.sqrt(len(values))
    return Verdict(label, values, mean, mean - half, mean + half, unit, reason)


def accuracies(records: Sequence, metric: str = "best_val_test_acc") -> List[float]:
    return [record[metric] for record in records]


def verdict_against(seeded: Dict[str, Sequence], baseline: str, variant: str, label: Optional[str] = None,
                    metric: str = "best_val_test_acc", resolution: Optional[float] = None) -> Verdict:
    """`variant - baseline` over the seeds of {label: [record per seed]} (seed order must match)."""
    pairs = zip(accuracies(seeded[variant], metric), accuracies(seeded[baseline], metric))
    return paired_verdict([v - b for v, b in pairs], label or f"{variant} vs {baseline}", resolution=resolution)


def claim_and_measurement(claim: str, verdicts: Sequence[Verdict]) -> str:
    """The paper's claim and, line by line, what was measured here (for a notebook to print)."""
    return "\n".join([f"paper's claim: {claim}", "measured here:"] + [f"  {verdict}" for verdict in verdicts])
