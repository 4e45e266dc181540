"""A sweep written down: a TOML file with a `[grid]` table (lists of values, crossed), a
`[fixed]` table (settings every run shares), an optional `[sweep]` table (out, name, seeds,
backend, workers, address, cpus_per_run, gpus_per_run) and an optional `[recipes]` table
(label = a preset name or an inline recipe table), e.g.

    [sweep]
    out = "runs/masks"
    name = "{mask}-{sparsity:g}"   # "-seed{seed}" and "-{recipe label}" are added per run
    seeds = [0, 1, 2]              # every point once per seed

    [grid]
    mask = ["snip", "grasp"]
    sparsity = [0.9, 0.98]

    [recipes]                      # every point and seed: ONE mask, trained by each recipe
    default = "default"
    tost = "tost"
    smoothed = { label_smoothing = 0.1 }

    [fixed]
    dataset = "digits"
    epochs = 8

`seeds` and `[recipes]` are `sk.sweep`'s `seeds=` and `recipes=`, expanded by the same code
(`axes.expand_axes`). Without `[recipes]`, `recipe = [...]` in the grid crosses recipes as any
other setting (each run its own mask).
"""
from pathlib import Path
from typing import Any, Dict

from ...core.errors import SparsekitError
from .axes import expand_axes
from .spec import check_sweep_options

# `check_sweep_options`'s settings; `seeds` is an axis (`expand_axes` checks it).
OPTION_KEYS = ("out", "name", "backend", "workers", "address", "cpus_per_run", "gpus_per_run")
SWEEP_KEYS = OPTION_KEYS + ("seeds",)
TABLES = ("sweep", "grid", "fixed", "recipes")


def read_spec(path) -> Dict[str, Any]:
    """{"grid", "fixed", the [sweep] options, and "recipes" when given}: `sk.sweep`'s keywords,
    checked (every run expanded once)."""
    try:
        import tomllib
    except ImportError:  # Python 3.10
        import tomli as tomllib
    path = Path(path)
    try:
        document = tomllib.loads(path.read_text(encoding="utf-8"))
    except OSError as error:
        raise SparsekitError(f"cannot read the sweep file {path}: {error.strerror or error}") from None
    except UnicodeDecodeError as error:  # TOML is UTF-8 text
        raise SparsekitError(f"{path} is not a UTF-8 text file (byte {error.start}); a sweep file is TOML") from None
    except tomllib.TOMLDecodeError as error:
        raise SparsekitError(f"{path} is not valid TOML: {error}") from None
    unknown = sorted(set(document) - set(TABLES))
    if unknown:
        raise SparsekitError(f"{path}: unknown table or key {unknown[0]!r}; a sweep file has the tables "
                             f"{', '.join(f'[{t}]' for t in TABLES)}")
    if "grid" not in document:
        raise SparsekitError(f"{path}: no [grid] table; list the settings to vary there")
    for table in TABLES:
        if table in document and not isinstance(document[table], dict):
            raise SparsekitError(f"{path}: {table} must be a table ([{table}])")
    options = {key.replace("-", "_"): value for key, value in document.get("sweep", {}).items()}
    unknown = sorted(set(options) - set(SWEEP_KEYS))
    if unknown:
        raise SparsekitError(f"{path}: unknown [sweep] option {unknown[0]!r}; options are: {', '.join(SWEEP_KEYS)}")
    check_sweep_options(**sweep_options(options))
    spec = {"grid": document["grid"], "fixed": document.get("fixed", {}), **options}
    if "recipes" in document:  # an empty [recipes] is refused there, not read as "no recipe axis"
        spec["recipes"] = document["recipes"]
    runs(spec)
    return spec


def sweep_options(spec: Dict[str, Any]) -> Dict[str, Any]:
    """The options among a spec's entries (its grid, fixed settings and axes apart)."""
    return {key: value for key, value in spec.items() if key in OPTION_KEYS}


def runs(spec: Dict[str, Any]):
    """The spec's runs as `sk.sweep` groups them (one list per shared mask), in its order."""
    return expand_axes(spec["grid"], spec["fixed"], spec.get("name"), spec.get("seeds"), spec.get("recipes"))
