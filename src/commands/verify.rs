//! `trustkeep verify` (placeholder while the archive core lands).
