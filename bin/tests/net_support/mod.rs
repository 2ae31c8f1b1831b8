//! The enterprise-network test kit lives in the test-kit crate so both the binary's tests
//! and the smol adapter's reach it (`tunnel_conformance::net_kit`).
#![allow(unused_imports)]

pub use tunnel_conformance::net_kit::*;
