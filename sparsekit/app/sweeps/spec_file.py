"""A sweep written down: a TOML file with a `[grid]` table (lists of values, crossed), a
`[fixed]` table (settings every run shares) and an optional `[sweep]` table (out, name,
backend, workers, address, cpus_per_run, gpus_per_run), e.g.

    [sweep]
    out = "runs/masks"
    name = "{mask}-{sparsity:g}-seed{seed}-{recipe}"

    [grid]
    mask = ["snip", "grasp"]
    sparsity = [0.9, 0.98]
    recipe = ["default", "tost"]
    seed = [0, 1, 2]

    [fixed]
    dataset = "digits"
    epochs = 8
"""
from pathlib import Path
from typing import Any, Dict

from ...core.errors import SparsekitError
from .spec import check_sweep_options, expand

SWEEP_KEYS = ("out", "name", "backend", "workers", "address", "cpus_per_run", "gpus_per_run")
TABLES = ("sweep", "grid", "fixed")


def read_spec(path) -> Dict[str, Any]:
    """{"grid", "fixed", and the [sweep] options}, checked (every point expanded once)."""
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
    check_sweep_options(**options)
    spec = {"grid": document["grid"], "fixed": document.get("fixed", {}), **options}
    expand(spec["grid"], spec["fixed"], spec.get("name"))
    return spec
