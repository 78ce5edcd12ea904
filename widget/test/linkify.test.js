// Unit tests for the link and phone-number detection (node --test).
import assert from "node:assert/strict";
import { test } from "node:test";

import { linkify } from "../src/linkify.js";

const links = (text, codes = ["911", "988"]) =>
  linkify(text, codes).filter((piece) => piece.type === "link").map(({ text, href }) => [text, href]);

test("vanity helpline number dials the digits in brackets", () => {
  assert.deepEqual(links("contact the SAMHSA National Helpline at 1-800-662-HELP (4357), free"), [
    ["1-800-662-HELP (4357)", "tel:+18006624357"],
  ]);
});

test("the helpline's TTY number is a link of its own", () => {
  const helpline = "the SAMHSA National Helpline at 1-800-662-HELP (4357), TTY 1-800-487-4889, free";
  assert.deepEqual(links(helpline), [
    ["1-800-662-HELP (4357)", "tel:+18006624357"],
    ["1-800-487-4889", "tel:+18004874889"],
  ]);
});

test("vanity number without the digits is spelled out on the keypad", () => {
  assert.deepEqual(links("call 1-800-662-HELP now"), [["1-800-662-HELP", "tel:+18006624357"]]);
});

test("plain numbers, short codes and sentence punctuation", () => {
  assert.deepEqual(links("Poison Control at 1-800-222-1222. Call or text 988, or call 911."), [
    ["1-800-222-1222", "tel:+18002221222"],
    ["988", "tel:988"],
    ["911", "tel:911"],
  ]);
});

test("short codes only when they stand alone and are configured", () => {
  assert.deepEqual(links("9110 and 1911 and 911-ish and 988"), [["988", "tel:988"]]);
  assert.deepEqual(links("call 911", []), []);
  assert.deepEqual(links("911 first"), [["911", "tel:911"]]);
});

test("urls and bare domains, without trailing punctuation", () => {
  assert.deepEqual(links("Search FindTreatment.gov. See https://example.org/a?b=1)."), [
    ["FindTreatment.gov", "https://FindTreatment.gov"],
    ["https://example.org/a?b=1", "https://example.org/a?b=1"],
  ]);
});

test("no script links and the text is kept whole", () => {
  const text = "javascript:alert(1) <img src=x onerror=alert(1)> call 911 now";
  const pieces = linkify(text, ["911"]);
  assert.equal(pieces.map((piece) => piece.text).join(""), text);
  assert.ok(pieces.every((piece) => piece.type === "text" || /^(https?|tel):/.test(piece.href)));
});

test("text without links is one piece", () => {
  assert.deepEqual(linkify("Withdrawal is hard.", ["911"]), [{ type: "text", text: "Withdrawal is hard." }]);
  assert.deepEqual(linkify("", ["911"]), []);
});
