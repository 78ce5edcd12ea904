"""The callback channel: a message POSTed to the real server is answered by POSTs to a real HTTP
receiver on a loopback port (the URL in credentials.messaging.yml, pointed at the receiver)."""

from __future__ import annotations

import uuid

import pytest
import requests

pytestmark = pytest.mark.server


def test_replies_are_posted_to_the_callback_url(messaging):
    sender = f"cb-{uuid.uuid4().hex}"
    expected = messaging.servers.say(f"{sender}-rest", "does valium help with opioid withdrawal")

    reply = requests.post(
        f"{messaging.rasa_url}/webhooks/callback/webhook",
        json={"sender": sender, "message": "does valium help with opioid withdrawal"},
        timeout=60,
    )
    assert (reply.status_code, reply.text) == (200, "success")

    received = messaging.callback.settle(lambda r: r.json().get("recipient_id") == sender)
    assert all((r.method, r.path) == ("POST", "/bot") for r in received)
    assert all(r.headers["content-type"].startswith("application/json") for r in received)
    # The same messages the REST channel returns, one POST each, in order.
    assert [r.json() for r in received] == [{**m, "recipient_id": sender} for m in expected]
    assert received[0].json()["buttons"], "the answer offers related questions"
    assert "not medical advice" in received[1].json()["text"], "then the disclaimer: a first message"
    # Then "Was this helpful?", as on the REST channel.
    assert received[-1].json()["feedback"]["answer"] == "helps.valium"
