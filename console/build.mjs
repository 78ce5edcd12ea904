// Bundles the dashboard's script with Chart.js into one file, static/dist/dashboard.js, which the
// console serves itself (its Content-Security-Policy allows scripts from its own origin only).
import { build } from "esbuild";

await build({
  entryPoints: ["src/dashboard.js"],
  outfile: "static/dist/dashboard.js",
  bundle: true,
  format: "iife",
  platform: "browser",
  target: ["es2020"],
  minify: true,
  legalComments: "eof",
  logLevel: "warning",
});
