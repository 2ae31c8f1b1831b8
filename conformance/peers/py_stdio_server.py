"""Python MCP peer (mcp SDK 2.3.0, MCPServer) over stdio.

Run: $PEER_PY $PEER_PY_STDIO
Tools: echo(text) -> text; slow(ms) -> sleeps ms, sending progress 4 times;
fail() -> JSON-RPC error FAIL_CODE; fail_tool() -> result with isError=true.
py_http_server.py imports `app` from here, so both serve the same tools.
"""

import anyio
from mcp.server.mcpserver import Context, MCPServer
from mcp.server.mcpserver.exceptions import ToolError
from mcp.shared.exceptions import MCPError

FAIL_CODE = -32042  # server-defined JSON-RPC code, so tests can tell it from SDK errors
STEPS = 4

app = MCPServer("py-peer")


@app.tool()
def echo(text: str) -> str:
    """Return text unchanged."""
    return text


@app.tool()
async def slow(ms: int, ctx: Context) -> str:
    """Sleep ms milliseconds, reporting progress STEPS times along the way."""
    for i in range(STEPS):
        await anyio.sleep(ms / 1000 / STEPS)
        await ctx.report_progress(i + 1, STEPS, f"step {i + 1}/{STEPS}")
    return f"slept {ms} ms"


@app.tool()
def fail() -> str:
    """Fail with a JSON-RPC error (code FAIL_CODE), not a tool result."""
    raise MCPError(FAIL_CODE, "py-peer: deliberate failure", {"tool": "fail"})


@app.tool()
def fail_tool() -> str:
    """Fail as a tool: the result has isError=true."""
    raise ToolError("py-peer: deliberate tool failure")


if __name__ == "__main__":
    app.run()  # stdio
