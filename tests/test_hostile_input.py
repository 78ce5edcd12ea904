"""Hostile and malformed input on the public endpoints of the real server: always a clear 4xx or a
polite reply, never a 5xx, a stall, or harm to other users."""

from __future__ import annotations

import asyncio
import json
import time
from concurrent.futures import ThreadPoolExecutor

import pytest
import requests
import socketio
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from servers import running_servers

pytestmark = pytest.mark.server


def post(servers, body: bytes | str, path: str = "/webhooks/rest/webhook") -> requests.Response:
    return requests.post(
        servers.rasa_url + path, data=body, headers={"Content-Type": "application/json"}, timeout=60
    )


@pytest.mark.parametrize("path", ["/webhooks/rest/webhook", "/webhooks/callback/webhook"])
@pytest.mark.parametrize(
    ("body", "complaint"),
    [
        (b"", "empty"),
        (b"{not json", "not valid JSON"),
        (b"\xff\xfe\x00", "not valid JSON"),
        (b"[1, 2]", "JSON object"),
        (b'"hello"', "JSON object"),
        (b"null", "JSON object"),
        (b'{"message": "hi"}', "'sender' is required"),
        (b'{"sender": null, "message": "hi"}', "'sender' is required"),
        (b'{"sender": "u", "message": null}', "'message' is required"),
        (b'{"sender": "u", "message": 12}', "'message' must be a string"),
        (b'{"sender": "../../etc/passwd", "message": "hi"}', "slashes"),
        (b'{"sender": "u", "message": "hi", "metadata": [1]}', "'metadata'"),
    ],
)
def test_malformed_bodies_get_a_clear_400(servers, path, body, complaint):
    response = post(servers, body, path)
    assert response.status_code == 400
    assert complaint in response.json()["error"]


def test_odd_but_valid_text_gets_an_answer(servers):
    for i, text in enumerate(
        [
            "does valium help 🙏🙏 with withdrawal",
            "هل يساعد الفاليوم \u200f valium?",
            "<img src=x onerror=alert(1)> <script>alert(1)</script>",
            "withdrawal\x00\x1b[31m symptoms\x07",
            "'; DROP TABLE events; --",
        ]
    ):
        response = post(servers, json.dumps({"sender": f"odd-{i}", "message": text}))
        assert response.status_code == 200
        replies = [m for m in response.json() if "feedback" not in m]  # "Was this helpful?" has no text
        assert replies and all("text" in m for m in replies)


def test_a_huge_message_is_cut_politely_and_does_not_stall_others(servers):
    huge = "does valium help with withdrawal " + "a" * 500_000

    def send_huge() -> tuple[requests.Response, float]:
        started = time.monotonic()
        response = post(servers, json.dumps({"sender": "huge", "message": huge}))
        return response, time.monotonic() - started

    with ThreadPoolExecutor(2) as pool:
        huge_reply = pool.submit(send_huge)
        other = pool.submit(post, servers, json.dumps({"sender": "other", "message": "hello"}))
        (response, _), other_response = huge_reply.result(), other.result()

    assert response.status_code == 200
    assert "first 2,000 characters" in response.json()[0]["text"]
    assert len(response.json()) >= 2, "the message was still answered"
    assert other_response.status_code == 200


def test_a_body_over_the_size_limit_is_refused_before_reading(servers):
    response = post(servers, json.dumps({"sender": "big", "message": "a" * 2_000_000}))
    assert response.status_code == 413


def test_a_flood_from_one_sender_is_limited_without_hurting_others(servers):
    body = json.dumps({"sender": "flooder", "message": "hi"})
    with ThreadPoolExecutor(8) as pool:
        flood = [pool.submit(post, servers, body) for _ in range(40)]
        bystander = pool.submit(post, servers, json.dumps({"sender": "bystander", "message": "hello"}))
        statuses = [f.result().status_code for f in flood]
        assert bystander.result().status_code == 200
    assert set(statuses) <= {200, 429}
    assert statuses.count(429) >= 10
    limited = next(f.result() for f in flood if f.result().status_code == 429)
    assert "faster than I can answer" in limited.json()["error"]


json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=50),
    lambda children: (
        st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=10), children, max_size=4)
    ),
    max_leaves=10,
)
bodies = st.one_of(
    st.binary(max_size=200),
    json_values.map(json.dumps),
    st.fixed_dictionaries(
        {
            "sender": st.one_of(st.text(max_size=140), json_values),
            "message": st.one_of(st.text(max_size=300), json_values),
        },
        optional={"metadata": json_values},
    ).map(json.dumps),
)


@settings(max_examples=120, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(body=bodies)
def test_fuzz_never_a_server_error(servers, body):
    response = post(servers, body)
    assert response.status_code in {200, 400, 429}, (body, response.text[:200])
    assert isinstance(response.json(), (list, dict))


async def test_socketio_rejects_malformed_events_and_answers_valid_ones(servers):
    client = socketio.AsyncClient()
    events: asyncio.Queue = asyncio.Queue()
    client.on("invalid_message", lambda data: events.put_nowait(("invalid", data)))
    client.on("bot_uttered", lambda data: events.put_nowait(("bot", data)))
    client.on("session_confirm", lambda data: events.put_nowait(("session", data)))
    await client.connect(servers.rasa_url, socketio_path="/socket.io", transports=["polling"])
    try:
        await client.emit("session_request", {"session_id": "../evil"})
        kind, data = await asyncio.wait_for(events.get(), 30)
        assert kind == "invalid" and "slashes" in data["error"]

        await client.emit("session_request", {"session_id": "sio-hostile-1"})
        assert await asyncio.wait_for(events.get(), 30) == ("session", "sio-hostile-1")

        for bad in ["just a string", {"session_id": "sio-hostile-1", "message": 5}, [1, 2]]:
            await client.emit("user_uttered", bad)
            kind, data = await asyncio.wait_for(events.get(), 30)
            assert kind == "invalid" and data["status"] == 400

        await client.emit("user_uttered", {"session_id": "sio-hostile-1", "message": "what is klonopin"})
        kind, data = await asyncio.wait_for(events.get(), 60)
        assert kind == "bot" and "Klonopin" in data["text"]
    finally:
        await client.disconnect()


async def test_websockets_only_from_the_allowed_page(tmp_path):
    """engine.io's WebSocket handshake carries the page's Origin: only WIDGET_ORIGIN may connect."""
    import websockets

    allowed = "http://localhost:8080"
    with running_servers(tmp_path, actions=False, extra_env={"WIDGET_ORIGIN": allowed}) as servers:
        url = servers.rasa_url.replace("http", "ws") + "/socket.io/?EIO=4&transport=websocket"
        async with websockets.connect(url, origin=allowed) as socket:
            assert (await asyncio.wait_for(socket.recv(), 30)).startswith("0")  # engine.io open
            await socket.send("40")  # socket.io connect
            assert (await asyncio.wait_for(socket.recv(), 30)).startswith("40")
        async with websockets.connect(url, origin="http://evil.example") as socket:
            await asyncio.wait_for(socket.recv(), 30)
            await socket.send("40")
            assert (await asyncio.wait_for(socket.recv(), 30)).startswith("44"), "connect refused"
