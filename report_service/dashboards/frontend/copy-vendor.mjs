// Copies the charting library's browser build from node_modules into ../static/vendor, where
// the report service serves it at /dashboards/static/vendor/. Run by `npm run build` after
// `npm ci` (the Makefile's install target does both).
import { copyFileSync, mkdirSync, readFileSync, writeFileSync } from "node:fs";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";

const here = dirname(fileURLToPath(import.meta.url));
const vendor = join(here, "..", "static", "vendor");
const echarts = join(here, "node_modules", "echarts");
const { version } = JSON.parse(readFileSync(join(echarts, "package.json"), "utf8"));

mkdirSync(vendor, { recursive: true });
copyFileSync(join(echarts, "dist", "echarts.min.js"), join(vendor, "echarts.min.js"));
copyFileSync(join(echarts, "LICENSE"), join(vendor, "echarts.LICENSE.txt"));
writeFileSync(join(vendor, "versions.json"), JSON.stringify({ echarts: version }, null, 2) + "\n");
console.log(`echarts ${version} -> ${vendor}`);
