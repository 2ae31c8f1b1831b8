#!/usr/bin/env python3
"""A stdio child that is only a pipe: it relays its stdin to a TCP port on 127.0.0.1 and
what comes back to its stdout, so a trace replay can script the child from inside the test
(tunnel_conformance::trace::stdio_child). The tunnel client sees a real child process with
real pipes; the script decides what it answers. It exits when either side closes."""
import os
import socket
import sys
import threading

sock = socket.create_connection(("127.0.0.1", int(sys.argv[1])))


def upstream():
    while True:
        data = os.read(0, 65536)
        if not data:
            break
        sock.sendall(data)
    try:
        sock.shutdown(socket.SHUT_WR)
    except OSError:
        pass


threading.Thread(target=upstream, daemon=True).start()
out = sys.stdout.buffer
while True:
    data = sock.recv(65536)
    if not data:
        break
    out.write(data)
    out.flush()
os._exit(0)
