"""Drives `gavel gate` with the official Python SDK (`mcp` on PyPI), watching progress.

Usage: progress_driver.py -- GATE_COMMAND [ARGS...]

Scripted like mcp_driver.py, one JSON command per line on stdin, one JSON event per line out:

  {"op": "call", "tag": T, "tool": N, "args": {}, "progress": b}
      -> {"tag": T, "event": "progress", "progress": p, "total": t, "message": m}  (callback)
      -> later {"tag": T, "event": "result", "isError": b, "text": "..."}
      With "progress": true the SDK sends `_meta.progressToken` and routes progress for it to
      the callback; without, it sends no token.
  {"op": "quit"} -> {"op": "quit"}, then the session closes

Every notification the session surfaces is also printed, whatever it belongs to:
  {"event": "notification", "method": M, "params": {...}}
so a test sees progress that no call asked for. Starts with {"op": "ready"}.
"""

import json
import os
import sys

import anyio
from mcp.client.session import ClientSession
from mcp.client.stdio import StdioServerParameters, stdio_client


def emit(obj):
    sys.stdout.write(json.dumps(obj) + "\n")
    sys.stdout.flush()


def result_text(result):
    return "\n".join(t for t in (getattr(b, "text", None) for b in result.content) if t is not None)


async def on_message(message):
    if isinstance(message, Exception):
        emit({"event": "transport-error", "message": str(message)})
        return
    dump = message.model_dump(by_alias=True, mode="json", exclude_none=True)
    emit({"event": "notification", "method": dump.get("method"), "params": dump.get("params")})


async def run(command):
    env = {k: v for k, v in os.environ.items() if k.startswith("GAVEL_")}
    params = StdioServerParameters(command=command[0], args=command[1:], env=env)
    async with stdio_client(params) as (read, write):
        async with ClientSession(read, write, message_handler=on_message) as session:
            await session.initialize()
            emit({"op": "ready"})

            async def call(tag, tool, args, progress):
                async def on_progress(value, total, message):
                    emit({"tag": tag, "event": "progress", "progress": value, "total": total,
                          "message": message})

                try:
                    res = await session.call_tool(
                        tool, args, progress_callback=on_progress if progress else None)
                    emit({"tag": tag, "event": "result", "isError": bool(res.is_error),
                          "text": result_text(res)})
                except Exception as e:
                    emit({"tag": tag, "event": "error", "message": str(e)})

            stdin = anyio.wrap_file(sys.stdin)
            async with anyio.create_task_group() as tg:
                async for line in stdin:
                    line = line.strip()
                    if not line:
                        continue
                    cmd = json.loads(line)
                    if cmd["op"] == "call":
                        tg.start_soon(call, cmd["tag"], cmd["tool"], cmd.get("args") or {},
                                      bool(cmd.get("progress")))
                    elif cmd["op"] == "quit":
                        tg.cancel_scope.cancel()
                        break
    emit({"op": "quit"})


def main():
    argv = sys.argv[1:]
    if len(argv) < 2 or argv[0] != "--":
        sys.stderr.write(__doc__)
        sys.exit(2)
    anyio.run(run, argv[1:])


if __name__ == "__main__":
    main()
