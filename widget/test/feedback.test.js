// Unit tests for the "Was this helpful?" control (node --test, DOM from linkedom).
import assert from "node:assert/strict";
import { test } from "node:test";

import { parseHTML } from "linkedom";

import { attachFeedback, feedbackControl, feedbackOf, isStoredFeedback } from "../src/feedback.js";
import { FEEDBACK_MESSAGE, openWidget } from "./widget-harness.js";


const OPTIONS = { label: "Was this answer helpful?", thanks: "Thanks for your feedback." };

function newDocument() {
  return parseHTML("<!doctype html><html><body></body></html>").document;
}

function control(feedback, onAnswer = () => {}) {
  const document = newDocument();
  const node = feedbackControl(document, feedback, { ...OPTIONS, onAnswer });
  document.body.append(node);
  return node;
}

const clone = (value) => JSON.parse(JSON.stringify(value));

test("a feedback message is read with only the fields the widget uses", () => {
  const message = clone(FEEDBACK_MESSAGE);
  message.feedback.extra = "ignored";
  message.feedback.yes.style = "ignored";
  assert.deepEqual(feedbackOf(message), FEEDBACK_MESSAGE.feedback);
});

test("malformed feedback messages give nothing and never throw", () => {
  const broken = [
    undefined,
    null,
    "feedback",
    42,
    [],
    {},
    { text: "Was this helpful?" },
    { feedback: null },
    { feedback: "Was this helpful?" },
    { feedback: [] },
  ];
  const without = (field) => {
    const message = clone(FEEDBACK_MESSAGE);
    delete message.feedback[field];
    return message;
  };
  const withValue = (path, value) => {
    const message = clone(FEEDBACK_MESSAGE);
    let target = message.feedback;
    for (const key of path.slice(0, -1)) target = target[key];
    target[path.at(-1)] = value;
    return message;
  };
  for (const field of ["answer", "prompt", "yes", "no"]) broken.push(without(field));
  for (const value of [42, null, {}, ["/feedback_no"], "", "   ", true]) {
    broken.push(withValue(["no", "payload"], value), withValue(["yes", "title"], value));
    broken.push(withValue(["answer"], value), withValue(["prompt"], value));
  }
  broken.push(withValue(["yes"], "/feedback_yes"), withValue(["no"], ["No", "/feedback_no"]));
  for (const message of broken) assert.equal(feedbackOf(message), null, JSON.stringify(message));
});

test("the control is a labelled group with the prompt and two real buttons", () => {
  const node = control(feedbackOf(FEEDBACK_MESSAGE));
  assert.equal(node.getAttribute("role"), "group");
  assert.equal(node.getAttribute("aria-label"), "Was this answer helpful?");
  assert.equal(node.querySelector(".feedback-prompt").textContent, "Was this helpful?");
  const buttons = [...node.querySelectorAll("button")];
  assert.deepEqual(
    buttons.map((button) => [button.textContent, button.getAttribute("type")]),
    [
      ["Yes", "button"],
      ["No", "button"],
    ],
  );
  // The thanks region is there, empty, before anything is said into it.
  const status = node.querySelector("[role=status]");
  assert.equal(status.textContent, "");
  assert.equal(node.classList.contains("message"), false, "not a chat bubble");
});

test("server text is shown as text, never as markup", () => {
  const message = clone(FEEDBACK_MESSAGE);
  message.feedback.prompt = "<img src=x onerror=alert(1)>";
  message.feedback.no.title = "<b>No</b>";
  const node = control(feedbackOf(message));
  assert.equal(node.querySelector("img"), null);
  assert.equal(node.querySelector("b"), null);
  assert.equal(node.querySelector(".feedback-prompt").textContent, "<img src=x onerror=alert(1)>");
  assert.equal(node.querySelectorAll("button")[1].textContent, "<b>No</b>");
});

test("choosing sends the payload once, then only the thanks is left", () => {
  const feedback = feedbackOf(FEEDBACK_MESSAGE);
  const sent = [];
  const node = control(feedback, (choice, payload) => sent.push([choice, payload]));
  const [, no] = node.querySelectorAll("button");
  no.click();
  no.click();
  assert.deepEqual(sent, [["no", '/feedback_no{"answer":"helps.valium"}']]);
  assert.equal(feedback.answered, "no");
  assert.equal(node.querySelectorAll("button").length, 0);
  assert.equal(node.querySelector(".feedback-prompt"), null);
  assert.equal(node.querySelector("[role=status]").textContent, "Thanks for your feedback.");
});

test("both buttons of one control answer it once", () => {
  const feedback = feedbackOf(FEEDBACK_MESSAGE);
  const sent = [];
  const node = control(feedback, (choice) => sent.push(choice));
  const [yes, no] = node.querySelectorAll("button");
  yes.click();
  no.click();
  assert.deepEqual(sent, ["yes"]);
});

test("answered feedback (a restored conversation) shows the thanks and no buttons", () => {
  const sent = [];
  const node = control({ ...feedbackOf(FEEDBACK_MESSAGE), answered: "yes" }, () => sent.push(1));
  assert.equal(node.querySelectorAll("button").length, 0);
  assert.equal(node.querySelector("[role=status]").textContent, "Thanks for your feedback.");
  assert.equal(node.getAttribute("aria-label"), "Was this answer helpful?");
  assert.deepEqual(sent, []);
});

test("feedback goes on the answer it follows, once per answer", () => {
  const messages = [
    { from: "user", text: "does valium help" },
    { from: "bot", text: "Valium may ease some symptoms." },
  ];
  const first = feedbackOf(FEEDBACK_MESSAGE);
  assert.equal(attachFeedback(messages, first), messages[1]);
  assert.equal(messages[1].feedback, first);
  // A second request for the same answer is dropped.
  assert.equal(attachFeedback(messages, feedbackOf(FEEDBACK_MESSAGE)), null);
  assert.equal(messages[1].feedback, first);
  // The next answer gets its own, even if the person typed in between.
  messages.push({ from: "bot", text: "The risks are..." }, { from: "user", text: "ok" });
  assert.equal(attachFeedback(messages, feedbackOf(FEEDBACK_MESSAGE)), messages[2]);
  // Nothing from the assistant yet: nothing to attach to.
  assert.equal(attachFeedback([{ from: "user", text: "hi" }], feedbackOf(FEEDBACK_MESSAGE)), null);
  assert.equal(attachFeedback([], feedbackOf(FEEDBACK_MESSAGE)), null);
});

test("stored feedback is checked like a message, with its answer", () => {
  const feedback = feedbackOf(FEEDBACK_MESSAGE);
  assert.ok(isStoredFeedback(feedback));
  assert.ok(isStoredFeedback({ ...feedback, answered: "yes" }));
  assert.ok(isStoredFeedback({ ...feedback, answered: "no" }));
  assert.equal(isStoredFeedback({ ...feedback, answered: "maybe" }), false);
  assert.equal(isStoredFeedback({ ...feedback, yes: { title: "Yes", payload: 1 } }), false);
  assert.equal(isStoredFeedback(null), false);
  assert.equal(isStoredFeedback("yes"), false);
});

// --- the whole widget (src/widget.js as esbuild bundles it) with a stand-in socket.io client --------
// (widget-harness.js)

// The assistant's reply to "no" (issue 10's contract); its reply ends the typing indicator's timer.
const FOLLOW_UP = "Thanks for telling us. What were you looking for?";

const ANSWER = {
  text: "Valium may ease some withdrawal symptoms. Source: an article.",
  buttons: [{ title: "What are the risks?", payload: '/ask_med_risks{"medication":"valium"}' }],
};

test("widget: the control sits under the answer, above its suggested replies", async () => {
  const { root, socket } = await openWidget();
  socket.receive("bot_uttered", clone(ANSWER));
  socket.receive("bot_uttered", clone(FEEDBACK_MESSAGE));
  const log = root.querySelector("[role=log]");
  const items = [...log.children].map((node) => node.className);
  assert.deepEqual(items, ["message bot", "feedback", "quick-replies"]);
  assert.equal(log.querySelectorAll(".message").length, 1, "no bubble for the feedback message");
  assert.equal(root.querySelector(".feedback").getAttribute("aria-label"), "Was this answer helpful?");
});

test("widget: clicking No sends the payload without a bubble, once", async () => {
  const { root, socket, sent } = await openWidget();
  socket.receive("bot_uttered", clone(ANSWER));
  socket.receive("bot_uttered", clone(FEEDBACK_MESSAGE));
  const no = [...root.querySelectorAll(".feedback button")].find((button) => button.textContent === "No");
  no.click();
  no.click();
  assert.deepEqual(
    sent().map(([, data]) => data.message),
    ['/feedback_no{"answer":"helps.valium"}'],
  );
  assert.equal(root.querySelectorAll(".message.user").length, 0);
  assert.equal(root.querySelector(".feedback [role=status]").textContent, "Thanks for your feedback.");
  assert.equal(root.querySelectorAll(".feedback button").length, 0);
  assert.equal(root.querySelector(".typing").hidden, false, "waiting for the assistant's follow-up");
  // The suggested replies of the answer are still there.
  assert.equal(root.querySelectorAll(".quick-reply").length, 1);
  socket.receive("bot_uttered", { text: FOLLOW_UP });
  assert.equal(root.querySelector(".typing").hidden, true);
  assert.equal([...root.querySelectorAll(".message.bot")].at(-1).textContent.includes(FOLLOW_UP), true);
});

test("widget: once per answer, only after a feedback message", async () => {
  const { root, socket } = await openWidget();
  socket.receive("bot_uttered", { text: "Hello. I can answer questions about benzodiazepines." });
  socket.receive("bot_uttered", clone(ANSWER));
  socket.receive("bot_uttered", clone(FEEDBACK_MESSAGE));
  socket.receive("bot_uttered", clone(FEEDBACK_MESSAGE));
  assert.equal(root.querySelectorAll(".feedback").length, 1);
  socket.receive("bot_uttered", { text: "Another answer." });
  assert.equal(root.querySelectorAll(".feedback").length, 1);
  socket.receive("bot_uttered", clone(FEEDBACK_MESSAGE));
  assert.equal(root.querySelectorAll(".feedback").length, 2);
});

test("widget: malformed feedback messages draw nothing and break nothing", async () => {
  const { root, socket } = await openWidget();
  socket.receive("bot_uttered", clone(ANSWER));
  const broken = [
    { feedback: null },
    { feedback: "Was this helpful?" },
    { feedback: { ...FEEDBACK_MESSAGE.feedback, answer: undefined } },
    { feedback: { ...FEEDBACK_MESSAGE.feedback, yes: { title: "Yes", payload: 1 } } },
    { feedback: { ...FEEDBACK_MESSAGE.feedback, no: { title: ["No"], payload: "/feedback_no" } } },
    { feedback: { ...FEEDBACK_MESSAGE.feedback, no: undefined } },
  ];
  for (const message of broken) socket.receive("bot_uttered", message);
  assert.equal(root.querySelectorAll(".feedback").length, 0);
  assert.equal(root.querySelectorAll(".message").length, 1);
  // The widget goes on working: a good one after them is shown.
  socket.receive("bot_uttered", clone(FEEDBACK_MESSAGE));
  assert.equal(root.querySelectorAll(".feedback button").length, 2);
});

test("widget: after a reload an answered control shows only the thanks", async () => {
  const first = await openWidget();
  first.socket.receive("bot_uttered", clone(ANSWER));
  first.socket.receive("bot_uttered", clone(FEEDBACK_MESSAGE));
  first.root.querySelector(".feedback button").click();
  first.socket.receive("bot_uttered", { text: "Thank you." });
  first.socket.receive("bot_uttered", { ...clone(ANSWER), text: "Another answer." });
  first.socket.receive("bot_uttered", clone(FEEDBACK_MESSAGE));

  const reloaded = await openWidget(first.storage);
  const log = reloaded.root.querySelector("[role=log]");
  assert.deepEqual(
    [...log.children].map((node) => node.className),
    ["message bot", "feedback", "message bot", "message bot", "feedback", "quick-replies"],
  );
  const controls = reloaded.root.querySelectorAll(".feedback");
  assert.equal(controls.length, 2);
  // The answered one: thanks, no buttons; the other can still be answered, once.
  assert.equal(controls[0].querySelectorAll("button").length, 0);
  assert.equal(controls[0].querySelector("[role=status]").textContent, "Thanks for your feedback.");
  assert.equal(controls[0].previousElementSibling.textContent.includes("Valium may ease"), true);
  assert.deepEqual(
    [...controls[1].querySelectorAll("button")].map((button) => button.textContent),
    ["Yes", "No"],
  );
  controls[1].querySelectorAll("button")[0].click();
  reloaded.socket.receive("bot_uttered", { text: "Thank you." });
  assert.deepEqual(
    reloaded.sent().map(([, data]) => data.message),
    ['/feedback_yes{"answer":"helps.valium"}'],
  );
  const third = await openWidget(first.storage);
  assert.equal(third.root.querySelectorAll(".feedback button").length, 0);
});
