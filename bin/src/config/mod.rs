//! Configuration: one settings table for every Go flag, env var and YAML key.
