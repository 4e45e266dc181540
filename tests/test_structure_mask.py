"""The structure-matched control's mask is the folded `tost-release` network's non-zero conv
weights: counted here from an actual fold (`export`) of a trained `tost-release` run, on a
residual network and on one without residual connections."""
import pytest
import torch

import sparsekit as sk
from sparsekit import models
from sparsekit.core.errors import SparsekitError
from sparsekit.export import export
from sparsekit.export.structure_mask import ghost_fold_positions, structure_matched_mask
from sparsekit.recipe.ghost_skip import GhostBranch, ghost_sites

torch.set_num_threads(1)
QUICK = dict(dataset="digits", width=0.25, epochs=1, max_batches=2, progress=False, mask="random", sparsity=0.9)


def _fresh(result) -> torch.nn.Module:
    network = result["network"]
    return models.build(network["model"], network["num_classes"], in_channels=network["in_channels"],
                        width=network["width"], input_size=network["input_size"])


@pytest.mark.parametrize("model", ["resnet20", "vgg16"])
def test_kept_count_is_the_folded_release_networks_nonzero_conv_count(model):
    run = sk.train(model=model, recipe=sk.Recipe.release().with_changes(init_iterations=1), **QUICK)
    matched = structure_matched_mask(_fresh(run), run.mask, "tost-release")
    network = run["network"]
    net = export(run.model, run.mask, input_shape=(network["in_channels"], network["input_size"],
                                                   network["input_size"]))
    linear_nonzero = sum(int((m.weight != 0).sum()) for m in run.model.modules() if isinstance(m, torch.nn.Linear))
    folded_conv_nonzero = net.report["nonzero_after_fold"] - linear_nonzero
    assert matched.num_kept() == folded_conv_nonzero
    assert net.report["ghost_centre_taps_added"] > 0
    for name, keep in run.mask.items():  # a superset of the mask it was made from
        assert bool((matched[name] | keep).eq(matched[name]).all())
    assert matched.num_kept() == run.mask.num_kept() + net.report["ghost_centre_taps_added"]


def test_the_added_positions_are_the_centre_taps_of_the_branch_sites():
    model = models.build("resnet20", 10, in_channels=1, width=0.5, input_size=28)
    added = ghost_fold_positions(model, "tost-release")
    branch_conv_weights = sum(GhostBranch(site.conv, 1.0).conv.weight.numel() for site in ghost_sites(model))
    assert sum(int(taps.sum()) for taps in added.values()) == branch_conv_weights
    for taps in added.values():  # only the centre of each 3x3 kernel
        assert taps[:, :, 1, 1].all() and int(taps.sum()) == taps[:, :, 1, 1].numel()
    assert "stem.conv.weight" not in added and not any("shortcut" in name for name in added)


def test_an_empty_mask_gains_exactly_the_taps_and_a_recipe_without_kept_branches_is_refused():
    model = models.build("resnet20", 10, in_channels=1, width=0.5, input_size=28)
    empty = sk.Mask({name: torch.zeros_like(keep) for name, keep in sk.Mask.dense(model).items()})
    matched = structure_matched_mask(model, empty, sk.Recipe.release())
    assert matched.num_kept() == sum(int(t.sum()) for t in ghost_fold_positions(model, "tost-release").values())
    with pytest.raises(SparsekitError, match="keeps no ghost skip branch"):
        structure_matched_mask(model, empty, "tost")
