"""The converged study's re-analysis (REANALYSIS.md): Holm's correction on hand-made p-values,
the degenerate-cell rule on small synthetic masks, the pooled estimator (one mean per mask), and
the committed answer.json recomputed from the committed records."""
import json
import math
import statistics
from pathlib import Path

import pytest
import torch

from sparsekit import models
from sparsekit.report import seeded_rows
from sparsekit.report.verdict import paired_verdict
from study import degenerate, holm
from study.plan import read_plan
from study.reanalysis import pooled_results, reanalyse
from study.reanalysis_report import planned_and_finished
from study import runs as study_runs

ROOT = Path(__file__).resolve().parents[1]
STUDY = ROOT / "benchmarks" / "results" / "study-converged"


# ---- Holm ----------------------------------------------------------------------------------------
def test_holm_adjusts_a_hand_made_family_as_the_textbook_does():
    # sorted: 0.005 x 4 = 0.02, 0.01 x 3 = 0.03, 0.03 x 2 = 0.06, 0.04 x 1 = 0.04 -> running max 0.06
    assert holm.holm_adjusted([0.01, 0.04, 0.03, 0.005]) == pytest.approx([0.03, 0.06, 0.06, 0.02])
    # at 0.05: the two smallest are rejected, the step-down stops at 0.03 (> 0.05 / 2), so 0.04 is not
    assert [p < 0.05 for p in holm.holm_adjusted([0.01, 0.04, 0.03, 0.005])] == [True, False, False, True]
    assert holm.holm_adjusted([0.4, 0.6]) == pytest.approx([0.8, 0.8])  # capped at 1 only when above it
    assert holm.holm_adjusted([0.7, 0.9]) == [1.0, 1.0]
    assert holm.holm_adjusted([0.2]) == [0.2]  # a family of one is not corrected


def _family():
    """Three cells of three seeds: a clear gain, a marginal one, and none."""
    return [paired_verdict(values, name, resolution=1e-4) for name, values in
            (("clear", [0.030, 0.032, 0.034]), ("marginal", [0.010, 0.002, 0.016]), ("none", [0.01, -0.012, 0.003]))]


def test_the_p_value_is_the_test_the_engines_interval_inverts():
    for verdict in _family():
        p = holm.p_value(verdict)
        assert (p < 0.05) == (verdict.low > 0 or verdict.high < 0)
        low, high = holm.interval_at(verdict, 0.05)  # the engine's own 95% interval back
        assert (low, high) == pytest.approx((verdict.low, verdict.high))
        edge = holm.interval_at(verdict, p)  # the level at which the interval just touches 0
        assert min(abs(edge[0]), abs(edge[1])) == pytest.approx(0, abs=1e-12)


def test_the_corrected_interval_excludes_zero_exactly_when_holm_rejects():
    family = _family()
    corrected = holm.correct(family)
    raw = [holm.p_value(v) for v in family]
    assert [c.p_holm for c in corrected] == pytest.approx(holm.holm_adjusted(raw))
    for verdict, found in zip(family, corrected):
        assert (found.p_holm < 0.05) == (found.low > 0 or found.high < 0)
        assert found.low <= verdict.low and found.high >= verdict.high  # never narrower than uncorrected
        assert found.family_size == 3
    # the smallest p is tested at 0.05 / 3 (no running maximum binds): its interval is the 1 - 0.05/3 one
    first = min(range(3), key=lambda i: raw[i])
    assert (corrected[first].low, corrected[first].high) == pytest.approx(holm.interval_at(family[first], 0.05 / 3))
    assert corrected[0].word == "better" and corrected[2].word == "no measurable difference"
    # a cell with too few pairs is not tested and does not count in the family
    short = paired_verdict([0.01, 0.02], "two seeds")
    found = holm.correct([family[0], short])
    assert found[1] is None and found[0].family_size == 1


# ---- degenerate cells ----------------------------------------------------------------------------
def _network():
    torch.manual_seed(0)
    return models.build("resnet20", 10, in_channels=1, width=0.25, input_size=8).double().eval()


def _mask(model, empty=(), keep_one=()):
    """Every prunable conv kept dense, `empty` layers emptied, `keep_one` layers keeping one weight."""
    mask = {name: torch.ones_like(p, dtype=torch.bool) for name, p in model.named_parameters()
            if name.endswith("conv.weight")}
    for name in empty:
        mask[name] = torch.zeros_like(mask[name])
    for name in keep_one:
        mask[name] = torch.zeros_like(mask[name])
        mask[name].view(-1)[0] = True
    return mask


def test_a_mask_that_empties_the_first_convolution_is_degenerate_and_few_weights_are_not():
    model = _network()
    assert degenerate.must_pass_layers(model, list(_mask(model))) == ["stem.conv.weight"]
    assert degenerate.judge_mask(model, _mask(model, empty=["stem.conv.weight"])) == {
        "cut": True, "cut_at_init": True, "empty_must_pass": ["stem.conv.weight"]}
    # one weight left on the only path in: not degenerate by the rule (random 98% is analysed like the rest)
    assert degenerate.judge_mask(model, _mask(model, keep_one=["stem.conv.weight"]))["cut"] is False
    # an emptied layer with a shortcut beside it does not cut the network
    assert degenerate.judge_mask(model, _mask(model, empty=["stages.0.0.conv_bn1.conv.weight"]))["cut"] is False
    # a downsampling block whose main path and 1x1 shortcut both empty cuts it, with no single must-pass layer empty
    both = ["stages.1.0.conv_bn1.conv.weight", "stages.1.0.shortcut.conv.weight"]
    assert degenerate.judge_mask(model, _mask(model, empty=both)) == {"cut": True, "cut_at_init": True,
                                                                      "empty_must_pass": []}


def _shut_at_init() -> torch.nn.Module:
    """conv -> BN -> ReLU -> conv with one negative weight -> BN -> ReLU -> linear: at BatchNorm's
    initial statistics the second ReLU sees only values <= 0, so it is shut for every input,
    although a path of non-zero weights joins the input to the output."""
    model = torch.nn.Sequential(torch.nn.Conv2d(1, 1, 3, padding=1, bias=False), torch.nn.BatchNorm2d(1),
                                torch.nn.ReLU(), torch.nn.Conv2d(1, 1, 1, bias=False), torch.nn.BatchNorm2d(1),
                                torch.nn.ReLU(), torch.nn.Flatten(), torch.nn.Linear(16, 2)).double().eval()
    with torch.no_grad():
        model[3].weight.fill_(-0.5)
    model.input_shape = (1, 4, 4)
    return model


def test_a_relu_shut_by_the_judges_weights_is_not_a_cut_network():
    """The pre-registered detection (the same output for two random inputs at initialisation)
    fires here; the rule's test (a path of kept weights) does not, whatever the weights' signs.
    The addendum's random-densefirst 99.5% seed 1 was such a case: flagged, yet trained to 0.54."""
    model = _shut_at_init()
    dense = {name: torch.ones_like(p, dtype=torch.bool) for name, p in model.named_parameters() if p.dim() > 1}
    judged = degenerate.judge_mask(model, dense, must_pass=[])
    assert judged["cut_at_init"] is True and judged["cut"] is False
    with torch.no_grad():
        model[3].weight.fill_(0.5)  # the same structure with a positive weight: the detection agrees
    assert degenerate.judge_mask(model, dense, must_pass=[])["cut_at_init"] is False
    emptied = dict(dense, **{"3.weight": torch.zeros_like(dense["3.weight"])})  # no path left: both say cut
    assert degenerate.judge_mask(model, emptied, must_pass=[]) == {"cut": True, "cut_at_init": True,
                                                                  "empty_must_pass": []}


def test_cells_are_judged_from_the_mask_files_of_their_default_runs(tmp_path):
    model = _network()
    config = {"dataset": "digits", "model": "resnet20", "width": 0.25}
    for seed, empty in ((0, []), (1, ["stem.conv.weight"])):
        folder = tmp_path / "runs" / f"random-0.995-seed{seed}-default"
        folder.mkdir(parents=True)
        torch.save({"format": "sparsekit.mask/1", "mask": _mask(model, empty=empty)}, folder / "mask.pt")
        (folder / "record.json").write_text(json.dumps({"config": config}))
    found = degenerate.cell_degeneracy(tmp_path)
    assert found[("random", 0.995)]["degenerate"] is True  # one cut seed is enough
    assert [found[("random", 0.995)]["seeds"][s]["cut"] for s in (0, 1)] == [False, True]


# ---- the pooled estimator ----------------------------------------------------------------------
def test_the_pooled_line_is_a_t_interval_over_one_mean_per_mask_and_leaves_degenerate_cells_out():
    per_mask = {"a": [0.01, 0.02, 0.03], "b": [0.03, 0.05, 0.04], "c": [-0.01, 0.0, 0.02], "d": [0.5, 0.5, 0.5]}
    cells = [{"mask": mask, "sparsity": 0.98, "comparison": "tost - default", "differences": values,
              "degenerate": mask == "d"} for mask, values in per_mask.items()]
    (line,) = pooled_results(cells, ["a", "b", "c", "d"], resolution=1e-4)
    means = [statistics.fmean(per_mask[m]) for m in "abc"]
    expected = paired_verdict(means, "x", resolution=1e-4)  # k = 3 masks: 2 degrees of freedom
    assert line["masks"] == ["a", "b", "c"]
    assert (line["mean"], line["low"], line["high"]) == pytest.approx((expected.mean, expected.low, expected.high))
    half = (expected.high - expected.low) / 2
    assert half == pytest.approx(4.302652729749464 * statistics.stdev(means) / math.sqrt(3))  # t(0.975, 2)
    # one sparsity: a family of one, the corrected interval is the interval itself
    assert (line["corrected_low"], line["corrected_high"]) == pytest.approx((line["low"], line["high"]))


# ---- the committed answer ---------------------------------------------------------------------
SCHEMA_CELL = {"mask", "sparsity", "comparison", "pairs", "mean", "low", "high", "corrected_low", "corrected_high",
               "verdict", "degenerate"}
SCHEMA_POOLED = {"sparsity", "comparison", "mean", "low", "high", "corrected_low", "corrected_high", "verdict",
                 "method"}
WORDS = {"better", "worse", "no measurable difference", "too few seeds to tell"}


def test_the_committed_answer_recomputes_from_the_committed_records():
    answer = json.loads((STUDY / "answer.json").read_text())
    assert answer["format"] == "sparsekit-study-answer/1" and answer["generated"].endswith("Z")
    plan = read_plan(STUDY)
    rows, _ = study_runs.collect(STUDY, plan["metric"])
    size = seeded_rows.test_set_size(study_runs.test_accuracies(STUDY))
    assert size == 10_000  # the official Fashion-MNIST test set, read from the records
    found = reanalyse(rows, degenerate.cell_degeneracy(STUDY), plan["grid"]["headline_masks"],
                      list(plan["grid"]["tricks_alone"]["arms"]), 1 / size)
    planned, finished = planned_and_finished(plan, rows)
    assert answer["counts"] == {"planned_after_cuts": planned, "finished": finished}
    assert len(answer["cells"]) == len(found["cells"]) and len(answer["pooled"]) == len(found["pooled"])
    for saved, again in zip(answer["cells"] + answer["pooled"], found["cells"] + found["pooled"]):
        assert SCHEMA_CELL <= set(saved) or SCHEMA_POOLED <= set(saved)
        assert saved["verdict"] in WORDS and saved["verdict"] == again["verdict"]
        for key in ("mean", "low", "high", "corrected_low", "corrected_high"):
            assert (saved[key] is None) == (again[key] is None), key
            if saved[key] is not None:
                assert saved[key] == pytest.approx(again[key], abs=1e-12), (saved, key)
    # the rules' outcome on these records: random 99.5% is the one degenerate cell, out of every pooled line
    assert {(c["mask"], c["sparsity"]) for c in answer["cells"] if c["degenerate"]} == {("random", 0.995)}
    assert all("random" not in p["masks"] for p in answer["pooled"] if p["sparsity"] == 0.995)
    # tost leads: first in the cells, the pooled lines and the sentence
    assert answer["cells"][0]["comparison"] == answer["pooled"][0]["comparison"] == "tost - default"
    assert answer["sentence"].index("tost - default") < answer["sentence"].index("tost-release - default")
    assert {p["comparison"] for p in answer["pooled"]} == {"tost - default", "tost-release - default",
                                                           "capacity - default", "tost-release - capacity"}


def test_the_report_names_what_the_pre_registered_detection_flagged_beside_the_rules_verdict():
    from study.reanalysis_report import degenerate_lines

    def seed(cut, at_init, empty=()):
        return {"cut": cut, "cut_at_init": at_init, "empty_must_pass": list(empty)}

    found = {("random-densefirst", 0.995): {"degenerate": False, "seeds": {0: seed(False, False), 1: seed(False, True)}},
             ("random", 0.995): {"degenerate": True, "seeds": {0: seed(True, True, ["stem.conv.weight"])}},
             ("snip", 0.98): {"degenerate": False, "seeds": {0: seed(False, False)}}}
    empty_stem, flagged = degenerate_lines(found, [])
    assert empty_stem == ("- random at 0.995: the masked network's output does not depend on its input "
                          "(seed 0: `stem.conv.weight` keeps no weight).")
    assert flagged.startswith("- random-densefirst at 0.995, seed 1: flagged by the pre-registered detection")
    assert "by the rule it is not cut and the cell is analysed like the rest" in flagged
    # records judged before the field existed read as not flagged
    assert degenerate_lines({("snip", 0.98): {"degenerate": False, "seeds": {0: {"cut": False, "empty_must_pass": []}}}},
                            []) == []
