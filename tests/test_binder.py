"""Binder and conda files: they parse, and they list exactly pyproject.toml's dependencies
(Binder: the runtime ones; the root environment.yml: runtime plus test extras)."""
import os
import re
import tomllib
from pathlib import Path

import yaml

REPO = Path(__file__).resolve().parent.parent
# Provided by the environment itself, not project dependencies.
TOOLING = {"python", "pip"}
ENV_PYTHON = "3.11"  # the python both environment files pin


def requirement(text: str):
    """('name', 'specifier') with the name normalised as pip does (case, - _ .)."""
    match = re.fullmatch(r"\s*([A-Za-z0-9][A-Za-z0-9._-]*)\s*(.*?)\s*", text)
    assert match, f"cannot read requirement {text!r}"
    return re.sub(r"[-_.]+", "-", match.group(1)).lower(), match.group(2).replace(" ", "")


def applies_to_the_environments(text: str) -> bool:
    """Both environment files pin python 3.11: a requirement marked for other Pythons is not theirs."""
    from packaging.markers import Marker

    _, _, marker = text.partition(";")
    return not marker.strip() or Marker(marker).evaluate({"python_version": ENV_PYTHON})


def pyproject():
    project = tomllib.loads((REPO / "pyproject.toml").read_text())["project"]
    runtime = dict(requirement(r) for r in project["dependencies"] if applies_to_the_environments(r))
    test = dict(requirement(r) for r in project["optional-dependencies"]["test"] if applies_to_the_environments(r))
    return runtime, test


def environment_requirements(path: Path):
    """Conda and pip requirements of an environment file, pip's index options left out."""
    env = yaml.safe_load(path.read_text())
    assert env["channels"] == ["conda-forge"] and env["name"]
    found = {}
    for entry in env["dependencies"]:
        items = entry["pip"] if isinstance(entry, dict) else [entry]
        for item in items:
            if item.startswith("-"):  # --extra-index-url and the like
                continue
            name, spec = requirement(item.split("=", 1)[0] if re.match(r"^[\w.-]+=[^=]", item) else item)
            assert name not in found, f"{path.name} lists {name} twice"
            found[name] = spec
    return {name: spec for name, spec in found.items() if name not in TOOLING}


def test_binder_environment_matches_the_runtime_dependencies():
    runtime, _ = pyproject()
    assert environment_requirements(REPO / "binder" / "environment.yml") == runtime


def test_binder_installs_cpu_torch():
    text = (REPO / "binder" / "environment.yml").read_text()
    assert "https://download.pytorch.org/whl/cpu" in text


def test_root_environment_matches_dependencies_and_test_extras():
    runtime, test = pyproject()
    assert environment_requirements(REPO / "environment.yml") == {**runtime, **test}


def test_post_build_installs_the_package_and_nothing_heavy():
    post_build = REPO / "binder" / "postBuild"
    assert os.access(post_build, os.X_OK)
    commands = [line for line in post_build.read_text().splitlines() if line.strip() and not line.startswith("#")]
    installs = [line for line in commands if "pip install" in line]
    assert len(installs) == 1 and installs[0].rstrip().endswith(("-e .", " ."))
    assert not any(word in post_build.read_text() for word in ("torch", "apt-get", "conda install"))
