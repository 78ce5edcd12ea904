"""Every replacement of Rasa's or Sanic's private code, and the one place that installs them.

What each override replaces, why, what it bought and the test that proves it equals stock Rasa:
overrides/README.md. The project's other code touches Rasa's private names only through the
helpers of overrides/rasa_{components,channels,stores}.py, each listed in PRIVATE_USES and checked
with the overrides.
`install()` is called by the launcher (serving/launch.py) before Rasa starts; it first checks the
installed Rasa and Sanic against the versions these overrides were written for and refuses to start
on any other, naming the overrides and private uses that would break.

RASA_OVERRIDES_DISABLE=name,name switches overrides off by name (stock Rasa's code runs instead):
for an ablation, or to rule an override out when something looks wrong.
"""

from __future__ import annotations

import importlib
import logging
import os
from dataclasses import dataclass

logger = logging.getLogger(__name__)

# The versions whose private code the overrides copy or replace (requirements.lock).
PINNED = {"rasa": "3.6.21", "sanic": "21.12.2"}
DISABLE_VARIABLE = "RASA_OVERRIDES_DISABLE"


@dataclass(frozen=True)
class Override:
    name: str
    package: str  # "rasa" or "sanic": whose private code it depends on
    replaces: str
    # Overrides patched in by `install()` have a module with install()/uninstall(); the others are
    # classes Rasa loads itself (endpoints.yml, config.yml) and consult `enabled(name)`.
    patched: bool


OVERRIDES = {
    o.name: o
    for o in [
        Override(
            "gc_freeze", "sanic", "sanic.app.serve_multiple (gc.freeze() before the workers fork)", True
        ),
        Override(
            "load_in_turn", "rasa", "rasa.core.run.load_agent_on_start (workers load one at a time)", True
        ),
        Override(
            "graph_runner",
            "rasa",
            "DaskGraphRunner.run, as the processor loads it (OrderedGraphRunner)",
            True,
        ),
        Override("action_validation", "rasa", "RemoteAction._validate_action_result", True),
        Override("action_payload", "rasa", "RemoteAction._action_call_format", True),
        Override(
            "incremental_store",
            "rasa",
            "SQLTrackerStore._retrieve / _additional_events (IncrementalPrivateSQLTrackerStore)",
            False,
        ),
        Override(
            "tracker_copy", "rasa", "DialogueStateTracker.copy / applied_events (FastCopyTracker)", False
        ),
        Override("numpy_diet", "rasa", "DIET's run_inference, from private TF layer attributes", False),
    ]
}


@dataclass(frozen=True)
class PrivateUse:
    """A helper in overrides/<module>.py: where the project's own code reads, calls or overrides a
    private part of Rasa. Always in use (nothing to switch off), so always version-checked."""

    name: str
    module: str  # overrides.<module> holds it
    package: str  # whose private code it touches
    touches: str
    used_by: str


def _uses(module: str, used_by: str, *entries: tuple[str, str]) -> list[PrivateUse]:
    return [PrivateUse(name, module, "rasa", touches, used_by) for name, touches in entries]


PRIVATE_USES = {
    u.name: u
    for u in [
        *_uses(
            "rasa_components",
            "components/footer_policy.py",
            ("no_action_probabilities", "Policy._default_predictions"),
            ("policy_prediction", "Policy._prediction"),
        ),
        *_uses(
            "rasa_components",
            "components/fast_diet.py, components/footer_policy.py",
            ("component_storage", "Policy / DIETClassifier ._model_storage, ._resource"),
        ),
        *_uses(
            "rasa_components",
            "components/recent_rule_policy.py",
            ("clean_state", "Domain._clean_state"),
            ("rule_key_to_state", "RulePolicy._rule_key_to_state"),
            ("RulePolicyStatesSeam", "overrides Policy._prediction_states"),
        ),
        *_uses(
            "rasa_components",
            "components/fast_diet.py",
            (
                "sharing_model",
                "DIETClassifier ._model_storage, ._resource, ._execution_context, ._entity_tag_specs, "
                "._sparse_feature_sizes, ._label_data",
            ),
            ("diet_labels_and_sizes", "DIETClassifier._load_from_files"),
            ("DIETPredictSeam", "overrides DIETClassifier._predict"),
        ),
        *_uses(
            "rasa_components",
            "components/second_opinion.py",
            ("logistic_regression_features", "LogisticRegressionClassifier._create_X"),
        ),
        *_uses(
            "rasa_channels",
            "channels/feedback.py",
            ("collect", "CollectingOutputChannel._persist_message"),
            ("emit_bot_message", "SocketIOOutput._send_message"),
        ),
        *_uses("rasa_channels", "channels/slack.py", ("post_to_slack", "SlackBot._post_message")),
        *_uses(
            "rasa_channels",
            "channels/facebook.py",
            ("MessengerSeam", "overrides Messenger._handle_user_message"),
        ),
        *_uses(
            "rasa_channels",
            "channels/twilio.py",
            ("TwilioOutputSeam", "overrides TwilioOutput._send_message"),
        ),
        *_uses(
            "rasa_stores", "serving/sqlite_lock_store.py", ("log_lock_deletion", "LockStore._log_deletion")
        ),
        *_uses(
            "rasa_stores",
            "storage/tracker_store.py",
            ("events_to_save", "SQLTrackerStore._additional_events"),
        ),
    ]
}


class UnsupportedVersion(RuntimeError):
    """An installed Rasa or Sanic is not the version the enabled overrides were written for."""


def disabled() -> set[str]:
    names = {n.strip() for n in os.environ.get(DISABLE_VARIABLE, "").split(",") if n.strip()}
    unknown = names - OVERRIDES.keys()
    if unknown:
        raise ValueError(
            f"{DISABLE_VARIABLE}: no override named {', '.join(sorted(unknown))} ({', '.join(OVERRIDES)})"
        )
    return names


def enabled(name: str) -> bool:
    return name not in disabled()


def installed_version(package: str) -> str:
    # The attribute, not the distribution's metadata: what the running code says it is.
    return str(importlib.import_module(package).__version__)


def package_of(name: str) -> str:
    return OVERRIDES[name].package if name in OVERRIDES else PRIVATE_USES[name].package


def describe(name: str) -> str:
    if name in OVERRIDES:
        return f"{name}: replaces {OVERRIDES[name].replaces}"
    use = PRIVATE_USES[name]
    return f"{name} (overrides.{use.module}): uses {use.touches} (for {use.used_by})"


def check_versions(names: list[str] | None = None) -> None:
    """Raises UnsupportedVersion naming each of `names` (default: the enabled overrides and every
    private use) that would break."""
    if names is None:
        names = [n for n in OVERRIDES if enabled(n)] + list(PRIVATE_USES)
    problems = []
    for package, pinned in PINNED.items():
        found = installed_version(package)
        affected = [n for n in names if package_of(n) == package]
        if found != pinned and affected:
            lines = "\n".join(f"  - {describe(n)}" for n in affected)
            problems.append(
                f"{package} {found} is installed; these overrides were written for {package} {pinned} "
                f"and would break:\n{lines}"
            )
    if problems:
        raise UnsupportedVersion(
            "\n".join(problems) + "\nInstall the pinned versions (make venv), or port each override "
            f"(overrides/README.md) and update overrides.PINNED, or switch them off with "
            f"{DISABLE_VARIABLE}=<names>."
        )


def require(name: str) -> None:
    """For overrides Rasa loads itself (or a private use): stop with the clear message rather than
    fail at a message."""
    check_versions([name])


def install() -> list[str]:
    """Checks the versions, then installs every enabled patching override; returns their names."""
    check_versions()
    names = [o.name for o in OVERRIDES.values() if o.patched and enabled(o.name)]
    for name in names:
        importlib.import_module(f"overrides.{name}").install()
    off = sorted(disabled())
    logger.info(
        "Overrides installed: %s; switched off: %s", ", ".join(names) or "none", ", ".join(off) or "none"
    )
    return names


def uninstall() -> None:
    for override in OVERRIDES.values():
        if override.patched:
            importlib.import_module(f"overrides.{override.name}").uninstall()
