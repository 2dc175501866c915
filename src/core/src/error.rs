//! The core's error type: what a scheme, a statistic or a report refuses. Each message says
//! what a person can change; nothing in the core panics on bad input. File errors live with
//! their readers (`quantscope-formats`), engine errors with the engine.

use std::fmt;

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Error {
    /// A scheme id that is not in the registry.
    UnknownScheme(String),
    /// An argument out of its allowed range (bin count, axis, ...).
    InvalidArgument(String),
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Error::UnknownScheme(id) => write!(f, "unknown scheme '{id}'"),
            Error::InvalidArgument(why) => write!(f, "invalid argument: {why}"),
        }
    }
}

impl std::error::Error for Error {}

pub type Result<T, E = Error> = std::result::Result<T, E>;
