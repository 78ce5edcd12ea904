// Splits message text into plain text and link pieces, so the widget can build DOM nodes itself and
// never parses message text as HTML. Only http(s) and tel: links are ever produced.

const KEYPAD = { A: 2, B: 2, C: 2, D: 3, E: 3, F: 3, G: 4, H: 4, I: 4, J: 5, K: 5, L: 5, M: 6, N: 6, O: 6,
  P: 7, Q: 7, R: 7, S: 7, T: 8, U: 8, V: 8, W: 9, X: 9, Y: 9, Z: 9 };

const URL = String.raw`https?:\/\/[^\s<>"]+`;
// Bare domains such as FindTreatment.gov, for the top-level domains help resources use.
const DOMAIN = String.raw`\b(?:[A-Za-z0-9-]+\.)+(?:gov|org|com|net|edu|us)\b(?:\/[^\s<>"]*)?`;
// North American numbers, also vanity ones: 1-800-662-HELP (4357), 1-800-222-1222, (800) 222-1222.
const PHONE = String.raw`(?:\+?1[-. ])?(?:\(\d{3}\) ?|\d{3}[-. ])\d{3}[-. ](?:\d{4}|[A-Z]{4})(?: \(\d{4}\))?`;
// Punctuation that ends a sentence rather than a link.
const TRAILING = /[.,;:!?)\]'"]+$/;

function escapeRegExp(text) {
  return text.replace(/[.*+?^${}()|[\]\\]/g, "\\$&");
}

function telHref(number) {
  const spelled = number.match(/\((\d{4})\)$/);
  const core = spelled ? number.slice(0, spelled.index) : number;
  let digits = core.replace(/[A-Z]/g, (letter) => String(KEYPAD[letter])).replace(/\D/g, "");
  if (spelled) digits = digits.slice(0, -4) + spelled[1];
  if (digits.length === 10) digits = "1" + digits;
  return "tel:+" + digits;
}

/**
 * @param {string} text message text
 * @param {string[]} shortCodes standalone numbers that are dialled as they are (988, 911)
 * @returns {{type: "text" | "link", text: string, href?: string}[]}
 */
export function linkify(text, shortCodes = []) {
  const codes = shortCodes.filter((code) => /^\d{2,6}$/.test(code)).map(escapeRegExp);
  const alternatives = [URL, DOMAIN, PHONE];
  // The group before a short code stands in for a lookbehind, which older Safari lacks.
  if (codes.length) alternatives.push(String.raw`(^|[^\w-])(${codes.join("|")})(?![\w-])`);
  const pattern = new RegExp(alternatives.map((part) => `(${part})`).join("|"), "g");

  const pieces = [];
  let plainFrom = 0;
  const pushText = (end) => {
    if (end > plainFrom) pieces.push({ type: "text", text: text.slice(plainFrom, end) });
  };
  let match;
  while ((match = pattern.exec(text)) !== null) {
    let start = match.index;
    let found = match[0];
    let href;
    if (match[1] !== undefined) {
      found = found.replace(TRAILING, "");
      href = found;
    } else if (match[2] !== undefined) {
      found = found.replace(TRAILING, "");
      href = "https://" + found;
    } else if (match[3] !== undefined) {
      href = telHref(found);
    } else {
      start += match[5].length;
      found = match[6];
      href = "tel:" + found;
    }
    pushText(start);
    pieces.push({ type: "link", text: found, href });
    plainFrom = start + found.length;
    pattern.lastIndex = Math.max(plainFrom, match.index + 1);
  }
  pushText(text.length);
  return pieces;
}
