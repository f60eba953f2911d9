//! Sandbox API server tests (being written).
