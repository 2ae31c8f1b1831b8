//! The snapshot the driver publishes and its cell are the core's (`tunnel_core::snapshot`),
//! shared with the smol adapter.

pub use tunnel_core::snapshot::{Published, Snapshot};
