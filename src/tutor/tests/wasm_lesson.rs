//! The tutor's facade, exercised in headless Chromium through wasm-bindgen-test (run by
//! scripts/test.sh): a lesson answers with the Learn crate's own numbers for the tensor it was
//! given, and refuses what it cannot hold.
#![cfg(target_arch = "wasm32")]

use quantscope_core::Tensor;
use quantscope_tutor::Lesson;
use wasm_bindgen::JsValue;
use wasm_bindgen_test::*;

wasm_bindgen_test_configure!(run_in_browser);

fn message(err: wasm_bindgen::JsError) -> String {
    let v = JsValue::from(err);
    js_sys::Reflect::get(&v, &"message".into()).unwrap().as_string().unwrap()
}

fn json(v: &JsValue) -> String {
    js_sys::JSON::stringify(v).unwrap().as_string().unwrap()
}

fn to_json<T: serde::Serialize>(v: &T) -> String {
    json(&quantscope_wasm_common::to_js(v).unwrap())
}

const VALUES: [f32; 12] = [0.5, -1.25, 3.0, 0.01, -0.7, 2.2, -3.1, 0.0, 1.9, -0.05, 0.8, -2.4];

#[wasm_bindgen_test]
fn a_lesson_without_a_tensor_says_so() {
    let lesson = Lesson::new();
    assert_eq!(message(lesson.learn_mapping(8, None).unwrap_err()), "no tensor is selected for the Learn view");
}

#[wasm_bindgen_test]
fn a_shape_the_values_do_not_fill_is_refused_and_the_old_tensor_stays() {
    let mut lesson = Lesson::new();
    lesson.set_tensor("w".into(), vec![3, 4], VALUES.to_vec()).unwrap();
    let before = json(&lesson.learn_mapping(4, None).unwrap());
    let text = message(lesson.set_tensor("v".into(), vec![5, 4], VALUES.to_vec()).unwrap_err());
    assert_eq!(text, "tensor 'v' has shape [5, 4] but 12 values");
    let text = message(lesson.set_tensor("huge".into(), vec![usize::MAX, 2], VALUES.to_vec()).unwrap_err());
    assert!(text.starts_with("tensor 'huge' has shape"), "{text}");
    assert_eq!(json(&lesson.learn_mapping(4, None).unwrap()), before);
}

#[wasm_bindgen_test]
fn panels_answer_with_the_learn_crates_numbers_for_the_lessons_tensor() {
    let mut lesson = Lesson::new();
    lesson.set_tensor("w".into(), vec![3, 4], VALUES.to_vec()).unwrap();
    let t = Tensor { name: "w".into(), shape: vec![3, 4], dtype: "float32".into(), data: VALUES.to_vec() };
    let want = to_json(&quantscope_learn::mapping::mapping(&t.data, 4, Some(1.0)).unwrap());
    assert_eq!(json(&lesson.learn_mapping(4, Some(1.0)).unwrap()), want);
    let want = to_json(&quantscope_learn::granularity::block_view(&t, "q4_0", 5).unwrap());
    assert_eq!(json(&lesson.learn_block_view("q4_0", 5).unwrap()), want);
    // A new tensor replaces the old one: the answers follow it.
    let doubled: Vec<f32> = VALUES.iter().map(|v| v * 2.0).collect();
    lesson.set_tensor("w2".into(), vec![12], doubled.clone()).unwrap();
    let want = to_json(&quantscope_learn::clipping::clip_point(&doubled, 8, 1.5).unwrap());
    assert_eq!(json(&lesson.learn_clip_at(8, 1.5).unwrap()), want);
}

#[wasm_bindgen_test]
fn a_block_decoded_from_its_bytes_is_the_lessons_block_view() {
    // learn_decode_block (the comparison with and without an imatrix sends one block's bytes):
    // the same view as the lesson's block view of the whole tensor, and a wrong length refused.
    let values: Vec<f32> = (0..600).map(|i| ((i * 37 % 101) as f32 - 50.0) * 0.013).collect();
    let mut lesson = Lesson::new();
    lesson.set_tensor("k".into(), vec![600], values.clone()).unwrap();
    let packed = quantscope_core::schemes::by_id("q4_k").and_then(|s| s.quantize(&values, &[600])).unwrap().packed;
    let got = quantscope_tutor::learn_decode_block("q4_k", &packed[144..288], &values[256..512], 1).unwrap();
    assert_eq!(json(&got), json(&lesson.learn_block_view("q4_k", 300).unwrap()));
    let e = message(quantscope_tutor::learn_decode_block("q4_k", &packed[..100], &values[..256], 0).unwrap_err());
    assert!(e.contains("a q4_k block is 144 bytes"), "{e}");
}
