"""The floors of the package (docs/architecture.md): a module imports only from lower floors or
from its own unit, and the pure floors load neither torch nor optuna, so that `ablate report`
starts without them. The modules are found by walking ablate/, every import statement counted
(those inside functions too): a new module is checked the day it is added, and a new unit must
be given a floor here before the suite passes."""

from __future__ import annotations

import ast
import json
import subprocess
import sys
from pathlib import Path

import pytest
from loaded import parse

ROOT = Path(__file__).resolve().parents[1] / "ablate"

# Bottom to top. A unit is a top-level module or a subpackage of ablate; units on one floor may
# not import each other (the report and the driver, the data and the models stay apart).
FLOORS = [
    ["errors"],
    ["registry"],
    ["stats", "reporting", "provenance", "plugins"],
    ["spec"],
    ["tracking", "checkpoint", "metrics"],
    ["data", "models", "losses", "combiners", "tasks"],
    ["train"],
    ["preflight", "report"],
    ["study"],
    ["cli"],
    ["__main__"],
]
# Floors that `ablate report` and `ablate ui` stand on: no deep-learning or Optuna import.
PURE = {"errors", "registry", "stats", "reporting", "provenance", "plugins", "spec", "tracking",
        "report"}  # fmt: skip
HEAVY = ("torch", "torchvision", "optuna")


def modules() -> dict[str, Path]:
    found = {}
    for path in sorted(ROOT.rglob("*.py")):
        parts = path.relative_to(ROOT.parent).with_suffix("").parts
        name = ".".join(parts[:-1] if parts[-1] == "__init__" else parts)
        found[name] = path
    return found


def imports(name: str, path: Path) -> set[str]:
    """Every module ``name`` imports (absolute names), at any depth of its code."""
    package = name if path.name == "__init__.py" else name.rpartition(".")[0]
    out = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            out |= {a.name for a in node.names}
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = package.split(".")[: len(package.split(".")) - node.level + 1]
                target = ".".join(base + ([node.module] if node.module else []))
            else:
                target = node.module or ""
            out.add(target)
            # `from ablate import spec` imports the module ablate.spec
            out |= {f"{target}.{a.name}" for a in node.names if f"{target}.{a.name}" in MODULES}
    return out


MODULES = modules()


def unit(module: str) -> str | None:
    parts = module.split(".")
    return parts[1] if parts[0] == "ablate" and len(parts) > 1 else None


def floor_of(u: str) -> int:
    for i, units in enumerate(FLOORS):
        if u in units:
            return i
    raise AssertionError(f"ablate.{u} has no floor: give it one in tests/test_floors.py")


def test_every_unit_of_the_package_has_a_floor():
    for name in MODULES:
        if unit(name) is not None:
            floor_of(unit(name))


def test_no_module_imports_a_higher_floor_or_a_neighbour_on_its_own():
    wrong = []
    for name, path in MODULES.items():
        mine = unit(name)
        if mine is None:
            continue
        for target in imports(name, path):
            theirs = unit(target)
            if theirs is None or theirs == mine:
                continue
            if floor_of(theirs) >= floor_of(mine):
                wrong.append(f"{name} imports {target} (floor {floor_of(theirs)} >= "
                             f"{floor_of(mine)})")  # fmt: skip
    assert not wrong, "\n".join(wrong)


def test_the_pure_floors_import_neither_torch_nor_optuna():
    wrong = [
        f"{name} imports {target}"
        for name, path in MODULES.items()
        if unit(name) in PURE
        for target in imports(name, path)
        if target.split(".")[0] in HEAVY
    ]
    assert not wrong, "\n".join(wrong)


def test_importing_every_pure_module_loads_neither_torch_nor_optuna():
    """At run time too (a third-party library could pull them in): every module of the pure
    units, imported in one fresh interpreter."""
    pure = sorted(name for name in MODULES if unit(name) in PURE)
    code = (
        "import importlib, json, sys\n"
        f"for m in {pure!r}: importlib.import_module(m)\n"
        f"print(json.dumps(sorted(m for m in {list(HEAVY)!r} if m in sys.modules)))"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                          timeout=300)  # fmt: skip
    assert done.returncode == 0, done.stderr[-2000:]
    assert json.loads(done.stdout) == []


def test_the_floor_check_sees_an_import_inside_a_function(tmp_path):
    source = tmp_path / "m.py"
    source.write_text("def f():\n    from ablate.study import driver\n    import torch\n")
    assert {"ablate.study", "ablate.study.driver", "torch"} <= imports("ablate.report.m", source)


LOADED = str(Path(__file__).with_name("loaded.py"))  # runs `ablate ARGS`, says what loaded


@pytest.fixture(scope="module")
def swept(tmp_path_factory, request):
    """A real study of the tiny experiment, swept in a subprocess like a user's."""
    import yaml

    work = tmp_path_factory.mktemp("floors")
    # tests/conftest.py's TINY, from the module pytest loaded it as (tests/journeys has a
    # conftest too: "from conftest import" could find that one)
    root = request.config.pluginmanager.get_plugin(
        str(request.config.rootpath / "tests" / "conftest.py")
    )
    raw = json.loads(json.dumps(root.TINY))
    raw["train"]["epochs"] = 1
    (work / "tiny.yaml").write_text(yaml.safe_dump(raw))
    done = subprocess.run(
        [sys.executable, "-m", "ablate", "sweep", "tiny.yaml", "--no-report", "--quiet"],
        cwd=work, capture_output=True, text=True, timeout=900,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr[-2000:]
    return work


@pytest.mark.parametrize("target", ["tiny.yaml", "tiny"], ids=["experiment file", "study name"])
def test_ablate_report_loads_neither_torch_nor_optuna(swept, target):
    done = subprocess.run(
        [sys.executable, LOADED, "report", target, "--out", f"out-{target}"],
        cwd=swept, capture_output=True, text=True, timeout=600,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr[-2000:]
    assert (swept / f"out-{target}" / "report.md").is_file()
    loaded = parse(done.stdout)
    assert loaded == [], f"ablate report loaded {loaded}"


@pytest.mark.parametrize("command", [["--help"], ["report", "--help"], ["ui", "--help"]])
def test_the_help_loads_neither_torch_nor_optuna(command):
    done = subprocess.run([sys.executable, LOADED, *command], capture_output=True,
                          text=True, timeout=300)  # fmt: skip
    assert done.returncode == 0, done.stderr[-2000:]
    assert parse(done.stdout) == []
