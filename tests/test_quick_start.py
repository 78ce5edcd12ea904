"""`make run` without an up-to-date model: a quick model first (serving/quick_model.py), then the
servers move to the full model without a restart (serving/model_server.py, Rasa's model server)."""

from __future__ import annotations

import os
import shutil
import sys
import time
from pathlib import Path

import pytest
import requests
import yaml
from servers import MODEL, ROOT, free_port, running_servers, shipped_storage, start, wait_for

from serving.model_server import ModelChooser, etag
from serving.quick_model import DECIDER, diet_count, quick_config

CONFIG = yaml.safe_load((ROOT / "config.yml").read_text(encoding="utf-8"))


def test_the_quick_config_is_the_full_one_without_its_diets():
    quick = quick_config(CONFIG)
    assert diet_count(CONFIG) == 3 and diet_count(quick) == 0
    for mine, theirs in zip(quick["pipeline"], CONFIG["pipeline"], strict=True):
        if mine["name"] == DECIDER:
            assert mine == {**theirs, "diet_seeds": []}, "the linear model and the fallback as configured"
        else:
            assert mine == theirs, "everything else (features, safety net) as configured"
    assert quick["policies"] == CONFIG["policies"]


def test_a_config_without_the_decider_is_refused():
    pipeline = [c for c in CONFIG["pipeline"] if c["name"] != DECIDER]
    with pytest.raises(ValueError, match="IntentDecider"):
        quick_config({**CONFIG, "pipeline": pipeline})


def write(path: Path, content: bytes, age: float) -> str:
    path.write_bytes(content)
    moment = time.time() - age
    os.utime(path, (moment, moment))
    return str(etag(path))


def test_the_newest_model_is_handed_out_to_one_running_process_at_a_time(tmp_path):
    quick, full = tmp_path / "quick.tar.gz", tmp_path / "assistant.tar.gz"
    chooser = ModelChooser([full, quick], load_seconds=60)
    assert chooser.choose(None, now=0) is None, "nothing trained yet: nothing to hand out"
    quick_tag = write(quick, b"quick", age=100)
    # Starting processes (no model yet: Rasa sends "None") all get it at once.
    assert chooser.choose("None", now=1) == (quick, quick_tag)
    assert chooser.choose("None", now=1) == (quick, quick_tag)
    assert chooser.choose(quick_tag, now=2) is None  # up to date: 304
    full_tag = write(full, b"the full model", age=0)
    assert chooser.choose(quick_tag, now=3) == (full, full_tag)  # the first to ask starts loading
    assert chooser.choose(quick_tag, now=4) is None  # the other keeps answering meanwhile
    assert chooser.choose(full_tag, now=30) is None  # the first has loaded it
    assert chooser.choose(quick_tag, now=31) == (full, full_tag)  # now the other
    assert chooser.status()["sent"] == {quick_tag: 2, full_tag: 2}


def test_a_process_that_never_comes_back_does_not_hold_the_others_forever(tmp_path):
    quick, full = tmp_path / "quick.tar.gz", tmp_path / "assistant.tar.gz"
    chooser = ModelChooser([full, quick], load_seconds=60)
    quick_tag = write(quick, b"quick", age=100)
    chooser.choose(None, now=0)
    chooser.choose(None, now=0)
    full_tag = write(full, b"full", age=0)
    assert chooser.choose(quick_tag, now=1) == (full, full_tag)
    assert chooser.choose(quick_tag, now=30) is None
    assert chooser.choose(quick_tag, now=62) == (full, full_tag)


def status(url: str) -> dict:
    return requests.get(f"{url}/status", timeout=5).json()


@pytest.mark.server
@pytest.mark.model
@pytest.mark.timeout(600)
def test_the_servers_switch_to_a_newer_model_without_a_restart(tmp_path):
    """Two Rasa worker processes, as `make run` starts them, pull the model from the model server;
    a newer model file replaces the one they answer with, one process after the other, while the
    conversation goes on."""
    quick, full = tmp_path / "quick.tar.gz", tmp_path / "assistant.tar.gz"
    shutil.copy(MODEL, quick)
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    command = [sys.executable, "-m", "serving.model_server", "--port", str(port), str(full), str(quick)]
    log = tmp_path / "model_server.log"
    server = start(command, log, {**os.environ})
    try:
        wait_for(f"{url}/status", server, log)
        # Two workers need the shared stores (Rasa runs one with its in-memory lock store).
        endpoints = shipped_storage(tmp_path) + f"models:\n  url: {url}/model\n  wait_time_between_pulls: 2\n"
        two = {"SANIC_WORKERS": "2"}
        with running_servers(tmp_path, extra_endpoints=endpoints, extra_env=two) as servers:
            deadline = time.monotonic() + 180  # the workers load in turn (overrides/load_in_turn.py)
            while status(url)["sent"] != {str(etag(quick)): 2} and time.monotonic() < deadline:
                time.sleep(1)
            assert status(url)["sent"] == {str(etag(quick)): 2}, "each worker process got the quick model"
            reply = servers.say("switching", "does valium help with opioid withdrawal")
            assert "Valium" in reply[0]["text"]

            shutil.copy(MODEL, full)  # a newer file: the full model's training ended
            newest = str(etag(full))
            deadline = time.monotonic() + 300
            while time.monotonic() < deadline:
                now = status(url)
                if now["sent"].get(newest) == 2 and now["loading"] is None:
                    break
                # Messages are answered while the processes switch (each from its own sender: the
                # channel's guard limits messages per sender and minute).
                assert servers.say(f"during-{time.monotonic()}", "what are the symptoms of withdrawal")
                time.sleep(2)
            else:
                pytest.fail(f"the workers did not both load the new model: {status(url)}\n{log.read_text()}")
            follow_up = servers.say("switching", "what about klonopin?")
            assert "Klonopin" in "\n".join(r.get("text", "") for r in follow_up), "the conversation was kept"
    finally:
        server.terminate()
        server.wait(timeout=20)
