//! Learn panel: formats.
