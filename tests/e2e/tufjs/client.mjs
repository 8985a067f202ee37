// A second, independent TUF client for tufsync's end-to-end tests: tuf-js (npm's).
// Usage: node client.mjs <metadata base url> <targets base url> <metadata dir> <target dir> <path>...
// The metadata dir must hold the trusted root.json. Prints one JSON object:
// {"root_version": N, "results": [{"path", "ok", "file"?, "error"?, "kind"?}]}: a refused
// refresh or target is reported in its result ("kind" is the error's class, e.g.
// UnsignedMetadataError), never as a failed run.
import path from "node:path";
import { readFileSync } from "node:fs";
import { Updater } from "tuf-js";

const [metadataBaseUrl, targetBaseUrl, metadataDir, targetDir, ...paths] = process.argv.slice(2);
const updater = new Updater({
  metadataBaseUrl,
  targetBaseUrl,
  metadataDir,
  targetDir,
  config: { prefixTargetsWithHash: false },
});
const results = [];
const kind = (error) => error?.constructor?.name ?? "Error";
let refreshError = null;
try {
  await updater.refresh();
} catch (error) {
  refreshError = error;
}
for (const target of paths) {
  if (refreshError) {
    results.push({
      path: target,
      ok: false,
      error: `refresh failed: ${refreshError}`,
      kind: kind(refreshError),
    });
    continue;
  }
  try {
    const info = await updater.getTargetInfo(target);
    if (!info) {
      results.push({ path: target, ok: false, error: "target not found" });
      continue;
    }
    const file = path.join(targetDir, target.replaceAll("/", "_"));
    await updater.downloadTarget(info, file);
    results.push({ path: target, ok: true, file });
  } catch (error) {
    results.push({ path: target, ok: false, error: String(error), kind: kind(error) });
  }
}
const root = JSON.parse(readFileSync(path.join(metadataDir, "root.json"), "utf8"));
console.log(JSON.stringify({ root_version: root.signed.version, results }));
