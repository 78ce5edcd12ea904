"""The operator console over HTTP (the real process, as `make run` starts it): login, CSRF, size and
malformed-form limits, path tricks in names, security headers, what pages never show."""

from __future__ import annotations

import re
from collections.abc import Iterator

import pytest
import requests
import sqlalchemy as sa
import yaml
from console_data import CRISIS_TEXT, PASSWORD, RunningConsole, csrf_of, log_in, running_console

from insights import schema

PAGES = ["/", "/done", "/dashboard", "/new-answers.yml", "/export/translations?language=es"]


@pytest.fixture(scope="module")
def console(tmp_path_factory) -> Iterator[RunningConsole]:
    with running_console(tmp_path_factory.mktemp("console")) as running:
        yield running


def login(console: RunningConsole, password: str = PASSWORD) -> tuple[requests.Session, str]:
    """A browser-like session logged in, and its CSRF token."""
    http, reply = log_in(console.url, password)
    assert reply.status_code == 200 and reply.url == f"{console.url}/", reply.text[:300]
    return http, csrf_of(reply.text)


def open_ids(console: RunningConsole, word: str) -> list[str]:
    rows = console.queue_snapshot()
    return [str(row["id"]) for row in rows if row["status"] == schema.OPEN and word in (row["text"] or "")]


@pytest.fixture
def unchanged(console: RunningConsole) -> Iterator[None]:
    """The test must leave the training data and the queue exactly as they were."""
    before = console.nlu_snapshot(), console.queue_snapshot()
    yield
    assert (console.nlu_snapshot(), console.queue_snapshot()) == before


def test_every_page_needs_a_login_and_shows_nothing_without_it(console, unchanged):
    for path in PAGES:
        reply = requests.get(console.url + path, allow_redirects=False, timeout=10)
        assert reply.status_code == 303 and reply.headers["Location"] == "/login", path
        assert "valium" not in reply.text
    api = requests.get(f"{console.url}/api/stats", timeout=10)
    assert api.status_code == 401 and api.json() == {"error": "Log in first."}
    login_page = requests.get(f"{console.url}/login", timeout=10).text
    assert "valium" not in login_page and "Log in" in login_page


def test_a_wrong_password_is_refused(console, unchanged):
    http = requests.Session()
    token = csrf_of(http.get(f"{console.url}/login", timeout=10).text)
    reply = http.post(
        f"{console.url}/login", data={"csrf": token, "password": "guess"}, allow_redirects=False, timeout=10
    )
    assert reply.status_code == 401 and "Wrong password" in reply.text
    assert http.get(f"{console.url}/", allow_redirects=False, timeout=10).status_code == 303


def test_session_cookie_is_httponly_strict_and_expires(console):
    http = requests.Session()
    token = csrf_of(http.get(f"{console.url}/login", timeout=10).text)
    before_login = http.cookies.get("console_session")
    reply = http.post(
        f"{console.url}/login", data={"csrf": token, "password": PASSWORD}, allow_redirects=False, timeout=10
    )
    cookie = reply.headers["Set-Cookie"]
    assert reply.status_code == 303
    assert (
        "HttpOnly" in cookie and "SameSite=Strict" in cookie and "Max-Age=" in cookie and "Path=/" in cookie
    )
    # A new session id at login (no session fixation): the login page's one is not reused.
    assert before_login and cookie.split(";")[0] != f"console_session={before_login}"


def test_forged_or_stale_sessions_change_nothing(console, unchanged):
    ids = open_ids(console, "weather")
    http, token = login(console)
    real = http.cookies["console_session"]
    session_id, signature = real.split(".")

    def act_with(cookie: str) -> int:
        form = {"csrf": token, "item": ids}
        url = f"{console.url}/queue/out-of-scope"
        return requests.post(
            url, data=form, cookies={"console_session": cookie}, allow_redirects=False
        ).status_code

    for forged in [f"{session_id}.{'0' * len(signature)}", f"x{session_id}.{signature}", "garbage"]:
        assert act_with(forged) == 401, forged
        reply = requests.get(f"{console.url}/", cookies={"console_session": forged}, allow_redirects=False)
        assert reply.status_code == 303
    # Logged out: the same cookie is refused.
    assert http.post(f"{console.url}/logout", data={"csrf": token}, timeout=10).status_code == 200
    assert act_with(real) == 401


@pytest.mark.parametrize("token", [None, "", "wrong", "x" * 32])
def test_a_post_without_the_right_csrf_token_is_refused(console, unchanged, token):
    http, _ = login(console)
    data = {"item": open_ids(console, "weather"), "intent": "out_of_scope"}
    if token is not None:
        data["csrf"] = token
    for action in ("/queue/add", "/queue/out-of-scope", "/queue/new-answer", "/logout"):
        reply = http.post(console.url + action, data=data, allow_redirects=False, timeout=10)
        assert reply.status_code == 403, action
        assert "CSRF" in reply.text
    assert (
        http.get(f"{console.url}/", allow_redirects=False, timeout=10).status_code == 200
    )  # still logged in


def test_login_itself_needs_its_csrf_token(console, unchanged):
    reply = requests.post(
        f"{console.url}/login", data={"password": PASSWORD}, allow_redirects=False, timeout=10
    )
    assert reply.status_code == 403


def test_oversized_form_is_refused_before_it_is_read(console, unchanged):
    http, token = login(console)
    body = {"csrf": token, "item": open_ids(console, "weather"), "note": "x" * 70_000}
    reply = http.post(f"{console.url}/queue/new-answer", data=body, allow_redirects=False, timeout=10)
    assert reply.status_code == 413


@pytest.mark.parametrize(
    ("body", "content_type", "status"),
    [
        (b'{"item": [1]}', "application/json", 415),
        (b"csrf=%s&item=1&intent=\xff\xfe", "application/x-www-form-urlencoded", 400),  # not UTF-8
        (b"csrf=%s&item=1&intent", "application/x-www-form-urlencoded", 400),  # a field without '='
        (b"csrf=%s&item=1;DROP&intent=greet", "application/x-www-form-urlencoded", 400),
        (b"csrf=%s&item=-1&intent=greet", "application/x-www-form-urlencoded", 400),
        (b"csrf=%s&item=99999999999999999&intent=greet", "application/x-www-form-urlencoded", 400),
        (b"csrf=%s&intent=greet", "application/x-www-form-urlencoded", 400),  # no item
        (b"csrf=%s&item=1", "application/x-www-form-urlencoded", 400),  # no intent
        (b"csrf=%s&item=1&intent=greet&intent=goodbye", "application/x-www-form-urlencoded", 400),
        (
            b"csrf=%s&" + b"&".join(b"item=%d" % n for n in range(600)) + b"&intent=greet",
            "application/x-www-form-urlencoded",
            400,
        ),
    ],
)
def test_malformed_form_data_gets_a_clear_4xx(console, unchanged, body, content_type, status):
    http, token = login(console)
    data = body.replace(b"%s", token.encode(), 1) if b"%s" in body else body
    reply = http.post(
        f"{console.url}/queue/add",
        data=data,
        headers={"Content-Type": content_type},
        allow_redirects=False,
        timeout=10,
    )
    assert reply.status_code == status, reply.text[:300]


@pytest.mark.parametrize(
    ("intent", "topic"),
    [
        ("../../etc/passwd", None),
        ("..%2F..%2Fdomain", None),
        ("ask_med_helps/../../domain", None),
        ("ask_med_helps\x00", None),
        ("nlu_fallback", None),
        ("ask_med_helps", "../../domain"),
        ("ask_med_helps", "/etc/passwd"),
        ("ask_med_helps", "withdrawal"),  # a real topic, but not this intent's
    ],
)
def test_path_tricks_in_intent_or_topic_names_are_refused(console, unchanged, intent, topic):
    http, token = login(console)
    data = {"csrf": token, "item": open_ids(console, "kicking"), "intent": intent}
    if topic is not None:
        data["topic"] = topic
    reply = http.post(f"{console.url}/queue/add", data=data, allow_redirects=False, timeout=10)
    assert reply.status_code == 400, reply.text[:300]
    assert "Not an intent of this assistant" in reply.text


def test_unknown_paths_and_static_tricks_are_404(console, unchanged):
    http, _ = login(console)
    for path in [
        "/static/../app.py",
        "/static/..%2fapp.py",
        "/static/%2e%2e/app.py",
        "/static/dist",
        "/console/app.py",
        "/data/nlu/general.yml",
    ]:
        reply = http.get(console.url + path, allow_redirects=False, timeout=10)
        assert reply.status_code == 404, path
        assert "def create_app" not in reply.text and "intent:" not in reply.text


def test_a_foreign_host_name_is_refused(console):
    # A page on another site whose name resolves to 127.0.0.1 (DNS rebinding) reaches the port but
    # not the console; the names it was opened with still work.
    for host in ("evil.example", "evil.example:80", "127.0.0.1.evil.example"):
        reply = requests.get(f"{console.url}/login", headers={"Host": host}, timeout=10)
        assert reply.status_code == 400 and "Unknown Host header" in reply.text, host
    port = console.url.rsplit(":", 1)[1]
    for host in (f"localhost:{port}", f"127.0.0.1:{port}", f"[::1]:{port}", "LOCALHOST"):
        assert requests.get(f"{console.url}/login", headers={"Host": host}, timeout=10).status_code == 200, (
            host
        )


def test_security_headers_on_every_page(console):
    http, _ = login(console)
    for path in [*PAGES, "/login", "/api/stats"]:
        headers = http.get(console.url + path, timeout=10).headers
        csp = headers["Content-Security-Policy"]
        assert "script-src 'self';" in csp and "unsafe-inline" not in csp and "frame-ancestors 'none'" in csp
        assert headers["X-Frame-Options"] == "DENY" and headers["X-Content-Type-Options"] == "nosniff"
        assert headers["Cache-Control"] == "no-store"
    for path in PAGES[:3]:
        page = http.get(console.url + path, timeout=10).text
        assert re.findall(r"<script[^>]*>", page) in ([], ['<script src="/static/dashboard.js" defer>'])
        assert not re.search(r"<[^>]+\son[a-z]+=", page) and " style=" not in page  # no inline handlers


def test_pages_show_no_sender_ids_phone_numbers_emails_or_crisis_text(console):
    # A row stored before redaction existed (or by a bug): the console redacts again on display.
    with console.engine.begin() as connection:
        connection.execute(
            schema.queue.insert().values(
                ts=1.0,
                conversation=schema.conversation_key("leaky-sender"),
                channel="rest",
                reason="out_of_scope",
                text="call me on 555-123-4567 or write to someone@example.org",
                guesses="[]",
                comment="my number is +1 (555) 987-6543",
            )
        )
    http, _ = login(console)
    with console.engine.connect() as connection:
        senders = [
            row[0]
            for row in connection.execute(
                schema.queue.select().with_only_columns(schema.queue.c.conversation)
            )
        ]
    for path in [*PAGES, "/api/stats"]:
        text = http.get(console.url + path, timeout=10).text
        assert "555-123-4567" not in text and "someone@example.org" not in text and "987-6543" not in text, (
            path
        )
        assert CRISIS_TEXT not in text, path
        assert not any(sender in text for sender in senders), path
    queue = http.get(f"{console.url}/", timeout=10).text
    assert "call me on [phone removed] or write to [email removed]" in queue
    assert "Crisis language: text not stored" in queue


def test_mark_out_of_scope_and_new_answer_leave_the_queue_into_done(console):
    http, token = login(console)
    weather = open_ids(console, "weather")
    reply = http.post(f"{console.url}/queue/out-of-scope", data={"csrf": token, "item": weather}, timeout=10)
    assert reply.status_code == 200 and "Marked 1 question(s) out of scope" in reply.text
    gabapentin = open_ids(console, "gabapentin")
    note = "gabapentin during detox: no source covers it yet, mail x@y.org"
    reply = http.post(
        f"{console.url}/queue/new-answer", data={"csrf": token, "item": gabapentin, "note": note}, timeout=10
    )
    assert reply.status_code == 200 and "2 question(s) listed" in reply.text
    assert "weather" not in reply.text and "gabapentin" not in reply.text  # gone from the queue
    rows = {str(row["id"]): row for row in console.queue_snapshot()}
    assert (
        rows[weather[0]]["resolution"] == "marked out of scope"
        and rows[weather[0]]["resolved_ts"] is not None
    )
    assert rows[weather[0]]["status"] == schema.MARKED_OUT_OF_SCOPE
    assert all(rows[i]["status"] == schema.NEW_ANSWER for i in gabapentin)
    done = http.get(f"{console.url}/done", timeout=10).text
    assert "what&#39;s the weather like" in done and "gabapentin" in done and "x@y.org" not in done
    exported = http.get(f"{console.url}/new-answers.yml", timeout=10)
    assert exported.headers["Content-Disposition"] == 'attachment; filename="new-answers.yml"'
    entry = yaml.safe_load(exported.text)["new_answers"][0]
    assert entry["asked"] == 2 and entry["note"].startswith("gabapentin during detox")
    # Done items cannot be done twice.
    again = http.post(f"{console.url}/queue/out-of-scope", data={"csrf": token, "item": weather}, timeout=10)
    assert again.status_code == 409


def test_a_done_item_goes_back_to_the_queue_from_the_done_page(console):
    http, token = login(console)
    (weather,) = [str(r["id"]) for r in console.queue_snapshot() if "weather" in (r["text"] or "")]
    assert "Back to the queue" in http.get(f"{console.url}/done", timeout=10).text
    refused = http.post(f"{console.url}/queue/reopen", data={"item": weather}, timeout=10)  # no CSRF token
    assert refused.status_code == 403 and open_ids(console, "weather") == []
    reply = http.post(f"{console.url}/queue/reopen", data={"csrf": token, "item": weather}, timeout=10)
    assert reply.status_code == 200 and "1 question(s) back in the queue" in reply.text
    assert "what&#39;s the weather like" in reply.text  # on the queue page again
    (row,) = [r for r in console.queue_snapshot() if str(r["id"]) == weather]
    assert (row["status"], row["resolution"], row["resolved_ts"]) == (schema.OPEN, None, None)
    # Open items, and unknown ones, cannot be reopened.
    again = http.post(
        f"{console.url}/queue/reopen", data={"csrf": token, "item": [weather, "999999"]}, timeout=10
    )
    assert again.status_code == 409
    # As the test found it: out of scope.
    http.post(f"{console.url}/queue/out-of-scope", data={"csrf": token, "item": weather}, timeout=10)
    assert open_ids(console, "weather") == []


def test_add_to_intent_writes_the_right_file_and_resolves_the_group(console):
    http, token = login(console)
    ids = open_ids(console, "kicking")
    assert len(ids) == 3
    reply = http.post(
        f"{console.url}/queue/add",
        data={"csrf": token, "item": ids, "intent": "ask_med_helps", "topic": "medications"},
        timeout=10,
    )
    assert reply.status_code == 200, reply.text[:300]
    assert (
        "Added 3 example(s) to ask_med_helps in data/nlu/medications.yml; 3 question(s) done." in reply.text
    )
    medications = (console.project / "data" / "nlu" / "medications.yml").read_text()
    assert "    - can I take valium for the shakes when kicking?\n" in medications
    added = [row for row in console.queue_snapshot() if str(row["id"]) in ids]
    assert all(row["status"] == schema.ADDED for row in added)
    assert added[0]["resolution"] == "added to ask_med_helps (data/nlu/medications.yml)"
    assert open_ids(console, "kicking") == []


def test_a_spanish_question_is_added_to_the_spanish_training_data(console):
    http, token = login(console)
    [spanish] = open_ids(console, "temblores")
    before = console.nlu_snapshot()
    reply = http.post(
        f"{console.url}/queue/add",
        data={"csrf": token, "item": [spanish], "intent": "ask_med_helps", "topic": "medications"},
        timeout=10,
    )
    assert reply.status_code == 200, reply.text[:300]
    assert "Added 1 example(s) to ask_med_helps in data/nlu/es/part_a.yml; 1 question(s) done." in reply.text
    after = console.nlu_snapshot()
    assert [name for name in after if after[name] != before[name]] == ["es/part_a.yml"]
    assert "    - ¿el valium sirve para los temblores de la abstinencia?\n" in after["es/part_a.yml"].decode()
    # As the test found it (the console reopens no added question, so straight in the database):
    # open, and the Spanish file as it was.
    with console.engine.begin() as connection:
        connection.execute(
            sa.update(schema.queue)
            .where(schema.queue.c.id == int(spanish))
            .values(status=schema.OPEN, resolution=None, resolved_ts=None)
        )
    assert open_ids(console, "temblores") == [spanish]
    (console.project / "data" / "nlu" / "es" / "part_a.yml").write_bytes(before["es/part_a.yml"])
    assert console.nlu_snapshot() == before


def test_the_queue_shows_each_items_language_and_filters_by_it(console, unchanged):
    http, _ = login(console)
    everything = http.get(f"{console.url}/", timeout=10).text
    still_open = [row["language"] for row in console.queue_snapshot() if row["status"] == schema.OPEN]
    assert f"all ({len(still_open)})" in everything and f"English ({still_open.count('en')})" in everything
    assert still_open.count("es") == 2 and "Spanish (2)" in everything
    # Each phrasing is marked up in its language, with a tag a screen reader reads as its name.
    assert '<label lang="es">' in everything and '<label lang="en">' in everything
    assert '<span aria-hidden="true">ES</span><span class="visually-hidden">Spanish</span>' in everything
    spanish = http.get(f"{console.url}/?language=es", timeout=10).text
    assert "2 open in Spanish" in spanish
    assert "temblores de la abstinencia" in spanish and "kratom" not in spanish
    assert '<input type="hidden" name="language" value="es">' in spanish  # the actions come back here
    english = http.get(f"{console.url}/?language=en", timeout=10).text
    assert "kratom" in english and "temblores" not in english
    for bad in ("fr", "other", "../../etc", "es%00"):
        reply = http.get(f"{console.url}/?language={bad}", timeout=10)
        assert reply.status_code == 400 and "language is one of en, es" in reply.text, bad


def test_an_action_on_the_filtered_queue_returns_to_it(console):
    http, token = login(console)
    (item,) = [r for r in console.queue_snapshot() if "temblores" in (r["text"] or "")]
    assert item["language"] == "es"
    form = {"csrf": token, "item": [str(item["id"])], "language": "xx"}
    refused = http.post(f"{console.url}/queue/out-of-scope", data=form, allow_redirects=False, timeout=10)
    assert refused.status_code == 400 and open_ids(console, "temblores") == [str(item["id"])]
    form["language"] = "es"
    reply = http.post(f"{console.url}/queue/out-of-scope", data=form, allow_redirects=False, timeout=10)
    assert reply.status_code == 303 and reply.headers["Location"] == "/?language=es"
    assert open_ids(console, "temblores") == []
    done = http.get(f"{console.url}/done", timeout=10).text
    assert '<span lang="es">¿el valium sirve para los temblores de la abstinencia?</span>' in done
    # As the test found it: open.
    http.post(f"{console.url}/queue/reopen", data={"csrf": token, "item": str(item["id"])}, timeout=10)
    assert open_ids(console, "temblores") == [str(item["id"])]


def test_the_spanish_translations_export_is_a_csv_download(console, unchanged):
    import csv
    import io

    http, _ = login(console)
    reply = http.get(f"{console.url}/export/translations?language=es", timeout=10)
    assert reply.status_code == 200
    assert reply.headers["Content-Type"] == "text/csv; charset=utf-8"
    assert reply.headers["Content-Disposition"] == 'attachment; filename="translations-es.csv"'
    rows = list(csv.reader(io.StringIO(reply.content.decode("utf-8-sig"))))
    assert rows[0] == ["answer", "English text", "Spanish text", "source"]
    names = [row[0] for row in rows[1:]]
    assert "utter_withdrawal_symptoms" in names and "helps.valium" in names
    assert all(len(row) == 4 for row in rows)
    assert "/export/translations?language=es" in http.get(f"{console.url}/", timeout=10).text  # the link
    for bad in ("en", "fr", "../domain", "es,en"):
        refused = http.get(f"{console.url}/export/translations?language={bad}", timeout=10)
        assert refused.status_code == 400 and "language is one of es" in refused.text, bad


def test_stats_json_behind_login(console):
    http, _ = login(console)
    stats = http.get(f"{console.url}/api/stats?days=7", timeout=10).json()
    assert len(stats["days"]) == 7 and stats["totals"]["messages"] > 0
    assert http.get(f"{console.url}/api/stats?days=../../1", timeout=10).status_code == 400


def test_repeated_failed_logins_get_429(tmp_path):
    with running_console(tmp_path) as console:
        http = requests.Session()
        token = csrf_of(http.get(f"{console.url}/login", timeout=10).text)
        statuses = [
            http.post(
                f"{console.url}/login", data={"csrf": token, "password": f"guess{n}"}, timeout=10
            ).status_code
            for n in range(7)
        ]
        assert statuses == [401] * 5 + [429] * 2
        # Even the right password waits now.
        reply = http.post(
            f"{console.url}/login",
            data={"csrf": token, "password": PASSWORD},
            allow_redirects=False,
            timeout=10,
        )
        assert reply.status_code == 429 and int(reply.headers["Retry-After"]) > 0
