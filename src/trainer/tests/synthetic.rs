//! What the trainer's browser tests share: synthetic digits a run learns in a few steps, settings
//! from JSON, and a refusal's message.

use wasm_bindgen::JsValue;

/// `n` digits (raw uint8 pixels `[n, 784]` and labels) whose class is written in their first
/// pixels: learnable in a few steps.
pub fn digits(n: usize) -> (Vec<u8>, Vec<u8>) {
    let labels: Vec<u8> = (0..n).map(|i| (i * 7 % 10) as u8).collect();
    let mut pixels = vec![0u8; n * 784];
    for (i, &l) in labels.iter().enumerate() {
        pixels[i * 784 + l as usize * 10..i * 784 + l as usize * 10 + 10].fill(255);
    }
    (pixels, labels)
}

pub fn settings(json: &str) -> JsValue {
    js_sys::JSON::parse(json).unwrap()
}

pub fn get(v: &JsValue, key: &str) -> JsValue {
    js_sys::Reflect::get(v, &key.into()).unwrap()
}

/// The message of a refusal.
pub fn message(err: wasm_bindgen::JsError) -> String {
    get(&JsValue::from(err), "message").as_string().unwrap()
}
