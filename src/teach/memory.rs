//! Learn panel: memory.
