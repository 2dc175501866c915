//! com.microsoft MatMulNBits: a hand-packed B (4 bits, two blocks of 16, K = 20 so the second
//! block is short, with and without zero points, with a bias) against the dequantized product
//! written out, and each bad attribute or input refused with its reason. ONNX Runtime's own
//! files run in src/onnx-quant/tests/ort_nbits.rs.

use prost::Message;
use quantscope_engine::builder::{attr_int, GraphBuilder};
use quantscope_engine::{DType, Model, Value};
use quantscope_formats::onnx::proto::ModelProto;

const K: usize = 20;
const N: usize = 3;
const BLOCK: usize = 16;

/// A MatMulNBits model; `zp` adds zero points, `bias` a bias, `attrs` replace the attributes.
fn model_bytes(codes: &[u8], scales: &[f32], zp: Option<&[u8]>, bias: bool, attrs: Vec<(&str, i64)>) -> Vec<u8> {
    let mut g = GraphBuilder::new(17);
    g.input("a", DType::F32, &[None, Some(K)]);
    g.initializer("b", &Value::u8(vec![N, 2, BLOCK / 2], codes.to_vec()));
    g.initializer("s", &Value::f32(vec![N, 2], scales.to_vec()));
    let mut inputs = vec!["a", "b", "s"];
    if let Some(z) = zp {
        g.initializer("z", &Value::u8(vec![N, 1], z.to_vec()));
        inputs.push("z");
    } else if bias {
        inputs.push("");
    }
    if bias {
        g.initializer("bias", &Value::f32(vec![N], vec![0.5, -1.0, 2.0]));
        inputs.extend(["", "bias"]);
    }
    g.node("MatMulNBits", "q", &inputs, &["y"], attrs.iter().map(|(n, v)| attr_int(n, *v)).collect());
    g.output("y", DType::F32, &[None, Some(N)]);
    let mut m = ModelProto::decode(&g.build()[..]).unwrap();
    m.graph.as_mut().unwrap().node[0].domain = Some("com.microsoft".into());
    m.encode_to_vec()
}

fn default_attrs() -> Vec<(&'static str, i64)> {
    vec![("K", K as i64), ("N", N as i64), ("bits", 4), ("block_size", BLOCK as i64)]
}

/// Seeded codes (0..15) for N columns × 2 blocks × 16 codes, two per byte.
fn codes() -> (Vec<u8>, Vec<u8>) {
    let q: Vec<u8> = (0..N * 2 * BLOCK).map(|i| ((i * 7 + 3) % 16) as u8).collect();
    let packed = q.chunks(2).map(|c| c[0] | (c[1] << 4)).collect();
    (q, packed)
}

#[cfg_attr(target_arch = "wasm32", wasm_bindgen_test::wasm_bindgen_test)]
#[cfg_attr(not(target_arch = "wasm32"), test)]
fn matmul_nbits_is_the_product_with_the_dequantized_weight() {
    let (q, packed) = codes();
    let scales = [0.5f32, 0.25, 1.0, 0.125, 2.0, 0.75];
    let zps = [0x35u8, 0x8c, 0x01]; // column n: block 0 low nibble, block 1 high nibble
    let a: Vec<f32> = (0..2 * K).map(|i| (i as f32 * 0.37).sin()).collect();
    for (zp, bias) in [(None, false), (Some(&zps[..]), true)] {
        let m = Model::from_onnx(&model_bytes(&packed, &scales, zp, bias, default_attrs())).unwrap();
        let y = m.run(&[("a", Value::f32(vec![2, K], a.clone()))]).unwrap().remove(0).1.to_f32_vec();
        for r in 0..2 {
            for n in 0..N {
                let mut want = if bias { [0.5f32, -1.0, 2.0][n] as f64 } else { 0.0 };
                for k in 0..K {
                    let blk = k / BLOCK;
                    let z = zp.map_or(8, |z| (z[n] >> (4 * blk)) & 0xf) as f64;
                    let w = (q[(n * 2 + blk) * BLOCK + k % BLOCK] as f64 - z) * scales[n * 2 + blk] as f64;
                    want += a[r * K + k] as f64 * w;
                }
                let got = y[r * N + n] as f64;
                assert!((got - want).abs() <= 1e-5 * want.abs().max(1.0), "row {r} col {n}: {got} vs {want}");
            }
        }
    }
}

#[cfg_attr(target_arch = "wasm32", wasm_bindgen_test::wasm_bindgen_test)]
#[cfg_attr(not(target_arch = "wasm32"), test)]
fn bad_matmul_nbits_attributes_and_inputs_are_refused() {
    let (_, packed) = codes();
    let scales = [1.0f32; 6];
    let with = |name: &str, v: i64| {
        let mut a = default_attrs();
        a.iter_mut().find(|(n, _)| *n == name).unwrap().1 = v;
        a
    };
    let cases: Vec<(Vec<(&str, i64)>, &str)> = vec![
        (with("block_size", 24), "block_size"),
        (with("block_size", 8), "power of two, at least 16"),
        (with("bits", 3), "2, 4 or 8 bits"),
        (with("K", 0), "must be positive"),
        (default_attrs().into_iter().filter(|(n, _)| *n != "N").collect(), "N"),
        (with("N", 4), "B has"),
        ([default_attrs(), vec![("accuracy_level", 7)]].concat(), "accuracy_level"),
    ];
    for (attrs, want) in cases {
        let err = Model::from_onnx(&model_bytes(&packed, &scales, None, false, attrs.clone())).unwrap_err().to_string();
        assert!(err.contains(want) && err.contains("MatMulNBits"), "{attrs:?}: {err}");
    }
    // A's last dimension is not K.
    let m = Model::from_onnx(&model_bytes(&packed, &scales, None, false, default_attrs())).unwrap();
    let err = m.run(&[("a", Value::f32(vec![1, K + 1], vec![0.0; K + 1]))]).unwrap_err().to_string();
    assert!(err.contains("K=20") || err.contains("20"), "{err}");
}

/// HQQ's MatMulNBits: float zero points, one per block and unpacked, dequantize as ONNX Runtime
/// does, `(q - zp) * scale`; a float zero-point tensor of the wrong size is refused.
#[cfg_attr(target_arch = "wasm32", wasm_bindgen_test::wasm_bindgen_test)]
#[cfg_attr(not(target_arch = "wasm32"), test)]
fn float_zero_points_dequantize_as_q_minus_zp_times_scale() {
    let (q, packed) = codes();
    let scales = [0.5f32, 0.25, 1.0, 0.125, 2.0, 0.75];
    let build = |zp: &[f32]| {
        let mut g = GraphBuilder::new(17);
        g.input("a", DType::F32, &[None, Some(K)]);
        g.initializer("b", &Value::u8(vec![N, 2, BLOCK / 2], packed.clone()));
        g.initializer("s", &Value::f32(vec![N * 2], scales.to_vec()));
        g.initializer("z", &Value::f32(vec![zp.len()], zp.to_vec()));
        g.node("MatMulNBits", "q", &["a", "b", "s", "z"], &["y"], default_attrs().iter().map(|(n, v)| attr_int(n, *v)).collect());
        g.output("y", DType::F32, &[None, Some(N)]);
        let mut m = ModelProto::decode(&g.build()[..]).unwrap();
        m.graph.as_mut().unwrap().node[0].domain = Some("com.microsoft".into());
        m.encode_to_vec()
    };
    let zps = [7.25f32, 8.5, 0.0, 15.0, 3.75, 11.125];
    let a: Vec<f32> = (0..K).map(|i| (i as f32 * 0.61).cos()).collect();
    let y = Model::from_onnx(&build(&zps)).unwrap().run(&[("a", Value::f32(vec![1, K], a.clone()))]).unwrap().remove(0).1.to_f32_vec();
    for n in 0..N {
        let want: f64 = (0..K)
            .map(|k| {
                let blk = k / BLOCK;
                a[k] as f64 * (q[(n * 2 + blk) * BLOCK + k % BLOCK] as f64 - zps[n * 2 + blk] as f64) * scales[n * 2 + blk] as f64
            })
            .sum();
        assert!((y[n] as f64 - want).abs() <= 1e-5 * want.abs().max(1.0), "col {n}: {} vs {want}", y[n]);
    }
    let err = Model::from_onnx(&build(&zps[..5])).unwrap_err().to_string();
    assert!(err.contains("float zero_points has 5 values") && err.contains("need 6"), "{err}");
}

/// com.microsoft GatherBlockQuantized: rows of a uint4 table in blocks of 16 along axis 1 with
/// zero points, and of an int4 one without, gathered and dequantized `(q - zp) * scale`; bad
/// attributes and inputs are refused with the reason. ONNX Runtime's own files run in
/// src/onnx-quant/tests/ort_nbits.rs.
#[cfg_attr(target_arch = "wasm32", wasm_bindgen_test::wasm_bindgen_test)]
#[cfg_attr(not(target_arch = "wasm32"), test)]
fn gather_block_quantized_dequantizes_the_rows_it_gathers() {
    const ROWS: usize = 3;
    const COLS: usize = 20; // two blocks of 16, the second short
    let codes: Vec<f32> = (0..ROWS * COLS).map(|i| ((i * 5 + 1) % 16) as f32).collect();
    let scales = [0.5f32, 0.25, 1.0, 2.0, 0.125, 4.0];
    let zps = [8.0f32, 3.0, 0.0, 15.0, 7.0, 1.0];
    let build = |dtype: DType, with_zp: bool, scale_shape: Vec<usize>, attrs: Vec<(&str, i64)>| {
        let shift = if dtype == DType::I4 { 8.0 } else { 0.0 };
        let mut g = GraphBuilder::new(17);
        g.input("ids", DType::I64, &[Some(2)]);
        let data: Vec<f32> = codes.iter().map(|c| c - shift).collect();
        g.initializer("t", &Value::from_f32(dtype, vec![ROWS, COLS], &data).unwrap());
        g.initializer("s", &Value::f32(scale_shape, scales.to_vec()));
        let mut inputs = vec!["t", "ids", "s"];
        if with_zp {
            g.initializer("z", &Value::from_f32(dtype, vec![ROWS, 2], &zps).unwrap());
            inputs.push("z");
        }
        g.node("GatherBlockQuantized", "g", &inputs, &["y"], attrs.iter().map(|(n, v)| attr_int(n, *v)).collect());
        g.output("y", DType::F32, &[Some(2), Some(COLS)]);
        let mut m = ModelProto::decode(&g.build()[..]).unwrap();
        m.graph.as_mut().unwrap().node[0].domain = Some("com.microsoft".into());
        m.encode_to_vec()
    };
    let attrs = vec![("block_size", 16), ("gather_axis", 0), ("quantize_axis", 1)];
    let ids = Value::i64(vec![2], vec![2, -3]); // row 2 and row 0
    for (dtype, with_zp) in [(DType::U4, true), (DType::I4, false)] {
        let m = Model::from_onnx(&build(dtype, with_zp, vec![ROWS, 2], attrs.clone())).unwrap();
        let y = m.run(&[("ids", ids.clone())]).unwrap().remove(0).1.to_f32_vec();
        for (out_row, row) in [2usize, 0].into_iter().enumerate() {
            for c in 0..COLS {
                let meta = row * 2 + c / 16;
                // int4 data is the codes shifted by -8 and has no zero points (0)
                let want =
                    if with_zp { (codes[row * COLS + c] - zps[meta]) * scales[meta] } else { (codes[row * COLS + c] - 8.0) * scales[meta] };
                assert_eq!(y[out_row * COLS + c], want, "{dtype:?} row {row} col {c}");
            }
        }
    }
    let refused: [(Vec<u8>, &str); 3] = [
        (build(DType::U4, true, vec![ROWS, 2], vec![("block_size", 16), ("bits", 8)]), "4-bit (int4/uint4)"),
        (build(DType::U4, true, vec![ROWS, 2], vec![("block_size", 24)]), "power of two, at least 16"),
        (build(DType::U4, true, vec![2, ROWS], attrs.clone()), "scales has shape [2, 3]"),
    ];
    for (bytes, want) in refused {
        let err = Model::from_onnx(&bytes).unwrap_err().to_string();
        assert!(err.contains(want) && err.contains("GatherBlockQuantized"), "{err}");
    }
}
