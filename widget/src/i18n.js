// The widget's own words in each language it speaks, and which language it starts in. The assistant's
// replies come from the server in the conversation's language (the `language` slot); a payload such
// as /help_menu{"language":"es"} sets that slot, so the widget and the server switch together.

export const LANGUAGES = ["en", "es"];

// Each language named in itself, as language pickers do: a person finds their own language's name.
export const LANGUAGE_NAMES = { en: "English", es: "Español" };

export const STRINGS = {
  en: {
    title: "Chat",
    close: "Close chat",
    closeHelp: "Close help",
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
    language: "Language",
  },
  // "Usted", as the assistant's Spanish replies (domain.yml) address the person.
  es: {
    title: "Chat",
    close: "Cerrar el chat",
    closeHelp: "Cerrar la ayuda",
    input: "Escriba su pregunta",
    send: "Enviar",
    you: "Usted:",
    assistant: "Asistente:",
    suggestions: "Respuestas sugeridas",
    typing: "El asistente está escribiendo",
    connecting: "Conectando…",
    reconnecting: "Se perdió la conexión. Reconectando…",
    notSent: "No se pudo enviar ese mensaje. Inténtelo de nuevo.",
    feedback: "¿Le fue útil esta respuesta?",
    feedbackThanks: "Gracias por su opinión.",
    language: "Idioma",
  },
};

/** Whether `value` is one of the widget's languages ("en", "es"). */
export function isLanguage(value) {
  return LANGUAGES.includes(value);
}

/** The widget language of a language tag ("es-MX" -> "es"), or null for any other language. */
export function languageOf(tag) {
  if (typeof tag !== "string") return null;
  const code = tag.trim().toLowerCase().split(/[-_]/)[0];
  return isLanguage(code) ? code : null;
}

/**
 * The language the widget starts in: the person's earlier choice in this conversation, else the
 * embed's `language`, else Spanish on a page whose <html lang> is Spanish, else English.
 */
export function startLanguage({ chosen, configured, page }) {
  if (isLanguage(chosen)) return chosen;
  return languageOf(configured) || (languageOf(page) === "es" ? "es" : "en");
}

/**
 * The widget's strings for each language: the built-in ones, with the embed's `labels` over them.
 * Plain labels (`labels.close`) are English, as before Spanish existed; `labels.es` holds Spanish ones.
 */
function plainLabels(labels) {
  return Object.fromEntries(Object.entries(labels).filter(([, value]) => typeof value === "string"));
}

export function stringsFor(labels = {}, title) {
  const strings = {};
  for (const language of LANGUAGES) {
    const own = labels[language] && typeof labels[language] === "object" ? labels[language] : {};
    const plain = language === "en" ? plainLabels(labels) : {};
    const localTitle = localized(title, language);
    strings[language] = {
      ...STRINGS[language],
      ...plain,
      ...own,
      ...(localTitle ? { title: localTitle } : {}),
    };
  }
  return strings;
}

/**
 * A config text in `language`: a plain string is the same in every language, an object gives one per
 * language ({en: "...", es: "..."}), falling back to English. Empty when there is none.
 */
export function localized(value, language) {
  if (typeof value === "string") return value;
  if (value && typeof value === "object") {
    if (typeof value[language] === "string") return value[language];
    if (typeof value.en === "string") return value.en;
  }
  return "";
}

/**
 * The language a `bot_uttered` event says the assistant went on in: `{"language": "es"}` alone, sent
 * at the end of each turn (channels/feedback.py). Null for any other event or a language the widget
 * has no words for (the bilingual reply to another language says "other").
 */
export function spokenLanguage(message) {
  if (!message || typeof message !== "object" || Array.isArray(message)) return null;
  const keys = Object.keys(message);
  return keys.length === 1 && keys[0] === "language" && isLanguage(message.language) ? message.language : null;
}

/** The payload that asks the server to go on in `language`: the topics menu in that language. */
export function languagePayload(language) {
  return `/help_menu${JSON.stringify({ language })}`;
}

// A payload as Rasa reads it: /intent, optionally followed by its entities as one JSON object.
const PAYLOAD = /^(\/[\w-]+)(\{.*\})?$/s;

function entitiesOf(payload) {
  const match = typeof payload === "string" ? payload.match(PAYLOAD) : null;
  if (!match) return null;
  if (!match[2]) return { intent: match[1], entities: {} };
  try {
    const entities = JSON.parse(match[2]);
    if (!entities || typeof entities !== "object" || Array.isArray(entities)) return null;
    return { intent: match[1], entities };
  } catch {
    return null;
  }
}

/** The language a payload sets the conversation to (`/help_menu{"language":"en"}`), or null. */
export function languageOfPayload(payload) {
  const parsed = entitiesOf(payload);
  return parsed && isLanguage(parsed.entities.language) ? parsed.entities.language : null;
}

/**
 * `payload` telling the server the conversation's language too: `/greet` -> `/greet{"language":"es"}`.
 * Text that is not a payload, or a payload that names a language already, is left as it is.
 */
export function withLanguage(payload, language) {
  const parsed = entitiesOf(payload);
  if (!parsed || "language" in parsed.entities) return payload;
  return parsed.intent + JSON.stringify({ ...parsed.entities, language });
}
