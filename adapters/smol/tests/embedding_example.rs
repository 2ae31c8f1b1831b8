//! Runs `examples/embed.rs` (a host with its own async-executor embedding the tunnel with an
//! in-process MCP server) as part of `cargo test`, so CI builds and runs it.

#[path = "../examples/embed.rs"]
mod example;

#[test]
fn the_embedding_example_runs() {
    if let Err(e) = example::run() {
        panic!("{e}");
    }
}
