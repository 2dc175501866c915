//! The Train view's Convert (issue 18): a run trained with fake quantization, handed over as the
//! trainer module hands it to this module, converted (`quantscope_train::convert`) and written as
//! a QDQ `.onnx` (`quantscope_onnx_quant::mlp`, through `quantscope_train_export::onnx_file`),
//! gives the fake-quant forward's predictions when quantscope's engine, ONNX Runtime and ONNX's
//! reference evaluator run the file.
//!
//! Fixed small runs (784-16-10, one epoch of the shipped training digits, seed 7) are trained
//! here; their files are tests/fixtures/train_qdq/<case>.onnx, byte for byte (set
//! QUANTSCOPE_WRITE_FIXTURES=1 to rewrite them after a deliberate change), and
//! scripts/fixtures/check_train_qdq.py (onnxruntime 1.32.0, onnx 1.23.2) ran them on the 2,000
//! test digits into outputs.npz; scripts/fixtures/make_train_qdq_torch.py (torch 1.13) ran torch's
//! fake-quant forward of the same weights and qparams (states.npz, also written here) into torch.npz.
//!
//! The conv net (`ConvNet::digits`, one epoch of the training digits, seed 3) the same way:
//! conv_qat8 (QAT INT8, weight scales per output channel), conv_qat8_u8 (its codes as uint8 +
//! 128), conv_qat4_tensor (QAT INT4, one weight scale per tensor), conv_ptq8 (the FP32 run's
//! static PTQ INT8, min-max, torch's `prepare` → calibrate → `convert`) and conv_fp32; the
//! files take `[N, 1, 28, 28]`. See `conv_runs_give_the_fake_quant_predictions` for their tolerance.
//!
//! Tolerance: the argmax of every test digit is the same everywhere. The logits are on the last
//! layer's output grid, so they are equal or differ by whole steps of its scale: MatMul's float
//! summation order and QuantizeLinear's `x / s` (torch: `x · (1/s)`) move a value by an ulp, and
//! where that crosses a rounding boundary one code moves by one. At most one step, in at most
//! 0.5 % of the logits.

use quantscope_engine::{Model, Value};
use quantscope_onnx_quant::mlp::{mlp_onnx, ActivationQuant, LayerWeight, Mlp as OnnxMlp, MlpLayer};
use quantscope_train::conv::{ConvNet, ConvTape};
use quantscope_train::convert::{conv_qat_from_state, convert, convert_conv, digits_conv_from_params, node_state, params, IntOp};
use quantscope_train::data::Dataset;
use quantscope_train::mlp::Tape;
use quantscope_train::optim::OptimizerKind;
use quantscope_train::ptq::{static_calibrated_conv, Calibration};
use quantscope_train::trainer::{QatConfig, QatMethod, TrainConfig, Trainer};
use quantscope_train_export::{conv_onnx_file, onnx_file, qat_config};

const FIXTURES: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/../../tests/fixtures/train_qdq/");

fn digits(file: &str) -> Dataset {
    let bytes = std::fs::read(format!("{}/../../www/models/{file}", env!("CARGO_MANIFEST_DIR"))).expect("shipped digits");
    let tensors = quantscope_formats::npz::parse(&bytes).expect("digits npz");
    let get = |name: &str| tensors.iter().find(|t| t.name == name).unwrap_or_else(|| panic!("{file} has no {name}"));
    let pixels: Vec<u8> = get("images").data.iter().map(|&v| v as u8).collect();
    let labels: Vec<u8> = get("labels").data.iter().map(|&v| v as u8).collect();
    Dataset::from_u8(&pixels, &labels, 784, 10).expect("digits")
}

/// QAT at (bits, weight scales per neuron, LSQ).
type Qat = (u32, bool, bool);

/// The cases: name, QAT or FP32, and whether the weight codes are stored as uint8 + 128.
const CASES: [(&str, Option<Qat>, bool); 5] = [
    ("qat8", Some((8, true, false)), false),
    ("qat8_u8", Some((8, true, false)), true),
    ("qat4_tensor", Some((4, false, false)), false),
    ("lsq2", Some((2, true, true)), false),
    ("fp32", None, false),
];

fn train(qat: Option<Qat>, data: &Dataset) -> Trainer {
    let qat = qat.map(|(bits, per_channel, lsq)| {
        let mut config = qat_config(bits, per_channel, lsq);
        if lsq {
            config.method = QatMethod::Learned { static_steps: 10 };
        }
        config
    });
    let config = TrainConfig {
        sizes: vec![784, 16, 10],
        optimizer: OptimizerKind::adam(1e-3),
        epochs: 1,
        batch_size: 64,
        seed: 7,
        qat,
        distill: None,
    };
    let mut trainer = Trainer::new(config, data).expect("config");
    while !trainer.finished() {
        trainer.step(data).expect("no divergence");
    }
    trainer
}

/// The file of a finished run, written as the page writes it (the run's state handed over as
/// the trainer module hands it to the converter module), and the training forward's logits on
/// `test` (fake quant with the observers off, as `evaluate` runs it) and the last layer's output
/// scale (0 for FP32).
fn export(trainer: &Trainer, test: &Dataset, uint8_weights: bool) -> (Vec<u8>, Vec<f32>, f32) {
    let mut qat = trainer.qat.clone();
    let mut tape = Tape::default();
    if let Some(q) = qat.as_mut() {
        q.set_observers(false);
    }
    trainer.model.forward(&test.images, test.len(), qat.as_mut(), &mut tape);
    let logits = tape.logits().to_vec();
    let sizes = trainer.model.sizes();
    let state = trainer.qat.as_ref().map(node_state);
    let qat_state = trainer.config.qat.zip(state.as_deref());
    let bytes = onnx_file(&sizes, &params(&trainer.model), qat_state, uint8_weights).expect("write");
    let step = trainer.qat.as_ref().map_or(0.0, |q| convert(&trainer.model, q).expect("convert").layers.last().unwrap().output.scale);
    (bytes, logits, step)
}

fn argmax(row: &[f32]) -> usize {
    row.iter().enumerate().fold(0, |b, (i, &v)| if v > row[b] { i } else { b })
}

/// Asserts the predictions are equal and the logits within `steps` of `step` in at most `share`
/// of them (exactly equal when `step` is 0); returns (max |diff|, differing logits).
fn assert_close(what: &str, ours: &[f32], theirs: &[f32], step: f32) -> (f32, usize) {
    assert_close_within(what, ours, theirs, step, 200)
}

/// [`assert_close`] allowing one step in at most 1/`per` of the logits.
fn assert_close_within(what: &str, ours: &[f32], theirs: &[f32], step: f32, per: usize) -> (f32, usize) {
    assert_eq!(ours.len(), theirs.len(), "{what}: lengths");
    let rows = ours.len() / 10;
    for r in 0..rows {
        let (a, b) = (&ours[r * 10..r * 10 + 10], &theirs[r * 10..r * 10 + 10]);
        assert_eq!(argmax(a), argmax(b), "{what}: digit {r} predicted differently: {a:?} against {b:?}");
    }
    let mut max = 0f32;
    let mut differing = 0;
    for (x, y) in ours.iter().zip(theirs) {
        let d = (x - y).abs();
        if d != 0.0 {
            differing += 1;
        }
        max = max.max(d);
    }
    if step > 0.0 {
        // Whole steps of the output grid, and at most one.
        assert!(max <= step * 1.0001, "{what}: logits differ by {max}, more than one output step {step}");
        assert!(differing * per <= ours.len(), "{what}: {differing} of {} logits differ", ours.len());
    } else {
        assert!(max <= 1e-4, "{what}: FP32 logits differ by {max}");
    }
    (max, differing)
}

fn engine_logits(bytes: &[u8], test: &Dataset) -> Vec<f32> {
    engine_logits_of(bytes, test, vec![test.len(), 784])
}

/// The engine's logits of the file on `test`'s digits as `shape`.
fn engine_logits_of(bytes: &[u8], test: &Dataset, shape: Vec<usize>) -> Vec<f32> {
    let model = Model::from_onnx(bytes).expect("the engine loads the exported file");
    let out = model.run(&[("input", Value::f32(shape, test.images.clone()))]).expect("the engine runs it");
    assert_eq!(out[0].0, "logits");
    assert_eq!(out[0].1.shape(), &[test.len(), 10]);
    out[0].1.as_f32().expect("float logits").to_vec()
}

#[test]
fn converted_runs_give_the_fake_quant_predictions() {
    let (train_data, test) = (digits("mnist_train.npz"), digits("mnist_test.npz"));
    let write = std::env::var_os("QUANTSCOPE_WRITE_FIXTURES").is_some();
    let read = |file: &str, by: &str| {
        let bytes = std::fs::read(format!("{FIXTURES}{file}")).unwrap_or_else(|_| panic!("{file} ({by})"));
        quantscope_formats::npz::parse(&bytes).expect("fixture npz")
    };
    let outputs = (!write).then(|| read("outputs.npz", "scripts/fixtures/check_train_qdq.py"));
    let torch = (!write).then(|| read("torch.npz", "scripts/fixtures/make_train_qdq_torch.py"));
    let mut states: Vec<(String, Vec<usize>, Vec<f32>)> = Vec::new();
    for (name, qat, uint8_weights) in CASES {
        let trainer = train(qat, &train_data);
        let (bytes, fake_quant, step) = export(&trainer, &test, uint8_weights);
        if let (Some(q), false) = (&trainer.qat, uint8_weights) {
            states.extend(torch_state(name, &trainer.model, &convert(&trainer.model, q).expect("convert")));
        }
        let path = format!("{FIXTURES}{name}.onnx");
        if write {
            std::fs::create_dir_all(FIXTURES).unwrap();
            std::fs::write(&path, &bytes).unwrap();
        } else {
            let committed = std::fs::read(&path).expect("committed export");
            assert!(committed == bytes, "{name}: the export differs from {path} (QUANTSCOPE_WRITE_FIXTURES=1 rewrites it)");
        }
        let engine = engine_logits(&bytes, &test);
        let (max, n) = assert_close(&format!("{name}: engine"), &fake_quant, &engine, step);
        eprintln!("{name}: engine against the fake-quant forward: max |diff| {max}, {n} logits differ (step {step})");
        if let Some(outputs) = &outputs {
            for runtime in ["ort", "reference"] {
                let key = format!("{name}_{runtime}");
                let t = outputs.iter().find(|t| t.name == key).unwrap_or_else(|| panic!("outputs.npz has no {key}"));
                assert_eq!(t.shape, vec![test.len(), 10]);
                let (max, n) = assert_close(&key, &fake_quant, &t.data, step);
                eprintln!("{key} against the fake-quant forward: max |diff| {max}, {n} logits differ");
            }
        }
        // torch's own fake-quant forward of the same weights and qparams (QAT cases).
        if let (Some(torch), true) = (&torch, qat.is_some() && !uint8_weights) {
            let key = format!("{name}_torch");
            let t = torch.iter().find(|t| t.name == key).unwrap_or_else(|| panic!("torch.npz has no {key}"));
            let (max, n) = assert_close(&key, &fake_quant, &t.data, step);
            eprintln!("{key} against the fake-quant forward: max |diff| {max}, {n} logits differ");
            let ort = outputs.as_ref().and_then(|o| o.iter().find(|o| o.name == format!("{name}_ort"))).expect("ORT's logits");
            let (max, n) = assert_close(&format!("{name}: ORT against torch"), &ort.data, &t.data, step);
            eprintln!("{name}: ORT against torch: max |diff| {max}, {n} logits differ");
        }
    }
    // The states torch ran are the ones these runs convert.
    let arrays: Vec<(&str, &[usize], &[f32])> = states.iter().map(|(n, s, v)| (n.as_str(), s.as_slice(), v.as_slice())).collect();
    let bytes = quantscope_formats::npz::write_f32(&arrays);
    let path = format!("{FIXTURES}states.npz");
    if write {
        std::fs::write(&path, &bytes).unwrap();
    } else {
        assert!(std::fs::read(&path).expect("states.npz") == bytes, "the runs' states differ from {path}");
    }
}

/// What scripts/fixtures/make_train_qdq_torch.py runs torch's fake quantization with: each
/// layer's float weight `[out, in]`, bias and weight scales (zero points 0), the (scale, zero
/// point) of the input and of each layer's output, and the ranges (weight qmin, qmax; activation qmax).
fn torch_state(
    name: &str,
    model: &quantscope_train::mlp::Mlp,
    int: &quantscope_train::convert::IntMlp,
) -> Vec<(String, Vec<usize>, Vec<f32>)> {
    let mut out = Vec::new();
    for (l, (layer, il)) in model.layers.iter().zip(&int.layers).enumerate() {
        out.push((format!("{name}_w{l}"), vec![layer.out_features, layer.in_features], layer.weight.clone()));
        out.push((format!("{name}_b{l}"), vec![layer.out_features], layer.bias.clone()));
        out.push((format!("{name}_ws{l}"), vec![il.scales.len()], il.scales.clone()));
    }
    let act: Vec<f32> =
        std::iter::once(&int.input).chain(int.layers.iter().map(|l| &l.output)).flat_map(|q| [q.scale, q.zero_point as f32]).collect();
    out.push((format!("{name}_act"), vec![act.len() / 2, 2], act));
    let half = 1 << (int.bits - 1);
    out.push((format!("{name}_range"), vec![3], vec![-half as f32, (half - 1) as f32, int.input.quant_max as f32]));
    out
}

#[test]
fn bad_models_are_refused_with_the_reason() {
    let layer = |i: usize, o: usize| MlpLayer {
        in_features: i,
        out_features: o,
        weight: LayerWeight::Int8 { codes: vec![0; i * o], scales: vec![0.5] },
        bias: vec![0.0; o],
        output: Some(ActivationQuant { scale: 0.1, zero_point: 0, quant_max: 255 }),
    };
    let input = Some(ActivationQuant { scale: 1.0 / 255.0, zero_point: 0, quant_max: 255 });
    let err = |m: OnnxMlp| mlp_onnx(&m).unwrap_err().to_string();
    assert!(mlp_onnx(&OnnxMlp { input, uint8_weights: false, layers: vec![layer(4, 3), layer(3, 2)] }).is_ok());
    assert_eq!(err(OnnxMlp { input, uint8_weights: false, layers: vec![] }), "the model has no layers");
    assert_eq!(
        err(OnnxMlp { input, uint8_weights: false, layers: vec![layer(4, 3), layer(2, 2)] }),
        "layer 1 takes 2 inputs but layer 0 gives 3"
    );
    let mut l = layer(4, 3);
    l.weight = LayerWeight::Int8 { codes: vec![0; 12], scales: vec![0.5, 0.5] };
    assert_eq!(err(OnnxMlp { input, uint8_weights: false, layers: vec![l] }), "layer 0: 2 weight scales for 3 outputs (1 or 3)");
    let mut l = layer(4, 3);
    l.weight = LayerWeight::Int8 { codes: vec![0; 12], scales: vec![f32::NAN] };
    assert_eq!(
        err(OnnxMlp { input, uint8_weights: false, layers: vec![l] }),
        "layer 0: the weight scale NaN is not a positive finite number"
    );
    let mut l = layer(4, 3);
    l.output = Some(ActivationQuant { scale: 0.1, zero_point: 9, quant_max: 3 });
    assert_eq!(err(OnnxMlp { input, uint8_weights: false, layers: vec![l] }), "layer 0's output: zero point 9 outside the codes 0..=3");
    let mut l = layer(4, 3);
    l.bias = vec![0.0; 2];
    assert_eq!(err(OnnxMlp { input, uint8_weights: false, layers: vec![l] }), "layer 0: 2 biases for 3 outputs");
    assert_eq!(
        err(OnnxMlp { input: None, uint8_weights: false, layers: vec![layer(4, 3)] }),
        "layer 0 is quantized but the input is not: a QDQ model quantizes all or nothing"
    );
    let mut l = layer(4, 3);
    l.weight = LayerWeight::Float(vec![0.0; 11]);
    assert_eq!(err(OnnxMlp { input, uint8_weights: false, layers: vec![l] }), "layer 0: 11 weights for 3 × 4");
}

/// A QAT node whose fake quant is off has no integer model: refused with the reason.
#[test]
fn convert_refuses_a_node_that_is_off() {
    let data = digits("mnist_test.npz");
    let trainer = train(Some((8, true, false)), &data);
    let mut qat = trainer.qat.clone().unwrap();
    qat.weights[1].set_fake_quant(false);
    let err = convert(&trainer.model, &qat).unwrap_err().to_string();
    assert_eq!(err, "invalid training setting: layer 1's weight's fake quantization is off: there is no integer model to convert to");
}

/// A run's state that does not fit its shape is refused with the reason.
#[test]
fn a_state_that_does_not_fit_is_refused() {
    let sizes = [4, 3, 2];
    let params = vec![0.1; 4 * 3 + 3 + 3 * 2 + 2];
    assert_eq!(
        onnx_file(&sizes, &params[1..], None, false).unwrap_err(),
        "invalid training data: 22 parameters for [4, 3, 2], which has 23"
    );
    let config = qat_config(8, true, false);
    let cut = [1.0, 1.0, 0.5];
    assert_eq!(
        onnx_file(&sizes, &params, Some((config, &cut)), false).unwrap_err(),
        "invalid training data: the fake-quant node state is cut short"
    );
    assert!(onnx_file(&sizes, &params, None, false).is_ok());
}

/// A conv net case: QAT INT8 with weight scales per channel, QAT INT4 per tensor, the FP32
/// run's static PTQ INT8 (min-max), or the FP32 run itself.
#[derive(Clone, Copy)]
enum ConvCase {
    Qat8PerChannel,
    Qat4PerTensor,
    Ptq8,
    Fp32,
}

/// The conv net cases: name, case, whether the weight codes are stored as uint8 + 128.
const CONV_CASES: [(&str, ConvCase, bool); 5] = [
    ("conv_qat8", ConvCase::Qat8PerChannel, false),
    ("conv_qat8_u8", ConvCase::Qat8PerChannel, true),
    ("conv_qat4_tensor", ConvCase::Qat4PerTensor, false),
    ("conv_ptq8", ConvCase::Ptq8, false),
    ("conv_fp32", ConvCase::Fp32, false),
];

/// One epoch of the page's conv net (Adam 0.001, batch 64, seed 3), FP32 or QAT at (bits, per channel).
fn train_conv(qat: Option<(u32, bool)>, data: &Dataset) -> Trainer {
    let config = TrainConfig {
        sizes: vec![],
        optimizer: OptimizerKind::adam(1e-3),
        epochs: 1,
        batch_size: 64,
        seed: 3,
        qat: qat.map(|(bits, per_channel)| qat_config(bits, per_channel, false)),
        distill: None,
    };
    let mut trainer = Trainer::with_conv(config, data, ConvNet::digits(3)).expect("config");
    while !trainer.finished() {
        trainer.step(data).expect("no divergence");
    }
    trainer
}

/// The fake-quant (or FP32) forward's logits of `net` on `test`, observers off, as `evaluate_conv` runs it.
fn conv_logits(net: &ConvNet, qat: Option<&quantscope_train::mlp::Qat>, test: &Dataset) -> Vec<f32> {
    let mut qat = qat.cloned();
    if let Some(q) = qat.as_mut() {
        q.set_observers(false);
    }
    let mut tape = ConvTape::default();
    let mut logits = Vec::with_capacity(test.len() * 10);
    for chunk in test.images.chunks(100 * 784) {
        net.forward(chunk, chunk.len() / 784, qat.as_mut(), &mut tape);
        logits.extend_from_slice(tape.logits());
    }
    logits
}

/// Each case's fake-quant logits on the test digits, the engine's, ORT's and the reference
/// evaluator's run of the exported file agree: the same class for every digit, and the logits on
/// the last output's grid within one step of its scale (a conv's float sum in another order can
/// move an activation across a rounding boundary, and the next layers carry the step on) in at most
/// 0.2 % of them (seen: at most 5 of 20,000); FP32 within 1e-4 (seen: 1.3e-5). The files are the
/// committed ones byte for byte; the integer model's dequantized weights are the fake-quantized ones bit for bit, and the state the
/// trainer hands over rebuilds the same integer model.
#[test]
fn conv_runs_give_the_fake_quant_predictions() {
    let (train_data, test) = (digits("mnist_train.npz"), digits("mnist_test.npz"));
    let write = std::env::var_os("QUANTSCOPE_WRITE_FIXTURES").is_some();
    let outputs = (!write).then(|| {
        let bytes = std::fs::read(format!("{FIXTURES}outputs.npz")).expect("outputs.npz (scripts/fixtures/check_train_qdq.py)");
        quantscope_formats::npz::parse(&bytes).expect("fixture npz")
    });
    let fp32 = train_conv(None, &train_data);
    let (qat8, qat4) = (train_conv(Some((8, true)), &train_data), train_conv(Some((4, false)), &train_data));
    let ptq_config =
        quantscope_train::trainer::QatConfig { averaging: quantscope_train::observer::Averaging::MinMax, ..qat_config(8, true, false) };
    let (w, a) = ptq_config.specs();
    let ptq =
        static_calibrated_conv(fp32.conv.as_ref().unwrap(), w, a, Calibration::MinMax, &train_data.images[..1024 * 784]).expect("PTQ");
    for (name, case, uint8_weights) in CONV_CASES {
        let (trainer, nodes) = match case {
            ConvCase::Qat8PerChannel => (&qat8, Some((qat8.config.qat.unwrap(), qat8.qat.clone().unwrap()))),
            ConvCase::Qat4PerTensor => (&qat4, Some((qat4.config.qat.unwrap(), qat4.qat.clone().unwrap()))),
            ConvCase::Ptq8 => (&fp32, Some((ptq_config, ptq.clone()))),
            ConvCase::Fp32 => (&fp32, None),
        };
        let net = trainer.conv.as_ref().unwrap();
        let fake_quant = conv_logits(net, nodes.as_ref().map(|(_, q)| q), &test);
        let flat: Vec<f32> = net.params().into_iter().flatten().copied().collect();
        let state = nodes.as_ref().map(|(c, q)| (*c, node_state(q)));
        let bytes = conv_onnx_file(&flat, state.as_ref().map(|(c, s)| (*c, s.as_slice())), uint8_weights).expect("write");
        let step = match &nodes {
            Some((config, q)) => {
                let int = convert_conv(net, q).expect("convert");
                // The state as handed over rebuilds the same integer model.
                let rebuilt = digits_conv_from_params(&flat).unwrap();
                assert_eq!(&rebuilt, net);
                let again = conv_qat_from_state(&rebuilt, config, &node_state(q)).unwrap();
                assert_eq!(convert_conv(&rebuilt, &again).unwrap(), int, "{name}: the handed-over state converts differently");
                assert_dequantized_weights_are_fake_quantized(name, net, q, &int);
                match int.ops.last() {
                    Some(IntOp::Quantize(out)) => out.scale,
                    other => panic!("{name}: the last op is {other:?}, not the logits' fake quant"),
                }
            }
            None => 0.0,
        };
        let path = format!("{FIXTURES}{name}.onnx");
        if write {
            std::fs::write(&path, &bytes).unwrap();
        } else {
            let committed = std::fs::read(&path).expect("committed export");
            assert!(committed == bytes, "{name}: the export differs from {path} (QUANTSCOPE_WRITE_FIXTURES=1 rewrites it)");
        }
        let accuracy = quantscope_train::trainer::count_correct(&fake_quant, &test.labels, 10) as f32 / test.len() as f32;
        let engine = engine_logits_of(&bytes, &test, vec![test.len(), 1, 28, 28]);
        let (max, n) = assert_close_within(&format!("{name}: engine"), &fake_quant, &engine, step, 500);
        eprintln!("{name}: {accuracy} accuracy; engine against the fake-quant forward: max |diff| {max}, {n} logits differ (step {step})");
        if let Some(outputs) = &outputs {
            for runtime in ["ort", "reference"] {
                let key = format!("{name}_{runtime}");
                let t = outputs.iter().find(|t| t.name == key).unwrap_or_else(|| panic!("outputs.npz has no {key}"));
                assert_eq!(t.shape, vec![test.len(), 10]);
                let (max, n) = assert_close_within(&key, &fake_quant, &t.data, step, 500);
                eprintln!("{key} against the fake-quant forward: max |diff| {max}, {n} logits differ");
            }
        }
    }
}

/// Every weight of the integer model, `code · scale`, equals the weight node's fake quant of the
/// float weight bit for bit.
fn assert_dequantized_weights_are_fake_quantized(
    name: &str,
    net: &ConvNet,
    qat: &quantscope_train::mlp::Qat,
    int: &quantscope_train::convert::IntConvNet,
) {
    let mut qat = qat.clone();
    qat.set_observers(false);
    let weights = int.ops.iter().filter_map(|op| match op {
        IntOp::Conv2d { codes, scales, .. } | IntOp::Linear { codes, scales, .. } => Some((codes, scales)),
        _ => None,
    });
    let params = net.params();
    for (p, (codes, scales)) in weights.enumerate() {
        let w = params[2 * p];
        let rows = params[2 * p + 1].len();
        let (mut fq, mut mask) = (vec![0.0; w.len()], vec![false; w.len()]);
        qat.weights[p].forward(w, rows, &mut fq, &mut mask);
        let per_row = w.len() / rows;
        for (i, (&c, &f)) in codes.iter().zip(&fq).enumerate() {
            let s = scales[if scales.len() == 1 { 0 } else { i / per_row }];
            assert_eq!((c as f32 * s).to_bits(), f.to_bits(), "{name}: weight {p}[{i}]: code {c} · {s} against {f}");
        }
    }
}

/// An LSQ conv run (INT4, scales per channel, one epoch, seed 3) converts as a QAT one does: its
/// learned scales clamped to eps and zero points rounded, the handed-over state rebuilds the same
/// integer model, every dequantized weight is the fake-quantized one bit for bit, and the engine's
/// run of the file predicts every test digit as the fake-quant forward does (the logits within one
/// output step in at most 0.2 % of them, as the QAT runs above).
#[test]
fn an_lsq_conv_run_gives_the_fake_quant_predictions() {
    let (train_data, test) = (digits("mnist_train.npz"), digits("mnist_test.npz"));
    let config = TrainConfig {
        sizes: vec![],
        optimizer: OptimizerKind::adam(1e-3),
        epochs: 1,
        batch_size: 64,
        seed: 3,
        // The page's schedule: the observers set the scales on the first 10 steps.
        qat: Some(QatConfig { method: QatMethod::Learned { static_steps: 10 }, ..qat_config(4, true, true) }),
        distill: None,
    };
    let mut trainer = Trainer::with_conv(config, &train_data, ConvNet::digits(3)).expect("config");
    while !trainer.finished() {
        trainer.step(&train_data).expect("no divergence");
    }
    let (net, q) = (trainer.conv.as_ref().unwrap(), trainer.qat.as_ref().unwrap());
    let fake_quant = conv_logits(net, Some(q), &test);
    let flat: Vec<f32> = net.params().into_iter().flatten().copied().collect();
    let state = node_state(q);
    let int = convert_conv(net, q).expect("convert");
    let again = conv_qat_from_state(&digits_conv_from_params(&flat).unwrap(), &trainer.config.qat.unwrap(), &state).unwrap();
    assert_eq!(convert_conv(net, &again).unwrap(), int, "the handed-over state converts differently");
    assert_dequantized_weights_are_fake_quantized("conv_lsq4", net, q, &int);
    let step = match int.ops.last() {
        Some(IntOp::Quantize(out)) => out.scale,
        other => panic!("the last op is {other:?}, not the logits' fake quant"),
    };
    let bytes = conv_onnx_file(&flat, Some((trainer.config.qat.unwrap(), &state)), false).expect("write");
    let engine = engine_logits_of(&bytes, &test, vec![test.len(), 1, 28, 28]);
    let (max, n) = assert_close_within("conv_lsq4: engine", &fake_quant, &engine, step, 500);
    let same = fake_quant.chunks_exact(10).zip(engine.chunks_exact(10)).filter(|(a, b)| argmax(a) == argmax(b)).count();
    let accuracy = quantscope_train::trainer::count_correct(&fake_quant, &test.labels, 10) as f32 / test.len() as f32;
    eprintln!(
        "conv_lsq4: {accuracy} accuracy; engine: max |diff| {max}, {n} logits differ (step {step}), {same} of 2000 predictions equal"
    );
    assert_eq!(same, test.len(), "every prediction is the fake-quant forward's");
    assert!(accuracy > 0.8, "LSQ INT4 conv accuracy {accuracy}");
}

/// Bad conv states are refused with the reason.
#[test]
fn bad_conv_states_are_refused() {
    let net = ConvNet::digits(1);
    let flat: Vec<f32> = net.params().into_iter().flatten().copied().collect();
    assert_eq!(
        conv_onnx_file(&flat[1..], None, false).unwrap_err(),
        "invalid training data: 5993 parameters for the conv net, which has 5994"
    );
    let config = qat_config(8, true, false);
    assert_eq!(
        conv_onnx_file(&flat, Some((config, &[1.0, 1.0, 0.5])), false).unwrap_err(),
        "invalid training data: the fake-quant node state is cut short"
    );
    assert_eq!(
        conv_onnx_file(&flat, Some((qat_config(8, true, true), &[])), false).unwrap_err(),
        "invalid training data: the fake-quant node state is cut short"
    );
    // A node whose fake quant is off (the state's first value) has no integer model.
    let mut state = node_state(&net.qat(config.specs().0, config.specs().1).unwrap());
    state[0] = 0.0;
    assert_eq!(
        conv_onnx_file(&flat, Some((config, &state)), false).unwrap_err(),
        "invalid training setting: the input's fake quantization is off: there is no integer model to convert to"
    );
    state[0] = 1.0;
    state.push(0.5);
    assert_eq!(
        conv_onnx_file(&flat, Some((config, &state)), false).unwrap_err(),
        "invalid training data: 1 values left after the fake-quant nodes' state"
    );
    assert!(conv_onnx_file(&flat, None, false).is_ok());
}

/// The conv net writer refuses nets that do not fit together, with the reason.
#[test]
fn bad_conv_nets_are_refused_with_the_reason() {
    use quantscope_onnx_quant::convnet::{convnet_onnx, ConvNet as OnnxConvNet, Op};
    let q = ActivationQuant { scale: 0.1, zero_point: 0, quant_max: 255 };
    let conv = |c: usize, o: usize| Op::Conv2d {
        in_channels: c,
        out_channels: o,
        kernel: 3,
        weight: LayerWeight::Int8 { codes: vec![0; o * c * 9], scales: vec![0.5; o] },
        bias: vec![0.0; o],
    };
    let linear =
        |i: usize| Op::Linear { in_features: i, out_features: 2, weight: LayerWeight::Float(vec![0.0; 2 * i]), bias: vec![0.0; 2] };
    let net = |ops: Vec<Op>| OnnxConvNet { input_shape: [1, 6, 6], input: Some(q), ops, uint8_weights: false };
    let err = |n: OnnxConvNet| convnet_onnx(&n).unwrap_err().to_string();
    let good = vec![conv(1, 4), Op::Relu, Op::Quantize(q), Op::MaxPool2d(2), Op::Flatten, linear(16), Op::Quantize(q)];
    assert!(convnet_onnx(&net(good.clone())).is_ok());
    assert_eq!(err(net(vec![])), "the net has no ops");
    assert_eq!(err(OnnxConvNet { input_shape: [1, 0, 6], ..net(good.clone()) }), "the input shape [1, 0, 6] has no pixels");
    assert_eq!(err(net(vec![conv(2, 4)])), "op 0: a 2-channel 3×3 convolution does not fit a 1×6×6 input");
    assert_eq!(err(net(vec![conv(1, 4), linear(64)])), "op 1: a Linear of 64 inputs does not fit a 4×4×4 input");
    assert_eq!(err(net(vec![conv(1, 4), Op::MaxPool2d(5)])), "op 1: a 5×5 pool does not fit a 4×4 input");
    assert_eq!(err(net(vec![conv(1, 4)])), "the net must end flat (Flatten, then Linear)");
    assert_eq!(err(net(vec![Op::Flatten, linear(35)])), "op 1: a Linear of 35 inputs does not fit a 36×1×1 input");
    let mut bad = good.clone();
    bad[0] = Op::Conv2d { in_channels: 1, out_channels: 4, kernel: 3, weight: LayerWeight::Float(vec![0.0; 36]), bias: vec![0.0; 3] };
    assert_eq!(err(net(bad)), "op 0: the convolution's weight or bias has the wrong length");
    let mut bad = good.clone();
    bad[0] = Op::Conv2d {
        in_channels: 1,
        out_channels: 4,
        kernel: 3,
        weight: LayerWeight::Int8 { codes: vec![0; 36], scales: vec![0.5; 3] },
        bias: vec![0.0; 4],
    };
    assert_eq!(err(net(bad)), "op 0: 3 weight scales for 4 outputs (1 or 4)");
    let mut bad = good.clone();
    bad[6] = Op::Quantize(ActivationQuant { scale: 0.1, zero_point: 9, quant_max: 3 });
    assert_eq!(err(net(bad)), "op 6: zero point 9 outside the codes 0..=3");
    assert_eq!(
        err(OnnxConvNet { input: None, ..net(good) }),
        "op 0 is quantized but the input is not: a QDQ model quantizes all or nothing"
    );
}
