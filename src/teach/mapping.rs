//! Learn panel: mapping.
