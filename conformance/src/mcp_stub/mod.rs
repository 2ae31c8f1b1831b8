//! Demo MCP server.
