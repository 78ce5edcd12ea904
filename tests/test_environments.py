"""One place (serving/environments.py) decides each environment's tracker store and lock store."""

from __future__ import annotations

import pytest
import yaml

from serving import environments


@pytest.mark.parametrize("environment", sorted(environments.FILES))
def test_the_committed_endpoints_file_is_what_the_module_makes(environment) -> None:
    path = environments.FILES[environment]
    assert path.read_text(encoding="utf-8") == environments.render(environment), (
        f"{path.name} differs from serving/environments.py: run `python -m serving.environments --write`"
    )


def test_both_environments_run_the_same_tracker_store_and_action_settings() -> None:
    dev, prod = (yaml.safe_load(environments.render(e)) for e in ("dev", "prod"))
    assert dev["tracker_store"]["type"] == prod["tracker_store"]["type"] == environments.TRACKER_STORE
    assert dev["tracker_store"]["retention_days"] == prod["tracker_store"]["retention_days"]
    assert {k: v for k, v in dev["action_endpoint"].items() if k != "url"} == {
        k: v for k, v in prod["action_endpoint"].items() if k != "url"
    }


def test_prod_secrets_stay_unquoted_variables() -> None:
    # Rasa expands ${VAR} only in a plain (unquoted) scalar.
    text = environments.render("prod")
    for name in ("DB_PASSWORD", "REDIS_PASSWORD", "ACTION_SERVER_URL"):
        assert f": ${{{name}}}\n" in text
