"""The public Python API (issue 18, section 1): what each subpackage exports, and that every
public name shows how it is used in an example that runs.

A public name is one listed in the ``__all__`` of any trialflow module. Each public function or
class needs a docstring with an example (a ``>>>`` line); ``pytest --doctest-modules`` (the
project's pytest options) runs those examples, and none of them may be skipped.
"""

import importlib
import inspect
import json
import os
import pkgutil
import subprocess
import sys
from pathlib import Path

import pytest

import trialflow

ROOT = Path(__file__).resolve().parents[1]

SUBPACKAGES = [
    "trialflow.raw",
    "trialflow.mapping",
    "trialflow.sdtm",
    "trialflow.validation",
    "trialflow.adam",
    "trialflow.analysis",
    "trialflow.io",
]


def all_modules() -> list[str]:
    """Every module of the trialflow package, imported."""
    names = ["trialflow"]
    for info in pkgutil.walk_packages(trialflow.__path__, "trialflow."):
        names.append(info.name)
    return names


def public_names() -> list[tuple[str, str, object]]:
    """(module, name, object) for every name in the ``__all__`` of every trialflow module."""
    found = []
    for module_name in all_modules():
        module = importlib.import_module(module_name)
        for name in getattr(module, "__all__", ()):
            found.append((module_name, name, getattr(module, name)))
    return found


def test_the_issue_s_import_works():
    from trialflow.adam import derive_var_base

    assert derive_var_base.__module__ == "trialflow.adam.derive"


@pytest.mark.parametrize("package", SUBPACKAGES)
def test_each_subpackage_exports_its_public_names(package):
    module = importlib.import_module(package)
    names = module.__all__
    assert names == sorted(names) and len(set(names)) == len(names)
    for name in names:
        value = getattr(module, name)
        assert getattr(value, "__name__", name) == name or not callable(value)
        assert name in dir(module)


def test_adam_exports_the_admiral_style_derivations():
    import trialflow.adam as adam

    admiral_style = [
        n for n in adam.__all__
        if n.startswith(("derive_var_", "derive_vars_", "derive_param_", "compute_"))
    ]  # fmt: skip
    # every function of that name pattern that the adam modules define is exported
    defined = set()
    for info in pkgutil.iter_modules(adam.__path__, "trialflow.adam."):
        module = importlib.import_module(info.name)
        defined |= {
            n for n, v in vars(module).items()
            if inspect.isfunction(v) and v.__module__ == info.name
            and n.startswith(("derive_var_", "derive_vars_", "derive_param_", "compute_"))
        }  # fmt: skip
    assert defined <= set(admiral_style)
    assert {"derive_var_base", "derive_var_chg", "derive_vars_dt", "derive_param_computed"} <= (
        set(admiral_style)
    )


def test_every_public_function_and_class_has_an_example():
    missing = [
        f"{module}.{name}"
        for module, name, value in public_names()
        if (inspect.isfunction(value) or inspect.isclass(value))
        and ">>>" not in (inspect.getdoc(value) or "")
    ]
    assert missing == []


def test_the_check_sees_a_name_without_an_example(tmp_path, monkeypatch):
    """The check above is not vacuous: a public function without ``>>>`` is reported."""
    package = tmp_path / "fakepkg"
    package.mkdir()
    (package / "__init__.py").write_text(
        '__all__ = ["documented", "bare"]\n\n'
        'def documented():\n    """Example:\n        >>> documented()\n    """\n\n'
        'def bare():\n    """No example."""\n'
    )
    monkeypatch.syspath_prepend(str(tmp_path))
    module = importlib.import_module("fakepkg")
    bare = [n for n in module.__all__ if ">>>" not in (getattr(module, n).__doc__ or "")]
    assert bare == ["bare"]


def test_no_example_is_skipped():
    """No doctest directive SKIP anywhere in the package (every example runs)."""
    skipped = []
    for path in sorted((ROOT / "trialflow").rglob("*.py")):
        for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1):
            if "doctest:" in line and "SKIP" in line.split("doctest:", 1)[1]:
                skipped.append(f"{path.relative_to(ROOT)}:{number}")
    assert skipped == []


def test_doctests_run_as_part_of_the_tests():
    """pytest's options collect the package's doctests (so the examples above run)."""
    import tomllib

    options = tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["pytest"]["ini_options"]
    assert "--doctest-modules" in options["addopts"] and "trialflow" in options["testpaths"]


PROBE = """
import json, sys
import trialflow.adam, trialflow.sdtm, trialflow.validation, trialflow.analysis
import trialflow.mapping, trialflow.io, trialflow.raw
print(json.dumps(sorted(m for m in sys.modules if m.startswith("trialflow") or m in
                        ("scipy", "matplotlib", "lxml", "statsmodels"))))
"""


def test_importing_the_subpackages_loads_none_of_their_modules():
    """The exports are lazy: importing a subpackage costs nothing until a name is used."""
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join([str(ROOT), env.get("PYTHONPATH", "")])
    result = subprocess.run(
        [sys.executable, "-c", PROBE], capture_output=True, text=True, env=env, cwd=ROOT,
        timeout=120,
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
    loaded = set(json.loads(result.stdout.strip().splitlines()[-1]))
    assert loaded & {"scipy", "matplotlib", "lxml", "statsmodels"} == set()
    heavy = {
        "trialflow.adam.build", "trialflow.adam.derive", "trialflow.sdtm.build",
        "trialflow.analysis.build", "trialflow.io.define", "trialflow.mapping.load",
        "trialflow.validation.engine", "trialflow.pipeline",
    }  # fmt: skip
    assert loaded & heavy == set()


def test_every_public_function_is_typed():
    untyped = []
    for module, name, value in public_names():
        if not inspect.isfunction(value):
            continue
        signature = inspect.signature(value)
        bare = [
            p.name for p in signature.parameters.values()
            if p.annotation is inspect.Parameter.empty
            and p.kind not in (p.VAR_POSITIONAL, p.VAR_KEYWORD)
        ]  # fmt: skip
        if bare or signature.return_annotation is inspect.Signature.empty:
            untyped.append(f"{module}.{name}")
    assert untyped == []
