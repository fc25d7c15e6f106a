// One tool call through `gavel gate` with the official TypeScript MCP client
// (@modelcontextprotocol/sdk, installed in .peers/npm as a dependency of the reference servers),
// whose request timeout can restart on each progress notification (`resetTimeoutOnProgress`).
//
// Usage: node progress_client.mjs SDK_DIR TIMEOUT_MS RESET(true|false) TOOL ARGS_JSON -- GATE_COMMAND [ARGS...]
//
// Prints one JSON event per line: {"event":"ready"}, then {"event":"progress", progress, total,
// message, ms} for each progress notification of the call, then {"event":"result", isError,
// text, ms} or {"event":"error", code, message, ms}; a progress notification that arrives after
// the call was answered (or abandoned) prints {"event":"late-progress"}. After the answer it
// listens 1.5 s more for late progress, then prints {"event":"done"} and closes the session.

import { pathToFileURL } from "node:url";
import path from "node:path";

const [sdkDir, timeoutMs, reset, tool, argsJson, sep, ...gate] = process.argv.slice(2);
if (sep !== "--" || gate.length === 0) {
  process.stderr.write("usage: progress_client.mjs SDK_DIR TIMEOUT_MS RESET TOOL ARGS_JSON -- GATE_COMMAND...\n");
  process.exit(2);
}
const load = (rel) => import(pathToFileURL(path.join(sdkDir, "dist/esm", rel)).href);
const { Client } = await load("client/index.js");
const { StdioClientTransport } = await load("client/stdio.js");

const emit = (obj) => process.stdout.write(JSON.stringify(obj) + "\n");
const started = Date.now();
const ms = () => Date.now() - started;

// The SDK passes only a minimal environment to the child: hand the gate its settings.
const env = {};
for (const [k, v] of Object.entries(process.env)) {
  if (k.startsWith("GAVEL_") || k === "PATH" || k === "HOME") env[k] = v;
}
const transport = new StdioClientTransport({ command: gate[0], args: gate.slice(1), env, stderr: "inherit" });
const client = new Client({ name: "gavel-progress-test", version: "1.0.0" });
client.onerror = (err) => {
  if (String(err && err.message).includes("progress notification for an unknown token")) {
    emit({ event: "late-progress", ms: ms() });
  }
};
await client.connect(transport);
emit({ event: "ready" });

try {
  const result = await client.callTool(
    { name: tool, arguments: JSON.parse(argsJson) },
    undefined,
    {
      timeout: Number(timeoutMs),
      resetTimeoutOnProgress: reset === "true",
      onprogress: (p) => emit({ event: "progress", progress: p.progress, total: p.total ?? null, message: p.message ?? null, ms: ms() }),
    },
  );
  const text = (result.content || []).filter((c) => c.type === "text").map((c) => c.text).join("\n");
  emit({ event: "result", isError: Boolean(result.isError), text, ms: ms() });
} catch (e) {
  emit({ event: "error", code: e.code ?? null, message: String(e.message), ms: ms() });
}
await new Promise((r) => setTimeout(r, 1500));
emit({ event: "done" });
await client.close();
process.exit(0);
