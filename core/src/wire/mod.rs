//! Wire types of the control-plane contract (`spec/openapi.json`).
//!
//! Decoding is deliberately forgiving where the contract allows it (unknown fields are
//! ignored, unknown command types are kept) and strict where a wrong guess would be unsafe
//! (a command without `request_id` or `shard_token` cannot be answered and is dropped).
//! JSON-RPC payloads are never re-encoded: they stay the exact bytes the peer sent.

pub mod api_error;
pub mod command;
pub mod jsonrpc;
pub mod metadata;
pub mod response;

pub use api_error::ApiError;
pub use command::{
    decode_poll_body, CommandKind, DropReason, PollBatch, PolledCommand, ShardToken,
};
pub use jsonrpc::{JsonRpcMessage, MessageShape};
pub use metadata::TunnelMetadata;
pub use response::{RespType, ResponsePayload};
