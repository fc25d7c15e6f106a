"""Drives a remote MCP server through `gavel gate --http` with the official Python SDK's
Streamable HTTP client (`mcp` on PyPI, `ClientSession` over `streamable_http_client`).

Usage: mcp_http_driver.py URL [AUTHORIZATION]

Scripted like tests/peers/mcp_driver.py: one JSON command per line on stdin, one JSON event
per line on stdout, so the Rust tests (tests/gate_http*.rs) can act while a call is held:

  {"op": "list"}                                   -> {"op": "list", "tools": [names]}
  {"op": "call", "tag": T, "tool": N, "args": {}}  -> {"tag": T, "event": "progress", ...}
    ("progress": false: no progress callback, so no progressToken)
                                                      for each progress notification, then
                                                      {"tag": T, "event": "result",
                                                       "isError": b, "text": "..."}
  {"op": "cancel", "tag": T}                       -> {"tag": T, "event": "cancelled"}
                                                      (the SDK sends notifications/cancelled)
  {"op": "ping"}                                   -> {"op": "ping", "ok": true}
  {"op": "quit"}                                   -> {"op": "quit"}, then the session closes

On start it prints {"op": "ready", "server": name, "protocol": version, "session": id} once
the classic `initialize` handshake is done; `session` is the Mcp-Session-Id the client got.
Elicitation requests from the server are answered with {"answer": "yes from the client"}.
"""

import json
import sys

import anyio
import mcp_types as types
from mcp.client.session import ClientSession
from mcp.client.streamable_http import streamable_http_client
from mcp.shared._httpx_utils import create_mcp_http_client

ELICITED = "yes from the client"


def emit(obj):
    sys.stdout.write(json.dumps(obj) + "\n")
    sys.stdout.flush()


def result_text(result):
    return "\n".join(t for t in (getattr(b, "text", None) for b in result.content) if t is not None)


async def elicitation_callback(context, params):
    emit({"op": "elicited", "message": params.message})
    return types.ElicitResult(action="accept", content={"answer": ELICITED})


async def run(url, authorization):
    headers = {"Authorization": authorization} if authorization else None
    seen = {"session": None}

    async def on_response(response):
        sid = response.headers.get("mcp-session-id")
        if sid:
            seen["session"] = sid

    http = create_mcp_http_client(headers=headers)
    http.event_hooks = {"response": [on_response]}
    async with http:
        async with streamable_http_client(url, http_client=http) as (read, write):
            async with ClientSession(read, write, elicitation_callback=elicitation_callback) as session:
                result = await session.initialize()
                emit({"op": "ready", "server": result.server_info.name,
                      "protocol": result.protocol_version, "session": seen["session"]})
                await serve(session)
    emit({"op": "quit"})


async def serve(session):
    scopes = {}

    async def call(tag, tool, args, want_progress):
        async def progress(value, total, message):
            emit({"tag": tag, "event": "progress", "progress": value, "total": total,
                  "message": message})

        with anyio.CancelScope() as scope:
            scopes[tag] = scope
            try:
                # Without a callback the SDK sends no progressToken.
                callback = progress if want_progress else None
                res = await session.call_tool(tool, args, progress_callback=callback)
                emit({"tag": tag, "event": "result", "isError": bool(res.is_error),
                      "text": result_text(res)})
            except Exception as e:  # a JSON-RPC error, say
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
                tg.start_soon(call, cmd["tag"], cmd["tool"], cmd.get("args") or {},
                              cmd.get("progress", True))
            elif op == "cancel":
                scopes[cmd["tag"]].cancel()
            elif op == "ping":
                await session.send_ping()
                emit({"op": "ping", "ok": True})
            elif op == "quit":
                tg.cancel_scope.cancel()
                break


def main():
    argv = sys.argv[1:]
    if not argv:
        sys.stderr.write(__doc__)
        sys.exit(2)
    anyio.run(run, argv[0], argv[1] if len(argv) > 1 else None)


if __name__ == "__main__":
    main()
