"""The layout's two rules (docs/architecture.md): no private name of Rasa, Sanic or TensorFlow is
used outside overrides/, and imports only go down the layers.

Both are read from the source with `ast`. Tests are left out of the first rule on purpose: the
parity tests compare the project's code with Rasa's own private methods (`_predict`,
`_action_call_format`, ...), which is what they are for.
"""

from __future__ import annotations

import ast
import importlib
import inspect
import re
from collections.abc import Iterator
from functools import cache
from pathlib import Path

import pytest

import overrides

ROOT = Path(__file__).resolve().parent.parent
THIRD_PARTY = ("rasa", "rasa_sdk", "sanic", "tensorflow", "keras")
# The packages whose code must not touch those private names (everything but overrides/ and tests/).
CHECKED = ("content", "storage", "components", "channels", "serving", "insights", "actions")
CHECKED += ("scripts", "console", "benchmarks")

# Lowest first (docs/architecture.md); a package imports itself and the layers below it only: not
# a layer above, nor a package beside it in the same layer.
LAYERS = [
    ["content"],
    ["overrides"],
    ["insights"],
    ["storage", "components"],
    ["actions", "channels", "serving"],
    ["scripts", "console", "benchmarks"],
    ["tests"],
]
LEVEL = {package: level for level, packages in enumerate(LAYERS) for package in packages}

DEFINED = re.compile(
    r"(?<![\w.])(?:def|class)\s+(_[A-Za-z0-9]\w*)|\.(_[A-Za-z0-9]\w*)\s*:?=|^\s*(_[A-Za-z0-9]\w*)\s*:?=",
    re.MULTILINE,
)


@cache
def third_party_private_names() -> frozenset[str]:
    """Every `_name` the installed Rasa, Rasa SDK, Sanic and TensorFlow (Keras) define anywhere."""
    names = set()
    for package in THIRD_PARTY:
        spec = importlib.util.find_spec(package)
        assert spec is not None and spec.submodule_search_locations, package
        for folder in spec.submodule_search_locations:
            for path in Path(folder).rglob("*.py"):
                for match in DEFINED.finditer(path.read_text(errors="ignore")):
                    names.add(next(g for g in match.groups() if g))
    return frozenset(names)


def project_files(packages: tuple[str, ...]) -> Iterator[Path]:
    for package in packages:
        yield from sorted((ROOT / package).rglob("*.py"))


def private(name: str) -> bool:
    return name.startswith("_") and not name.startswith("__")


def module_name(path: Path) -> str:
    return ".".join(path.relative_to(ROOT).with_suffix("").parts).removesuffix(".__init__")


def third_party_bases(path: Path, class_name: str) -> list[type]:
    cls = getattr(importlib.import_module(module_name(path)), class_name)
    return [base for base in cls.__mro__ if base.__module__.split(".")[0] in THIRD_PARTY]


def inherited(name: str, bases: list[type]) -> bool:
    """Whether one of these (Rasa, Sanic, TF) classes has `name`: as a member, or set on self."""
    for base in bases:
        if name in base.__dict__:
            return True
        try:
            source = inspect.getsource(base)
        except (OSError, TypeError):
            continue
        if re.search(rf"self\.{re.escape(name)}\b", source):
            return True
    return False


def private_uses(path: Path) -> list[str]:
    """`path:line name` for each private name of Rasa, Sanic or TF the file imports, reads, sets or
    overrides. A `_name` the file's own classes define (and did not inherit) is the project's own."""
    tree = ast.parse(path.read_text())
    known = third_party_private_names()
    found, owned = [], set()
    where = path.relative_to(ROOT)
    for cls in [n for n in ast.walk(tree) if isinstance(n, ast.ClassDef)]:
        defined = {
            (n.name if isinstance(n, ast.FunctionDef | ast.AsyncFunctionDef) else n.attr, n.lineno)
            for n in ast.walk(cls)
            if (isinstance(n, ast.FunctionDef | ast.AsyncFunctionDef) and private(n.name))
            or (isinstance(n, ast.Attribute) and isinstance(n.ctx, ast.Store) and private(n.attr))
        }
        defined |= {
            (t.id, n.lineno)
            for n in cls.body
            if isinstance(n, ast.Assign | ast.AnnAssign)
            for t in (n.targets if isinstance(n, ast.Assign) else [n.target])
            if isinstance(t, ast.Name) and private(t.id)
        }
        candidates = {(name, line) for name, line in defined if name in known}
        bases = third_party_bases(path, cls.name) if candidates else []
        for name, line in sorted(candidates):
            if inherited(name, bases):
                found.append(f"{where}:{line} {cls.name} overrides or sets {name}")
            else:
                owned.add(name)
        owned |= {name for name, _ in defined if name not in known}
    for node in ast.walk(tree):
        if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef) and private(node.name):
            owned.add(node.name)  # module-level helpers are the file's own
    for node in ast.walk(tree):
        if isinstance(node, ast.ImportFrom) and (node.module or "").split(".")[0] in THIRD_PARTY:
            found += [f"{where}:{node.lineno} imports {a.name}" for a in node.names if private(a.name)]
        elif (
            isinstance(node, ast.Attribute)
            and isinstance(node.ctx, ast.Load)
            and node.attr in known
            and node.attr not in owned
        ):
            found.append(f"{where}:{node.lineno} {ast.unparse(node)}")
    return found


@pytest.mark.parametrize("path", list(project_files(CHECKED)), ids=lambda p: str(p.relative_to(ROOT)))
def test_no_private_name_of_rasa_sanic_or_tensorflow_outside_overrides(path: Path) -> None:
    assert private_uses(path) == [], (
        "Move each into a named helper in overrides/ (rasa_components, rasa_channels, rasa_stores) "
        "listed in overrides.PRIVATE_USES (overrides/README.md)"
    )


def test_the_check_finds_what_it_is_meant_to(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """The rule above on code that breaks it: read, override, set and import."""
    package = ROOT / "components"
    probe = package / "_layers_probe.py"
    probe.write_text(
        "from rasa.core.policies.rule_policy import RulePolicy\n"
        "from rasa.shared.core.domain import Domain\n\n\n"
        "class P(RulePolicy):\n"
        "    def _prediction_states(self, *args):\n"
        "        self._own = 1\n"
        "        return Domain._clean_state(self._default_predictions(self._own))\n"
    )
    try:
        found = private_uses(probe)
    finally:
        probe.unlink()
    assert any("overrides or sets _prediction_states" in f for f in found), found
    assert any("Domain._clean_state" in f for f in found), found
    assert any("self._default_predictions" in f for f in found), found
    assert not any("_own" in f for f in found), found


def test_every_private_use_is_in_overrides_and_version_checked(monkeypatch: pytest.MonkeyPatch) -> None:
    for use in overrides.PRIVATE_USES.values():
        assert hasattr(importlib.import_module(f"overrides.{use.module}"), use.name), use
    real = overrides.installed_version
    monkeypatch.setattr(overrides, "installed_version", lambda p: "9.9.9" if p == "rasa" else real(p))
    with pytest.raises(overrides.UnsupportedVersion) as raised:
        overrides.check_versions()
    for name in overrides.PRIVATE_USES:
        assert f"- {name} (overrides." in str(raised.value)


def imports(path: Path) -> Iterator[tuple[int, str]]:
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            yield from ((node.lineno, a.name.split(".")[0]) for a in node.names)
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            yield node.lineno, node.module.split(".")[0]


def test_every_project_package_has_a_layer() -> None:
    packages = {p.parent.name for p in ROOT.glob("*/__init__.py")}
    assert packages - LEVEL.keys() == set()
    assert set(CHECKED) == LEVEL.keys() - {"overrides", "tests"}


@pytest.mark.parametrize("package", list(LEVEL))
def test_imports_only_go_down_the_layers(package: str) -> None:
    upward = [
        f"{path.relative_to(ROOT)}:{line} imports {target}"
        for path in project_files((package,))
        for line, target in imports(path)
        if target in LEVEL and target != package and LEVEL[target] >= LEVEL[package]
    ]
    assert upward == [], f"{package} is not above these (docs/architecture.md)"
