// The conversation kept in sessionStorage: it survives reloads but ends with the tab, so nothing of
// a very private conversation is left behind on a shared device (localStorage would keep it). The
// language the person chose ("English" / "Español") is kept with it, so a reload speaks it too.

import { isStoredFeedback } from "./feedback.js";
import { isLanguage } from "./i18n.js";

const MAX_MESSAGES = 100;

function newSessionId() {
  const bytes = new Uint8Array(16);
  crypto.getRandomValues(bytes);
  return Array.from(bytes, (byte) => byte.toString(16).padStart(2, "0")).join("");
}

function isMessage(message) {
  return (
    message &&
    (message.from === "user" || message.from === "bot") &&
    typeof message.text === "string" &&
    (message.quickReplies === undefined || Array.isArray(message.quickReplies)) &&
    (message.lang === undefined || isLanguage(message.lang)) &&
    (message.feedback === undefined || (message.from === "bot" && isStoredFeedback(message.feedback)))
  );
}

/** `language` is set only once the person chooses one: until then the page decides (i18n.js). */
export function emptyConversation() {
  return { sessionId: newSessionId(), messages: [], started: false, open: false };
}

/** The conversation stored under `key`, or a new one when there is none or it is unreadable. */
export function loadConversation(storage, key) {
  try {
    const stored = JSON.parse(storage.getItem(key) || "null");
    if (
      stored &&
      typeof stored.sessionId === "string" &&
      /^[\w-]{8,64}$/.test(stored.sessionId) &&
      Array.isArray(stored.messages) &&
      stored.messages.every(isMessage) &&
      (stored.language === undefined || isLanguage(stored.language))
    ) {
      return { ...emptyConversation(), ...stored };
    }
  } catch {
    // Storage disabled, full or holding something else: start afresh.
  }
  return emptyConversation();
}

export function saveConversation(storage, key, conversation) {
  const kept = { ...conversation, messages: conversation.messages.slice(-MAX_MESSAGES) };
  try {
    storage.setItem(key, JSON.stringify(kept));
  } catch {
    // A full or disabled storage only costs the history after a reload.
  }
}
