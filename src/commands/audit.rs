//! `trustkeep audit` (placeholder while the archive core lands).
