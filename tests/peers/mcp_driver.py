"""Drives an MCP server through `gavel gate` with the official Python SDK (`mcp` on PyPI).

Usage: mcp_driver.py [--modern] -- GATE_COMMAND [ARGS...]

The Rust tests (tests/gate_peers.rs) script it over stdin, one JSON command per line, and read
one JSON event per line from stdout, so they can act (approve, cancel) while a call is held:

  {"op": "list"}                                   -> {"op": "list", "tools": [names]}
  {"op": "call", "tag": T, "tool": N, "args": {}}  -> later {"tag": T, "event": "result",
                                                      "isError": b, "text": "..."}
                                                      (calls run concurrently)
  {"op": "cancel", "tag": T}                       -> {"tag": T, "event": "cancelled"}
                                                      (the SDK sends notifications/cancelled)
  {"op": "ping"}                                   -> {"op": "ping", "ok": true}
  {"op": "quit"}                                   -> {"op": "quit"}, then the session closes

On start it prints {"op": "ready", "server": name, "protocol": version} once the session is up:
the classic `initialize` handshake by default, `server/discover` (2026-07-28) with --modern.
"""

import json
import os
import sys

import anyio
import mcp_types as types
from mcp.client.session import ClientSession
from mcp.client.stdio import StdioServerParameters, stdio_client


def emit(obj):
    sys.stdout.write(json.dumps(obj) + "\n")
    sys.stdout.flush()


def result_text(result):
    parts = []
    for block in result.content:
        text = getattr(block, "text", None)
        if text is not None:
            parts.append(text)
    return "\n".join(parts)


async def sampling_callback(context, params):
    # The everything server's sampling tool asks the client for an LLM reply: a server->client
    # request with its own id space, which the gate must pass through untouched.
    return types.CreateMessageResult(
        role="assistant",
        content=types.TextContent(type="text", text="sampled by the test client"),
        model="test-model",
        stop_reason="endTurn",
    )


async def run(modern, command):
    # The SDK hands the server only a minimal environment; add the gate's settings and the
    # test servers' own (NOTES_FILE).
    env = {k: v for k, v in os.environ.items() if k.startswith("GAVEL_") or k == "NOTES_FILE"}
    params = StdioServerParameters(command=command[0], args=command[1:], env=env)
    async with stdio_client(params) as (read, write):
        async with ClientSession(read, write, sampling_callback=sampling_callback) as session:
            if modern:
                result = await session.discover()
                info = session._discover_server_info
                emit({"op": "ready", "server": info.name if info else None,
                      "protocol": session._negotiated_version})
            else:
                result = await session.initialize()
                emit({"op": "ready", "server": result.server_info.name,
                      "protocol": result.protocol_version})

            scopes = {}

            async def call(tag, tool, args):
                with anyio.CancelScope() as scope:
                    scopes[tag] = scope
                    try:
                        res = await session.call_tool(tool, args)
                        emit({"tag": tag, "event": "result", "isError": bool(res.is_error),
                              "text": result_text(res)})
                    except Exception as e:  # a JSON-RPC error from the server, say
                        emit({"tag": tag, "event": "error", "message": str(e)})
                if scope.cancelled_caught:
                    emit({"tag": tag, "event": "cancelled"})

            stdin = anyio.wrap_file(sys.stdin)
            async with anyio.create_task_group() as tg:
                async for line in stdin:
                    line = line.strip()
                    if not line:
                        continue
                    cmd = json.loads(line)
                    op = cmd["op"]
                    if op == "list":
                        tools = await session.list_tools()
                        emit({"op": "list", "tools": [t.name for t in tools.tools]})
                    elif op == "call":
                        tg.start_soon(call, cmd["tag"], cmd["tool"], cmd.get("args") or {})
                    elif op == "cancel":
                        scopes[cmd["tag"]].cancel()
                    elif op == "ping":
                        await session.send_ping()
                        emit({"op": "ping", "ok": True})
                    elif op == "quit":
                        tg.cancel_scope.cancel()
                        break
    emit({"op": "quit"})


def main():
    argv = sys.argv[1:]
    modern = False
    if argv and argv[0] == "--modern":
        modern = True
        argv = argv[1:]
    if not argv or argv[0] != "--" or len(argv) < 2:
        sys.stderr.write(__doc__)
        sys.exit(2)
    anyio.run(run, modern, argv[1:])


if __name__ == "__main__":
    main()
