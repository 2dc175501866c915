//! A node of a loaded graph: its op and the value slots it reads and writes. Below both the
//! graph (`graph.rs`) and its run plan (`fuse.rs`), which hold lists of them.

use crate::op::Op;
use std::sync::Arc;

#[derive(Debug, Clone)]
pub(crate) struct Node {
    pub name: String,
    pub op: Arc<dyn Op>,
    /// Input slots (`None` for an omitted optional input), with the names for messages.
    pub inputs: Vec<Option<usize>>,
    pub outputs: Vec<Option<usize>>,
}
