// Drives `gavel gate` with the official TypeScript MCP client (@modelcontextprotocol/sdk, in
// .peers/npm) and its task API (`client.experimental.tasks`, MCP revision 2025-11-25).
//
// Usage: node task_client.mjs SDK_DIR (tasks|no-tasks) -- GATE_COMMAND [ARGS...]
//   `tasks` declares the client's tasks capability; `no-tasks` declares none.
//
// Scripted like mcp_driver.py: one JSON command per line on stdin, one JSON event per line out.
//   {"op":"tools"}                         -> {"op":"tools","tasks":<server caps.tasks>,"tools":[{name,execution}]}
//   {"op":"stream","tag":T,"tool":N,"args":{},"ttl":ms}
//        -> {"tag":T,"event":"taskCreated"|"taskStatus","task":{...}} ..., then
//           {"tag":T,"event":"result","result":{...}} or {"tag":T,"event":"error","error":{code,message}}
//   {"op":"call","tag":T,"tool":N,"args":{}} -> {"tag":T,"event":"result"|"error",...} (no task)
//   {"op":"get"|"cancel"|"result","taskId":I} -> {"op":..,"ok":{...}} or {"op":..,"error":{code,message}}
//   {"op":"list"}                          -> {"op":"list","ok":{"tasks":[...]}}
//   {"op":"quit"}                          -> {"op":"quit"}
// Every notifications/tasks/status is printed as {"event":"status","task":{...}}, and every
// error the SDK reports outside a request as {"event":"client-error","message":...}.
// Starts with {"op":"ready"}.

import { pathToFileURL } from "node:url";
import path from "node:path";
import readline from "node:readline";

const [sdkDir, mode, sep, ...gate] = process.argv.slice(2);
if (sep !== "--" || gate.length === 0) {
  process.stderr.write("usage: task_client.mjs SDK_DIR (tasks|no-tasks) -- GATE_COMMAND...\n");
  process.exit(2);
}
const load = (rel) => import(pathToFileURL(path.join(sdkDir, "dist/esm", rel)).href);
const { Client } = await load("client/index.js");
const { StdioClientTransport } = await load("client/stdio.js");
const types = await load("types.js");

const emit = (obj) => process.stdout.write(JSON.stringify(obj) + "\n");
const err = (e) => ({ code: e.code ?? null, message: String(e.message) });

const env = {};
for (const [k, v] of Object.entries(process.env)) {
  if (k.startsWith("GAVEL_") || k === "PATH" || k === "HOME") env[k] = v;
}
const transport = new StdioClientTransport({ command: gate[0], args: gate.slice(1), env, stderr: "inherit" });
const capabilities = mode === "tasks" ? { tasks: { list: {}, cancel: {} } } : {};
const client = new Client({ name: "gavel-task-test", version: "1.0.0" }, { capabilities });
// A line the SDK could not place (say, an answer to a request it never sent) is printed too.
client.onerror = (e) => emit({ event: "client-error", message: String(e && e.message) });
client.setNotificationHandler(types.TaskStatusNotificationSchema, (n) => emit({ event: "status", task: n.params }));
await client.connect(transport);
emit({ op: "ready" });

async function stream(cmd) {
  const options = { task: { ttl: cmd.ttl ?? 60000 }, timeout: 120000 };
  for await (const m of client.experimental.tasks.callToolStream({ name: cmd.tool, arguments: cmd.args ?? {} }, undefined, options)) {
    if (m.type === "error") emit({ tag: cmd.tag, event: "error", error: err(m.error) });
    else if (m.type === "result") emit({ tag: cmd.tag, event: "result", result: m.result });
    else emit({ tag: cmd.tag, event: m.type, task: m.task });
  }
}

async function call(cmd) {
  try {
    const result = await client.callTool({ name: cmd.tool, arguments: cmd.args ?? {} }, undefined, { timeout: 120000 });
    emit({ tag: cmd.tag, event: "result", result });
  } catch (e) {
    emit({ tag: cmd.tag, event: "error", error: err(e) });
  }
}

async function op(cmd, f) {
  try {
    emit({ op: cmd.op, ok: await f() });
  } catch (e) {
    emit({ op: cmd.op, error: err(e) });
  }
}

const t = client.experimental.tasks;
const lines = readline.createInterface({ input: process.stdin });
for await (const line of lines) {
  if (!line.trim()) continue;
  const cmd = JSON.parse(line);
  if (cmd.op === "tools") {
    const listed = await client.listTools();
    emit({ op: "tools", tasks: client.getServerCapabilities()?.tasks ?? null,
      tools: listed.tools.map((x) => ({ name: x.name, execution: x.execution ?? null })) });
  } else if (cmd.op === "stream") stream(cmd);
  else if (cmd.op === "call") call(cmd);
  else if (cmd.op === "get") op(cmd, () => t.getTask(cmd.taskId));
  else if (cmd.op === "cancel") op(cmd, () => t.cancelTask(cmd.taskId));
  else if (cmd.op === "result") op(cmd, () => t.getTaskResult(cmd.taskId, types.CallToolResultSchema));
  else if (cmd.op === "list") op(cmd, () => t.listTasks());
  else if (cmd.op === "quit") break;
}
await client.close();
emit({ op: "quit" });
process.exit(0);
