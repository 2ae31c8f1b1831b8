"""Drive `tunnel-client codex mcp-server` with the official Python MCP SDK over stdio.

Usage: codex_mcp_client.py <tunnel-client> '<JSON list of [tool, arguments]>'
Prints one JSON document: server info, protocol, the tools with their input schemas, and
each call's result (is_error, text, structured), for the Rust test to assert on.
The server gets this process's whole environment (the SDK's default passes only a few
variables), so it sees the test's state root and control plane.
"""
import asyncio
import json
import os
import sys

from mcp import ClientSession, StdioServerParameters
from mcp.client.stdio import stdio_client


async def main(binary: str, calls: list) -> None:
    params = StdioServerParameters(command=binary, args=["codex", "mcp-server"], env=dict(os.environ))
    async with stdio_client(params) as (read, write):
        async with ClientSession(read, write) as session:
            init = await session.initialize()
            tools = await session.list_tools()
            results = []
            for name, arguments in calls:
                r = await session.call_tool(name, arguments)
                results.append({
                    "is_error": r.is_error,
                    "text": r.content[0].text if r.content else "",
                    "structured": r.structured_content,
                })
            print(json.dumps({
                "server": {"name": init.server_info.name, "version": init.server_info.version},
                "protocol": init.protocol_version,
                "tools": {t.name: t.input_schema for t in tools.tools},
                "results": results,
            }))


asyncio.run(main(sys.argv[1], json.loads(sys.argv[2])))
