"""The package's layout is one-way: folders form layers and nothing reaches back up.

Every import inside `sparsekit` counts, including those made inside functions (a lazy import
is how a cycle hides), so the graph here is the source's, read with `ast`.
"""
import ast
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parent.parent / "sparsekit"

# Lowest first. A module may import its own folder and any lower layer, never a higher one
# nor a sibling folder of its own layer.
LAYERS = [
    ("core",),
    ("data", "models", "analysis"),
    ("sparsity", "recipe"),
    ("training",),
    ("runs",),
    ("report", "export"),
    ("app",),
    ("",),  # the public face: sparsekit/__init__.py, masks.py, __main__.py
]


def module_name(path: Path) -> str:
    parts = list(path.relative_to(PACKAGE.parent).with_suffix("").parts)
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def modules():
    return {module_name(p): p for p in PACKAGE.rglob("*.py")}


def imports_of(name: str, path: Path, known) -> set:
    """The sparsekit modules `name` imports (a package's name when a name comes from its __init__)."""
    is_package = path.name == "__init__.py"
    found = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            found |= {a.name for a in node.names if a.name.split(".")[0] == "sparsekit"}
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = name.split(".") if is_package else name.split(".")[:-1]
                base = base[:len(base) - node.level + 1]
                target = ".".join(base + ([node.module] if node.module else []))
            else:
                target = node.module or ""
            if target.split(".")[0] != "sparsekit":
                continue
            for alias in node.names:
                found.add(f"{target}.{alias.name}" if f"{target}.{alias.name}" in known else target)
    return found


def graph():
    known = modules()
    return {name: imports_of(name, path, known) for name, path in known.items()}


def folder(name: str) -> str:
    parts = name.split(".")
    return parts[1] if len(parts) > 2 or (len(parts) == 2 and (PACKAGE / parts[1]).is_dir()) else ""


def layer(name: str) -> int:
    top = folder(name)
    for index, folders in enumerate(LAYERS):
        if top in folders:
            return index
    raise AssertionError(f"{name} is in folder {top!r}, which no layer lists: add it to LAYERS")


def find_cycle(edges):
    """One import cycle as a list of modules, or None (depth-first search, three colours)."""
    colour, stack = {}, []

    def visit(node):
        colour[node] = "grey"
        stack.append(node)
        for nxt in sorted(edges.get(node, ())):
            if colour.get(nxt) == "grey":
                return stack[stack.index(nxt):] + [nxt]
            if nxt not in colour and (cycle := visit(nxt)):
                return cycle
        colour[node] = "black"
        stack.pop()
        return None

    for start in sorted(edges):
        if start not in colour and (cycle := visit(start)):
            return cycle
    return None


def test_no_import_cycle_inside_the_package():
    cycle = find_cycle(graph())
    assert cycle is None, "import cycle: " + " -> ".join(cycle)


def test_no_module_imports_a_higher_layer_or_a_sibling_folder():
    wrong = []
    for name, targets in graph().items():
        for target in targets:
            if target == "sparsekit" and name != "sparsekit":
                wrong.append(f"{name} imports the package root")
            elif target != "sparsekit" and folder(target) != folder(name) and layer(target) >= layer(name):
                wrong.append(f"{name} -> {target}")
    assert not wrong, "imports against the layers:\n" + "\n".join(sorted(wrong))


def test_the_cycle_finder_finds_a_planted_cycle():
    assert find_cycle({"a": {"b"}, "b": {"c"}, "c": {"a"}}) == ["a", "b", "c", "a"]
    assert find_cycle({"a": {"b"}, "b": set()}) is None


def test_the_lottery_ticket_lives_above_training():
    assert layer("sparsekit.runs.lottery") > layer("sparsekit.training.trainer")
    assert "sparsekit.runs.lottery" in modules()


def training_modules():
    return sorted(name for name in modules() if name.startswith("sparsekit.training"))


def words_naming(tree, names) -> set:
    """The `names` a module's source uses: as a text constant, or as an identifier that is not a
    Python builtin, a module it imports or a module's attribute (`import random`, `set()` and
    `torch.random` are not the mask methods random and set)."""
    import builtins

    imported = {(alias.asname or alias.name).split(".")[0] for node in ast.walk(tree)
                if isinstance(node, (ast.Import, ast.ImportFrom)) for alias in node.names}
    texts = {n.value for n in ast.walk(tree) if isinstance(n, ast.Constant) and isinstance(n.value, str)}
    identifiers = {n.id for n in ast.walk(tree) if isinstance(n, ast.Name)} | \
                  {n.attr for n in ast.walk(tree) if isinstance(n, ast.Attribute)
                   and not (isinstance(n.value, ast.Name) and n.value.id in imported)}
    return (texts & set(names)) | (identifiers & set(names)) - imported - set(dir(builtins))


@pytest.mark.parametrize("module", training_modules())
def test_no_training_module_names_a_mask_method(module):
    from sparsekit.runs import mask_sources

    named = sorted(words_naming(ast.parse(modules()[module].read_text()), mask_sources.available()))
    assert not named, f"{module} names the mask method(s) {named}: where a mask comes from is decided in runs/"


def test_the_mask_method_check_sees_a_method_named_in_text_and_ignores_imports_and_builtins():
    planted = ast.parse("import random, torch\nx = random.random()\ny = set()\nz = torch.random.seed()\n"
                        "if config.mask == 'lottery': pass\n")
    assert words_naming(planted, ["random", "set", "lottery", "snip"]) == {"lottery"}
    assert words_naming(ast.parse("if sparsifier is snip: pass"), ["snip"]) == {"snip"}


@pytest.mark.parametrize("module", ["sparsekit.training.trainer", "sparsekit.training.step",
                                    "sparsekit.training.state"])
def test_the_trainer_names_no_trick(module):
    from sparsekit import recipe

    named = sorted(words_naming(ast.parse(modules()[module].read_text()), recipe.TRICKS))
    assert not named, f"{module} names {named}"
    assert not any(t.startswith(("sparsekit.sparsity", "sparsekit.recipe")) for t in graph()[module])


def test_the_method_registry_reaches_no_run():
    # Procedures made of trainings register into the registry from runs/; the registry never imports them.
    for name, targets in graph().items():
        if name.startswith("sparsekit.sparsity") or name == "sparsekit.masks":
            assert not any(t.startswith("sparsekit.runs") for t in targets), name


def test_the_engine_never_imports_the_study():
    """`study/` (the converged study's runner, plan logic and report) sits beside the package and
    imports it; the package reads the committed study from its files, never from that code."""
    for path in PACKAGE.rglob("*.py"):
        for node in ast.walk(ast.parse(path.read_text())):
            names = ([a.name for a in node.names] if isinstance(node, ast.Import) else
                     [node.module or ""] if isinstance(node, ast.ImportFrom) and not node.level else [])
            assert not any(name.split(".")[0] == "study" for name in names), path
