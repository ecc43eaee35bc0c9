// Copy what an exported lesson page needs to run offline into nnwidgets/static/export/:
// require.js and @jupyter-widgets/html-manager's AMD embedder with its web fonts.
// (anywidget's and bqplot's AMD front-ends come from their Python packages at export time.)
import { copyFileSync, mkdirSync, readdirSync, rmSync } from "node:fs";
import { createRequire } from "node:module";
import { dirname, join } from "node:path";

const require = createRequire(import.meta.url);
const out = join("nnwidgets", "static", "export");
rmSync(out, { recursive: true, force: true });
mkdirSync(join(out, "html-manager"), { recursive: true });

copyFileSync(require.resolve("requirejs/require.js"), join(out, "require.js"));
const dist = join(dirname(require.resolve("@jupyter-widgets/html-manager/package.json")), "dist");
for (const name of readdirSync(dist)) {
  // the embedder, and the fonts browsers load (woff2, with woff as the fallback)
  if (name === "embed-amd.js" || name.endsWith(".woff2") || name.endsWith(".woff")) {
    copyFileSync(join(dist, name), join(out, "html-manager", name));
  }
}
