"""The overrides (overrides/README.md): one installer, the version check, the switch by name."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
import sanic.app
from rasa.core.actions.action import RemoteAction
from rasa.engine.graph import ExecutionContext, GraphSchema
from rasa.engine.storage.local_model_storage import LocalModelStorage
from rasa.engine.storage.resource import Resource

import overrides
from components.recent_rule_policy import RecentRulePolicy
from overrides import action_payload, action_validation

ROOT = Path(__file__).resolve().parent.parent

# Runs the launcher exactly as scripts/serve.sh does (`python -m serving.launch run ...`), in a
# process whose Rasa (or Sanic) says it is another version.
FAKE_VERSION = """
import runpy, sys
import {package}
{package}.__version__ = {version!r}
sys.argv = ["serving.launch", *sys.argv[1:]]
runpy.run_module("serving.launch", run_name="__main__", alter_sys=True)
"""


def launch_with(package: str, version: str, *args: str, env: dict[str, str] | None = None):
    return subprocess.run(
        [sys.executable, "-c", FAKE_VERSION.format(package=package, version=version), *args],
        cwd=ROOT,
        env={**os.environ, **(env or {})},
        capture_output=True,
        text=True,
        timeout=120,
    )


@pytest.mark.parametrize(
    ("package", "version"), [("rasa", "3.6.20"), ("rasa", "3.7.0"), ("sanic", "22.12.0")]
)
def test_launcher_refuses_another_version_naming_the_overrides(package, version, tmp_path) -> None:
    result = launch_with(
        package, version, "run", "-m", "models/assistant.tar.gz", "-p", "5999", "--endpoints", "endpoints.yml"
    )
    assert result.returncode == 2, result.stderr[-2000:]
    assert "not starting Rasa" in result.stderr
    assert f"{package} {version} is installed" in result.stderr
    expected = [o.name for o in overrides.OVERRIDES.values() if o.package == package]
    for name in expected:
        assert f"- {name}: replaces" in result.stderr
    assert "Traceback" not in result.stderr
    assert "Starting Rasa server" not in result.stdout + result.stderr


def test_switched_off_overrides_are_not_checked_or_installed() -> None:
    sanic_ones = [o.name for o in overrides.OVERRIDES.values() if o.package == "sanic"]
    result = launch_with(
        "sanic", "22.12.0", "--version", env={"RASA_OVERRIDES_DISABLE": ",".join(sanic_ones)}
    )
    assert result.returncode == 0, result.stderr[-2000:]
    assert "Rasa Version" in result.stdout


def test_an_unknown_name_in_the_switch_stops_start_up() -> None:
    result = launch_with("rasa", "3.6.21", "--version", env={"RASA_OVERRIDES_DISABLE": "action_paylod"})
    assert result.returncode == 2
    assert "no override named action_paylod" in result.stderr


def test_install_patches_each_enabled_override_and_uninstall_restores(monkeypatch) -> None:
    overrides.uninstall()  # whatever an earlier test left installed
    stock = (RemoteAction._validate_action_result, RemoteAction._action_call_format, sanic.app.serve_multiple)
    monkeypatch.setenv("RASA_OVERRIDES_DISABLE", "action_payload")
    try:
        installed = overrides.install()
        assert "action_payload" not in installed and "action_validation" in installed
        assert RemoteAction._validate_action_result is action_validation.validate_action_result
        assert RemoteAction._action_call_format is stock[1]
        assert sanic.app.serve_multiple is not stock[2]
    finally:
        overrides.uninstall()
    assert (
        RemoteAction._validate_action_result,
        RemoteAction._action_call_format,
        sanic.app.serve_multiple,
    ) == stock


def test_a_policy_no_longer_installs_anything(tmp_path) -> None:
    overrides.uninstall()
    RecentRulePolicy(
        RecentRulePolicy.get_default_config(),
        LocalModelStorage(tmp_path),
        Resource("policy"),
        ExecutionContext(GraphSchema({}), "model"),
    )
    assert RemoteAction._validate_action_result is action_validation._ORIGINAL
    assert RemoteAction._action_call_format is action_payload._ORIGINAL


def test_the_pinned_versions_are_the_locked_ones() -> None:
    lock = (ROOT / "requirements.lock").read_text(encoding="utf-8").lower().splitlines()
    for package, version in overrides.PINNED.items():
        assert f"{package}=={version}" in lock


def test_the_launcher_preloads_every_custom_module_the_config_names() -> None:
    """The workers share what the launcher imported before Sanic forked them (serving/launch.py):
    every project module config.yml names must be among what it preloads."""
    import yaml

    from serving.launch import preload_modules

    config = yaml.safe_load((ROOT / "config.yml").read_text(encoding="utf-8"))
    named = {
        entry["name"].rsplit(".", 1)[0]
        for entry in [*config["pipeline"], *config["policies"]]
        if "." in entry["name"]
    }
    assert named, "config.yml names no project component"
    preloaded = set(preload_modules())
    assert named <= preloaded, sorted(named - preloaded)
    assert all(name in sys.modules for name in preloaded)


def test_the_launcher_keeps_library_warnings_out_of_the_terminal(tmp_path) -> None:
    """Pages of deprecation warnings buried the lines that matter: they go to WARNINGS_LOG."""
    log = tmp_path / "log" / "warnings.log"
    # As from a terminal: importing Rasa in this process set TensorFlow's C++ log level to 1.
    env = {k: v for k, v in os.environ.items() if k != "TF_CPP_MIN_LOG_LEVEL"}
    result = subprocess.run(
        [sys.executable, "-m", "serving.launch", "--version"],
        cwd=ROOT, env={**env, "WARNINGS_LOG": str(log)}, capture_output=True, text=True, timeout=180,
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
    assert "Rasa Version" in result.stdout
    assert "Warning" not in result.stderr
    assert "DeprecationWarning" in log.read_text(encoding="utf-8")
