// Bundles Lock for the browser tests (the npm package ships no browser bundle). auth0-js is
// resolved to its ES module build: esbuild would pick the UMD file, whose exports come out empty
// in a "type": "module" package.
import { build } from "esbuild";
import { createRequire } from "node:module";
import path from "node:path";

const require = createRequire(import.meta.url);
const auth0Js = path.join(path.dirname(require.resolve("auth0-js/package.json")), "dist/auth0.min.esm.js");

await build({
  stdin: { contents: "import Auth0Lock from 'auth0-lock'; window.Auth0Lock = Auth0Lock;", resolveDir: "." },
  bundle: true,
  minify: true,
  outfile: "dist/lock.js",
  define: { "process.env.NODE_ENV": '"production"' },
  plugins: [
    {
      name: "auth0-js-esm",
      setup(plugin) {
        plugin.onResolve({ filter: /^auth0-js$/ }, () => ({ path: auth0Js }));
      },
    },
  ],
  logLevel: "warning",
});
