/// <reference types="vitest/config" />
import { defineConfig, type Plugin } from "vite";
import react from "@vitejs/plugin-react";
import { readFileSync, writeFileSync } from "node:fs";
import path from "node:path";
import { gzipSync } from "node:zlib";

// nexus-apiserver serves `<file>.gz` when the browser accepts gzip: write the twins at build time
// (no compression work per request, and the figures in docs/benchmarks.md are what is sent).
function gzipTwins(): Plugin {
  return {
    name: "nexus-gzip-twins",
    apply: "build",
    enforce: "post",
    // After the files are written: earlier hooks still see placeholders other plugins replace.
    writeBundle(options, bundle) {
      const dir = options.dir ?? "dist";
      for (const fileName of Object.keys(bundle)) {
        if (!/\.(js|css|html|svg|json)$/.test(fileName)) continue;
        const file = path.join(dir, fileName);
        const bytes = readFileSync(file);
        if (bytes.length < 1024) continue;
        writeFileSync(`${file}.gz`, gzipSync(bytes, { level: 9 }));
      }
    },
  };
}

// `npm run dev`: the dev server proxies /api and /config.json to a running nexus-apiserver
// (make dev: https://127.0.0.1:9443 with a self-signed CA).
const target = process.env.NEXUS_API ?? "https://127.0.0.1:9443";

export default defineConfig({
  plugins: [react(), gzipTwins()],
  build: {
    target: "es2022",
    sourcemap: true,
    chunkSizeWarningLimit: 600,

  },
  server: {
    proxy: {
      "/api": { target, secure: false, changeOrigin: true },
      "/config.json": { target, secure: false, changeOrigin: true },
    },
  },
  test: {
    environment: "jsdom",
    setupFiles: ["./src/test-setup.ts"],
    include: ["src/**/*.test.{ts,tsx}"],
    css: false,
    globals: true,
  },
});
