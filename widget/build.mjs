// Bundles the widget and socket.io-client into one self-contained file, dist/rasa-widget.js, so a
// page loads nothing else at run time. build/help.json comes first from `make widget`.
import { build } from "esbuild";

await build({
  entryPoints: ["src/index.js"],
  outfile: "dist/rasa-widget.js",
  bundle: true,
  format: "iife",
  platform: "browser",
  target: ["es2020"],
  minify: true,
  loader: { ".css": "text" },
  legalComments: "eof",
  logLevel: "warning",
});
