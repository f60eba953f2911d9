//! Checks over snapshots (placeholder while the archive core lands).
