//! `trustkeep sandbox` (being written).
