// Initial JavaScript of the built portal: what index.html loads before any route chunk
// (entry script + modulepreloads), raw and gzipped (the .gz twins the server sends).
import { readFileSync, readdirSync, statSync } from "node:fs";
import path from "node:path";
import { gzipSync } from "node:zlib";

const dist = path.resolve(path.dirname(new URL(import.meta.url).pathname), "../dist");
const html = readFileSync(path.join(dist, "index.html"), "utf8");
const initial = [...html.matchAll(/(?:src|href)="\/(assets\/[^"]+\.js)"/g)].map((m) => m[1]);
const gz = (f) => {
  try {
    return statSync(path.join(dist, `${f}.gz`)).size;
  } catch {
    return gzipSync(readFileSync(path.join(dist, f)), { level: 9 }).length;
  }
};
const kb = (n) => `${(n / 1024).toFixed(1)} KB`;
let raw = 0;
let zipped = 0;
for (const f of initial) {
  raw += statSync(path.join(dist, f)).size;
  zipped += gz(f);
}
const chunks = readdirSync(path.join(dist, "assets")).filter((f) => f.endsWith(".js"));
console.log(`initial JS (${initial.length} file${initial.length === 1 ? "" : "s"}): ${kb(raw)} raw, ${kb(zipped)} gzipped`);
for (const f of chunks.sort((a, b) => gz(`assets/${b}`) - gz(`assets/${a}`))) {
  console.log(`  ${initial.includes(`assets/${f}`) ? "initial" : "lazy   "} ${f.padEnd(32)} ${kb(gz(`assets/${f}`)).padStart(9)} gzipped`);
}
if (zipped > 300 * 1024) {
  console.error("initial JS exceeds the 300 KB gzipped budget");
  process.exit(1);
}
