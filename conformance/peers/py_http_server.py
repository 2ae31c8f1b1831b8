"""Python MCP peer (mcp SDK 2.3.0, MCPServer) over Streamable HTTP on 127.0.0.1.

Run: $PEER_PY $PEER_PY_HTTP PORT [json]      (or PORT=... in the environment)
Endpoint http://127.0.0.1:PORT/mcp. "json" (or PEER_JSON_RESPONSE=1) answers
application/json instead of SSE, which drops progress notifications.
Same tools as py_stdio_server.py.
"""

import os
import sys

from py_stdio_server import app  # the script's directory is on sys.path

if __name__ == "__main__":
    port = sys.argv[1] if len(sys.argv) > 1 else os.environ.get("PORT")
    if not port:
        sys.exit("usage: py_http_server.py PORT [json]   (or set PORT)")
    json_response = "json" in sys.argv[2:] or os.environ.get("PEER_JSON_RESPONSE") == "1"
    app.run("streamable-http", host="127.0.0.1", port=int(port), json_response=json_response)
