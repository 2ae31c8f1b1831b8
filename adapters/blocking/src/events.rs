//! Operator log lines for engine events: the texts are the core's (`Event::describe`).

use tunnel_core::engine::{Engine, Event};

/// Logs `event` on the `tunnel_blocking` target.
pub fn log_event(engine: &Engine, event: &Event) {
    let (level, text) = engine.describe(event);
    log::log!(level, "{text}");
}
