//! The reader module's one export, `read_file` on a `Blob` (read with `FileReaderSync`, so in a
//! dedicated worker in headless Chromium): .npz and ONNX files give the tensors, metadata and
//! weights `formats::load_file` gives; another format is refused naming it.
#![cfg(target_arch = "wasm32")]

#[macro_use]
#[path = "../../../tests/common/mod.rs"]
mod common;
use quantscope_formats as formats;
use quantscope_reader::{read_file, release};
use wasm_bindgen::JsValue;
use wasm_bindgen_test::*;

wasm_bindgen_test_configure!(run_in_dedicated_worker);

fn get(v: &JsValue, key: &str) -> JsValue {
    js_sys::Reflect::get(v, &JsValue::from_str(key)).unwrap()
}

fn blob(bytes: &[u8]) -> web_sys::Blob {
    web_sys::Blob::new_with_u8_array_sequence(&js_sys::Array::of1(&js_sys::Uint8Array::from(bytes))).unwrap()
}

#[wasm_bindgen_test]
fn npz_and_onnx_files_read_as_load_file_reads_them() {
    for (name, bytes, format) in
        [("deflated.npz", &fixture_bytes!("npz/deflated.npz")[..], "npz"), ("tiny.onnx", &fixture_bytes!("onnx/tiny.onnx")[..], "onnx")]
    {
        let want = formats::load_file(name, bytes).unwrap();
        let read = read_file(name, blob(bytes)).unwrap();
        assert_eq!(get(&read, "format").as_string().unwrap(), format);
        assert_eq!(js_sys::Array::from(&get(&read, "metadata")).length() as usize, want.metadata.len(), "{name}");
        let weights = get(&read, "weights");
        assert_eq!(if weights.is_undefined() { 0 } else { js_sys::Array::from(&weights).length() as usize }, want.weights.len(), "{name}");
        let tensors = js_sys::Array::from(&get(&read, "tensors"));
        assert_eq!(tensors.length() as usize, want.tensors.len(), "{name}");
        assert!(!want.tensors.is_empty(), "{name}");
        for (t, w) in tensors.iter().zip(&want.tensors) {
            assert_eq!(get(&t, "name").as_string().unwrap(), w.name);
            assert_eq!(get(&t, "dtype").as_string().unwrap(), w.dtype);
            let shape: Vec<usize> = js_sys::Array::from(&get(&t, "shape")).iter().map(|d| d.as_f64().unwrap() as usize).collect();
            assert_eq!(shape, w.shape, "{}", w.name);
            let values = js_sys::Float32Array::from(get(&t, "values")).to_vec();
            assert_eq!(
                values.iter().map(|v| v.to_bits()).collect::<Vec<_>>(),
                w.data.iter().map(|v| v.to_bits()).collect::<Vec<_>>(),
                "{}",
                w.name
            );
        }
        release();
    }
}

#[wasm_bindgen_test]
fn other_formats_are_refused_naming_them() {
    let err = read_file("w.npy", blob(fixture_bytes!("npy/f32_c.npy"))).err().unwrap();
    let text = get(&JsValue::from(err), "message").as_string().unwrap();
    assert!(text.starts_with("w.npy: ") && text.contains("no .npy reader"), "{text}");
    let err = read_file("bad.npz", blob(fixture_bytes!("npz/malformed/truncated.npz"))).err().unwrap();
    let text = get(&JsValue::from(err), "message").as_string().unwrap();
    assert!(text.starts_with("bad.npz: "), "{text}");
}
