// Bundles the widget and socket.io-client into one self-contained file, dist/rasa-widget.js, so a
// page loads nothing else at run time. build/help.json comes first from `make widget`.
import { readFile } from "node:fs/promises";

import { build, transform } from "esbuild";

// The stylesheet goes into the shadow root as a string; the text loader would keep it as written,
// comments and all, so it is minified first.
const minifiedCss = {
  name: "minified-css",
  setup(builder) {
    builder.onLoad({ filter: /\.css$/ }, async (args) => {
      const { code } = await transform(await readFile(args.path, "utf8"), { loader: "css", minify: true });
      return { contents: code, loader: "text" };
    });
  },
};

await build({
  entryPoints: ["src/index.js"],
  outfile: "dist/rasa-widget.js",
  bundle: true,
  format: "iife",
  platform: "browser",
  target: ["es2020"],
  minify: true,
  plugins: [minifiedCss],
  legalComments: "eof",
  logLevel: "warning",
});
