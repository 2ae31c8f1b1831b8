"""A deliberately rough stdio "MCP server" for the adapter's e2e tests (stdlib only).

It answers `initialize`, `tools/list` and `tools/call` without any SDK, and misbehaves on
request:
  echo {text}          -> result text
  late {ms}            -> answers "late <ms>" after ms, ignoring notifications/cancelled
  garbage {long}       -> writes a non-JSON line, invalid UTF-8 and a `long`-byte line to
                          stdout, then answers
  crash {}             -> exits with status 3 without answering
It also prints a banner to stdout at start (a classic mistake of real servers). With
`--linger` it keeps running after stdin closes, like a server that ignores EOF: only a
signal ends it.
Requests are handled on threads, so answers can overtake each other.
"""

import json
import os
import sys
import threading
import time

out_lock = threading.Lock()


def write_raw(data: bytes) -> None:
    with out_lock:
        sys.stdout.buffer.write(data)
        sys.stdout.buffer.flush()


def send(msg) -> None:
    write_raw(json.dumps(msg, separators=(",", ":")).encode() + b"\n")


def result(req, text):
    send({"jsonrpc": "2.0", "id": req["id"],
          "result": {"content": [{"type": "text", "text": text}], "isError": False}})


def call(req):
    params = req.get("params") or {}
    name = params.get("name")
    args = params.get("arguments") or {}
    if name == "echo":
        result(req, str(args.get("text", "")))
    elif name == "late":
        ms = int(args.get("ms", 1000))
        time.sleep(ms / 1000)
        result(req, "late %d" % ms)
    elif name == "garbage":
        write_raw(b"this is a log line on stdout\n")
        write_raw(b"\xff\xfe\xfd not utf-8\n")
        write_raw(b"{" + b"x" * int(args.get("long", 100000)) + b"}\n")
        result(req, "after garbage")
    elif name == "crash":
        os._exit(3)
    else:
        send({"jsonrpc": "2.0", "id": req["id"],
              "error": {"code": -32602, "message": "unknown tool %s" % name}})


def handle(req):
    method = req.get("method")
    if "id" not in req:
        return  # notifications (initialized, cancelled) are ignored
    if method == "initialize":
        send({"jsonrpc": "2.0", "id": req["id"], "result": {
            "protocolVersion": "2025-11-25", "capabilities": {"tools": {}},
            "serverInfo": {"name": "rough-child", "version": "1"}}})
    elif method == "tools/list":
        send({"jsonrpc": "2.0", "id": req["id"], "result": {"tools": []}})
    elif method == "tools/call":
        call(req)
    else:
        send({"jsonrpc": "2.0", "id": req["id"],
              "error": {"code": -32601, "message": "method not found"}})


def main():
    write_raw(b"rough-child starting (pid %d)\n" % os.getpid())
    for line in sys.stdin.buffer:
        line = line.strip()
        if not line:
            continue
        try:
            req = json.loads(line)
        except ValueError:
            continue
        threading.Thread(target=handle, args=(req,), daemon=True).start()
    if "--linger" in sys.argv[1:]:
        time.sleep(600)


if __name__ == "__main__":
    main()
