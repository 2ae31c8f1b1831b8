//! `tunnel-client dev …`: the control-plane emulator and the demo MCP server as standalone
//! processes, for trying the tunnel on one machine.

use std::net::SocketAddr;
use std::time::Duration;

use tunnel_conformance::emulator::{Emulator, EmulatorConfig};
use tunnel_conformance::mcp_stub::{McpStub, StubConfig};

use super::args::{Args, CliError};

const CONTROL_PLANE_HELP: &str = "Usage: tunnel-client dev control-plane [flags]

Runs the control-plane emulator on this machine: the tunnel API a client polls, an MCP
ingress that forwards requests through the tunnel, and the admin tunnel API. For trying
`tunnel-client run` (or `admin tunnels`) without an OpenAI account; runs until Ctrl-C.

Flags:
  --listen-addr ADDR   where to listen (default 127.0.0.1:0, a free port)
  --tunnel-id ID       the one tunnel it serves (default tunnel_emulator000000000000000000000000)
  --api-key KEY        the runtime key clients must send (default emulator-api-key)
  --admin-key KEY      the key for `tunnel-client admin tunnels` (default emulator-admin-key)
  --url-path P         a path prefix before /v1/… (default none)
  --latency D          add D to every poll answer that carries commands and to every
                       response POST, as a control plane across the internet would (80ms)
  --latency-jitter D   ± D around --latency (default 0)
  --latency-seed N     seed of the jitter (default fixed)
";

const MCP_STUB_HELP: &str = "Usage: tunnel-client dev mcp-stub [flags]

Runs the demo MCP server (Streamable HTTP at /mcp) on this machine, for pointing
`tunnel-client run --mcp.server-url` at; runs until Ctrl-C.

Flags:
  --listen-addr ADDR      where to listen (default 127.0.0.1:0, a free port)
  --server-name N         the name it reports in `initialize` (default mcp-stub)
  --server-version V      the version it reports (default 0.1.0)
";

fn wants_help(args: &[String]) -> bool {
    args.iter().any(|a| matches!(a.as_str(), "--help" | "-h"))
}

/// `dev control-plane [--listen-addr ADDR] [--tunnel-id ID] [--api-key KEY] [--admin-key KEY] [--url-path P]
/// [--latency D] [--latency-jitter D] [--latency-seed N]`: `--latency` adds D to every poll
/// answer that carries commands and to every response POST, as a control plane across the
/// internet would (`80ms`, `0.15s`; ± `--latency-jitter`, drawn from `--latency-seed`).
pub fn control_plane(args: &[String]) -> Result<(), CliError> {
    if wants_help(args) {
        print!("{CONTROL_PLANE_HELP}");
        return Ok(());
    }
    let mut a = Args::new("dev control-plane", args);
    let mut cfg = EmulatorConfig::default();
    while let Some(flag) = a.next_flag()? {
        match flag.as_str() {
            "listen-addr" => cfg.listen_addr = a.value_parsed::<SocketAddr>(&flag)?,
            "tunnel-id" => cfg.tunnel_id = a.value(&flag)?,
            "api-key" => cfg.api_key = a.value(&flag)?,
            "admin-key" => cfg.admin_key = a.value(&flag)?,
            "url-path" => cfg.url_path = a.value(&flag)?,
            "latency" => {
                let d = duration(&flag, &a.value(&flag)?)?;
                (cfg.latency.poll, cfg.latency.post) = (d, d);
            }
            "latency-jitter" => cfg.latency.jitter = duration(&flag, &a.value(&flag)?)?,
            "latency-seed" => cfg.latency.seed = a.value_parsed::<u64>(&flag)?,
            _ => {
                return Err(a.unknown(
                    &flag,
                    &[
                        "listen-addr",
                        "tunnel-id",
                        "api-key",
                        "admin-key",
                        "url-path",
                        "latency",
                        "latency-jitter",
                        "latency-seed",
                    ],
                ))
            }
        }
    }
    let emu = Emulator::start(cfg)
        .map_err(|e| CliError::Io(format!("cannot start the emulator: {e}")))?;
    println!("control-plane emulator listening on {}", emu.base_url());
    println!("  tunnel id:   {}", emu.tunnel_id());
    println!("  API key:     (the value passed with --api-key, or the built-in test key)");
    println!("  admin key:   (the value passed with --admin-key, or the built-in test key) for `tunnel-client admin tunnels`");
    println!("  MCP ingress: {}", emu.mcp_url());
    let l = emu.latency();
    if !l.is_zero() {
        println!(
            "  latency:     +{:?} per poll with commands and per response POST (jitter ±{:?}, seed {})",
            l.post, l.jitter, l.seed
        );
    }
    println!("point a client at it:");
    println!(
        "  CONTROL_PLANE_API_KEY=… tunnel-client run --control-plane.base-url {} --control-plane.tunnel-id {} --mcp.server-url http://127.0.0.1:3001/mcp",
        emu.control_plane_url(),
        emu.tunnel_id()
    );
    wait_forever();
}

/// A `--latency*` value, with the flag named in the error.
fn duration(flag: &str, v: &str) -> Result<Duration, CliError> {
    tunnel_conformance::emulator::parse_duration(v)
        .map_err(|e| CliError::Usage(format!("--{flag}: {e}")))
}

/// `dev mcp-stub [--listen-addr ADDR] [--server-name N] [--server-version V]`
pub fn mcp_stub(args: &[String]) -> Result<(), CliError> {
    if wants_help(args) {
        print!("{MCP_STUB_HELP}");
        return Ok(());
    }
    let mut a = Args::new("dev mcp-stub", args);
    let mut cfg = StubConfig::default();
    while let Some(flag) = a.next_flag()? {
        match flag.as_str() {
            "listen-addr" => cfg.listen_addr = a.value_parsed::<SocketAddr>(&flag)?,
            "server-name" => cfg.server_name = a.value(&flag)?,
            "server-version" => cfg.server_version = a.value(&flag)?,
            _ => return Err(a.unknown(&flag, &["listen-addr", "server-name", "server-version"])),
        }
    }
    let stub =
        McpStub::start(cfg).map_err(|e| CliError::Io(format!("cannot start the MCP stub: {e}")))?;
    println!("demo MCP server listening on {}", stub.url());
    wait_forever();
}

fn wait_forever() -> ! {
    loop {
        std::thread::sleep(Duration::from_secs(3600));
    }
}
