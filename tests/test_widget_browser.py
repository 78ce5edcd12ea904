"""The website widget in a real browser (Debian's Chromium via Playwright) against the real servers.

Screenshots go to results/screenshots/ for a person to look at.
"""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Iterator
from contextlib import ExitStack
from pathlib import Path
from typing import Any

import pytest
import requests
import sqlalchemy as sa
import yaml
from playwright.sync_api import expect, sync_playwright
from servers import ROOT, SHIPPED_WORKERS, Servers, free_port, running_servers, shipped_storage

from insights import schema
from scripts.build_widget_help import help_content, resource_values
from scripts.serve_widget_demo import WIDGET_JS, DemoServer

pytestmark = [pytest.mark.server, pytest.mark.browser]

CHROMIUM = Path("/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-background-networking",
    "--disable-gpu",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]
SCREENSHOTS = ROOT / "results" / "screenshots"
TITLE = "Withdrawal & benzos FAQ"  # widget/demo/index.html
TITLE_ES = "Abstinencia y benzos"
REPLY_TIMEOUT_MS = 60_000
FEEDBACK_GROUP = "Was this answer helpful?"  # the control's label (widget/src/i18n.js)
FEEDBACK_GROUP_ES = "¿Le fue útil esta respuesta?"
AXE = ROOT / "widget" / "node_modules" / "axe-core" / "axe.min.js"  # pinned in widget/package-lock.json
DESKTOP = {"width": 1280, "height": 800}
PHONE = {"width": 360, "height": 740}


class Site:
    """The action and Rasa servers (CORS for the demo origin only) and the demo page, restartable."""

    def __init__(self, workdir: Path) -> None:
        self.workdir = workdir
        self.demo_port, self.rasa_port = free_port(), free_port()
        self.origin = f"http://127.0.0.1:{self.demo_port}"
        self.stack = ExitStack()
        self.servers = self._start_servers()
        self.demo = DemoServer(("127.0.0.1", self.demo_port), self.servers.rasa_url)
        threading.Thread(target=self.demo.serve_forever, daemon=True).start()

    def _start_servers(self) -> Servers:
        return self.stack.enter_context(
            # As `make run` serves it: SQLite stores and as many workers (the widget's WebSocket
            # stays with one of them).
            running_servers(
                self.workdir,
                shipped_storage(self.workdir),
                rasa_port=self.rasa_port,
                rasa_args=["--cors", self.origin],
                extra_env={"WIDGET_ORIGIN": self.origin, "SANIC_WORKERS": SHIPPED_WORKERS},
            )
        )

    def stop_servers(self) -> None:
        self.stack.close()

    def start_servers(self) -> None:
        self.stack = ExitStack()
        self.servers = self._start_servers()

    def close(self) -> None:
        self.demo.shutdown()
        self.demo.server_close()
        self.stack.close()


@pytest.fixture(scope="module")
def site(model, tmp_path_factory) -> Iterator[Site]:
    if not WIDGET_JS.exists():
        pytest.fail(f"{WIDGET_JS} is missing: run `make widget` (make test does)")
    running = Site(tmp_path_factory.mktemp("widget"))
    try:
        yield running
    finally:
        running.close()


@pytest.fixture(scope="module")
def browser() -> Iterator[Any]:
    if not CHROMIUM.exists():
        pytest.fail(f"{CHROMIUM} is missing: run `make chromium` (make test does)")
    with sync_playwright() as playwright:
        chromium = playwright.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)
        yield chromium
        chromium.close()


class Page:
    """One browser tab on the demo page, with what it said to the console and in dialogs."""

    def __init__(
        self, browser: Any, site: Site, viewport: dict[str, int], init_script: str = "", **options: Any
    ) -> None:
        self.context = browser.new_context(viewport=viewport, **options)
        self.context.set_default_timeout(15_000)
        if init_script:
            self.context.add_init_script(init_script)
        self.page = self.context.new_page()
        self.dialogs: list[str] = []
        self.errors: list[str] = []
        self.websockets: list[str] = []
        self.page.on("dialog", self._on_dialog)
        self.page.on("websocket", lambda socket: self.websockets.append(socket.url))
        self.page.on("pageerror", lambda error: self.errors.append(str(error)))
        self.page.goto(site.origin + "/")

    def _on_dialog(self, dialog: Any) -> None:
        self.dialogs.append(dialog.message)
        dialog.dismiss()

    @property
    def log(self) -> Any:
        return self.page.get_by_role("log")

    def bot_messages(self) -> Any:
        return self.page.locator(".message.bot")

    def open_chat(self) -> None:
        self.page.get_by_role("button", name=TITLE).click()
        # The assistant's own greeting (initPayload /greet) ends with its first quick replies.
        expect(self.page.get_by_role("group", name="Suggested replies")).to_be_visible(
            timeout=REPLY_TIMEOUT_MS
        )

    def ask(self, text: str, textbox: str = "Type your question") -> None:
        replies_before = self.bot_messages().count()
        self.page.get_by_role("textbox", name=textbox).fill(text)
        self.page.keyboard.press("Enter")
        expect(self.bot_messages()).not_to_have_count(replies_before, timeout=REPLY_TIMEOUT_MS)

    def session_id(self) -> str:
        (stored,) = self.page.evaluate("Object.values(sessionStorage)")
        return json.loads(stored)["sessionId"]

    def screenshot(self, name: str) -> None:
        SCREENSHOTS.mkdir(parents=True, exist_ok=True)
        self.page.screenshot(path=str(SCREENSHOTS / f"{name}.png"))

    def close(self) -> None:
        self.context.close()


@pytest.fixture
def desktop(browser, site) -> Iterator[Page]:
    tab = Page(browser, site, DESKTOP)
    yield tab
    tab.close()
    assert not tab.errors, tab.errors


@pytest.fixture
def phone(browser, site) -> Iterator[Page]:
    tab = Page(browser, site, PHONE, is_mobile=True, has_touch=True, device_scale_factor=2)
    yield tab
    tab.close()
    assert not tab.errors, tab.errors


def answer_start(question: str, medication: str, language: str = "en") -> str:
    """The first words of a curated answer, from the content file the action server uses."""
    name = "medication_answers.yml" if language == "en" else f"medication_answers_{language}.yml"
    answers = load_yaml(ROOT / "content" / name)
    return answers["answers"][question][medication]["text"].split(",")[0]


def load_yaml(path: Path) -> Any:
    return yaml.safe_load(path.read_text(encoding="utf-8"))


def resources() -> dict[str, str]:
    return resource_values(load_yaml(ROOT / "domain.yml"))


def expected_help() -> dict[str, Any]:
    """What the help panel must show: built from domain.yml as `make widget` does."""
    panel = load_yaml(ROOT / "widget" / "help_panel.yml")
    return help_content(load_yaml(ROOT / "domain.yml"), panel)


def test_sourced_answer_typing_indicator_and_quick_reply(desktop: Page):
    page = desktop.page
    desktop.open_chat()
    expect(desktop.log).to_contain_text("not medical advice")
    # Record whether the typing indicator ever shows, however fast the reply comes.
    page.evaluate(
        """() => {
          const typing = document.querySelector('[data-rasa-widget]').shadowRoot.querySelector('.typing');
          window.typingShown = false;
          new MutationObserver(() => { if (!typing.hidden) window.typingShown = true; })
            .observe(typing, { attributes: true });
        }"""
    )

    desktop.ask("does valium help with withdrawal")
    expect(desktop.log).to_contain_text(answer_start("helps", "valium"))
    expect(desktop.log).to_contain_text("Source: " + resources()["source_valium"])
    assert page.evaluate("window.typingShown") is True
    # socket.io-client 4 and Rasa's python-socketio 5 agree on the protocol: long-polling, then
    # the upgrade to a WebSocket.
    assert any("/socket.io/" in url and "transport=websocket" in url for url in desktop.websockets)
    expect(page.locator(".typing")).to_be_hidden()
    desktop.screenshot("desktop-answer")

    replies = page.get_by_role("group", name="Suggested replies")
    replies.get_by_role("button", name="What are the risks?").click()
    # The title is shown as the person's message, the payload answered by the assistant.
    expect(page.locator(".message.user .text").last).to_have_text("What are the risks?")
    expect(desktop.log).not_to_contain_text('ask_med_risks{"medication":"valium"}')
    expect(desktop.log).to_contain_text(answer_start("risks", "valium"), timeout=REPLY_TIMEOUT_MS)
    expect(replies.get_by_role("button", name="What are the risks?")).to_have_count(0)
    desktop.screenshot("desktop-quick-reply")


def test_history_survives_a_reload_in_session_storage_only(desktop: Page):
    page = desktop.page
    desktop.open_chat()
    desktop.ask("does valium help with withdrawal")
    expect(desktop.log).to_contain_text("Source:")
    # The answer's "Was this helpful?" comes as a message of its own: both views are to have it.
    expect(page.get_by_role("group", name=FEEDBACK_GROUP)).to_have_count(1)
    before = desktop.log.inner_text()

    page.reload()
    expect(desktop.log).to_be_visible()  # the panel stays open
    assert desktop.log.inner_text() == before
    stored = page.evaluate("Object.keys(sessionStorage)")
    assert len(stored) == 1 and stored[0].startswith("rasa-widget:")
    assert page.evaluate("localStorage.length") == 0

    # Same session on the server too: "its" still means Valium.
    desktop.ask("what are its risks?")
    expect(desktop.log).to_contain_text(answer_start("risks", "valium"))
    # A new tab is a new, empty conversation.
    other = desktop.context.new_page()
    other.goto(page.url)
    assert other.evaluate("sessionStorage.length") == 0


def test_get_help_now_without_typing(desktop: Page):
    page = desktop.page
    help_button = page.get_by_role("button", name="Get help now")
    expect(help_button).to_be_visible()
    help_button.click()

    panel = page.get_by_role("region", name=expected_help()["title"])
    expect(panel).to_be_visible()
    items = panel.get_by_role("listitem")
    expect(items).to_have_text(expected_help()["lines"])
    links = {link.inner_text(): link.get_attribute("href") for link in panel.get_by_role("link").all()}
    assert links["911"] == "tel:911"
    assert links["988"] == "tel:988"
    assert links["1-800-222-1222"] == "tel:+18002221222"
    assert links["1-800-662-HELP (4357)"] == "tel:+18006624357"
    assert links["FindTreatment.gov"] == "https://FindTreatment.gov"
    desktop.screenshot("desktop-help")

    page.keyboard.press("Escape")
    expect(panel).to_be_hidden()
    expect(help_button).to_be_focused()


def test_markup_in_a_message_is_shown_as_text(desktop: Page):
    page = desktop.page
    desktop.open_chat()
    hostile = "<img src=x onerror=alert(1)>"
    desktop.ask(hostile)
    expect(page.locator(".message.user .text").last).to_have_text(hostile)
    assert page.locator("[data-rasa-widget] img").count() == 0
    page.wait_for_timeout(500)
    assert desktop.dialogs == []


def test_markup_in_assistant_text_is_shown_as_text(browser, site: Site):
    # The page's greeting is drawn as an assistant message, by the same code as Rasa's replies.
    hostile = '<img src=x onerror=alert(1)><a href="javascript:alert(2)">link</a>'
    with_hostile_greeting = (
        "Object.defineProperty(window, 'rasaWidgetConfig', {configurable: true,"
        f" set(config) {{ this.hostileConfig = {{...config, greeting: {hostile!r}}}; }},"
        " get() { return this.hostileConfig; }});"
    )
    tab = Page(browser, site, DESKTOP, init_script=with_hostile_greeting)
    try:
        tab.open_chat()
        expect(tab.page.locator(".message.bot .text").first).to_have_text(hostile)
        assert tab.page.locator("[data-rasa-widget] img").count() == 0
        assert tab.page.locator("[data-rasa-widget] a[href^='javascript']").count() == 0
        tab.page.wait_for_timeout(500)
        assert tab.dialogs == [] and tab.errors == []
    finally:
        tab.close()


def test_keyboard_only_and_live_region(desktop: Page):
    page = desktop.page
    log = page.get_by_role("log")
    # Tab order from the top of the page: the demo page has no other controls.
    page.keyboard.press("Tab")
    expect(page.get_by_role("button", name="Get help now")).to_be_focused()
    page.keyboard.press("Tab")
    launcher = page.get_by_role("button", name=TITLE)
    expect(launcher).to_be_focused()
    page.keyboard.press("Enter")
    expect(launcher).to_have_attribute("aria-expanded", "true")
    expect(log).to_have_attribute("aria-live", "polite")
    expect(page.get_by_role("textbox", name="Type your question")).to_be_focused()
    expect(page.get_by_role("group", name="Suggested replies")).to_be_visible(timeout=REPLY_TIMEOUT_MS)

    page.keyboard.type("does valium help with withdrawal")
    page.keyboard.press("Enter")
    expect(log).to_contain_text("Source:", timeout=REPLY_TIMEOUT_MS)

    # Back from the input to the last quick reply, and press it.
    page.keyboard.press("Shift+Tab")
    focused = page.evaluate(
        "document.querySelector('[data-rasa-widget]').shadowRoot.activeElement?.textContent ?? ''"
    )
    assert focused == "Is it safe with opioids?"
    page.keyboard.press("Enter")
    expect(page.locator(".message.user .text").last).to_have_text("Is it safe with opioids?")
    expect(page.get_by_role("textbox", name="Type your question")).to_be_focused()

    page.keyboard.press("Escape")
    expect(log).to_be_hidden()
    expect(launcher).to_be_focused()


def test_phone_layout(phone: Page):
    page = phone.page
    phone.screenshot("phone-closed")
    assert page.evaluate("document.documentElement.scrollWidth") <= PHONE["width"]
    for name in ("Get help now", TITLE):
        box = page.get_by_role("button", name=name).bounding_box()
        assert box and box["x"] >= 0 and box["x"] + box["width"] <= PHONE["width"], (name, box)
        assert box["height"] >= 44, (name, box)  # a finger-sized target

    phone.open_chat()
    phone.ask("does valium help with withdrawal")
    expect(phone.log).to_contain_text("Source:")
    panel = page.locator(".panel")
    assert panel.bounding_box() == {"x": 0, "y": 0, "width": PHONE["width"], "height": PHONE["height"]}
    for control in (
        page.get_by_role("textbox", name="Type your question"),
        page.get_by_role("button", name="Send"),
    ):
        box = control.bounding_box()
        assert box and box["x"] >= 0 and box["x"] + box["width"] <= PHONE["width"]
        assert box["y"] + box["height"] <= PHONE["height"]
    assert page.evaluate("document.documentElement.scrollWidth") <= PHONE["width"]
    phone.screenshot("phone-answer")

    page.get_by_role("button", name="Get help now").click()
    expect(page.get_by_role("region", name=expected_help()["title"])).to_be_in_viewport(ratio=1)
    phone.screenshot("phone-help")


def queue_items(site: Site, session_id: str) -> list[dict[str, Any]]:
    """This conversation's items in the unanswered-questions queue of the test servers' database."""
    config = yaml.safe_load(shipped_storage(site.workdir))["tracker_store"]
    engine = sa.create_engine(f"sqlite:///{config['db']}")
    try:
        with engine.connect() as connection:
            query = schema.queue.select().where(
                schema.queue.c.conversation == schema.conversation_key(session_id)
            )
            return [dict(row._mapping) for row in connection.execute(query)]
    except sa.exc.OperationalError:  # no table yet
        return []
    finally:
        engine.dispose()


def wait_for_queue_item(site: Site, session_id: str, done: Any, timeout: float = 15) -> dict[str, Any]:
    """The conversation's not_helpful item once `done(item)` holds (written when Rasa saves the turn)."""
    deadline = time.monotonic() + timeout
    while True:
        items = [item for item in queue_items(site, session_id) if item["reason"] == "not_helpful"]
        if items and done(items[-1]):
            return items[-1]
        if time.monotonic() > deadline:
            pytest.fail(f"no finished not_helpful queue item for this conversation: {items}")
        time.sleep(0.25)


def utter_text(response: str) -> str:
    variations = load_yaml(ROOT / "domain.yml")["responses"][response]
    return next(v["text"] for v in variations if "condition" not in v)  # the English one


def spanish_variation(response: str) -> dict[str, Any]:
    """A response's Spanish variation in domain.yml (its condition: slot language = es)."""
    variations = load_yaml(ROOT / "domain.yml")["responses"][response]
    spanish = {"type": "slot", "name": "language", "value": "es"}
    return next(v for v in variations if spanish in v.get("condition", []))


def test_feedback_no_puts_the_answer_in_the_queue(desktop: Page, site: Site):
    page = desktop.page
    desktop.open_chat()
    question = "does valium help with withdrawal"
    desktop.ask(question)
    expect(desktop.log).to_contain_text(answer_start("helps", "valium"))

    # The control right under the answer (after its last message, the source), once; not a bubble.
    feedback = page.get_by_role("group", name=FEEDBACK_GROUP)
    expect(feedback).to_have_count(1, timeout=REPLY_TIMEOUT_MS)
    expect(page.locator(".message.bot:has(+ .feedback)")).to_contain_text(
        "Source: " + resources()["source_valium"]
    )
    expect(page.locator(".message.bot:has(+ .feedback)")).to_have_count(1)
    expect(feedback).to_contain_text("Was this helpful?")
    desktop.screenshot("desktop-feedback")
    bubbles = page.locator(".message").count()

    feedback.get_by_role("button", name="No").click()
    expect(feedback.get_by_role("status")).to_have_text("Thanks for your feedback.")
    expect(feedback.get_by_role("button")).to_have_count(0)
    follow_up = utter_text("utter_feedback_no").split("?")[0]
    expect(desktop.log).to_contain_text(follow_up, timeout=REPLY_TIMEOUT_MS)
    # The payload went to the server without a bubble of its own: one new message, the assistant's.
    expect(page.locator(".message")).to_have_count(bubbles + 1)
    expect(page.locator(".message.user")).to_have_count(1)
    expect(desktop.log).not_to_contain_text("feedback_no")
    desktop.screenshot("desktop-feedback-no")

    session_id = desktop.session_id()
    item = wait_for_queue_item(site, session_id, lambda item: True)
    assert (item["answer"], item["text"], item["status"]) == ("helps.valium", question, "open")
    assert item["channel"] == "socketio"

    # What they were looking for: answered as usual and kept as the item's comment.
    comment = "how long does valium withdrawal last"
    desktop.ask(comment)
    item = wait_for_queue_item(site, session_id, lambda item: item["comment"] is not None)
    assert item["comment"] == comment

    # Answered stays answered after a reload restores the conversation.
    page.reload()
    answered = page.get_by_role("group", name=FEEDBACK_GROUP).first
    expect(answered.get_by_role("status")).to_have_text("Thanks for your feedback.")
    expect(answered.get_by_role("button")).to_have_count(0)


def test_feedback_control_on_a_phone(phone: Page):
    page = phone.page
    phone.open_chat()
    phone.ask("does valium help with withdrawal")
    feedback = page.get_by_role("group", name=FEEDBACK_GROUP)
    expect(feedback).to_have_count(1, timeout=REPLY_TIMEOUT_MS)
    feedback.scroll_into_view_if_needed()
    for name in ("Yes", "No"):
        box = feedback.get_by_role("button", name=name).bounding_box()
        assert box and box["x"] >= 0 and box["x"] + box["width"] <= PHONE["width"], (name, box)
        assert box["height"] >= 44, (name, box)  # a finger-sized target
    assert page.evaluate("document.documentElement.scrollWidth") <= PHONE["width"]
    phone.screenshot("phone-feedback")
    # Keyboard too: focus Yes and press Enter.
    feedback.get_by_role("button", name="Yes").focus()
    page.keyboard.press("Enter")
    expect(feedback.get_by_role("status")).to_have_text("Thanks for your feedback.")
    expect(page.get_by_role("textbox", name="Type your question")).to_be_focused()


def axe_violations(page: Any) -> list[dict[str, Any]]:
    """axe-core's WCAG 2.x A/AA violations in the widget (its shadow root included)."""
    page.evaluate(AXE.read_text(encoding="utf-8"))  # DevTools' evaluate: the page's CSP allows it
    return page.evaluate(
        """async () => {
          const tags = ['wcag2a', 'wcag2aa', 'wcag21a', 'wcag21aa', 'wcag22aa'];
          const result = await axe.run(
            { include: [['[data-rasa-widget]']] }, { runOnly: { type: 'tag', values: tags } },
          );
          return result.violations.map(({ id, nodes }) => ({ id, nodes: nodes.map((node) => node.target) }));
        }"""
    )


def test_spanish_widget_on_a_phone(phone: Page):
    """Español in the header: the widget's words, its lang, the assistant's answers and the help panel."""
    page = phone.page
    phone.open_chat()
    page.get_by_role("button", name="Español", exact=True).click()
    widget = page.locator("[data-rasa-widget] .widget")
    expect(widget).to_have_attribute("lang", "es")
    expect(page.get_by_role("button", name="Español", exact=True)).to_have_attribute("aria-pressed", "true")
    expect(page.get_by_role("button", name="English", exact=True)).to_have_attribute("aria-pressed", "false")
    expect(page.get_by_role("group", name="Idioma")).to_be_visible()
    expect(page.get_by_role("heading", name=TITLE_ES)).to_be_visible()
    expect(page.get_by_role("textbox", name="Escriba su pregunta")).to_have_attribute(
        "placeholder", "Escriba su pregunta"
    )
    expect(page.get_by_role("button", name="Enviar")).to_be_visible()
    expect(page.get_by_role("button", name="Cerrar el chat")).to_be_visible()
    help_es = expected_help()["es"]
    expect(page.get_by_role("button", name=help_es["button"])).to_be_visible()
    # The name is the person's message; the assistant answers the payload with the Spanish topics.
    expect(page.locator(".message.user .text").last).to_have_text("Español")
    expect(phone.log).not_to_contain_text("help_menu")
    menu = spanish_variation("utter_help_menu")["buttons"][0]["title"]
    expect(page.get_by_role("group", name="Respuestas sugeridas")).to_contain_text(
        menu, timeout=REPLY_TIMEOUT_MS
    )

    phone.ask("¿el valium ayuda con la abstinencia?", textbox="Escriba su pregunta")
    expect(phone.log).to_contain_text(answer_start("helps", "valium", "es"), timeout=REPLY_TIMEOUT_MS)
    expect(phone.log).to_contain_text("Fuente (artículo en inglés)")
    expect(phone.log).not_to_contain_text("Source:")
    # The server's Spanish "Was this helpful?", with the widget's own words around it in Spanish.
    feedback = page.get_by_role("group", name=FEEDBACK_GROUP_ES)
    expect(feedback).to_have_count(1, timeout=REPLY_TIMEOUT_MS)
    expect(feedback).to_have_attribute("lang", "es")
    expect(feedback.get_by_role("button", name="Sí")).to_be_visible()
    assert axe_violations(page) == []
    assert page.evaluate("document.documentElement.scrollWidth") <= PHONE["width"]
    # For the README: the question at the top, the answer under it; phone-sized in CSS pixels.
    page.locator(".body").evaluate(
        """body => {
          const question = [...body.querySelectorAll('.message.user')].at(-1);
          body.scrollTop += question.getBoundingClientRect().top - body.getBoundingClientRect().top - 8;
        }"""
    )
    page.locator(".input").evaluate("node => node.blur()")
    # docs/widget-es.png (README) is a copy of this one, taken by hand: a test run leaves docs/ alone.
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(SCREENSHOTS / "phone-es-answer.png"), scale="css")

    page.get_by_role("button", name=help_es["button"]).click()
    panel = page.get_by_role("region", name=help_es["title"])
    expect(panel).to_be_in_viewport(ratio=1)
    expect(panel.get_by_role("listitem")).to_have_text(help_es["lines"])
    for words in ("marque 2", "AYUDA", "1-800-662-HELP (4357)"):
        expect(panel).to_contain_text(words)
    links = {link.inner_text(): link.get_attribute("href") for link in panel.get_by_role("link").all()}
    assert links["1-800-662-HELP (4357)"] == "tel:+18006624357"
    assert links["988"] == "tel:988"
    expect(page.get_by_role("button", name="Cerrar la ayuda")).to_be_visible()
    assert axe_violations(page) == []
    phone.screenshot("phone-es-help")

    # The choice is kept with the conversation: a reload speaks Spanish still.
    page.reload()
    expect(widget).to_have_attribute("lang", "es")
    expect(page.get_by_role("textbox", name="Escriba su pregunta")).to_be_visible()


def test_a_question_typed_in_spanish_turns_the_widget_spanish(phone: Page):
    """No switch pressed: the assistant answers a Spanish question in Spanish, and the widget's own
    words follow it (the turn's `{"language": "es"}`), kept over a reload."""
    page = phone.page
    phone.open_chat()
    widget = page.locator("[data-rasa-widget] .widget")
    expect(widget).to_have_attribute("lang", "en")
    phone.ask("hola, ¿el valium ayuda con la abstinencia de la heroína?")
    expect(phone.log).to_contain_text(answer_start("helps", "valium", "es"), timeout=REPLY_TIMEOUT_MS)
    expect(widget).to_have_attribute("lang", "es", timeout=REPLY_TIMEOUT_MS)
    expect(page.get_by_role("textbox", name="Escriba su pregunta")).to_be_visible()
    expect(page.get_by_role("button", name="Español", exact=True)).to_have_attribute("aria-pressed", "true")
    expect(page.get_by_role("button", name=expected_help()["es"]["button"])).to_be_visible()
    assert axe_violations(page) == []
    page.reload()
    expect(widget).to_have_attribute("lang", "es")


def test_cors_allows_the_widget_origin_only(site: Site):
    url = f"{site.servers.rasa_url}/socket.io/?EIO=4&transport=polling"
    allowed = requests.get(url, headers={"Origin": site.origin}, timeout=10)
    assert allowed.headers.get("Access-Control-Allow-Origin") == site.origin
    other = requests.get(url, headers={"Origin": "http://127.0.0.1:1"}, timeout=10)
    assert "Access-Control-Allow-Origin" not in other.headers


def test_reconnects_after_a_server_restart(desktop: Page, site: Site):
    """Last in this module: it restarts the servers."""
    page = desktop.page
    desktop.open_chat()
    status = page.get_by_role("status")

    site.stop_servers()
    expect(status).to_have_text("Connection lost. Reconnecting…", timeout=30_000)
    site.start_servers()
    expect(status).to_be_hidden(timeout=30_000)
    desktop.ask("does valium help with withdrawal")
    expect(desktop.log).to_contain_text("Source:")
    desktop.screenshot("desktop-after-restart")
