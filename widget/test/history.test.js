// Unit tests for the sessionStorage conversation (node --test).
import assert from "node:assert/strict";
import { test } from "node:test";

import { emptyConversation, loadConversation, saveConversation } from "../src/history.js";

class MemoryStorage {
  constructor() {
    this.items = new Map();
  }
  getItem(key) {
    return this.items.has(key) ? this.items.get(key) : null;
  }
  setItem(key, value) {
    this.items.set(key, String(value));
  }
}

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

test("unreadable or tampered storage starts a new conversation", () => {
  const storage = new MemoryStorage();
  for (const bad of ["{", "[]", '{"sessionId": "<x>", "messages": []}', '{"sessionId": "abcdefgh", "messages": [1]}']) {
    storage.setItem("k", bad);
    const loaded = loadConversation(storage, "k");
    assert.deepEqual(loaded.messages, []);
    assert.match(loaded.sessionId, /^[0-9a-f]{32}$/);
  }
  const broken = { getItem() { throw new Error("denied"); }, setItem() { throw new Error("denied"); } };
  assert.deepEqual(loadConversation(broken, "k").messages, []);
  saveConversation(broken, "k", emptyConversation());
});
