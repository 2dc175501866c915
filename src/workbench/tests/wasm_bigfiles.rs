//! The worker's big-file surface (src/workbench/src/workspace.rs): `open_file` on a `Blob` read with
//! `FileReaderSync`, statistics streamed in steps, the comparison cap, closing a file, streamed
//! histograms and the GGUF export in pieces. Runs in a dedicated worker in headless Chromium
//! (FileReaderSync exists only in workers):
//!   CHROMEDRIVER=/usr/bin/chromedriver cargo test --target wasm32-unknown-unknown --test wasm_bigfiles
#![cfg(target_arch = "wasm32")]

#[macro_use]
#[path = "../../../tests/common/mod.rs"]
mod common;
use quantscope_workbench::{Workspace, PAGE_MAX_ELEMENTS};
use wasm_bindgen::JsValue;
use wasm_bindgen_test::*;

wasm_bindgen_test_configure!(run_in_dedicated_worker);

const SOURCE: &[u8] = fixture_bytes!("gguf_export/source.gguf");
const Q4_K: &[u8] = fixture_bytes!("gguf_export/expected/q4_k.gguf");

fn get(v: &JsValue, key: &str) -> JsValue {
    js_sys::Reflect::get(v, &JsValue::from_str(key)).unwrap()
}

/// A Blob of these parts (the same part may repeat: nothing is copied into wasm memory).
fn blob(parts: &[&js_sys::Uint8Array]) -> web_sys::Blob {
    let seq = js_sys::Array::new();
    parts.iter().for_each(|p| {
        seq.push(p);
    });
    web_sys::Blob::new_with_u8_array_sequence(&seq).unwrap()
}

/// Opens a Blob and streams its statistics, `budget` values per step; returns (info, steps).
fn open(ws: &mut Workspace, name: &str, b: web_sys::Blob, budget: f64) -> (JsValue, usize) {
    let opened = ws.open_file(name, b).unwrap();
    let id = get(&opened, "file_id").as_f64().unwrap() as usize;
    for steps in 1.. {
        let s = ws.open_step(id, budget).unwrap();
        assert!(get(&s, "done").as_f64().unwrap() <= get(&s, "total").as_f64().unwrap());
        if get(&s, "finished").as_bool().unwrap() {
            return (get(&s, "info"), steps);
        }
    }
    unreachable!()
}

#[wasm_bindgen_test]
fn a_gguf_blob_opens_in_steps_and_exports_byte_for_byte() {
    let mut ws = Workspace::new();
    let (info, steps) = open(&mut ws, "source.gguf", blob(&[&js_sys::Uint8Array::from(SOURCE)]), 256.0);
    // A step reads at least one chunk and stops once it has read `budget` values: 2048, 256, 144 + 256.
    assert_eq!(steps, 3);
    let tensors: js_sys::Array = get(&info, "tensors").into();
    assert_eq!(tensors.length(), 4);
    let first = tensors.get(0);
    assert_eq!(get(&first, "name").as_string().unwrap(), "token_embd.weight");
    assert_eq!(get(&first, "comparable").as_bool(), Some(true));
    assert_eq!(get(&get(&first, "stats"), "count").as_f64(), Some(2048.0));
    let metadata = js_sys::JSON::stringify(&get(&info, "metadata")).unwrap().as_string().unwrap();
    assert!(metadata.contains("general.architecture"), "{metadata}");

    // The tensors compare like any other.
    let index = get(&first, "index").as_f64().unwrap() as usize;
    let ids = serde_wasm_bindgen::to_value(&["q4_0"]).unwrap();
    let r = ws.compare(index, ids, JsValue::UNDEFINED).unwrap();
    assert_eq!(js_sys::Array::from(&get(&r, "schemes")).length(), 1);

    // The export, piece by piece, is gguf-py's file.
    let indices = js_sys::Array::new();
    for i in 0..tensors.length() {
        indices.push(&get(&tensors.get(i), "index"));
    }
    let plan = ws.export_gguf_begin(indices.into(), "q4_k", "source").unwrap();
    assert_eq!(get(&plan, "bytes").as_f64(), Some(Q4_K.len() as f64));
    let id = get(&plan, "export_id").as_f64().unwrap() as u32;
    let mut out = Vec::new();
    while let Some(piece) = ws.export_gguf_step(id).unwrap() {
        out.extend(piece);
    }
    assert!(ws.export_gguf_step(id).is_err(), "a finished export is forgotten");
    assert!(out == Q4_K, "the exported bytes differ from gguf-py's file");
    assert!(ws.export_gguf_begin(js_sys::Array::new().into(), "int8_sym", "x").is_err(), "not a ggml type");
}

#[wasm_bindgen_test]
fn tensors_over_the_cap_stream_but_are_not_compared() {
    // A U8 tensor of 2^26 + 1024 values: the data is one 1 MiB part repeated 64 times plus 1024
    // bytes, so the test itself never holds it.
    let n = PAGE_MAX_ELEMENTS + 1024;
    let json = format!(
        r#"{{"big":{{"dtype":"U8","shape":[{n}],"data_offsets":[0,{n}]}},"small":{{"dtype":"F32","shape":[2],"data_offsets":[{n},{}]}}}}"#,
        n + 8
    );
    let mut header = (json.len() as u64).to_le_bytes().to_vec();
    header.extend(json.as_bytes());
    let mib: Vec<u8> = (0..1 << 20).map(|i| (i % 5) as u8).collect();
    let (head, part, tail) =
        (js_sys::Uint8Array::from(&header[..]), js_sys::Uint8Array::from(&mib[..]), js_sys::Uint8Array::from(&mib[..1024]));
    let small = js_sys::Uint8Array::from(&[1.5f32.to_le_bytes(), (-2.0f32).to_le_bytes()].concat()[..]);
    let mut parts = vec![&head];
    parts.extend(std::iter::repeat(&part).take(64));
    parts.extend([&tail, &small]);
    let mut ws = Workspace::new();
    let (info, _) = open(&mut ws, "big.safetensors", blob(&parts), 1e7);
    let tensors: js_sys::Array = get(&info, "tensors").into();
    let big = tensors.get(0);
    assert_eq!(get(&big, "comparable").as_bool(), Some(false));
    let stats = get(&big, "stats");
    assert_eq!((get(&stats, "min").as_f64(), get(&stats, "max").as_f64()), (Some(0.0), Some(4.0)));
    let index = get(&big, "index").as_f64().unwrap() as usize;
    let err = ws.compare(index, serde_wasm_bindgen::to_value(&["int8_sym"]).unwrap(), JsValue::UNDEFINED).err().unwrap();
    let message = JsValue::from(err);
    let text = get(&message, "message").as_string().unwrap();
    assert!(text.contains("too many for the scheme comparison"), "{text}");
    let h = ws.histogram_streamed(index, 5, JsValue::NULL).unwrap();
    let counts: Vec<f64> = serde_wasm_bindgen::from_value(get(&h, "counts")).unwrap();
    assert_eq!(counts.iter().sum::<f64>(), n as f64);
    assert_eq!(ws.cached_bytes(), 0.0, "nothing decoded whole");

    // Closing the file leaves its indices taken but empty.
    let file_id = get(&info, "file_id").as_f64().unwrap() as usize;
    ws.close_file(file_id);
    let small_index = get(&tensors.get(1), "index").as_f64().unwrap() as usize;
    assert!(ws.compare(small_index, serde_wasm_bindgen::to_value(&["int8_sym"]).unwrap(), JsValue::UNDEFINED).is_err());
    assert_eq!(ws.len(), 2);
}

#[wasm_bindgen_test]
fn malformed_blobs_fail_with_the_file_name_and_the_reason() {
    let mut ws = Workspace::new();
    let bytes = fixture_bytes!("gguf/malformed/offset_past_end.gguf");
    let err = ws.open_file("bad.gguf", blob(&[&js_sys::Uint8Array::from(&bytes[..])])).err().unwrap();
    let text = get(&JsValue::from(err), "message").as_string().unwrap();
    assert!(text.starts_with("bad.gguf: ") && text.contains("runs past the end"), "{text}");
    // Other formats are read whole through the same call.
    let npy = fixture_bytes!("npy/f32_c.npy");
    let (info, steps) = open(&mut ws, "w.npy", blob(&[&js_sys::Uint8Array::from(&npy[..])]), 1.0);
    assert_eq!(steps, 1);
    assert_eq!(get(&info, "format").as_string().unwrap(), "npy");
}

#[wasm_bindgen_test]
fn sharded_checkpoints_open_from_files() {
    let index = fixture_bytes!("safetensors/model.safetensors.index.json");
    let one = js_sys::Uint8Array::from(&fixture_bytes!("safetensors/model-00001-of-00002.safetensors")[..]);
    let two = js_sys::Uint8Array::from(&fixture_bytes!("safetensors/model-00002-of-00002.safetensors")[..]);
    let names = serde_wasm_bindgen::to_value(&["model-00001-of-00002.safetensors", "model-00002-of-00002.safetensors"]).unwrap();
    let shards = js_sys::Array::of2(&blob(&[&one]), &blob(&[&two]));
    let mut ws = Workspace::new();
    let opened = ws.open_sharded("model.safetensors.index.json", index, names, shards).unwrap();
    let id = get(&opened, "file_id").as_f64().unwrap() as usize;
    let step = ws.open_step(id, 1e9).unwrap();
    assert_eq!(get(&step, "finished").as_bool(), Some(true));
    assert_eq!(js_sys::Array::from(&get(&get(&step, "info"), "tensors")).length(), 3);
    // A missing shard is named.
    let names = serde_wasm_bindgen::to_value(&["model-00001-of-00002.safetensors"]).unwrap();
    let err = ws.open_sharded("i.json", index, names, js_sys::Array::of1(&blob(&[&one]))).err().unwrap();
    let text = get(&JsValue::from(err), "message").as_string().unwrap();
    assert!(text.contains("shard 'model-00002-of-00002.safetensors'") && text.contains("was not given"), "{text}");
}

/// A `read_file` answer of the reader module (src/reader) with one tensor of `shape`.
fn read_answer(format: &str, shape: &[u32], values: &[f32]) -> JsValue {
    let tensor = js_sys::Object::new();
    let shape: js_sys::Array = shape.iter().map(|&d| JsValue::from(d)).collect();
    for (key, value) in [
        ("name", JsValue::from_str("w")),
        ("dtype", JsValue::from_str("float32")),
        ("shape", shape.into()),
        ("values", js_sys::Float32Array::from(values).into()),
    ] {
        js_sys::Reflect::set(&tensor, &JsValue::from_str(key), &value).unwrap();
    }
    let read = js_sys::Object::new();
    let metadata: js_sys::Array = [js_sys::Array::of2(&"k".into(), &"v".into())].iter().collect();
    for (key, value) in
        [("format", JsValue::from_str(format)), ("metadata", metadata.into()), ("tensors", js_sys::Array::of1(&tensor).into())]
    {
        js_sys::Reflect::set(&read, &JsValue::from_str(key), &value).unwrap();
    }
    read.into()
}

#[wasm_bindgen_test]
fn npz_and_onnx_files_are_the_reader_modules_and_open_from_its_answer() {
    use quantscope_workbench::reader_module_reads;
    let npz = js_sys::Uint8Array::from(&fixture_bytes!("npz/deflated.npz")[..]);
    let onnx = js_sys::Uint8Array::from(&fixture_bytes!("onnx/tiny.onnx")[..]);
    let npy = js_sys::Uint8Array::from(&fixture_bytes!("npy/f32_c.npy")[..]);
    assert!(reader_module_reads("a.npz", blob(&[&npz])).unwrap());
    assert!(reader_module_reads("a.onnx", blob(&[&onnx])).unwrap());
    assert!(!reader_module_reads("a.npy", blob(&[&npy])).unwrap());
    assert!(!reader_module_reads("a.gguf", blob(&[&js_sys::Uint8Array::from(SOURCE)])).unwrap());
    // Opened here anyway, an .npz is refused naming the module that reads it.
    let mut ws = Workspace::new();
    let err = ws.open_file("a.npz", blob(&[&npz])).err().unwrap();
    let text = get(&JsValue::from(err), "message").as_string().unwrap();
    assert!(text.starts_with("a.npz: ") && text.contains("no .npz reader"), "{text}");

    // The reader module's answer opens as open_file opens a file: statistics streamed, comparable.
    let values = [1.0f32, -2.0, 3.0, 0.5, 0.25, -0.125];
    let opened = ws.open_read("a.npz", blob(&[&npz]), read_answer("npz", &[2, 3], &values)).unwrap();
    let id = get(&opened, "file_id").as_f64().unwrap() as usize;
    assert_eq!(get(&opened, "format").as_string().unwrap(), "npz");
    let info = loop {
        let s = ws.open_step(id, 1.0).unwrap();
        if get(&s, "finished").as_bool().unwrap() {
            break get(&s, "info");
        }
    };
    let tensors: js_sys::Array = get(&info, "tensors").into();
    assert_eq!(tensors.length(), 1);
    let t = tensors.get(0);
    assert_eq!(get(&t, "name").as_string().unwrap(), "w");
    assert_eq!(get(&get(&t, "stats"), "max").as_f64().unwrap(), 3.0);
    let metadata: js_sys::Array = get(&info, "metadata").into();
    assert_eq!(js_sys::Array::from(&metadata.get(0)).get(1).as_string().unwrap(), "v");
    let index = get(&t, "index").as_f64().unwrap() as usize;
    assert_eq!(ws.tensor_values(index).unwrap().to_vec(), values);

    // A malformed answer is an error, not a panic.
    for (read, what) in [
        (read_answer("npz", &[4, 3], &values), "do not fill its shape"),
        (read_answer("zip", &[2, 3], &values), "no valid format"),
        (JsValue::NULL, "no valid format"),
    ] {
        let err = ws.open_read("a.npz", blob(&[&npz]), read).err().unwrap();
        let text = get(&JsValue::from(err), "message").as_string().unwrap();
        assert!(text.starts_with("a.npz: ") && text.contains(what), "{text}");
    }
}
