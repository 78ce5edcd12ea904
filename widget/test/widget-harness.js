// The whole widget (src/widget.js as esbuild bundles it) on a linkedom page, with a stand-in
// socket.io client and a small help.json, for the tests that drive it as a person would.
import { parseHTML } from "linkedom";

import { MemoryStorage } from "./memory-storage.js";

const FAKE_SOCKET_IO = `
export const sockets = [];
export function io(url, options) {
  const handlers = {};
  const socket = {
    url, options, emitted: [],
    on(event, handler) { handlers[event] = handler; return socket; },
    emit(event, data) { socket.emitted.push([event, data]); },
    connect() {},
    // What the server does: calls this page's handler for an event.
    receive(event, data) { handlers[event](data); },
  };
  sockets.push(socket);
  return socket;
}`;

// "Was this helpful?" as the server sends it (issue 10's contract): a bot message with no text.
export const FEEDBACK_MESSAGE = {
  feedback: {
    answer: "helps.valium",
    prompt: "Was this helpful?",
    yes: { title: "Yes", payload: '/feedback_yes{"answer":"helps.valium"}' },
    no: { title: "No", payload: '/feedback_no{"answer":"helps.valium"}' },
  },
};

// As scripts/build_widget_help.py writes it: English at the top, Spanish under "es".
export const HELP = {
  button: "Get help now",
  title: "Help now",
  lines: ["Call 911."],
  shortCodes: ["911"],
  es: { button: "Ayuda ahora", title: "Ayuda inmediata", lines: ["Llame al 911."] },
};

let widgetModule;

async function widgetBundle() {
  if (widgetModule) return widgetModule;
  const { build } = await import("esbuild");
  const virtual = {
    name: "virtual",
    setup(builder) {
      builder.onResolve({ filter: /^socket\.io-client$|help\.json$/ }, (args) => ({
        path: args.path.endsWith("help.json") ? "help" : "io",
        namespace: "virtual",
      }));
      builder.onLoad({ filter: /.*/, namespace: "virtual" }, (args) =>
        args.path === "io"
          ? { contents: FAKE_SOCKET_IO, loader: "js" }
          : { contents: JSON.stringify(HELP), loader: "json" },
      );
    },
  };
  const result = await build({
    stdin: {
      contents: 'export { createWidget } from "./src/widget.js"; export { sockets } from "socket.io-client";',
      resolveDir: new URL("..", import.meta.url).pathname,
    },
    bundle: true,
    format: "esm",
    write: false,
    loader: { ".css": "text" },
    plugins: [virtual],
    logLevel: "silent",
  });
  const code = Buffer.from(result.outputFiles[0].contents).toString("base64");
  widgetModule = await import(`data:text/javascript;base64,${code}`);
  return widgetModule;
}

/**
 * The widget on a fresh page (a reload when given the previous page's storage), chat open and
 * connected. `config` is added to the embed's; `pageLanguage` is the page's <html lang>.
 */
export async function openWidget(storage = new MemoryStorage(), { config = {}, pageLanguage = "" } = {}) {
  const { createWidget, sockets } = await widgetBundle();
  const lang = pageLanguage ? ` lang="${pageLanguage}"` : "";
  const { document } = parseHTML(`<!doctype html><html${lang}><body></body></html>`);
  globalThis.document = document;
  globalThis.window = { sessionStorage: storage };
  createWidget({ serverUrl: "http://rasa.test", startOpen: true, ...config });
  const root = document.querySelector("[data-rasa-widget]").shadowRoot;
  const socket = sockets.at(-1);
  socket.receive("connect");
  socket.receive("session_confirm", socket.emitted[0][1].session_id);
  return { root, socket, storage, sent: () => socket.emitted.filter(([event]) => event === "user_uttered") };
}
