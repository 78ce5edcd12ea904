// "Was this helpful?" under a curated answer. The server sends it as a bot message of its own,
// {"feedback": {"answer", "language", "prompt", "yes": {"title", "payload"}, "no": {...}}}, right
// after the answer, in the answer's language; the widget keeps it on that answer's message in the
// stored conversation, with `answered` once the person chose, so a reload shows the thanks and never
// the buttons again.

import { isLanguage } from "./i18n.js";

const CHOICES = ["yes", "no"];

function isText(value) {
  return typeof value === "string" && value.trim() !== "";
}

function isPlainObject(value) {
  return typeof value === "object" && value !== null && !Array.isArray(value);
}

function buttonOf(value) {
  if (!isPlainObject(value) || !isText(value.title) || !isText(value.payload)) return null;
  return { title: value.title, payload: value.payload };
}

/**
 * The feedback request a bot message carries, with only the fields the widget uses, or null when it
 * carries none or a malformed one (then nothing is shown).
 */
export function feedbackOf(message) {
  const feedback = isPlainObject(message) ? message.feedback : undefined;
  if (!isPlainObject(feedback) || !isText(feedback.answer) || !isText(feedback.prompt)) return null;
  const yes = buttonOf(feedback.yes);
  const no = buttonOf(feedback.no);
  if (!yes || !no) return null;
  const read = { answer: feedback.answer, prompt: feedback.prompt, yes, no };
  // Only a language the widget has words for: its own labels around the prompt follow it.
  if (isLanguage(feedback.language)) read.language = feedback.language;
  return read;
}

/** Whether `value` is feedback as the widget stores it (history.js checks what it loads). */
export function isStoredFeedback(value) {
  return (
    feedbackOf({ feedback: value }) !== null &&
    (value.answered === undefined || CHOICES.includes(value.answered)) &&
    (value.language === undefined || isLanguage(value.language))
  );
}

/**
 * Puts `feedback` on the answer it follows: the latest bot message, unless that one has feedback
 * already (one control per answer). Returns the message, or null when the feedback was dropped.
 */
export function attachFeedback(messages, feedback) {
  for (let i = messages.length - 1; i >= 0; i--) {
    const message = messages[i];
    if (message.from !== "bot") continue;
    if (message.feedback) return null;
    message.feedback = feedback;
    return message;
  }
  return null;
}

/**
 * The control as DOM nodes: a group named after what it asks, the prompt and two real buttons; once
 * answered, only the thanks in a polite status region. Server text only ever becomes text nodes.
 *
 * @param {Document} document
 * @param {object} feedback from feedbackOf, possibly with `answered` and `language`
 * @param {{label: string, thanks: string, onAnswer: (choice: string, payload: string) => void}} options
 *   label and thanks in the feedback's language when it has one (then the control's `lang` is it);
 *   onAnswer is called once, when the person chooses; `feedback.answered` is set before it.
 */
export function feedbackControl(document, feedback, { label, thanks, onAnswer }) {
  const group = document.createElement("div");
  group.className = "feedback";
  group.setAttribute("role", "group");
  group.setAttribute("aria-label", label);
  if (feedback.language) group.setAttribute("lang", feedback.language);
  // Present (empty) from the start, so screen readers announce the thanks when it is filled in.
  const status = document.createElement("p");
  status.className = "feedback-thanks";
  status.setAttribute("role", "status");
  if (feedback.answered) {
    status.textContent = thanks;
    group.append(status);
    return group;
  }
  const prompt = document.createElement("span");
  prompt.className = "feedback-prompt";
  prompt.textContent = feedback.prompt;
  const buttons = CHOICES.map((choice) => {
    const button = document.createElement("button");
    button.type = "button";
    button.className = "feedback-button";
    button.textContent = feedback[choice].title;
    button.addEventListener("click", () => {
      if (feedback.answered) return;
      feedback.answered = choice;
      prompt.remove();
      for (const each of buttons) each.remove();
      status.textContent = thanks;
      onAnswer(choice, feedback[choice].payload);
    });
    return button;
  });
  group.append(prompt, ...buttons, status);
  return group;
}

/** New words for a control: a feedback without a language of its own follows the widget's. */
export function relabelFeedback(group, { label, thanks }) {
  group.setAttribute("aria-label", label);
  const status = group.querySelector(".feedback-thanks");
  if (status && status.textContent) status.textContent = thanks;
}
