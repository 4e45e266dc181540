"""The "From scratch" sections of the course (see FROM_SCRATCH in test_notebooks.py): each is a
formula, the method's core in plain torch, and a check against the engine; the check really
fails when the from-scratch code is wrong. (The checks' passing runs are the notebooks' smoke
runs, in test_notebooks.py.)"""
import re
from pathlib import Path

import nbformat
import pytest
import torch
from sparsekit.app import notebook_runner as runner
from sparsekit.core.errors import SparsekitError
from test_notebooks import FROM_SCRATCH, NAMES, REPO, committed_text


# Per notebook: a fragment of its from-scratch cell and a wrong version of it (a plausible slip in the
# method's core), which the section's check must refuse with a SparsekitError naming the engine. A third
# element names another code cell of the section (by its place among them); a second slip of one
# notebook is keyed "<notebook> (<what>)".
WRONG_FROM_SCRATCH = {
    "01_dense_and_random": ("if not over.any():", "if True:"),  # no capacity check: densities over 1
    "02_magnitude_and_lottery_ticket": ("trained[name].abs()", "trained[name]"),  # signed trained weights
    "03_snip": ("(w.detach() * g).abs()", "w.detach().abs()"),  # magnitude, not connection sensitivity
    "04_grasp": ("wi.detach() * hg", "-wi.detach() * hg"),  # the other sign convention
    "05_synflow": ("(r / rounds)", "(1.0)"),  # every round straight to the target: no schedule
    # the symmetric difference for the union: kept by one mask only
    "06_comparing_masks": ("(mask_a[name] | mask_b[name])", "(mask_a[name] ^ mask_b[name])"),
    # any gradient, zero included, for a positive one: every kept weight counted as used
    "06_comparing_masks (effective)": ("(weights[name].grad > 0)", "(weights[name].grad >= 0)"),
    "07_dynamic_sparse_training": ("weights[name].grad.abs()", "weights[name].grad"),  # signed gradient
    "08_n_m_sparsity": ("descending=True", "descending=False"),  # the N smallest of each group
    "09_mask_graphs": ("(d_out - 1).sqrt() - s[1]", "(d_out - 1).sqrt() - s[0]"),  # mu_1, the trivial eigenvalue
    # the normal quantile for Student's t: intervals far too narrow for three seeds
    "14_any_mask_full_recipe": ("stats.t.ppf(0.975, len(differences) - 1)", "stats.norm.ppf(0.975)"),
    # Bonferroni's m p for Holm's (m - k + 1) p: every adjusted p but the largest too large (its third code cell)
    "14_any_mask_full_recipe (Holm)": ("(m - rank) * p_values[index]", "m * p_values[index]", 2),
    # the kept values in column-major order, beside their row-major columns: each weight in the wrong place
    "15_is_it_faster": ("values = rows[kept]", "values = rows.t()[kept.t()]"),
    "16_your_own_network": ("for name in units[1:]", "for name in units"),  # a branch beside the stem too
}


def from_scratch_cells(notebook) -> list:
    """The cells of a notebook's "## From scratch" section, its heading's cell first."""
    cells = notebook.cells
    start = next((i for i, c in enumerate(cells) if c.cell_type == "markdown" and c.source.startswith("## From scratch")),
                 None)
    assert start is not None, "no '## From scratch' section"
    end = next(i for i, c in enumerate(cells) if i > start and c.cell_type == "markdown" and c.source.startswith("## "))
    return cells[start:end]


@pytest.mark.parametrize("name", sorted(FROM_SCRATCH & set(NAMES)))
def test_a_from_scratch_section_is_a_formula_plain_torch_and_a_check(name):
    """The formula (LaTeX), then the core in plain torch (no sparsekit in it), then the check."""
    notebook = nbformat.reads(committed_text((REPO / "notebooks") / f"{name}.ipynb"), as_version=4)
    heading, *rest = from_scratch_cells(notebook)
    assert "$" in heading.source, "no formula beside the code"
    code = [cell.source for cell in rest if cell.cell_type == "code"]
    assert len(code) >= 2, "the section needs the from-scratch cell and a check cell after it"
    assert "sparsekit" not in code[0] and not re.search(r"\bsk\.", code[0]), "the from-scratch cell must be plain torch"
    assert any("sparsekit" in source for source in code[1:]), "the check must run the engine"


def run_from_scratch(name: str, out: Path, fragment: str = "", replacement: str = "", cell: int = 0) -> None:
    """Execute a notebook's "From scratch" code cells at its smoke parameters, here in this
    process, with `fragment` of the section's code cell number `cell` (0: the from-scratch cell)
    replaced by `replacement`."""
    path = (REPO / "notebooks") / f"{name}.ipynb"
    notebook = nbformat.read(path, as_version=4)
    namespace: dict = {}
    exec(notebook.cells[1].source, namespace)  # the parameters cell, then the smoke values over it
    namespace.update(runner.parameters_for(path, "smoke", out))
    code = [cell.source for cell in from_scratch_cells(notebook) if cell.cell_type == "code"]
    assert code[cell].count(fragment) == 1, f"{fragment!r} is not (once) in {name}'s code cell {cell} of the section"
    code[cell] = code[cell].replace(fragment, replacement)
    threads = torch.get_num_threads()
    torch.set_num_threads(runner.SMOKE_THREADS)
    try:
        for number, source in enumerate(code):
            exec(compile(source, f"{name} from-scratch cell {number}", "exec"), namespace)
    finally:
        torch.set_num_threads(threads)


@pytest.mark.parametrize("slip", sorted(WRONG_FROM_SCRATCH))
def test_a_wrong_from_scratch_cell_fails_its_check(slip, tmp_path):
    """The checks can fail: with a slip in the from-scratch code, the check cell raises."""
    with pytest.raises(SparsekitError, match="engine"):
        run_from_scratch(slip.split(" ")[0], tmp_path, *WRONG_FROM_SCRATCH[slip])
