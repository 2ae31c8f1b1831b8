// Preload (node --require) for server-everything's streamableHttp/sse modes:
// they call app.listen(PORT) with no host, which binds every interface. This
// makes a host-less TCP listen bind 127.0.0.1 and logs the real address to
// stderr ("peer-loopback: listening on 127.0.0.1:PORT"), so PORT=0 works too.
"use strict";
const net = require("node:net");
const listen = net.Server.prototype.listen;
net.Server.prototype.listen = function (...args) {
  const a0 = args[0];
  const isPort = typeof a0 === "number" || (typeof a0 === "string" && a0 !== "" && !isNaN(Number(a0)));
  if (isPort && typeof args[1] !== "string") {
    args.splice(1, 0, "127.0.0.1");
    this.once("listening", () => {
      const { address, port } = this.address();
      process.stderr.write(`peer-loopback: listening on ${address}:${port}\n`);
    });
  }
  return listen.apply(this, args);
};
