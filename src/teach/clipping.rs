//! Learn panel: clipping.
