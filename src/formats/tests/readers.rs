//! The reader sets a page module passes (`formats::load_file_with`, `lazy::open_with`,
//! `lazy::read_whole`): the workbench's .npy/.safetensors/.gguf set refuses .npz and ONNX files
//! naming their format, the reader module's set reads exactly what `load_file` reads, and a file
//! read elsewhere becomes a lazy file of resident tensors (`lazy::resident`) equal to `lazy::open`'s.

use quantscope_formats::bytesource::ByteSource;
use quantscope_formats::{self as formats, lazy, Error, Format};
use std::rc::Rc;

fn source(bytes: &[u8]) -> Rc<dyn ByteSource> {
    Rc::new(bytes.to_vec())
}

#[cfg_attr(target_arch = "wasm32", wasm_bindgen_test::wasm_bindgen_test)]
#[cfg_attr(not(target_arch = "wasm32"), test)]
fn the_workbench_set_refuses_npz_and_onnx_naming_the_format() {
    for (name, bytes, format) in [
        ("deflated.npz", &fixture_bytes!("npz/deflated.npz")[..], Format::Npz),
        ("tiny.onnx", &fixture_bytes!("onnx/tiny.onnx")[..], Format::Onnx),
    ] {
        let err = formats::load_file_with(name, bytes, formats::NPY_SAFETENSORS_GGUF).unwrap_err();
        assert_eq!(err, Error::reader_elsewhere(format), "{name}");
        assert!(err.to_string().contains(format.extension()), "{name}: {err}");
        let err = lazy::open_with(name, source(bytes), formats::NPY_SAFETENSORS_GGUF).unwrap_err();
        assert_eq!(err, Error::reader_elsewhere(format), "{name}");
    }
    let npy = fixture_bytes!("npy/f32_c.npy");
    assert_eq!(formats::load_file_with("w.npy", npy, formats::NPY_SAFETENSORS_GGUF).unwrap(), formats::load_file("w.npy", npy).unwrap());
}

#[cfg_attr(target_arch = "wasm32", wasm_bindgen_test::wasm_bindgen_test)]
#[cfg_attr(not(target_arch = "wasm32"), test)]
fn the_reader_module_set_reads_what_load_file_reads_and_only_that() {
    for (name, bytes) in [("deflated.npz", &fixture_bytes!("npz/deflated.npz")[..]), ("tiny.onnx", &fixture_bytes!("onnx/tiny.onnx")[..])] {
        let all = formats::load_file(name, bytes).unwrap();
        assert!(!all.tensors.is_empty(), "{name}");
        assert_eq!(formats::load_file_with(name, bytes, formats::NPZ_AND_ONNX).unwrap(), all, "{name}");
        let src = source(bytes);
        let format = lazy::detect(name, src.as_ref()).unwrap();
        let read = lazy::read_whole(name, src.as_ref(), format, formats::NPZ_AND_ONNX).unwrap();
        assert_eq!(read, all, "{name}");

        // Handed to another module's lazy file: the same tensors, metadata and weights as open's.
        let opened = lazy::open(name, source(bytes)).unwrap();
        let resident = lazy::resident(name, read, source(bytes));
        assert_eq!((resident.format, &resident.metadata, &resident.weights), (opened.format, &opened.metadata, &opened.weights), "{name}");
        assert_eq!(resident.tensors.len(), opened.tensors.len(), "{name}");
        for i in 0..opened.tensors.len() {
            assert_eq!(resident.materialize(i).unwrap(), opened.materialize(i).unwrap(), "{name} tensor {i}");
        }
    }
    let npy = fixture_bytes!("npy/f32_c.npy");
    let src = source(npy);
    assert_eq!(
        lazy::read_whole("w.npy", src.as_ref(), Format::Npy, formats::NPZ_AND_ONNX).unwrap_err(),
        Error::reader_elsewhere(Format::Npy)
    );
}
