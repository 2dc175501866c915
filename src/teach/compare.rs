//! Learn panel: compare.
