//! Control-plane emulator.
