// Copy what an exported lesson page needs to run offline into nnwidgets/static/export/:
// require.js, @jupyter-widgets/html-manager's AMD embedder, and the Font Awesome files its
// CSS asks for (woff2, with woff as the fallback), which nnwidgets/export.py places where the
// embedder's bundles look for them. (anywidget's and bqplot's AMD front-ends come from their
// Python packages at export time.)
import { copyFileSync, mkdirSync, readdirSync, rmSync } from "node:fs";
import { createRequire } from "node:module";
import { dirname, join } from "node:path";

const require = createRequire(import.meta.url);
const out = join("nnwidgets", "static", "export");
rmSync(out, { recursive: true, force: true });
mkdirSync(join(out, "html-manager"), { recursive: true });
mkdirSync(join(out, "fonts"), { recursive: true });

copyFileSync(require.resolve("requirejs/require.js"), join(out, "require.js"));
const dist = join(dirname(require.resolve("@jupyter-widgets/html-manager/package.json")), "dist");
copyFileSync(join(dist, "embed-amd.js"), join(out, "html-manager", "embed-amd.js"));
for (const name of readdirSync(dist)) {
  if (name.endsWith(".woff2") || name.endsWith(".woff")) {
    copyFileSync(join(dist, name), join(out, "fonts", name));
  }
}
