"""Talk to `tunnel-client dev proxy` with the official Python MCP SDK over Streamable HTTP.

Usage: dev_proxy_mcp_client.py <MCP URL>
Prints one JSON document: server info, the tool names, an echo call's text, and a slow
call's progress values (streamed as SSE through the tunnel) and result, for the Rust test.
"""
import asyncio
import json
import sys

from mcp import ClientSession
from mcp.client.streamable_http import streamable_http_client


async def main(url: str) -> None:
    async with streamable_http_client(url) as streams:
        read, write = streams[0], streams[1]
        async with ClientSession(read, write) as session:
            init = await session.initialize()
            tools = await session.list_tools()
            echo = await session.call_tool("echo", {"text": "héllo through dev proxy"})
            progress = []

            async def on_progress(value, total, message):
                progress.append(value)

            slow = await session.call_tool("slow", {"ms": 200}, progress_callback=on_progress)
            print(json.dumps({
                "server": init.server_info.name,
                "tools": sorted(t.name for t in tools.tools),
                "echo": echo.content[0].text if echo.content else None,
                "echo_is_error": echo.is_error,
                "slow": slow.content[0].text if slow.content else None,
                "progress": progress,
            }))


asyncio.run(main(sys.argv[1]))
