"""A tiny MCP server built on the official Python SDK (`mcp` on PyPI), which speaks the
2026-07-28 revision (`server/discover`, per-request `_meta`) as well as the classic handshake.
The reference servers on npm do not speak 2026-07-28 yet, so this SDK server is the peer for
that revision.

Tools: `shout(text)` returns text upper-cased; `append_note(text)` appends a line to the file
named by NOTES_FILE (a side effect a test can observe); `forget()` is there to be denied.
"""

import os

from mcp.server.mcpserver import MCPServer

app = MCPServer("notes")


@app.tool()
def shout(text: str) -> str:
    """Upper-cases text."""
    return text.upper()


@app.tool()
def append_note(text: str) -> str:
    """Appends a line to the notes file."""
    with open(os.environ["NOTES_FILE"], "a", encoding="utf-8") as f:
        f.write(text + "\n")
    return "noted"


@app.tool()
def forget() -> str:
    """Deletes the notes file."""
    os.remove(os.environ["NOTES_FILE"])
    return "forgotten"


if __name__ == "__main__":
    app.run("stdio")
