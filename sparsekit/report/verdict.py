"""A claim put to the numbers: the paired difference "variant - baseline" over seeds, its mean
and 95% interval, and a verdict in words generated from them, never written by hand:

    v = paired_verdict([0.012, -0.004, 0.020], "tost vs default")
    print(v)   # tost vs default: no measurable difference (mean +0.0093, 95% interval [...], 3 seeds)

"better" when the whole interval lies above 0, "worse" when below, "no measurable difference"
when it contains 0; with one seed there is no interval, and the verdict says so.
"""
import math
import statistics
from dataclasses import dataclass
from typing import Dict, List, Optional, Sequence

CONFIDENCE = 0.95


def t_quantile(degrees: int) -> float:
    """The two-sided 95% quantile of Student's t with `degrees` degrees of freedom."""
    from scipy import stats

    return float(stats.t.ppf(0.5 + CONFIDENCE / 2, degrees))


@dataclass(frozen=True)
class Verdict:
    label: str
    differences: tuple
    mean: float
    low: Optional[float]  # None with fewer than two seeds
    high: Optional[float]
    unit: str = "seeds"  # what one difference is: a seed, or a (mask, seed) pair when pooled

    @property
    def seeds(self) -> int:
        return len(self.differences)

    @property
    def word(self) -> str:
        if self.low is None:
            return "not measurable with one seed"
        if self.low > 0:
            return "better"
        if self.high < 0:
            return "worse"
        return "no measurable difference"

    def __str__(self) -> str:
        if self.low is None:
            return f"{self.label}: {self.word} (difference {self.mean:+.4f}; run 3 seeds for a verdict)"
        return (f"{self.label}: {self.word} (mean {self.mean:+.4f}, 95% interval [{self.low:+.4f}, "
                f"{self.high:+.4f}], {self.seeds} {self.unit})")

    def to_dict(self) -> Dict:
        return {"label": self.label, "verdict": self.word, "mean": self.mean, "low": self.low, "high": self.high,
                "differences": list(self.differences), "unit": self.unit}


def paired_verdict(differences: Sequence[float], label: str, unit: str = "seeds") -> Verdict:
    """The verdict on paired differences (one per seed, same mask and initialisation; or one
    per (mask, seed) pair when pooled, `unit="mask-seed pairs"`)."""
    values = tuple(float(d) for d in differences)
    mean = statistics.fmean(values)
    if len(values) < 2:
        return Verdict(label, values, mean, None, None, unit)
    half = t_quantile(len(values) - 1) * statistics.stdev(values) / math.sqrt(len(values))
    return Verdict(label, values, mean, mean - half, mean + half, unit)


def accuracies(records: Sequence, metric: str = "best_val_test_acc") -> List[float]:
    return [record[metric] for record in records]


def verdict_against(seeded: Dict[str, Sequence], baseline: str, variant: str, label: Optional[str] = None,
                    metric: str = "best_val_test_acc") -> Verdict:
    """`variant - baseline` over the seeds of {label: [record per seed]} (seed order must match)."""
    pairs = zip(accuracies(seeded[variant], metric), accuracies(seeded[baseline], metric))
    return paired_verdict([v - b for v, b in pairs], label or f"{variant} vs {baseline}")


def claim_and_measurement(claim: str, verdicts: Sequence[Verdict]) -> str:
    """The paper's claim and, line by line, what was measured here (for a notebook to print)."""
    return "\n".join([f"paper's claim: {claim}", "measured here:"] + [f"  {verdict}" for verdict in verdicts])
