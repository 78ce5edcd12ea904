// Unit tests for the sessionStorage conversation (node --test).
import assert from "node:assert/strict";
import { test } from "node:test";

import { emptyConversation, loadConversation, saveConversation } from "../src/history.js";
import { MemoryStorage } from "./memory-storage.js";

test("a new conversation has a random 128-bit session id", () => {
  const a = emptyConversation();
  const b = emptyConversation();
  assert.match(a.sessionId, /^[0-9a-f]{32}$/);
  assert.notEqual(a.sessionId, b.sessionId);
});

test("saved conversations load back", () => {
  const storage = new MemoryStorage();
  const conversation = { ...emptyConversation(), started: true, open: true };
  conversation.messages.push({ from: "user", text: "hi" }, { from: "bot", text: "hello", quickReplies: [] });
  saveConversation(storage, "k", conversation);
  assert.deepEqual(loadConversation(storage, "k"), conversation);
});

test("only the latest 100 messages are kept", () => {
  const storage = new MemoryStorage();
  const conversation = emptyConversation();
  for (let i = 0; i < 150; i++) conversation.messages.push({ from: "user", text: String(i) });
  saveConversation(storage, "k", conversation);
  const loaded = loadConversation(storage, "k");
  assert.equal(loaded.messages.length, 100);
  assert.equal(loaded.messages[0].text, "50");
});

test("feedback on an answer and whether it was given load back", () => {
  const storage = new MemoryStorage();
  const conversation = emptyConversation();
  const feedback = {
    answer: "helps.valium",
    prompt: "Was this helpful?",
    yes: { title: "Yes", payload: '/feedback_yes{"answer":"helps.valium"}' },
    no: { title: "No", payload: '/feedback_no{"answer":"helps.valium"}' },
  };
  conversation.messages.push(
    { from: "bot", text: "Valium may ease...", quickReplies: [], feedback: { ...feedback, answered: "no" } },
    { from: "bot", text: "Withdrawal symptoms...", quickReplies: [], feedback },
  );
  saveConversation(storage, "k", conversation);
  assert.deepEqual(loadConversation(storage, "k"), conversation);
});

test("unreadable or tampered storage starts a new conversation", () => {
  const storage = new MemoryStorage();
  const withFeedback = (from, feedback) =>
    JSON.stringify({ sessionId: "abcdefgh", messages: [{ from, text: "", feedback }] });
  const feedback = { answer: "a", prompt: "?", yes: { title: "Yes", payload: "/y" }, no: { title: "No", payload: "/n" } };
  const tampered = [
    "{",
    "[]",
    '{"sessionId": "<x>", "messages": []}',
    '{"sessionId": "abcdefgh", "messages": [1]}',
    withFeedback("bot", { ...feedback, answered: "maybe" }),
    withFeedback("bot", { ...feedback, no: { title: "No", payload: 2 } }),
    withFeedback("bot", "Was this helpful?"),
    withFeedback("user", feedback),
  ];
  for (const bad of tampered) {
    storage.setItem("k", bad);
    const loaded = loadConversation(storage, "k");
    assert.deepEqual(loaded.messages, []);
    assert.match(loaded.sessionId, /^[0-9a-f]{32}$/);
  }
  const broken = { getItem() { throw new Error("denied"); }, setItem() { throw new Error("denied"); } };
  assert.deepEqual(loadConversation(broken, "k").messages, []);
  saveConversation(broken, "k", emptyConversation());
});
