// The chat widget: a launcher, a chat panel and a "Get help now" panel in a shadow root, talking to
// Rasa's socket.io channel. Message text only ever reaches the page as text nodes and <a> elements
// built here (never innerHTML), so a message cannot inject markup. Its own words are in English or
// Spanish (i18n.js); "English" / "Español" in its header switches them and the assistant together.

import { io } from "socket.io-client";

import help from "../build/help.json";
import { attachFeedback, feedbackControl, feedbackOf, relabelFeedback } from "./feedback.js";
import { loadConversation, saveConversation } from "./history.js";
import {
  LANGUAGE_NAMES,
  LANGUAGES,
  languageOfPayload,
  languagePayload,
  localized,
  spokenLanguage,
  startLanguage,
  stringsFor,
  withLanguage,
} from "./i18n.js";
import { linkify } from "./linkify.js";
import styles from "./styles.css";

// `title` and `greeting` are a string or one per language ({en: "...", es: "..."}); `language` is
// "en" or "es" (default: the page's <html lang>); `labels` overrides the words in i18n.js.
const DEFAULTS = {
  serverUrl: "",
  socketPath: "/socket.io",
  title: undefined,
  greeting: "",
  initPayload: "",
  language: undefined,
  startOpen: false,
  storageKey: "rasa-widget",
  colors: {},
  labels: {},
};

// Configurable colours, as CSS custom properties on the host element (see styles.css).
const COLOR_PROPERTIES = {
  primary: "--rw-primary",
  onPrimary: "--rw-on-primary",
  help: "--rw-help",
  onHelp: "--rw-on-help",
  userBubble: "--rw-user-bubble",
  onUserBubble: "--rw-on-user-bubble",
  botBubble: "--rw-bot-bubble",
  onBotBubble: "--rw-on-bot-bubble",
  background: "--rw-background",
};

// A reply that never comes (action server down, lost message) must not leave the dots forever.
const TYPING_TIMEOUT_MS = 30000;
const MAX_INPUT_LENGTH = 500;

function element(tag, attributes = {}, children = []) {
  const node = document.createElement(tag);
  for (const [name, value] of Object.entries(attributes)) {
    if (name === "text") node.textContent = value;
    else if (value !== false && value !== undefined) node.setAttribute(name, value === true ? "" : value);
  }
  for (const child of children) node.append(child);
  return node;
}

// A speech bubble drawn as SVG: emoji fonts are missing on many systems.
function chatIcon() {
  const ns = "http://www.w3.org/2000/svg";
  const svg = document.createElementNS(ns, "svg");
  svg.setAttribute("viewBox", "0 0 24 24");
  svg.setAttribute("width", "20");
  svg.setAttribute("height", "20");
  svg.setAttribute("aria-hidden", "true");
  svg.setAttribute("focusable", "false");
  const path = document.createElementNS(ns, "path");
  path.setAttribute("fill", "currentColor");
  path.setAttribute("d", "M4 3h16a2 2 0 0 1 2 2v11a2 2 0 0 1-2 2H9l-5 4v-4a2 2 0 0 1-2-2V5a2 2 0 0 1 2-2z");
  svg.append(path);
  return svg;
}

/** The "Get help now" content in `language`: help.json has English at its top, other languages under
 * their code (scripts/build_widget_help.py). */
function helpIn(language) {
  const own = help[language];
  return own && typeof own === "object" && Array.isArray(own.lines) ? own : help;
}

/** Text with links and phone numbers made clickable, as DOM nodes. */
function richText(text) {
  const fragment = document.createDocumentFragment();
  for (const piece of linkify(text, help.shortCodes)) {
    if (piece.type === "text") {
      fragment.append(document.createTextNode(piece.text));
    } else {
      const external = !piece.href.startsWith("tel:");
      fragment.append(
        element("a", {
          href: piece.href,
          text: piece.text,
          target: external ? "_blank" : undefined,
          rel: external ? "noopener noreferrer" : undefined,
        }),
      );
    }
  }
  return fragment;
}

function quickRepliesOf(message) {
  const replies = Array.isArray(message.quick_replies) ? message.quick_replies : message.buttons;
  if (!Array.isArray(replies)) return [];
  return replies
    .filter((reply) => reply && typeof reply.title === "string" && typeof reply.payload === "string")
    .map((reply) => ({ title: reply.title, payload: reply.payload }));
}

export function createWidget(userConfig) {
  const config = {
    ...DEFAULTS,
    ...userConfig,
    labels: { ...(userConfig.labels || {}) },
    colors: { ...(userConfig.colors || {}) },
  };
  if (!config.serverUrl) throw new Error("rasa widget: serverUrl is required");
  const storageKey = `${config.storageKey}:${config.serverUrl}`;
  const storage = window.sessionStorage;
  const conversation = loadConversation(storage, storageKey);
  const allLabels = stringsFor(config.labels, config.title);
  let language = startLanguage({
    chosen: conversation.language,
    configured: config.language,
    page: document.documentElement && document.documentElement.getAttribute("lang"),
  });
  let labels = allLabels[language];

  const host = element("div", { "data-rasa-widget": "" });
  for (const [name, property] of Object.entries(COLOR_PROPERTIES)) {
    if (typeof config.colors[name] === "string") host.style.setProperty(property, config.colors[name]);
  }
  const root = host.attachShadow({ mode: "open" });
  root.append(element("style", { text: styles }));
  // The widget's root element: its `lang` is the language of the widget's words.
  const container = element("div", { class: "widget" });

  // --- the always-visible controls -------------------------------------------------------------
  // Every word of the controls is put in by applyLanguage, below.
  const helpButton = element("button", {
    type: "button",
    class: "help-button",
    "aria-expanded": "false",
    "aria-controls": "rw-help",
  });
  // The launcher's name is its visible title (what speech-input users say); aria-expanded tells
  // whether it opens or closes the panel.
  const launcher = element("button", {
    type: "button",
    class: "launcher",
    "aria-expanded": "false",
    "aria-controls": "rw-panel",
  });
  const launcherText = element("span", { class: "launcher-text" });
  launcher.append(chatIcon(), launcherText);
  const dock = element("div", { class: "dock" }, [helpButton, launcher]);

  // --- the help panel: numbers from domain.yml's resource slots, built into help.json --------
  const helpHeading = element("h2", { id: "rw-help-title", tabindex: "-1" });
  const helpClose = element("button", { type: "button", class: "icon-button" });
  helpClose.textContent = "✕";
  const helpList = element("ul");
  const helpPanel = element(
    "section",
    { id: "rw-help", class: "help", "aria-labelledby": "rw-help-title", hidden: true },
    [element("div", { class: "help-head" }, [helpHeading, helpClose]), helpList],
  );

  // --- the chat panel ---------------------------------------------------------------------------
  const headerHelp = element("button", {
    type: "button",
    class: "help-button small",
    "aria-expanded": "false",
    "aria-controls": "rw-help",
  });
  const close = element("button", { type: "button", class: "icon-button" });
  close.textContent = "✕";
  const heading = element("h2", { id: "rw-title" });
  // Each language's name in that language, marked with its `lang` so screen readers say it right;
  // aria-pressed tells which one the widget speaks.
  const languageButtons = new Map(
    LANGUAGES.map((code) => [
      code,
      element("button", { type: "button", class: "language-button", lang: code, text: LANGUAGE_NAMES[code] }),
    ]),
  );
  const languageSwitch = element("div", { class: "language-switch", role: "group" }, [
    ...languageButtons.values(),
  ]);
  const header = element("div", { class: "header" }, [heading, headerHelp, close, languageSwitch]);
  const status = element("p", { class: "status", role: "status" });
  const log = element("div", {
    class: "log",
    role: "log",
    "aria-live": "polite",
    "aria-relevant": "additions",
    "aria-labelledby": "rw-title",
    tabindex: "0",
  });
  const typingText = element("span", { class: "visually-hidden" });
  const typing = element("div", { class: "typing", hidden: true }, [
    typingText,
    element("span", { class: "dot", "aria-hidden": "true" }),
    element("span", { class: "dot", "aria-hidden": "true" }),
    element("span", { class: "dot", "aria-hidden": "true" }),
  ]);
  const input = element("input", {
    type: "text",
    class: "input",
    autocomplete: "off",
    maxlength: String(MAX_INPUT_LENGTH),
  });
  const send = element("button", { type: "submit", class: "send" });
  const form = element("form", { class: "composer" }, [input, send]);
  const body = element("div", { class: "body" }, [log, typing]);
  const panel = element(
    "section",
    { id: "rw-panel", class: "panel", "aria-labelledby": "rw-title", hidden: true },
    [header, status, body, form],
  );

  container.append(panel, helpPanel, dock);
  root.append(container);

  // --- rendering ----------------------------------------------------------------------------------
  let quickReplyGroup = null;

  function scrollToEnd() {
    body.scrollTop = body.scrollHeight;
  }

  // Each drawn message's bubble, for the feedback control that goes right under it.
  const bubbles = new WeakMap();
  // Feedback controls without a language of their own: their words follow the widget's.
  const unlocalizedFeedback = new Set();

  function senderLabel(from) {
    return from === "user" ? labels.you : labels.assistant;
  }

  function renderMessage(message) {
    const bubble = element("div", { class: `message ${message.from}` }, [
      element("span", { class: "visually-hidden sender", text: senderLabel(message.from) }),
      element("span", { class: "text", lang: message.lang }, [richText(message.text)]),
    ]);
    log.append(bubble);
    bubbles.set(message, bubble);
    if (message.feedback) renderFeedback(message);
  }

  function renderFeedback(message) {
    // In the answer's language, which the server names; else in the widget's.
    const own = message.feedback.language;
    const words = own ? allLabels[own] : labels;
    const control = feedbackControl(document, message.feedback, {
      label: words.feedback,
      thanks: words.feedbackThanks,
      onAnswer: (choice, payload) => {
        save();
        // Sent like a button's payload, but the person's choice is the control's thanks, not a bubble.
        outbox.push(payload);
        showTyping(true);
        flush();
        // The buttons are gone now: keep keyboard focus in the widget, where typing goes on.
        input.focus();
      },
    });
    // Under the answer, above its suggested replies (which stay last, next to the input).
    bubbles.get(message).after(control);
    if (!own) unlocalizedFeedback.add(control);
  }

  function clearQuickReplies() {
    if (quickReplyGroup) quickReplyGroup.remove();
    quickReplyGroup = null;
  }

  function renderQuickReplies(replies) {
    clearQuickReplies();
    if (!replies.length) return;
    quickReplyGroup = element(
      "div",
      { class: "quick-replies", role: "group", "aria-label": labels.suggestions },
      replies.map((reply) => {
        const button = element("button", { type: "button", class: "quick-reply", text: reply.title });
        button.addEventListener("click", () => {
          // "Continue in English" under a Spanish reply: the widget's words switch with the assistant.
          const chosen = languageOfPayload(reply.payload);
          if (chosen) chooseLanguage(chosen);
          sendMessage(reply.payload, reply.title, chosen || undefined);
          // The buttons are gone now: keep keyboard focus in the widget, where typing goes on.
          input.focus();
        });
        return button;
      }),
    );
    log.append(quickReplyGroup);
  }

  function save() {
    saveConversation(storage, storageKey, conversation);
  }

  function addMessage(message) {
    conversation.messages.push(message);
    save();
    clearQuickReplies();
    renderMessage(message);
    if (message.quickReplies && message.quickReplies.length) renderQuickReplies(message.quickReplies);
    scrollToEnd();
  }

  // --- the connection -----------------------------------------------------------------------------
  let socket = null;
  let ready = false;
  const outbox = [];
  let typingTimer = 0;

  function showTyping(on) {
    typing.hidden = !on;
    clearTimeout(typingTimer);
    if (on) typingTimer = setTimeout(() => showTyping(false), TYPING_TIMEOUT_MS);
    scrollToEnd();
  }

  // The status line's label, not its text: a language switch re-words it.
  let statusLabel = "";

  function setStatus(label) {
    statusLabel = label;
    status.textContent = label ? labels[label] : "";
    status.hidden = !label;
  }

  function transmit(payload) {
    socket.emit("user_uttered", { message: payload, session_id: conversation.sessionId });
  }

  function flush() {
    while (ready && outbox.length) transmit(outbox.shift());
  }

  function connect() {
    if (socket) return;
    setStatus("connecting");
    // WebSocket first: one connection stays with one Rasa worker process (several run by default),
    // whereas long-polling requests may land on different workers. Polling remains a fallback for
    // networks that block WebSockets (run one worker, RASA_WORKERS=1, if your users need it).
    socket = io(config.serverUrl, {
      path: config.socketPath,
      reconnectionDelayMax: 5000,
      transports: ["websocket", "polling"],
      tryAllTransports: true,
    });
    // With session_persistence Rasa only routes messages once the client has named its session,
    // and it must do so again after every reconnection.
    socket.on("connect", () => {
      socket.emit("session_request", { session_id: conversation.sessionId });
    });
    socket.on("session_confirm", (sessionId) => {
      if (typeof sessionId === "string" && sessionId && sessionId !== conversation.sessionId) {
        conversation.sessionId = sessionId;
        save();
      }
      ready = true;
      setStatus("");
      if (!conversation.started) {
        conversation.started = true;
        save();
        if (config.initPayload) {
          showTyping(true);
          // English is the assistant's default; any other language it is told with the first payload.
          transmit(language === "en" ? config.initPayload : withLanguage(config.initPayload, language));
        }
      }
      flush();
    });
    socket.on("bot_uttered", (message) => {
      if (!message || typeof message !== "object") return;
      showTyping(false);
      setStatus("");
      const text = typeof message.text === "string" ? message.text : "";
      const quickReplies = quickRepliesOf(message);
      if (text || quickReplies.length) addMessage({ from: "bot", text, quickReplies });
      const feedback = feedbackOf(message);
      const answer = feedback && attachFeedback(conversation.messages, feedback);
      if (answer && bubbles.has(answer)) {
        save();
        renderFeedback(answer);
        scrollToEnd();
      }
      // The language the assistant's turn ended in (channels/feedback.py): the widget's own words
      // follow it when a person writes in Spanish or asks for "español", as they do the switch.
      const spoken = spokenLanguage(message);
      if (spoken && spoken !== language) chooseLanguage(spoken);
    });
    socket.on("disconnect", (reason) => {
      ready = false;
      setStatus("reconnecting");
      // The client retries by itself except when the server closed the session on purpose.
      if (reason === "io server disconnect") setTimeout(() => socket.connect(), 1000);
    });
    socket.on("connect_error", () => setStatus("reconnecting"));
    // The server refused a message (too long, too many at once): say so rather than wait forever.
    socket.on("invalid_message", () => {
      showTyping(false);
      setStatus("notSent");
    });
  }

  function sendMessage(payload, shownText = payload, lang = undefined) {
    addMessage(lang ? { from: "user", text: shownText, lang } : { from: "user", text: shownText });
    outbox.push(payload);
    showTyping(true);
    flush();
  }

  // --- language ----------------------------------------------------------------------------------
  /** Puts every word of the widget in `next` and marks its root element with it. */
  function applyLanguage(next) {
    language = next;
    labels = allLabels[next];
    const helpText = helpIn(next);
    container.setAttribute("lang", next);
    heading.textContent = labels.title;
    launcherText.textContent = labels.title;
    helpButton.textContent = helpText.button;
    headerHelp.textContent = helpText.button;
    helpHeading.textContent = helpText.title;
    helpList.replaceChildren(...helpText.lines.map((line) => element("li", {}, [richText(line)])));
    helpClose.setAttribute("aria-label", labels.closeHelp);
    close.setAttribute("aria-label", labels.close);
    languageSwitch.setAttribute("aria-label", labels.language);
    for (const [code, button] of languageButtons) button.setAttribute("aria-pressed", String(code === next));
    input.setAttribute("aria-label", labels.input);
    input.setAttribute("placeholder", labels.input);
    send.textContent = labels.send;
    typing.setAttribute("title", labels.typing);
    typingText.textContent = labels.typing;
    if (quickReplyGroup) quickReplyGroup.setAttribute("aria-label", labels.suggestions);
    for (const label of log.querySelectorAll(".message > .sender")) {
      label.textContent = senderLabel(label.parentElement.classList.contains("user") ? "user" : "bot");
    }
    for (const control of unlocalizedFeedback) {
      relabelFeedback(control, { label: labels.feedback, thanks: labels.feedbackThanks });
    }
    setStatus(statusLabel);
  }

  /** The person's choice of language: kept with the conversation, so a reload keeps it. */
  function chooseLanguage(next) {
    conversation.language = next;
    save();
    if (next !== language) applyLanguage(next);
  }

  for (const [code, button] of languageButtons) {
    button.addEventListener("click", () => {
      if (code === language) return;
      chooseLanguage(code);
      // As a quick reply sends its payload: the name is the person's message, the assistant answers
      // the payload with the topics in that language.
      sendMessage(languagePayload(code), LANGUAGE_NAMES[code], code);
    });
  }

  // --- opening, closing, help ---------------------------------------------------------------------
  function setOpen(open, { focus = true } = {}) {
    panel.hidden = !open;
    host.toggleAttribute("data-open", open);
    launcher.setAttribute("aria-expanded", String(open));
    conversation.open = open;
    save();
    if (open) {
      connect();
      scrollToEnd();
      if (focus) input.focus();
    } else if (focus) {
      launcher.focus();
    }
  }

  function setHelp(open, opener) {
    helpPanel.hidden = !open;
    host.toggleAttribute("data-help", open);
    for (const button of [helpButton, headerHelp]) button.setAttribute("aria-expanded", String(open));
    if (open) helpHeading.focus();
    else if (opener) opener.focus();
  }

  launcher.addEventListener("click", () => {
    // The help panel lies over the chat: opening the chat puts it away.
    if (!helpPanel.hidden) setHelp(false);
    setOpen(panel.hidden);
  });
  close.addEventListener("click", () => setOpen(false));
  helpButton.addEventListener("click", () => setHelp(helpPanel.hidden, helpButton));
  headerHelp.addEventListener("click", () => setHelp(helpPanel.hidden, headerHelp));
  helpClose.addEventListener("click", () => setHelp(false, panel.hidden ? helpButton : headerHelp));
  root.addEventListener("keydown", (event) => {
    if (event.key !== "Escape") return;
    if (!helpPanel.hidden) setHelp(false, panel.hidden ? helpButton : headerHelp);
    else if (!panel.hidden) setOpen(false);
  });
  form.addEventListener("submit", (event) => {
    event.preventDefault();
    const text = input.value.trim();
    if (!text) return;
    input.value = "";
    sendMessage(text);
  });

  // --- start: the stored conversation is drawn before the log is in the page, so screen readers
  // announce only new messages, not the whole history again after a reload.
  applyLanguage(language);
  const greeting = localized(config.greeting, language);
  if (!conversation.messages.length && greeting) {
    // Marked with its language only when the page gave one per language.
    const message = { from: "bot", text: greeting };
    if (typeof config.greeting === "object") message.lang = language;
    conversation.messages.push(message);
  }
  for (const message of conversation.messages) renderMessage(message);
  const last = conversation.messages[conversation.messages.length - 1];
  if (last && last.from === "bot" && last.quickReplies) renderQuickReplies(last.quickReplies);
  setStatus("");
  document.body.append(host);
  if (conversation.open || config.startOpen) setOpen(true, { focus: false });

  return {
    open: () => setOpen(true),
    close: () => setOpen(false),
    showHelp: () => setHelp(true),
  };
}
