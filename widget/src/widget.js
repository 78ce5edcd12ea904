// The chat widget: a launcher, a chat panel and a "Get help now" panel in a shadow root, talking to
// Rasa's socket.io channel. Message text only ever reaches the page as text nodes and <a> elements
// built here (never innerHTML), so a message cannot inject markup.

import { io } from "socket.io-client";

import help from "../build/help.json";
import { attachFeedback, feedbackControl, feedbackOf } from "./feedback.js";
import { loadConversation, saveConversation } from "./history.js";
import { linkify } from "./linkify.js";
import styles from "./styles.css";

const DEFAULTS = {
  serverUrl: "",
  socketPath: "/socket.io",
  title: "Chat",
  greeting: "",
  initPayload: "",
  startOpen: false,
  storageKey: "rasa-widget",
  colors: {},
  labels: {
    close: "Close chat",
    input: "Type your question",
    send: "Send",
    you: "You:",
    assistant: "Assistant:",
    suggestions: "Suggested replies",
    typing: "The assistant is typing",
    connecting: "Connecting…",
    reconnecting: "Connection lost. Reconnecting…",
    notSent: "That message could not be sent. Please try again.",
    feedback: "Was this answer helpful?",
    feedbackThanks: "Thanks for your feedback.",
  },
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
    labels: { ...DEFAULTS.labels, ...(userConfig.labels || {}) },
    colors: { ...(userConfig.colors || {}) },
  };
  if (!config.serverUrl) throw new Error("rasa widget: serverUrl is required");
  const storageKey = `${config.storageKey}:${config.serverUrl}`;
  const storage = window.sessionStorage;
  const conversation = loadConversation(storage, storageKey);
  const labels = config.labels;

  const host = element("div", { "data-rasa-widget": "" });
  for (const [name, property] of Object.entries(COLOR_PROPERTIES)) {
    if (typeof config.colors[name] === "string") host.style.setProperty(property, config.colors[name]);
  }
  const root = host.attachShadow({ mode: "open" });
  root.append(element("style", { text: styles }));

  // --- the always-visible controls -------------------------------------------------------------
  const helpButton = element("button", {
    type: "button",
    class: "help-button",
    "aria-expanded": "false",
    "aria-controls": "rw-help",
    text: help.button,
  });
  // The launcher's name is its visible title (what speech-input users say); aria-expanded tells
  // whether it opens or closes the panel.
  const launcher = element("button", {
    type: "button",
    class: "launcher",
    "aria-expanded": "false",
    "aria-controls": "rw-panel",
  });
  launcher.append(chatIcon(), element("span", { class: "launcher-text", text: config.title }));
  const dock = element("div", { class: "dock" }, [helpButton, launcher]);

  // --- the help panel: numbers from domain.yml's resource slots, built into help.json --------
  const helpHeading = element("h2", { id: "rw-help-title", tabindex: "-1", text: help.title });
  const helpClose = element("button", { type: "button", class: "icon-button", "aria-label": labels.close });
  helpClose.textContent = "✕";
  const helpList = element(
    "ul",
    {},
    help.lines.map((line) => element("li", {}, [richText(line)])),
  );
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
    text: help.button,
  });
  const close = element("button", { type: "button", class: "icon-button", "aria-label": labels.close });
  close.textContent = "✕";
  const header = element("div", { class: "header" }, [
    element("h2", { id: "rw-title", text: config.title }),
    headerHelp,
    close,
  ]);
  const status = element("p", { class: "status", role: "status" });
  const log = element("div", {
    class: "log",
    role: "log",
    "aria-live": "polite",
    "aria-relevant": "additions",
    "aria-labelledby": "rw-title",
    tabindex: "0",
  });
  const typing = element("div", { class: "typing", hidden: true, title: labels.typing }, [
    element("span", { class: "visually-hidden", text: labels.typing }),
    element("span", { class: "dot", "aria-hidden": "true" }),
    element("span", { class: "dot", "aria-hidden": "true" }),
    element("span", { class: "dot", "aria-hidden": "true" }),
  ]);
  const input = element("input", {
    type: "text",
    class: "input",
    autocomplete: "off",
    maxlength: String(MAX_INPUT_LENGTH),
    "aria-label": labels.input,
    placeholder: labels.input,
  });
  const send = element("button", { type: "submit", class: "send", text: labels.send });
  const form = element("form", { class: "composer" }, [input, send]);
  const body = element("div", { class: "body" }, [log, typing]);
  const panel = element(
    "section",
    { id: "rw-panel", class: "panel", "aria-labelledby": "rw-title", hidden: true },
    [header, status, body, form],
  );

  root.append(panel, helpPanel, dock);

  // --- rendering ----------------------------------------------------------------------------------
  let quickReplyGroup = null;

  function scrollToEnd() {
    body.scrollTop = body.scrollHeight;
  }

  // Each drawn message's bubble, for the feedback control that goes right under it.
  const bubbles = new WeakMap();

  function renderMessage(message) {
    const bubble = element("div", { class: `message ${message.from}` }, [
      element("span", { class: "visually-hidden", text: message.from === "user" ? labels.you : labels.assistant }),
      element("span", { class: "text" }, [richText(message.text)]),
    ]);
    log.append(bubble);
    bubbles.set(message, bubble);
    if (message.feedback) renderFeedback(message);
  }

  function renderFeedback(message) {
    const control = feedbackControl(document, message.feedback, {
      label: labels.feedback,
      thanks: labels.feedbackThanks,
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
          sendMessage(reply.payload, reply.title);
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

  function setStatus(text) {
    status.textContent = text;
    status.hidden = !text;
  }

  function transmit(payload) {
    socket.emit("user_uttered", { message: payload, session_id: conversation.sessionId });
  }

  function flush() {
    while (ready && outbox.length) transmit(outbox.shift());
  }

  function connect() {
    if (socket) return;
    setStatus(labels.connecting);
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
          transmit(config.initPayload);
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
    });
    socket.on("disconnect", (reason) => {
      ready = false;
      setStatus(labels.reconnecting);
      // The client retries by itself except when the server closed the session on purpose.
      if (reason === "io server disconnect") setTimeout(() => socket.connect(), 1000);
    });
    socket.on("connect_error", () => setStatus(labels.reconnecting));
    // The server refused a message (too long, too many at once): say so rather than wait forever.
    socket.on("invalid_message", () => {
      showTyping(false);
      setStatus(labels.notSent);
    });
  }

  function sendMessage(payload, shownText = payload) {
    addMessage({ from: "user", text: shownText });
    outbox.push(payload);
    showTyping(true);
    flush();
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
  if (!conversation.messages.length && config.greeting) {
    conversation.messages.push({ from: "bot", text: config.greeting });
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
