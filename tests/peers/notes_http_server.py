"""A Streamable HTTP MCP server built on the official Python SDK (`mcp` on PyPI), for the HTTP
gate's tests (tests/gate_http*.rs). It listens on an ephemeral loopback port and prints
{"port": N} on stdout once it accepts connections; the endpoint is /mcp. With TLS_CERT and
TLS_KEY set (PEM files), it speaks https; with JSON_RESPONSE=1 it answers POSTs with JSON.

Every tool call is recorded first, one JSON line in the file named by CALLS_FILE, so a test can
prove what reached the server (and what never did).

Tools: `shout(text)` upper-cases; `append_note(text)` records and answers "noted" (held for
review in the tests); `forget()` is there to be denied; `count(n)` sends n progress
notifications on the call's SSE stream, then answers; `confirm(question)` asks the client
through elicitation (a server->client request) and answers with what it said; `whoami()`
answers with the request headers the server saw (names in lower case), as a JSON object.
"""

import json
import os
import socket
import sys

import anyio
import uvicorn
from pydantic import BaseModel

from mcp.server.mcpserver import Context, MCPServer

app = MCPServer("notes-http")


def record(tool, args):
    with open(os.environ["CALLS_FILE"], "a", encoding="utf-8") as f:
        f.write(json.dumps({"tool": tool, "args": args}) + "\n")


@app.tool()
def shout(text: str) -> str:
    """Upper-cases text."""
    record("shout", {"text": text})
    return text.upper()


@app.tool()
def append_note(text: str) -> str:
    """Appends a note."""
    record("append_note", {"text": text})
    return "noted"


@app.tool()
def forget() -> str:
    """Forgets every note."""
    record("forget", {})
    return "forgotten"


@app.tool()
async def count(n: int, ctx: Context) -> str:
    """Counts to n, reporting progress at each step."""
    record("count", {"n": n})
    for i in range(1, n + 1):
        await ctx.report_progress(i, n, f"step {i}")
        await anyio.sleep(0.05)
    return f"counted to {n}"


class Answer(BaseModel):
    answer: str


@app.tool()
async def confirm(question: str, ctx: Context) -> str:
    """Asks the client a question."""
    record("confirm", {"question": question})
    result = await ctx.elicit(question, Answer)
    if result.action == "accept" and result.data is not None:
        return f"client said: {result.data.answer}"
    return f"client did not answer ({result.action})"


@app.tool()
def whoami(ctx: Context) -> str:
    """The request headers this server saw."""
    record("whoami", {})
    return json.dumps({k.lower(): v for k, v in (ctx.headers or {}).items()})


async def main():
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind(("127.0.0.1", 0))
    sock.listen(64)
    port = sock.getsockname()[1]
    # With JSON_RESPONSE=1 it answers each POST with one JSON body instead of an SSE stream.
    json_response = os.environ.get("JSON_RESPONSE") == "1"
    starlette = app.streamable_http_app(streamable_http_path="/mcp", host="127.0.0.1",
                                        json_response=json_response)
    # With TLS_CERT and TLS_KEY (PEM files) it serves https instead.
    tls = {}
    if os.environ.get("TLS_CERT"):
        tls = {"ssl_certfile": os.environ["TLS_CERT"], "ssl_keyfile": os.environ["TLS_KEY"]}
    server = uvicorn.Server(uvicorn.Config(starlette, log_level="warning", **tls))
    async with anyio.create_task_group() as tg:
        tg.start_soon(lambda: server.serve(sockets=[sock]))
        while not server.started:
            await anyio.sleep(0.02)
        sys.stdout.write(json.dumps({"port": port}) + "\n")
        sys.stdout.flush()


if __name__ == "__main__":
    anyio.run(main)
