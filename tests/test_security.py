"""Rasa's HTTP API is off by default and needs a JWT when on; secrets stay out of the logs."""

from __future__ import annotations

import os
import secrets
import subprocess

import jwt
import pytest
import requests
from servers import ROOT, running_servers

pytestmark = pytest.mark.server


def test_http_api_is_off_by_default(model, tmp_path):
    with running_servers(tmp_path, actions=False) as servers:
        for path in ["/status", "/conversations/someone/tracker", "/model/parse"]:
            assert requests.get(servers.rasa_url + path, timeout=30).status_code in {404, 405}


def test_http_api_when_on_requires_a_valid_jwt(model, tmp_path):
    secret = secrets.token_urlsafe(32)
    args = ("--enable-api", "--jwt-secret", secret, "--jwt-method", "HS256")
    with running_servers(tmp_path, actions=False, rasa_args=args) as servers:
        status = servers.rasa_url + "/status"
        assert requests.get(status, timeout=30).status_code == 401
        forged = jwt.encode({"user": {"username": "x", "role": "admin"}}, "wrong-secret", algorithm="HS256")
        assert (
            requests.get(status, headers={"Authorization": f"Bearer {forged}"}, timeout=30).status_code == 401
        )
        token = jwt.encode({"user": {"username": "ops", "role": "admin"}}, secret, algorithm="HS256")
        assert (
            requests.get(status, headers={"Authorization": f"Bearer {token}"}, timeout=30).status_code == 200
        )
        log = servers.log.read_text()
    assert secret not in log


def test_serve_refuses_an_open_api(model):
    env = {
        **os.environ,
        "RASA_ENABLE_API": "true",
        "RASA_JWT_SECRET": "",
        "RASA_PORT": "0",
        "ACTIONS_PORT": "0",
    }
    result = subprocess.run(
        ["scripts/serve.sh"], cwd=ROOT, env=env, capture_output=True, text=True, timeout=120
    )
    assert result.returncode == 2
    assert "needs RASA_JWT_SECRET" in result.stderr
