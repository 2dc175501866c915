//! The inputs of a llama layer's matrix multiplications, summed as x² per column while the
//! forward pass runs ([`crate::model::Session`] records them; [`crate::imatrix`] turns them into
//! an importance matrix).

/// The matrices of a llama layer, in the order the forward pass multiplies them.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LayerMatrix {
    AttnQ,
    AttnK,
    AttnV,
    AttnOutput,
    FfnGate,
    FfnUp,
    FfnDown,
}

impl LayerMatrix {
    pub const ALL: [LayerMatrix; 7] = [
        LayerMatrix::AttnQ,
        LayerMatrix::AttnK,
        LayerMatrix::AttnV,
        LayerMatrix::AttnOutput,
        LayerMatrix::FfnGate,
        LayerMatrix::FfnUp,
        LayerMatrix::FfnDown,
    ];

    /// The tensor's name in a layer (`blk.N.<this>.weight`).
    pub fn tensor(self) -> &'static str {
        match self {
            LayerMatrix::AttnQ => "attn_q",
            LayerMatrix::AttnK => "attn_k",
            LayerMatrix::AttnV => "attn_v",
            LayerMatrix::AttnOutput => "attn_output",
            LayerMatrix::FfnGate => "ffn_gate",
            LayerMatrix::FfnUp => "ffn_up",
            LayerMatrix::FfnDown => "ffn_down",
        }
    }
}

/// What sees each layer matrix's input while the forward pass runs ([`crate::model::Session`]).
pub(crate) trait ActivationObserver {
    fn observe(&mut self, layer: usize, m: LayerMatrix, x: &[f32]);
}

/// Σx² per input column of each layer matrix, over the tokens evaluated.
pub(crate) struct ActivationSums {
    /// [layer][LayerMatrix as usize], sized at the first input.
    pub(crate) sums: Vec<[Vec<f32>; 7]>,
}

impl ActivationSums {
    pub(crate) fn new(n_layer: usize) -> ActivationSums {
        ActivationSums { sums: (0..n_layer).map(|_| Default::default()).collect() }
    }

    /// `acc[j] += x[j] * x[j]`, as collect_imatrix does (f32, no fused multiply-add).
    pub(crate) fn add(&mut self, layer: usize, m: LayerMatrix, x: &[f32]) {
        let acc = &mut self.sums[layer][m as usize];
        if acc.is_empty() {
            acc.resize(x.len(), 0.0);
        }
        for (a, &v) in acc.iter_mut().zip(x) {
            *a += v * v;
        }
    }

    pub(crate) fn first_non_finite(&self) -> Option<String> {
        self.sums.iter().enumerate().find_map(|(l, layer)| {
            LayerMatrix::ALL
                .iter()
                .find(|&&m| layer[m as usize].iter().any(|v| !v.is_finite()))
                .map(|m| format!("blk.{l}.{}.weight", m.tensor()))
        })
    }
}

impl ActivationObserver for ActivationSums {
    fn observe(&mut self, layer: usize, m: LayerMatrix, x: &[f32]) {
        self.add(layer, m, x);
    }
}
