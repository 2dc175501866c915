//! Learn panel: granularity.
