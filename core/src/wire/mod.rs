//! Wire types of the control-plane contract (spec/openapi.json).
