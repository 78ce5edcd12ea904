// Unit tests for the widget in English and Spanish: its words, the "English" / "Español" switch and
// the language it starts in (node --test, DOM from linkedom).
import assert from "node:assert/strict";
import { test } from "node:test";

import { feedbackOf, isStoredFeedback } from "../src/feedback.js";
import { emptyConversation, loadConversation, saveConversation } from "../src/history.js";
import {
  LANGUAGES,
  STRINGS,
  languageOfPayload,
  languagePayload,
  spokenLanguage,
  startLanguage,
  stringsFor,
  withLanguage,
} from "../src/i18n.js";
import { MemoryStorage } from "./memory-storage.js";
import { FEEDBACK_MESSAGE, HELP, openWidget } from "./widget-harness.js";

const sentMessages = (widget) => widget.sent().map(([, data]) => data.message);
const widgetRoot = (root) => root.querySelector(".widget");
const button = (root, text) => [...root.querySelectorAll("button")].find((node) => node.textContent === text);

// The Spanish feedback prompt as the server sends it (channels/feedback.py, content/channel_messages.yml).
const SPANISH_FEEDBACK = {
  feedback: {
    answer: "helps.valium",
    language: "es",
    prompt: "¿Le sirvió esta respuesta?",
    yes: { title: "Sí", payload: '/feedback_yes{"answer":"helps.valium"}' },
    no: { title: "No", payload: '/feedback_no{"answer":"helps.valium"}' },
  },
};
const clone = (value) => JSON.parse(JSON.stringify(value));
// The assistant answers: its reply ends the typing indicator's timer, which would keep node waiting.
const answer = (...widgets) => {
  for (const widget of widgets) widget.socket.receive("bot_uttered", { text: "…" });
};

// --- the string table and the language rules --------------------------------------------------------

test("every language has every string, and the Spanish ones are Spanish", () => {
  for (const language of LANGUAGES) {
    assert.deepEqual(Object.keys(STRINGS[language]).sort(), Object.keys(STRINGS.en).sort(), language);
    for (const [key, text] of Object.entries(STRINGS[language])) assert.ok(text.trim(), `${language}.${key}`);
  }
  // "Chat" is Spanish too; every other word differs from the English one.
  const same = Object.keys(STRINGS.en).filter((key) => STRINGS.en[key] === STRINGS.es[key]);
  assert.deepEqual(same, ["title"]);
  assert.equal(STRINGS.es.input, "Escriba su pregunta");
  assert.equal(STRINGS.es.send, "Enviar");
});

test("the widget starts in the chosen language, else the embed's, else the page's", () => {
  assert.equal(startLanguage({}), "en");
  assert.equal(startLanguage({ page: "en-US" }), "en");
  assert.equal(startLanguage({ page: "es" }), "es");
  assert.equal(startLanguage({ page: "es-MX" }), "es");
  assert.equal(startLanguage({ page: "ES_us" }), "es");
  assert.equal(startLanguage({ page: "fr" }), "en");
  assert.equal(startLanguage({ page: "estonian" }), "en");
  assert.equal(startLanguage({ configured: "es", page: "en" }), "es");
  assert.equal(startLanguage({ configured: "en", page: "es" }), "en");
  assert.equal(startLanguage({ configured: "de", page: "es" }), "es");
  assert.equal(startLanguage({ chosen: "en", configured: "es", page: "es" }), "en");
  assert.equal(startLanguage({ chosen: "xx", configured: "es" }), "es");
});

test("the embed's labels: plain ones are English, labels.es Spanish; a title per language or one", () => {
  const strings = stringsFor({ send: "Go", es: { send: "Ir" } }, { en: "FAQ", es: "Preguntas" });
  assert.equal(strings.en.send, "Go");
  assert.equal(strings.es.send, "Ir");
  assert.equal(strings.es.close, STRINGS.es.close);
  assert.deepEqual([strings.en.title, strings.es.title], ["FAQ", "Preguntas"]);
  const one = stringsFor({}, "Helpdesk");
  assert.deepEqual([one.en.title, one.es.title], ["Helpdesk", "Helpdesk"]);
  const none = stringsFor();
  assert.deepEqual([none.en.title, none.es.title], ["Chat", "Chat"]);
});

test("payloads that set the conversation's language", () => {
  assert.equal(languagePayload("es"), '/help_menu{"language":"es"}');
  assert.equal(languagePayload("en"), '/help_menu{"language":"en"}');
  assert.equal(languageOfPayload('/help_menu{"language":"en"}'), "en");
  assert.equal(languageOfPayload('/greet{"language":"es"}'), "es");
  const others = ["/help_menu", '/help_menu{"language":"fr"}', '/help_menu{"language":', "español", ""];
  for (const other of others) {
    assert.equal(languageOfPayload(other), null, String(other));
  }
  assert.equal(withLanguage("/greet", "es"), '/greet{"language":"es"}');
  assert.equal(
    withLanguage('/ask_med_helps{"medication":"valium"}', "es"),
    '/ask_med_helps{"medication":"valium","language":"es"}',
  );
  assert.equal(withLanguage('/help_menu{"language":"en"}', "es"), '/help_menu{"language":"en"}');
  assert.equal(withLanguage("hola", "es"), "hola");
});

test("a feedback message keeps its language when the widget has words for it", () => {
  assert.equal(feedbackOf(clone(SPANISH_FEEDBACK)).language, "es");
  for (const language of ["fr", "", 1, null, "<x>"]) {
    const message = clone(SPANISH_FEEDBACK);
    message.feedback.language = language;
    assert.equal("language" in feedbackOf(message), false, String(language));
  }
  assert.ok(isStoredFeedback(feedbackOf(clone(SPANISH_FEEDBACK))));
  assert.equal(isStoredFeedback({ ...feedbackOf(clone(SPANISH_FEEDBACK)), language: "<x>" }), false);
});

test("the chosen language is stored with the conversation; a tampered one is refused", () => {
  const storage = new MemoryStorage();
  const conversation = { ...emptyConversation(), language: "es" };
  conversation.messages.push({ from: "user", text: "Español", lang: "es" });
  saveConversation(storage, "k", conversation);
  assert.deepEqual(loadConversation(storage, "k"), conversation);
  assert.equal(emptyConversation().language, undefined, "until the person chooses, the page decides");
  for (const bad of [
    { sessionId: "abcdefgh", messages: [], language: "fr" },
    { sessionId: "abcdefgh", messages: [{ from: "user", text: "x", lang: "<b>" }] },
  ]) {
    storage.setItem("k", JSON.stringify(bad));
    const loaded = loadConversation(storage, "k");
    assert.notEqual(loaded.sessionId, "abcdefgh");
    assert.equal(loaded.language, undefined);
  }
});

// --- the whole widget ----------------------------------------------------------------------------

/** The widget's words a person sees or hears, in the order they appear. */
function words(root) {
  const attribute = (selector, name) => root.querySelector(selector).getAttribute(name);
  return {
    lang: widgetRoot(root).getAttribute("lang"),
    title: root.querySelector("#rw-title").textContent,
    launcher: root.querySelector(".launcher-text").textContent,
    help: [...root.querySelectorAll(".help-button")].map((node) => node.textContent),
    helpTitle: root.querySelector("#rw-help-title").textContent,
    helpLines: [...root.querySelectorAll(".help li")].map((node) => node.textContent),
    close: attribute(".header .icon-button", "aria-label"),
    closeHelp: attribute(".help-head .icon-button", "aria-label"),
    language: attribute(".language-switch", "aria-label"),
    input: [attribute(".input", "aria-label"), attribute(".input", "placeholder")],
    send: root.querySelector(".send").textContent,
    typing: [attribute(".typing", "title"), root.querySelector(".typing .visually-hidden").textContent],
  };
}

const ENGLISH = {
  lang: "en",
  title: "Chat",
  launcher: "Chat",
  help: [HELP.button, HELP.button],
  helpTitle: HELP.title,
  helpLines: HELP.lines,
  close: "Close chat",
  closeHelp: "Close help",
  language: "Language",
  input: ["Type your question", "Type your question"],
  send: "Send",
  typing: ["The assistant is typing", "The assistant is typing"],
};
const SPANISH = {
  lang: "es",
  title: "Chat",
  launcher: "Chat",
  help: [HELP.es.button, HELP.es.button],
  helpTitle: HELP.es.title,
  helpLines: HELP.es.lines,
  close: "Cerrar el chat",
  closeHelp: "Cerrar la ayuda",
  language: "Idioma",
  input: ["Escriba su pregunta", "Escriba su pregunta"],
  send: "Enviar",
  typing: ["El asistente está escribiendo", "El asistente está escribiendo"],
};

function pressed(root) {
  return [...root.querySelectorAll(".language-button")].map((node) => [
    node.textContent,
    node.getAttribute("lang"),
    node.getAttribute("aria-pressed"),
  ]);
}

test("widget: English on an English page, with the switch's names each in its own language", async () => {
  const { root } = await openWidget(undefined, { pageLanguage: "en" });
  assert.deepEqual(words(root), ENGLISH);
  assert.deepEqual(pressed(root), [
    ["English", "en", "true"],
    ["Español", "es", "false"],
  ]);
  assert.equal(root.querySelector(".language-switch").getAttribute("role"), "group");
  // In the header, after the title's row.
  assert.equal(root.querySelector(".language-switch").parentElement.className, "header");
});

test("widget: Spanish on a Spanish page, unless the embed says otherwise", async () => {
  const spanish = await openWidget(undefined, { pageLanguage: "es-MX" });
  assert.deepEqual(words(spanish.root), SPANISH);
  assert.deepEqual(pressed(spanish.root).map(([, , state]) => state), ["false", "true"]);
  const english = await openWidget(undefined, { pageLanguage: "es", config: { language: "en" } });
  assert.deepEqual(words(english.root), ENGLISH);
  const configured = await openWidget(undefined, { pageLanguage: "en", config: { language: "es" } });
  assert.deepEqual(words(configured.root), SPANISH);
});

test("widget: Español switches its words and the assistant, like a quick reply", async () => {
  const widget = await openWidget();
  const { root } = widget;
  widget.socket.receive("bot_uttered", {
    text: "Hi, I'm an automated assistant.",
    buttons: [{ title: "Show all topics", payload: "/help_menu" }],
  });
  button(root, "Español").click();
  assert.deepEqual(words(root), SPANISH);
  assert.deepEqual(pressed(root).map(([, , state]) => state), ["false", "true"]);
  assert.deepEqual(sentMessages(widget), ['/help_menu{"language":"es"}']);
  // The name is the person's message (in its language), the payload is never shown.
  const mine = [...root.querySelectorAll(".message.user")];
  assert.equal(mine.length, 1);
  assert.equal(mine[0].querySelector(".text").textContent, "Español");
  assert.equal(mine[0].querySelector(".text").getAttribute("lang"), "es");
  assert.equal(root.querySelector("[role=log]").textContent.includes("help_menu"), false);
  // The messages' screen-reader labels are Spanish too.
  assert.deepEqual(
    [...root.querySelectorAll(".message > .visually-hidden")].map((node) => node.textContent),
    ["Asistente:", "Usted:"],
  );
  assert.equal(root.querySelector(".typing").hidden, false, "waiting for the Spanish topics");

  widget.socket.receive("bot_uttered", {
    text: "Puedo responder preguntas generales sobre estos temas.",
    buttons: [{ title: "Síntomas de abstinencia", payload: "/ask_withdrawal_symptoms" }],
  });
  assert.equal(root.querySelector(".quick-replies").getAttribute("aria-label"), "Respuestas sugeridas");
  // Pressing the language it already speaks sends nothing.
  button(root, "Español").click();
  assert.equal(sentMessages(widget).length, 1);

  button(root, "English").click();
  assert.deepEqual(words(root), ENGLISH);
  assert.deepEqual(sentMessages(widget), ['/help_menu{"language":"es"}', '/help_menu{"language":"en"}']);
  assert.equal([...root.querySelectorAll(".message.user .text")].at(-1).getAttribute("lang"), "en");
  answer(widget);
});

test("the language a turn ended in: only the bare event, only a language the widget speaks", () => {
  assert.equal(spokenLanguage({ language: "es" }), "es");
  assert.equal(spokenLanguage({ language: "en" }), "en");
  for (const other of [
    { language: "other" },
    { language: "fr" },
    { language: ["es"] },
    { text: "Hola", language: "es" },
    { feedback: {}, language: "es" },
    ["es"],
    "es",
    null,
  ]) {
    assert.equal(spokenLanguage(other), null, JSON.stringify(other));
  }
});

test("widget: a person who writes in Spanish gets the Spanish widget with the Spanish replies", async () => {
  const widget = await openWidget();
  const { root, socket } = widget;
  assert.deepEqual(words(root), ENGLISH);
  // The person typed "español" (or a question in Spanish): the assistant answers in Spanish.
  socket.receive("bot_uttered", { text: "Puedo responder preguntas generales sobre estos temas." });
  assert.deepEqual(words(root), ENGLISH, "the widget waits for the turn's end");
  socket.receive("bot_uttered", { language: "es" });
  assert.deepEqual(words(root), SPANISH);
  assert.equal(root.querySelectorAll(".message").length, 1, "the event draws nothing");
  // Kept with the conversation, as the switch's choice is; another language leaves it as it is.
  socket.receive("bot_uttered", { language: "other" });
  assert.deepEqual(words(root), SPANISH);
  const reloaded = await openWidget(widget.storage);
  assert.deepEqual(words(reloaded.root), SPANISH);
  socket.receive("bot_uttered", { text: "Hello again." });
  socket.receive("bot_uttered", { language: "en" });
  assert.deepEqual(words(root), ENGLISH);
  answer(widget, reloaded);
});

test("widget: the choice survives a reload, whatever the page's language", async () => {
  const first = await openWidget(undefined, { pageLanguage: "en" });
  button(first.root, "Español").click();
  const reloaded = await openWidget(first.storage, { pageLanguage: "en" });
  assert.deepEqual(words(reloaded.root), SPANISH);
  assert.equal(reloaded.root.querySelector(".message.user .text").textContent, "Español");
  assert.deepEqual(sentMessages(reloaded), [], "nothing sent again on a reload");
  button(reloaded.root, "English").click();
  const again = await openWidget(first.storage, { pageLanguage: "es" });
  assert.deepEqual(words(again.root), ENGLISH);
  answer(first, reloaded);
});

test("widget: a status line is re-worded by a switch", async () => {
  const widget = await openWidget();
  const { root, socket } = widget;
  socket.receive("disconnect", "transport close");
  assert.equal(root.querySelector(".status").textContent, "Connection lost. Reconnecting…");
  button(root, "Español").click();
  assert.equal(root.querySelector(".status").textContent, "Se perdió la conexión. Reconectando…");
  answer(widget);
});

test("widget: a Spanish page's first payload tells the assistant; English is sent as it is", async () => {
  const spanish = await openWidget(undefined, { pageLanguage: "es", config: { initPayload: "/greet" } });
  assert.deepEqual(sentMessages(spanish), ['/greet{"language":"es"}']);
  const english = await openWidget(undefined, { pageLanguage: "en", config: { initPayload: "/greet" } });
  assert.deepEqual(sentMessages(english), ["/greet"]);
  answer(spanish, english);
});

test("widget: a greeting per language is shown in the widget's language", async () => {
  const greeting = { en: "Welcome.", es: "Le damos la bienvenida." };
  const { root } = await openWidget(undefined, { pageLanguage: "es", config: { greeting } });
  const text = root.querySelector(".message.bot .text");
  assert.deepEqual([text.textContent, text.getAttribute("lang")], ["Le damos la bienvenida.", "es"]);
});

test("widget: a quick reply that changes the language switches the widget too", async () => {
  const widget = await openWidget(undefined, { config: { language: "es" } });
  widget.socket.receive("bot_uttered", {
    text: "Lo siento, no puedo ayudarle con eso.",
    buttons: [{ title: "Continue in English", payload: '/help_menu{"language":"en"}' }],
  });
  button(widget.root, "Continue in English").click();
  assert.deepEqual(words(widget.root), ENGLISH);
  assert.deepEqual(sentMessages(widget), ['/help_menu{"language":"en"}']);
  assert.equal(widget.root.querySelector(".message.user .text").textContent, "Continue in English");
  const reloaded = await openWidget(widget.storage, { config: { language: "es" } });
  assert.deepEqual(words(reloaded.root), ENGLISH, "a choice, remembered like the switch's");
  answer(widget);
});

test("widget: a Spanish feedback prompt has Spanish words around it, in an English widget too", async () => {
  const widget = await openWidget();
  const { root, socket } = widget;
  socket.receive("bot_uttered", { text: "El Valium puede aliviar algunos síntomas." });
  socket.receive("bot_uttered", clone(SPANISH_FEEDBACK));
  const control = root.querySelector(".feedback");
  assert.equal(control.getAttribute("lang"), "es");
  assert.equal(control.getAttribute("aria-label"), "¿Le fue útil esta respuesta?");
  assert.equal(control.querySelector(".feedback-prompt").textContent, "¿Le sirvió esta respuesta?");
  button(root, "Sí").click();
  assert.equal(control.querySelector("[role=status]").textContent, "Gracias por su opinión.");
  // Its words are the answer's language, not the widget's: a switch leaves them.
  button(root, "Español").click();
  button(root, "English").click();
  assert.equal(control.getAttribute("aria-label"), "¿Le fue útil esta respuesta?");
  assert.equal(control.querySelector("[role=status]").textContent, "Gracias por su opinión.");
  answer(widget);
});

test("widget: a feedback prompt without a language follows the widget's", async () => {
  const widget = await openWidget();
  const { root, socket } = widget;
  socket.receive("bot_uttered", { text: "Valium may ease some symptoms." });
  socket.receive("bot_uttered", clone(FEEDBACK_MESSAGE));
  const control = root.querySelector(".feedback");
  assert.equal(control.hasAttribute("lang"), false);
  button(root, "Yes").click();
  button(root, "Español").click();
  assert.equal(control.getAttribute("aria-label"), "¿Le fue útil esta respuesta?");
  assert.equal(control.querySelector("[role=status]").textContent, "Gracias por su opinión.");
  answer(widget);
});
