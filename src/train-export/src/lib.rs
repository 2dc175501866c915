//! The Train view's export module, which the view's worker loads (`www/pkg-train-export`) when a person asks
//! for a run as a `.onnx` (issue 18's Convert). The trainer module hands over the run's state
//! (`quantscope_train::convert::params` and `node_state`); this rebuilds the model and its
//! fake-quant nodes, converts them to the integer model they simulate
//! (`quantscope_train::convert::convert`) and writes it as the QDQ graph of the training forward
//! (`quantscope_onnx_quant::mlp`), or an FP32 run as MatMul/Add/Relu; a conv net run likewise
//! (`quantscope_train::convert::convert_conv`, `quantscope_onnx_quant::convnet`). It lives apart from the
//! trainer, whose module has no room for a protobuf writer, and is downloaded only when used.

use quantscope_onnx_quant::convnet::{convnet_onnx, ConvNet as OnnxConvNet, Op};
use quantscope_onnx_quant::mlp::{mlp_onnx, ActivationQuant, LayerWeight, Mlp as OnnxMlp, MlpLayer};
use quantscope_train::conv::{ConvNet, Layer};
use quantscope_train::convert::{
    conv_qat_from_state, convert, convert_conv, digits_conv_from_params, mlp_from_params, qat_from_state, ActivationQparams, IntConvNet,
    IntMlp, IntOp,
};
use quantscope_train::mlp::Mlp;
use quantscope_train::observer::{Averaging, Granularity, AVERAGING_CONSTANT};
use quantscope_train::trainer::{QatConfig, QatMethod};

fn act(q: &ActivationQparams) -> ActivationQuant {
    ActivationQuant { scale: q.scale, zero_point: q.zero_point, quant_max: q.quant_max }
}

/// The integer model as the ONNX writer takes it.
pub fn onnx_model(int: &IntMlp) -> OnnxMlp {
    let layers = int
        .layers
        .iter()
        .map(|l| MlpLayer {
            in_features: l.in_features,
            out_features: l.out_features,
            weight: LayerWeight::Int8 { codes: l.codes.clone(), scales: l.scales.clone() },
            bias: l.bias.clone(),
            output: Some(act(&l.output)),
        })
        .collect();
    OnnxMlp { input: Some(act(&int.input)), layers, uint8_weights: false }
}

/// An FP32 model as the ONNX writer takes it.
pub fn float_model(model: &Mlp) -> OnnxMlp {
    let layers = model
        .layers
        .iter()
        .map(|l| MlpLayer {
            in_features: l.in_features,
            out_features: l.out_features,
            weight: LayerWeight::Float(l.weight.clone()),
            bias: l.bias.clone(),
            output: None,
        })
        .collect();
    OnnxMlp { input: None, layers, uint8_weights: false }
}

/// The integer conv net as the ONNX writer takes it.
pub fn onnx_conv_model(int: &IntConvNet) -> OnnxConvNet {
    let int8 = |codes: &[i8], scales: &[f32]| LayerWeight::Int8 { codes: codes.to_vec(), scales: scales.to_vec() };
    let ops = int
        .ops
        .iter()
        .map(|op| match op {
            IntOp::Conv2d { in_channels, out_channels, kernel, codes, scales, bias } => Op::Conv2d {
                in_channels: *in_channels,
                out_channels: *out_channels,
                kernel: *kernel,
                weight: int8(codes, scales),
                bias: bias.clone(),
            },
            IntOp::Linear { in_features, out_features, codes, scales, bias } => {
                Op::Linear { in_features: *in_features, out_features: *out_features, weight: int8(codes, scales), bias: bias.clone() }
            }
            IntOp::Relu => Op::Relu,
            IntOp::MaxPool2d(k) => Op::MaxPool2d(*k),
            IntOp::Flatten => Op::Flatten,
            IntOp::Quantize(q) => Op::Quantize(act(q)),
        })
        .collect();
    let s = int.input_shape;
    OnnxConvNet { input_shape: [s.channels, s.height, s.width], input: Some(act(&int.input)), ops, uint8_weights: false }
}

/// An FP32 conv net as the ONNX writer takes it.
pub fn float_conv_model(net: &ConvNet) -> OnnxConvNet {
    let ops = net
        .layers
        .iter()
        .map(|layer| match layer {
            Layer::Conv2d(c) => Op::Conv2d {
                in_channels: c.in_channels,
                out_channels: c.out_channels,
                kernel: c.kernel,
                weight: LayerWeight::Float(c.weight.clone()),
                bias: c.bias.clone(),
            },
            Layer::Linear(l) => Op::Linear {
                in_features: l.in_features,
                out_features: l.out_features,
                weight: LayerWeight::Float(l.weight.clone()),
                bias: l.bias.clone(),
            },
            Layer::Relu => Op::Relu,
            Layer::MaxPool2d(k) => Op::MaxPool2d(*k),
            Layer::Flatten => Op::Flatten,
        })
        .collect();
    let s = net.input;
    OnnxConvNet { input_shape: [s.channels, s.height, s.width], input: None, ops, uint8_weights: false }
}

/// The QAT settings of the Train view's runs at `bits` (torch's default qconfig; the averaging
/// and schedule do not matter once trained).
pub fn qat_config(bits: u32, per_channel: bool, lsq: bool) -> QatConfig {
    QatConfig {
        method: if lsq { QatMethod::Learned { static_steps: 0 } } else { QatMethod::Observed },
        bits,
        weight_granularity: if per_channel { Granularity::PerChannel } else { Granularity::PerTensor },
        averaging: Averaging::MovingAverage(AVERAGING_CONSTANT),
        freeze_observers_after: None,
    }
}

/// The `.onnx` of a run of `sizes` from its parameters and, with `qat`, its nodes' state
/// (`quantscope_train::convert::{params, node_state}`), the weight codes stored as int8, or with
/// `uint8_weights` as uint8 + 128 (see `quantscope_onnx_quant::mlp::Mlp`); or why it cannot be written.
pub fn onnx_file(sizes: &[usize], params: &[f32], qat: Option<(QatConfig, &[f32])>, uint8_weights: bool) -> Result<Vec<u8>, String> {
    let model = mlp_from_params(sizes, params).map_err(|e| e.to_string())?;
    let onnx = match qat {
        Some((config, state)) => {
            let nodes = qat_from_state(sizes, &config, state).map_err(|e| e.to_string())?;
            OnnxMlp { uint8_weights, ..onnx_model(&convert(&model, &nodes).map_err(|e| e.to_string())?) }
        }
        None => float_model(&model),
    };
    mlp_onnx(&onnx).map_err(|e| e.to_string())
}

/// [`onnx_file`] for a conv net run (the page's `ConvNet::digits`): its parameters in
/// `ConvNet::params` order, concatenated, and with `qat` its nodes' state (QAT, LSQ or static PTQ).
pub fn conv_onnx_file(params: &[f32], qat: Option<(QatConfig, &[f32])>, uint8_weights: bool) -> Result<Vec<u8>, String> {
    let net = digits_conv_from_params(params).map_err(|e| e.to_string())?;
    let onnx = match qat {
        Some((config, state)) => {
            let nodes = conv_qat_from_state(&net, &config, state).map_err(|e| e.to_string())?;
            OnnxConvNet { uint8_weights, ..onnx_conv_model(&convert_conv(&net, &nodes).map_err(|e| e.to_string())?) }
        }
        None => float_conv_model(&net),
    };
    convnet_onnx(&onnx).map_err(|e| e.to_string())
}

#[cfg(target_arch = "wasm32")]
mod wasm {
    use wasm_bindgen::prelude::*;

    /// The run's `.onnx`: `sizes` `[784, hidden…, 10]`, `params` and `nodes` as the trainer's
    /// `TrainingRun.params()` / `node_state()` give them, `bits` 0 for FP32 (else 2–8, with
    /// `per_channel` weight scales and `lsq` as the run was trained); `uint8_weights` stores the
    /// codes as uint8 + 128 (for ONNX Runtime's fused kernels on x86 without VNNI).
    #[wasm_bindgen]
    pub fn run_onnx(
        sizes: Vec<u32>,
        params: Vec<f32>,
        bits: u32,
        per_channel: bool,
        lsq: bool,
        nodes: Vec<f32>,
        uint8_weights: bool,
    ) -> Result<Vec<u8>, JsError> {
        let sizes: Vec<usize> = sizes.iter().map(|&s| s as usize).collect();
        let qat = (bits > 0).then(|| (super::qat_config(bits, per_channel, lsq), &nodes[..]));
        super::onnx_file(&sizes, &params, qat, uint8_weights).map_err(|e| JsError::new(&e))
    }

    /// A conv net run's `.onnx` (input `[N, 1, 28, 28]`): `params` and `nodes` as the trainer's
    /// `TrainingRun.params()` / `node_state()` give them, `bits` 0 for FP32 (else 2–8, with
    /// `per_channel` weight scales and `lsq` as trained); `uint8_weights` as for [`run_onnx`].
    #[wasm_bindgen]
    pub fn run_conv_onnx(
        params: Vec<f32>,
        bits: u32,
        per_channel: bool,
        lsq: bool,
        nodes: Vec<f32>,
        uint8_weights: bool,
    ) -> Result<Vec<u8>, JsError> {
        let qat = (bits > 0).then(|| (super::qat_config(bits, per_channel, lsq), &nodes[..]));
        super::conv_onnx_file(&params, qat, uint8_weights).map_err(|e| JsError::new(&e))
    }
}
