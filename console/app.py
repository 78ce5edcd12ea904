"""The console's web application (Sanic, as Rasa's own server): pages, form actions and JSON."""

from __future__ import annotations

import hmac
import time
from dataclasses import dataclass
from datetime import datetime, timezone
from http import HTTPStatus
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs

import yaml
from jinja2 import Environment, FileSystemLoader, select_autoescape
from sanic import HTTPResponse, Request, Sanic, response

from console import translations
from console.auth import LoginLimiter, Session, Sessions, password_matches
from console.grouping import group_items
from console.nlu_files import NluError, NluFiles, clean
from console.store import LANGUAGE_NAMES, Store
from content import load_content
from insights import schema
from storage.redaction import redact

HERE = Path(__file__).resolve().parent
STATIC = {
    "console.css": (HERE / "static" / "console.css", "text/css; charset=utf-8"),
    "dashboard.js": (HERE / "static" / "dist" / "dashboard.js", "text/javascript; charset=utf-8"),
}
COOKIE = "console_session"
# Form posts are small (ids, an intent, a note): anything larger is refused with 413 before it is read.
MAX_BODY = 64 * 1024
MAX_FIELDS = 500
MAX_NOTE = 500
DAY_CHOICES = (7, 30, 90)
SECURITY_HEADERS = {
    # No inline script anywhere: the dashboard's script is a file of this origin.
    "Content-Security-Policy": (
        "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self'; connect-src 'self'; "
        "form-action 'self'; frame-ancestors 'none'; base-uri 'none'"
    ),
    "X-Frame-Options": "DENY",
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "no-referrer",
    "Cross-Origin-Opener-Policy": "same-origin",
    "Cross-Origin-Resource-Policy": "same-origin",
    "Cache-Control": "no-store",
}


class Refused(Exception):
    """A request the console refuses with a 4xx and a plain reason; nothing has changed."""

    def __init__(self, status: int, reason: str, retry_after: int | None = None) -> None:
        super().__init__(reason)
        self.status = status
        self.reason = reason
        self.retry_after = retry_after


@dataclass
class Console:
    store: Store
    nlu: NluFiles
    password: str
    secure_cookie: bool = False
    # Host names the console answers to: a page elsewhere that points its own name at 127.0.0.1
    # (DNS rebinding) gets 400 instead of a login form to guess at.
    allowed_hosts: frozenset[str] = frozenset({"localhost", "127.0.0.1", "::1"})

    def __post_init__(self) -> None:
        self.sessions = Sessions()
        self.limiter = LoginLimiter()
        self.templates = Environment(
            loader=FileSystemLoader(HERE / "templates"),
            autoescape=select_autoescape(default=True),
            trim_blocks=True,
            lstrip_blocks=True,
        )
        self.templates.filters["when"] = when
        self.templates.filters["percent"] = lambda value: f"{value * 100:.0f}%"
        # Text is stored redacted; redacted again on display in case anything slipped through.
        self.templates.filters["redact"] = lambda text: redact(text) if text else text
        self.templates.globals["language_names"] = LANGUAGE_NAMES


def host_name(host: str) -> str:
    """The name in a Host header, without the port: 'localhost:8081' -> 'localhost', '[::1]:80' -> '::1'."""
    host = host.strip().lower()
    if host.startswith("["):
        return host[1 : host.find("]")] if "]" in host else host
    return host.rsplit(":", 1)[0] if host.count(":") == 1 else host


def when(ts: float | None) -> str:
    if ts is None:
        return ""
    return datetime.fromtimestamp(ts, timezone.utc).strftime("%Y-%m-%d %H:%M UTC")


def create_app(console: Console, name: str = "faq_console") -> Sanic:
    app = Sanic(name)
    app.config.REQUEST_MAX_SIZE = MAX_BODY  # not SANIC_REQUEST_MAX_SIZE, which make run sets for Rasa
    app.config.KEEP_ALIVE_TIMEOUT = 5
    app.ctx.console = console

    def page(request: Request, template: str, status: int = 200, **context: Any) -> HTTPResponse:
        session: Session | None = request.ctx.session
        html = console.templates.get_template(template).render(
            session=session, path=request.path, flash=_take_flash(session), **context
        )
        return response.html(html, status=status)

    def refuse(request: Request, error: Refused) -> HTTPResponse:
        if request.path.startswith("/api/"):
            return response.json({"error": error.reason}, status=error.status)
        session = getattr(request.ctx, "session", None)
        html = console.templates.get_template("error.html").render(
            session=session, status=error.status, phrase=HTTPStatus(error.status).phrase, reason=error.reason
        )
        result = response.html(html, status=error.status)
        if error.retry_after is not None:
            result.headers["Retry-After"] = str(error.retry_after)
        return result

    @app.on_request
    async def load_session(request: Request) -> None:
        request.ctx.session = None
        if host_name(request.host) not in console.allowed_hosts:
            raise Refused(400, "Unknown Host header: open the console at the address make run printed.")
        request.ctx.session = console.sessions.get(request.cookies.get(COOKIE))

    @app.on_response
    async def headers(request: Request, result: HTTPResponse) -> None:
        for header, value in SECURITY_HEADERS.items():
            result.headers.setdefault(header, value)

    @app.exception(Refused)
    async def refused(request: Request, error: Refused) -> HTTPResponse:
        return refuse(request, error)

    def logged_in(request: Request) -> Session:
        session: Session | None = request.ctx.session
        if session is None or not session.logged_in:
            raise Refused(401, "Log in first.")
        return session

    def read_form(request: Request, session: Session | None) -> dict[str, list[str]]:
        """The urlencoded form, strictly parsed, with its CSRF token checked against the session's."""
        if request.content_type.split(";")[0].strip() != "application/x-www-form-urlencoded":
            raise Refused(415, "Send the form as application/x-www-form-urlencoded.")
        try:
            form = parse_qs(
                request.body.decode("utf-8"),
                keep_blank_values=True,
                strict_parsing=bool(request.body),
                max_num_fields=MAX_FIELDS,
                errors="strict",
            )
        except ValueError as error:  # bad UTF-8, bad percent-encoding, too many fields, no '='
            raise Refused(400, "Malformed form data.") from error
        tokens = form.get("csrf", [])
        if session is None or len(tokens) != 1 or not _same(tokens[0], session.csrf):
            raise Refused(403, "Missing or wrong form token (CSRF): reload the page and try again.")
        return form

    def single(form: dict[str, list[str]], name: str, required: bool = True) -> str | None:
        values = form.get(name, [])
        if len(values) > 1:
            raise Refused(400, f"'{name}' given more than once.")
        if not values or not values[0].strip():
            if required:
                raise Refused(400, f"'{name}' is missing.")
            return None
        return values[0]

    def item_ids(form: dict[str, list[str]]) -> list[int]:
        values = form.get("item", [])
        if not values:
            raise Refused(400, "Select at least one question.")
        if not all(value.isascii() and value.isdigit() and len(value) <= 12 for value in values):
            raise Refused(400, "Question ids are numbers.")
        return sorted({int(value) for value in values})

    def item_language(item: dict[str, Any]) -> str:
        """The language a queue item was written in (items recorded before languages were: English)."""
        return item.get("language") or schema.ENGLISH

    def open_items(ids: list[int]) -> list[dict[str, Any]]:
        items = console.store.items(ids)
        if not items:
            raise Refused(409, "Those questions are no longer in the queue (already done).")
        return items

    def return_to(form: dict[str, list[str]]) -> str:
        """The queue page the form came from: filtered by language when it was (checked before any
        change is made)."""
        return queue_url(parse_language(single(form, "language", required=False)))

    def done(session: Session, message: str, back: str = "/") -> HTTPResponse:
        session.flash = message
        return response.redirect(back, status=303)

    # -- login ---------------------------------------------------------------------------------

    @app.get("/login")
    async def login_page(request: Request) -> HTTPResponse:
        session = request.ctx.session
        if session is not None and session.logged_in:
            return response.redirect("/", status=303)
        if session is None:
            session = request.ctx.session = console.sessions.new()
        result = page(request, "login.html")
        set_cookie(result, console, session)
        return result

    @app.post("/login")
    async def login(request: Request) -> HTTPResponse:
        client = request.ip or "unknown"
        wait = console.limiter.retry_after(client)
        if wait:
            raise Refused(429, f"Too many failed logins: try again in {wait} seconds.", retry_after=wait)
        form = read_form(request, request.ctx.session)
        given = single(form, "password", required=False) or ""
        if not password_matches(given, console.password):
            console.limiter.failed(client)
            return page(request, "login.html", status=401, error="Wrong password.")
        console.limiter.succeeded(client)
        console.sessions.end(request.ctx.session)
        session = console.sessions.new(logged_in=True)  # a new id once logged in (no session fixation)
        result = response.redirect("/", status=303)
        set_cookie(result, console, session)
        return result

    @app.post("/logout")
    async def logout(request: Request) -> HTTPResponse:
        session = logged_in(request)
        read_form(request, session)
        console.sessions.end(session)
        result = response.redirect("/login", status=303)
        del result.cookies[COOKIE]
        return result

    @app.get("/favicon.ico")
    async def favicon(request: Request) -> HTTPResponse:
        return response.empty()

    @app.get("/static/<name>")
    async def static(request: Request, name: str) -> HTTPResponse:
        if name not in STATIC or not STATIC[name][0].exists():
            raise Refused(404, "No such file.")
        path, content_type = STATIC[name]
        result = response.raw(path.read_bytes(), content_type=content_type)
        result.headers["Cache-Control"] = "no-cache"
        return result

    # -- pages (a visitor without a session is sent to the login page) -------------------------

    def page_session(request: Request) -> Session | None:
        session = request.ctx.session
        return session if session is not None and session.logged_in else None

    @app.get("/")
    async def queue_page(request: Request) -> HTTPResponse:
        if page_session(request) is None:
            return response.redirect("/login", status=303)
        language = parse_language(request.args.get("language"))
        topics = console.nlu.topics()
        groups = group_items(console.store.open_items(language))
        by_topic: dict[str, list[str]] = {}
        for intent, topic in sorted(topics.items(), key=lambda pair: (pair[1], pair[0])):
            by_topic.setdefault(topic, []).append(intent)
        return page(
            request,
            "queue.html",
            groups=groups,
            by_topic=by_topic,
            topics=topics,
            language=language,
            open_by_language=console.store.open_by_language(),
        )

    @app.get("/done")
    async def done_page(request: Request) -> HTTPResponse:
        if page_session(request) is None:
            return response.redirect("/login", status=303)
        return page(
            request,
            "done.html",
            items=console.store.done_items(),
            statuses=STATUS_NAMES,
            reopenable=(schema.MARKED_OUT_OF_SCOPE, schema.NEW_ANSWER),
        )

    @app.get("/dashboard")
    async def dashboard_page(request: Request) -> HTTPResponse:
        if page_session(request) is None:
            return response.redirect("/login", status=303)
        days = parse_days(request)
        return page(
            request,
            "dashboard.html",
            days=days,
            day_choices=DAY_CHOICES,
            script_built=STATIC["dashboard.js"][0].exists(),
        )

    @app.get("/new-answers.yml")
    async def new_answers(request: Request) -> HTTPResponse:
        if page_session(request) is None:
            return response.redirect("/login", status=303)
        body = export_new_answers(console.store.new_answers())
        return response.text(
            body,
            content_type="application/yaml; charset=utf-8",
            headers={"Content-Disposition": 'attachment; filename="new-answers.yml"'},
        )

    @app.get("/export/translations")
    async def export_translations(request: Request) -> HTTPResponse:
        if page_session(request) is None:
            return response.redirect("/login", status=303)
        language = request.args.get("language", "es")
        if language not in translated_languages():
            raise Refused(400, f"language is one of {', '.join(translated_languages())}.")
        domain = console.nlu.project / "domain.yml"
        if not domain.is_file():
            raise Refused(404, "No domain.yml in the console's project folder (--project).")
        body = translations.export(domain, load_content(), language, LANGUAGE_NAMES[language])
        return response.text(
            body,
            content_type="text/csv; charset=utf-8",
            headers={"Content-Disposition": f'attachment; filename="translations-{language}.csv"'},
        )

    @app.get("/api/stats")
    async def stats(request: Request) -> HTTPResponse:
        logged_in(request)
        return response.json(console.store.stats(parse_days(request), console.nlu.topics()))

    # -- queue actions ---------------------------------------------------------------------------

    @app.post("/queue/add")
    async def add(request: Request) -> HTTPResponse:
        session = logged_in(request)
        form = read_form(request, session)
        back = return_to(form)
        ids = item_ids(form)
        intent = single(form, "intent")
        topic = single(form, "topic", required=False)
        assert intent is not None
        try:
            console.nlu.path_of(intent, topic)  # before anything is read: only real names pass
        except NluError as error:
            raise Refused(400, f"Not an intent of this assistant: {error}.") from error
        items = [item for item in open_items(ids) if item["text"] is not None]
        if not items:
            raise Refused(409, "None of those questions has text to add (crisis language is never stored).")
        # Each question goes to the training data of its own language (a Spanish wording into
        # data/nlu/es/); a question in a language the assistant does not speak is not added.
        by_language: dict[str, list[dict[str, Any]]] = {}
        for item in items:
            by_language.setdefault(item_language(item), []).append(item)
        spoken = {
            language: group for language, group in sorted(by_language.items()) if language in schema.LANGUAGES
        }
        results = []
        try:
            for language in spoken:  # every file found before any is written
                console.nlu.path_of(intent, topic, language)
            for language, group in spoken.items():
                result = console.nlu.add_examples(intent, [redact(i["text"]) for i in group], topic, language)
                results.append((group, result))
        except NluError as error:
            raise Refused(409, f"Nothing written: {error}.") from error
        added = [text for _, result in results for text in result.added]
        skipped = [skip for _, result in results for skip in result.skipped]
        skipped += [
            (clean(redact(i["text"])), "in a language the assistant does not speak")
            for language, group in by_language.items()
            if language not in schema.LANGUAGES
            for i in group
        ]
        files = sorted(
            {str(result.path.relative_to(console.nlu.project)) for _, result in results if result.added}
        )
        relative = ", ".join(files) or str(
            console.nlu.path_of(intent, topic).relative_to(console.nlu.project)
        )
        # Items whose wording is now an example of this intent are done; the others stay open.
        resolved = []
        for group, result in results:
            now_examples = {" ".join(text.casefold().split()) for text in result.added} | {
                " ".join(text.casefold().split())
                for text, why in result.skipped
                if why == f"already an example of {intent}"
            }
            resolved += [
                item["id"]
                for item in group
                if " ".join(clean(redact(item["text"])).casefold().split()) in now_examples
            ]
        with console.store.engine.begin() as connection:
            count = console.store.resolve(
                connection, resolved, schema.ADDED, f"added to {intent} ({relative})"
            )
        message = f"Added {len(added)} example(s) to {intent} in {relative}; {count} question(s) done."
        if skipped:
            message += " Not added: " + "; ".join(f"“{text}” ({why})" for text, why in skipped) + "."
        if added:
            message += " Run make train and restart the servers to apply it (docs/curation.md)."
        return done(session, message, back)

    @app.post("/queue/out-of-scope")
    async def out_of_scope(request: Request) -> HTTPResponse:
        session = logged_in(request)
        form = read_form(request, session)
        back = return_to(form)
        items = open_items(item_ids(form))
        with console.store.engine.begin() as connection:
            count = console.store.resolve(
                connection, [item["id"] for item in items], schema.MARKED_OUT_OF_SCOPE, "marked out of scope"
            )
        return done(session, f"Marked {count} question(s) out of scope.", back)

    @app.post("/queue/new-answer")
    async def new_answer(request: Request) -> HTTPResponse:
        session = logged_in(request)
        form = read_form(request, session)
        back = return_to(form)
        ids = item_ids(form)
        note = clean(redact(single(form, "note", required=False) or ""))
        if len(note) > MAX_NOTE:
            raise Refused(400, f"The note is longer than {MAX_NOTE} characters.")
        items = open_items(ids)
        resolution = f"new answer needed: {note}" if note else "new answer needed"
        with console.store.engine.begin() as connection:
            count = console.store.resolve(
                connection, [item["id"] for item in items], schema.NEW_ANSWER, resolution
            )
        return done(
            session, f"{count} question(s) listed as needing a new answer (Export new answers).", back
        )

    @app.post("/queue/reopen")
    async def reopen(request: Request) -> HTTPResponse:
        session = logged_in(request)
        form = read_form(request, session)
        ids = item_ids(form)
        with console.store.engine.begin() as connection:
            count = console.store.reopen(connection, ids)
        if not count:
            raise Refused(
                409, "None of those can go back to the queue (only out of scope or new answer can)."
            )
        return done(session, f"{count} question(s) back in the queue.")

    return app


STATUS_NAMES = {
    schema.ADDED: "added to training data",
    schema.MARKED_OUT_OF_SCOPE: "out of scope",
    schema.NEW_ANSWER: "new answer needed",
}


def _same(a: str, b: str) -> bool:
    return hmac.compare_digest(a.encode("utf-8", "surrogatepass"), b.encode("utf-8", "surrogatepass"))


def _take_flash(session: Session | None) -> str | None:
    if session is None:
        return None
    message, session.flash = session.flash, None
    return message


def set_cookie(result: HTTPResponse, console: Console, session: Session) -> None:
    result.cookies[COOKIE] = console.sessions.cookie_value(session)
    cookie = result.cookies[COOKIE]
    cookie["httponly"] = True
    cookie["samesite"] = "Strict"
    cookie["path"] = "/"
    cookie["max-age"] = int(session.expires - time.time())
    if console.secure_cookie:
        cookie["secure"] = True


def parse_language(raw: str | None) -> str | None:
    """The queue's language filter: None for every language."""
    if raw is None or raw == "":
        return None
    if raw not in schema.LANGUAGES:
        raise Refused(400, f"language is one of {', '.join(schema.LANGUAGES)}.")
    return raw


def queue_url(language: str | None) -> str:
    return f"/?language={language}" if language else "/"


def translated_languages() -> tuple[str, ...]:
    """The languages with a translation to review: every one but English, the reference."""
    return tuple(language for language in schema.LANGUAGES if language != schema.ENGLISH)


def parse_days(request: Request) -> int:
    raw = request.args.get("days", "30")
    if raw not in {str(choice) for choice in DAY_CHOICES}:
        raise Refused(400, f"days is one of {', '.join(map(str, DAY_CHOICES))}.")
    return int(raw)


def export_new_answers(items: list[dict[str, Any]]) -> str:
    """The questions marked "new answer needed", one entry per curator decision, as YAML."""
    entries: dict[tuple[str, float], dict[str, Any]] = {}
    for item in items:
        decision = (item["resolution"] or "", round(item["resolved_ts"] or 0.0, 3))
        entry = entries.setdefault(
            decision,
            {
                "note": (item["resolution"] or "").removeprefix("new answer needed").lstrip(": ") or None,
                "marked": when(item["resolved_ts"]),
                "asked": 0,
                "last_asked": "",
                "phrasings": [],
                "guesses": sorted({g["intent"] for g in item["guesses"]}),
            },
        )
        entry["asked"] += 1
        entry["last_asked"] = max(entry["last_asked"], when(item["ts"]))
        if item["text"] is not None and redact(item["text"]) not in entry["phrasings"]:
            entry["phrasings"].append(redact(item["text"]))
    header = (
        "# Questions the assistant has no answer for yet, from the operator console's queue.\n"
        f"# Exported {when(time.time())}. Write each answer from the sources (docs/curation.md).\n"
    )
    return header + yaml.safe_dump(
        {"new_answers": list(entries.values())}, sort_keys=False, allow_unicode=True, width=100
    )
