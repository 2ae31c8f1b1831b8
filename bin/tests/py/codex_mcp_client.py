"""Drive `tunnel-client codex mcp-server` with the official Python MCP SDK over stdio.

Usage: codex_mcp_client.py <tunnel-client> <alias> [stop]
The server gets this process's whole environment (the SDK's default passes only a few
variables), so it sees the test's state root and control plane.
Prints one JSON document: server info, tool names and schemas, and the runtime_status and
bad-argument call results, for the Rust test to assert on.
"""
import asyncio
import json
import os
import sys

from mcp import ClientSession, StdioServerParameters
from mcp.client.stdio import stdio_client


async def main(binary: str, alias: str, stop: bool) -> None:
    params = StdioServerParameters(command=binary, args=["codex", "mcp-server"], env=dict(os.environ))
    async with stdio_client(params) as (read, write):
        async with ClientSession(read, write) as session:
            init = await session.initialize()
            tools = await session.list_tools()
            status = await session.call_tool("runtime_status", {"alias": alias})
            bad = await session.call_tool(
                "connect_stdio_mcp",
                {"alias": alias, "mcp_command": "x", "workspace_id": "w", "runtime_api_key": "sk-literal"},
            )
            select = await session.call_tool("install_or_select_tunnel_client", {})
            listed = await session.call_tool("list_runtime_aliases", {})
            stopped = None
            if stop:
                r = await session.call_tool("stop_runtime", {"alias": alias})
                stopped = {"is_error": r.is_error, "text": r.content[0].text, "structured": r.structured_content}
            out = {
                "server": {"name": init.server_info.name, "version": init.server_info.version},
                "protocol": init.protocol_version,
                "tools": {t.name: t.input_schema for t in tools.tools},
                "runtime_status": {
                    "is_error": status.is_error,
                    "text": status.content[0].text,
                    "structured": status.structured_content,
                },
                "bad_key": {"is_error": bad.is_error, "text": bad.content[0].text},
                "select": select.structured_content,
                "list": {"is_error": listed.is_error, "text": listed.content[0].text, "structured": listed.structured_content},
                "stop": stopped,
            }
            print(json.dumps(out))


asyncio.run(main(sys.argv[1], sys.argv[2], len(sys.argv) > 3 and sys.argv[3] == "stop"))
