//! llama.cpp's mixes (src/formats/src/gguf_mix.rs + gguf_writer::plan_mix) against the pinned
//! `llama-quantize`: the model in tests/fixtures/gguf_mixes/source.gguf exported as each file
//! type must be byte for byte the file llama-quantize wrote (scripts/fixtures/make_gguf_mixes.py
//! keeps its header whole and the SHA-256 of every tensor's bytes, since the files are ~0.5 MB
//! each). A failure names the first differing metadata key or tensor. File types llama-quantize
//! refuses without an importance matrix are refused with its reason and offending tensor.

use quantscope_formats::gguf_mix::{ty, FileType, MixImatrix, MixOptions};
use quantscope_formats::gguf_writer;
use quantscope_formats::lazy;
use std::rc::Rc;

const SOURCE: &[u8] = fixture_bytes!("gguf_mixes/source.gguf");
const CASES: &str = fixture_str!("gguf_mixes/cases.json");

/// The header llama-quantize wrote for each case that succeeded.
fn expected_header(case: &str) -> &'static [u8] {
    macro_rules! headers {
        ($($name:literal),*) => {
            match case {
                $($name => include_bytes!(concat!(env!("CARGO_MANIFEST_DIR"), "/../../tests/fixtures/gguf_mixes/expected/", $name, ".header")),)*
                other => panic!("no header committed for {other}"),
            }
        };
    }
    headers!(
        "Q4_0",
        "Q4_1",
        "Q5_0",
        "Q5_1",
        "Q8_0",
        "Q2_0",
        "MXFP4_MOE",
        "TQ1_0",
        "TQ2_0",
        "Q2_K",
        "Q3_K_S",
        "Q3_K_M",
        "Q3_K_L",
        "Q4_K_S",
        "Q4_K_M",
        "Q5_K_S",
        "Q5_K_M",
        "Q6_K",
        "IQ4_NL",
        "IQ4_XS",
        "IQ3_S",
        "IQ3_M",
        "F16",
        "BF16",
        "F32",
        "Q4_K_M-pure",
        "Q2_K-pure",
        "Q4_K_M-types",
        "Q3_K_M-output-q2_k",
        "Q4_0-imatrix",
        "Q4_1-imatrix",
        "Q5_0-imatrix",
        "Q5_1-imatrix",
        "Q2_K-imatrix",
        "Q3_K_S-imatrix",
        "Q3_K_M-imatrix",
        "Q4_K_S-imatrix",
        "Q4_K_M-imatrix",
        "Q5_K_M-imatrix",
        "Q6_K-imatrix",
        "IQ4_NL-imatrix",
        "IQ4_XS-imatrix",
        "Q4_K_M-imatrix-dat",
        "Q2_K_S-imatrix-full",
        "IQ3_XXS-imatrix-full",
        "IQ3_S-imatrix-full",
        "IQ3_M-imatrix-full",
        "IQ3_XS-imatrix-full",
        "IQ2_XXS-imatrix-full",
        "IQ2_XS-imatrix-full",
        "IQ2_S-imatrix-full",
        "IQ2_M-imatrix-full",
        "IQ1_S-imatrix-full",
        "IQ1_M-imatrix-full"
    )
}

/// SHA-256 (FIPS 180-4), to hold tensor bytes to the digests the fixture script recorded.
fn sha256(data: &[u8]) -> String {
    const K: [u32; 64] = [
        0x428a2f98, 0x71374491, 0xb5c0fbcf, 0xe9b5dba5, 0x3956c25b, 0x59f111f1, 0x923f82a4, 0xab1c5ed5, 0xd807aa98, 0x12835b01, 0x243185be,
        0x550c7dc3, 0x72be5d74, 0x80deb1fe, 0x9bdc06a7, 0xc19bf174, 0xe49b69c1, 0xefbe4786, 0x0fc19dc6, 0x240ca1cc, 0x2de92c6f, 0x4a7484aa,
        0x5cb0a9dc, 0x76f988da, 0x983e5152, 0xa831c66d, 0xb00327c8, 0xbf597fc7, 0xc6e00bf3, 0xd5a79147, 0x06ca6351, 0x14292967, 0x27b70a85,
        0x2e1b2138, 0x4d2c6dfc, 0x53380d13, 0x650a7354, 0x766a0abb, 0x81c2c92e, 0x92722c85, 0xa2bfe8a1, 0xa81a664b, 0xc24b8b70, 0xc76c51a3,
        0xd192e819, 0xd6990624, 0xf40e3585, 0x106aa070, 0x19a4c116, 0x1e376c08, 0x2748774c, 0x34b0bcb5, 0x391c0cb3, 0x4ed8aa4a, 0x5b9cca4f,
        0x682e6ff3, 0x748f82ee, 0x78a5636f, 0x84c87814, 0x8cc70208, 0x90befffa, 0xa4506ceb, 0xbef9a3f7, 0xc67178f2,
    ];
    let mut h: [u32; 8] = [0x6a09e667, 0xbb67ae85, 0x3c6ef372, 0xa54ff53a, 0x510e527f, 0x9b05688c, 0x1f83d9ab, 0x5be0cd19];
    let mut msg = data.to_vec();
    msg.push(0x80);
    while msg.len() % 64 != 56 {
        msg.push(0);
    }
    msg.extend_from_slice(&((data.len() as u64) * 8).to_be_bytes());
    for block in msg.chunks(64) {
        let mut w = [0u32; 64];
        for i in 0..16 {
            w[i] = u32::from_be_bytes(block[4 * i..4 * i + 4].try_into().unwrap());
        }
        for i in 16..64 {
            let s0 = w[i - 15].rotate_right(7) ^ w[i - 15].rotate_right(18) ^ (w[i - 15] >> 3);
            let s1 = w[i - 2].rotate_right(17) ^ w[i - 2].rotate_right(19) ^ (w[i - 2] >> 10);
            w[i] = w[i - 16].wrapping_add(s0).wrapping_add(w[i - 7]).wrapping_add(s1);
        }
        let [mut a, mut b, mut c, mut d, mut e, mut f, mut g, mut hh] = h;
        for i in 0..64 {
            let t1 = hh
                .wrapping_add(e.rotate_right(6) ^ e.rotate_right(11) ^ e.rotate_right(25))
                .wrapping_add((e & f) ^ (!e & g))
                .wrapping_add(K[i])
                .wrapping_add(w[i]);
            let t2 = (a.rotate_right(2) ^ a.rotate_right(13) ^ a.rotate_right(22)).wrapping_add((a & b) ^ (a & c) ^ (b & c));
            (hh, g, f, e, d, c, b, a) = (g, f, e, d.wrapping_add(t1), c, b, a, t1.wrapping_add(t2));
        }
        for (x, y) in h.iter_mut().zip([a, b, c, d, e, f, g, hh]) {
            *x = x.wrapping_add(y);
        }
    }
    h.iter().map(|x| format!("{x:08x}")).collect()
}

/// The regions of a GGUF header — "magic", each key, each tensor info — with their byte ranges,
/// so a difference is named by what it falls in.
fn header_regions(b: &[u8]) -> Vec<(String, std::ops::Range<usize>)> {
    let u64_at = |p: usize| u64::from_le_bytes(b[p..p + 8].try_into().unwrap()) as usize;
    let u32_at = |p: usize| u32::from_le_bytes(b[p..p + 4].try_into().unwrap());
    let string = |p: usize| (String::from_utf8_lossy(&b[p + 8..p + 8 + u64_at(p)]).into_owned(), p + 8 + u64_at(p));
    fn skip(b: &[u8], vtype: u32, p: usize) -> usize {
        let u64_at = |p: usize| u64::from_le_bytes(b[p..p + 8].try_into().unwrap()) as usize;
        match vtype {
            8 => p + 8 + u64_at(p),
            9 => {
                let et = u32::from_le_bytes(b[p..p + 4].try_into().unwrap());
                (0..u64_at(p + 4)).fold(p + 12, |q, _| skip(b, et, q))
            }
            0 | 1 | 7 => p + 1,
            2 | 3 => p + 2,
            4..=6 => p + 4,
            _ => p + 8,
        }
    }
    let (n_tensors, n_kv) = (u64_at(8), u64_at(16));
    let mut regions = vec![("magic, version and counts".to_string(), 0..24)];
    let mut p = 24;
    for _ in 0..n_kv {
        let (key, q) = string(p);
        let end = skip(b, u32_at(q), q + 4);
        regions.push((format!("key '{key}'"), p..end));
        p = end;
    }
    for _ in 0..n_tensors {
        let (name, q) = string(p);
        let end = q + 4 + 8 * u32_at(q) as usize + 12;
        regions.push((format!("tensor info of '{name}'"), p..end));
        p = end;
    }
    regions.push(("padding".into(), p..b.len()));
    regions
}

fn first_header_difference(ours: &[u8], want: &[u8]) -> String {
    let at = ours.iter().zip(want).position(|(a, b)| a != b).unwrap_or(ours.len().min(want.len()));
    let region = header_regions(want).into_iter().find(|(_, r)| r.contains(&at)).map_or("the end".into(), |(what, _)| what);
    format!("header bytes differ first at byte {at}, in {region} (ours {} bytes, llama-quantize's {})", ours.len(), want.len())
}

fn options_of(case: &serde_json::Value) -> MixOptions {
    let args: Vec<&str> = case["options"].as_array().unwrap().iter().map(|a| a.as_str().unwrap()).collect();
    let ggml = |name: &str| quantscope_core::ggml_types::by_name(name).unwrap().id;
    let mut o = MixOptions::default();
    let mut it = args.into_iter();
    while let Some(a) = it.next() {
        match a {
            "--pure" => o.pure = true,
            "--output-tensor-type" => o.output_tensor_type = Some(ggml(it.next().unwrap())),
            "--token-embedding-type" => o.token_embedding_type = Some(ggml(it.next().unwrap())),
            "--imatrix" => {
                let file = it.next().unwrap();
                let bytes: &[u8] = match file {
                    "imatrix.gguf" => fixture_bytes!("gguf_mixes/imatrix.gguf"),
                    "imatrix.dat" => fixture_bytes!("gguf_mixes/imatrix.dat"),
                    "imatrix_full.gguf" => fixture_bytes!("gguf_mixes/imatrix_full.gguf"),
                    "imatrix_bad_size.gguf" => fixture_bytes!("gguf_mixes/imatrix_bad_size.gguf"),
                    other => panic!("no imatrix fixture {other}"),
                };
                let imatrix = Rc::new(quantscope_formats::imatrix::parse(bytes).unwrap());
                o.imatrix = Some(MixImatrix { file_name: file.to_string(), imatrix });
            }
            other => panic!("option {other} not handled"),
        }
    }
    o
}

fn source() -> lazy::LazyFile {
    lazy::open("source.gguf", Rc::new(SOURCE.to_vec())).unwrap()
}

#[test]
#[cfg_attr(target_arch = "wasm32", wasm_bindgen_test::wasm_bindgen_test)]
fn sha256_is_fips_180_4() {
    assert_eq!(sha256(b"abc"), "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
    assert_eq!(sha256(&[b'a'; 1000]), "41edece42d63e8d9bf515a9ba6932e1c20cbc9f5a5d134645adb5db1b9737ea3");
}

/// Every file type llama-quantize wrote: the same types, the same header, the same tensor bytes.
#[test]
#[cfg_attr(target_arch = "wasm32", wasm_bindgen_test::wasm_bindgen_test)]
fn every_mix_is_byte_identical_to_llama_quantize() {
    let cases = crate::common::json(CASES);
    let source = source();
    let mut checked = Vec::new();
    let mut cannot_write = Vec::new();
    for case in cases["cases"].as_array().unwrap() {
        let name = case["name"].as_str().unwrap();
        if case.get("error").is_some() {
            continue;
        }
        let ftype = FileType::from_name(case["type"].as_str().unwrap()).unwrap();
        let options = options_of(case);
        let want_types: Vec<(&str, &str)> =
            case["tensors"].as_array().unwrap().iter().map(|t| (t["name"].as_str().unwrap(), t["type"].as_str().unwrap())).collect();

        // The rules alone (also for the types quantscope cannot write yet).
        let facts = quantscope_formats::gguf_mix::ModelFacts::from_kvs(&source.gguf_kvs).unwrap();
        let tensors: Vec<_> = source
            .tensors
            .iter()
            .map(|t| quantscope_formats::gguf_mix::SourceTensor {
                name: t.name.clone(),
                shape: t.shape.clone(),
                ggml_type: quantscope_core::ggml_types::by_name(&t.dtype).unwrap().id,
            })
            .collect();
        let choices = quantscope_formats::gguf_mix::choose(&facts, &tensors, ftype, &options).unwrap();
        let ours: Vec<(String, String)> =
            choices.iter().map(|c| (c.name.clone(), quantscope_formats::gguf_mix::type_name(c.ggml_type))).collect();
        let want: Vec<(String, String)> = want_types.iter().map(|(n, t)| (n.to_string(), t.to_string())).collect();
        if let Some(k) = (0..ours.len().max(want.len())).find(|&k| ours.get(k) != want.get(k)) {
            panic!(
                "{name}: tensor #{k}: ours {:?} ({}), llama-quantize {:?}",
                ours.get(k),
                choices.get(k).map_or("", |c| &c.rule),
                want.get(k)
            );
        }

        let mut bytes = Vec::new();
        let plan = match gguf_writer::write_mix(&source, ftype, &options, &mut bytes, |_, _| {}) {
            Ok(plan) => plan,
            Err(e) if e.to_string().contains("cannot write yet") => {
                cannot_write.push(name.to_string());
                continue;
            }
            Err(e) => panic!("{name}: {e}"),
        };
        let header = expected_header(name);
        assert!(bytes.len() >= header.len() && &bytes[..header.len()] == header, "{name}: {}", first_header_difference(&bytes, header));
        for (t, want) in plan.tensors.iter().zip(case["tensors"].as_array().unwrap()) {
            let range = t.offset as usize..(t.offset + t.size) as usize;
            assert_eq!(
                (t.offset, t.size),
                (want["offset"].as_u64().unwrap(), want["size"].as_u64().unwrap()),
                "{name}: where '{}' is",
                t.name
            );
            assert_eq!(
                sha256(&bytes[range]),
                want["sha256"].as_str().unwrap(),
                "{name}: bytes of '{}' as {} ({:?})",
                t.name,
                t.ty.id(),
                t.note
            );
        }
        assert_eq!(bytes.len() as u64, case["len"].as_u64().unwrap(), "{name}: length");
        assert_eq!(sha256(&bytes), case["sha256"].as_str().unwrap(), "{name}: whole file");
        checked.push(name.to_string());
    }
    // Every mix llama-quantize wrote is written, 25 of them with an importance matrix (the IQ1,
    // IQ2 and IQ3 mixes among them: IQ2_XXS, IQ2_XS, IQ1_S cannot quantize without one).
    assert!(cannot_write.is_empty(), "{cannot_write:?}");
    assert_eq!(checked.len(), 29 + 25, "{checked:?}");
    assert_eq!(checked.iter().filter(|c| c.contains("imatrix")).count(), 25);
    for ft in ["IQ3_S", "IQ3_M", "IQ3_XS", "IQ3_XXS", "IQ2_XXS", "IQ2_XS", "IQ2_S", "IQ2_M", "IQ1_S", "IQ1_M"] {
        assert!(checked.contains(&format!("{ft}-imatrix-full")), "{ft}");
    }
}

/// File types llama-quantize refuses on this model are refused with its reason, naming the same
/// tensor, and nothing is written.
#[test]
#[cfg_attr(target_arch = "wasm32", wasm_bindgen_test::wasm_bindgen_test)]
fn refusals_match_llama_quantize() {
    let cases = crate::common::json(CASES);
    let source = source();
    let mut refused = 0;
    for case in cases["cases"].as_array().unwrap() {
        let Some(error) = case.get("error").and_then(|e| e.as_str()) else { continue };
        let ftype = FileType::from_name(case["type"].as_str().unwrap()).unwrap();
        let mut out = Vec::new();
        let e = gguf_writer::write_mix(&source, ftype, &options_of(case), &mut out, |_, _| {}).unwrap_err().to_string();
        assert!(e.contains(error.trim_end_matches('!').trim()), "{}: ours '{e}', llama-quantize '{error}'", case["name"]);
        if let Some(t) = case.get("offending_tensor").and_then(|t| t.as_str()) {
            assert!(e.contains(&format!("offending tensor: {t},")), "{}: {e}", case["name"]);
        }
        assert!(out.is_empty(), "nothing is written when a mix is refused");
        refused += 1;
    }
    // Without an imatrix: Q1_0, Q2_K_S and the IQ1/IQ2/IQ3_XXS/IQ3_XS mixes; with one: Q2_K_S,
    // IQ3_XXS and IQ2_XXS for the tensor it has no entry for, and an entry of the wrong size.
    assert_eq!(refused, 10 + 4);
}

#[test]
#[cfg_attr(target_arch = "wasm32", wasm_bindgen_test::wasm_bindgen_test)]
fn a_source_that_is_not_gguf_or_already_quantized_is_refused() {
    // The committed Q4_K_M-pure header is not a model; the Q8_0 export of the source is one.
    let src = source();
    let mut q8 = Vec::new();
    gguf_writer::write_mix(&src, FileType::from_name("Q8_0").unwrap(), &MixOptions::default(), &mut q8, |_, _| {}).unwrap();
    let q8 = lazy::open("q8.gguf", Rc::new(q8)).unwrap();
    let e = gguf_writer::write_mix(&q8, FileType::from_name("Q4_K_M").unwrap(), &MixOptions::default(), Vec::new(), |_, _| {}).unwrap_err();
    assert!(e.to_string().contains("requantizing from type q8_0 is disabled"), "{e}");
    // Same type: copied, so the Q8_0 file exported as Q8_0 is itself with a new file type.
    let opts = MixOptions { output_tensor_type: Some(ty::Q8_0), ..Default::default() };
    assert!(gguf_writer::plan_mix(&q8, FileType::from_name("Q8_0").unwrap(), &opts).unwrap().tensors.iter().all(|t| t.copy));
    let npy = lazy::open("x.npy", Rc::new(fixture_bytes!("npy/f16.npy").to_vec())).unwrap();
    let e = gguf_writer::plan_mix(&npy, FileType::from_name("Q4_K_M").unwrap(), &MixOptions::default()).unwrap_err();
    assert!(e.to_string().contains("needs a GGUF model"), "{e}");
}

/// An importance matrix with a NaN or infinite weight is refused before anything is written, as
/// `llama_model_quantize_impl` refuses it ("imatrix contains non-finite value").
#[test]
#[cfg_attr(target_arch = "wasm32", wasm_bindgen_test::wasm_bindgen_test)]
fn an_imatrix_with_a_non_finite_weight_is_refused() {
    let mut m = quantscope_formats::imatrix::parse(fixture_bytes!("gguf_mixes/imatrix.gguf")).unwrap();
    m.entries[3].values[7] = f32::INFINITY;
    let options = MixOptions { imatrix: Some(MixImatrix { file_name: "x".into(), imatrix: Rc::new(m) }), ..Default::default() };
    let mut out = Vec::new();
    let e = gguf_writer::write_mix(&source(), FileType::from_name("Q4_K_M").unwrap(), &options, &mut out, |_, _| {}).unwrap_err();
    assert!(e.to_string().contains("imatrix contains non-finite value inf"), "{e}");
    assert!(out.is_empty());
}

/// The page's pool encodes an export's chunks on several workers and writes them in order
/// (www/inspect/pieces.js): chunks encoded in another order, each from its `EncodeJob` alone,
/// give the same file as the export writing them itself — with and without importance weights,
/// with tensors copied as stored.
#[test]
#[cfg_attr(target_arch = "wasm32", wasm_bindgen_test::wasm_bindgen_test)]
fn chunks_encoded_out_of_order_make_the_same_file() {
    let cases = crate::common::json(CASES);
    let source = source();
    let mut read = |k: usize, start: u64, count: usize| source.read_values(k, start, count);
    let mut stored = |k: usize, start: u64, len: usize| source.read_stored(k, start, len);
    let mut tried = Vec::new();
    for name in ["Q4_K_M", "Q4_K_M-imatrix", "Q8_0", "IQ2_XS-imatrix-full"] {
        let case = cases["cases"].as_array().unwrap().iter().find(|c| c["name"] == name).unwrap_or_else(|| panic!("no case {name}"));
        let ftype = FileType::from_name(case["type"].as_str().unwrap()).unwrap();
        let options = options_of(case);
        let mut whole = Vec::new();
        gguf_writer::write_mix(&source, ftype, &options, &mut whole, |_, _| {}).unwrap();

        let plan = gguf_writer::plan_mix(&source, ftype, &options).unwrap();
        let weighted = plan.tensors.iter().any(|t| t.importance.is_some());
        let mut export = gguf_writer::Export::with_importance(plan, quantscope_core::schemes::quantize_with_importance);
        let mut works = Vec::new();
        while let Some(w) = export.next_work(&mut read, &mut stored).unwrap() {
            works.push(w);
        }
        assert_eq!(export.written, export.plan.len, "{name}: the bytes the works promise");
        let mut pieces: Vec<Option<Vec<u8>>> = vec![None; works.len()];
        for (k, w) in works.iter().enumerate().rev() {
            pieces[k] = Some(match w {
                gguf_writer::Work::Ready(bytes) => bytes.clone(),
                gguf_writer::Work::Encode(job) => job.clone().encode(Some(quantscope_core::schemes::quantize_with_importance)).unwrap(),
            });
        }
        let assembled: Vec<u8> = pieces.into_iter().flatten().flatten().collect();
        assert!(assembled == whole, "{name}: {} bytes assembled, {} written", assembled.len(), whole.len());
        tried.push((name, weighted, works.len()));
    }
    // Both kinds of chunk were exercised, and files of more than one chunk.
    assert!(tried.iter().any(|t| t.1) && tried.iter().any(|t| !t.1), "{tried:?}");
    assert!(tried.iter().all(|t| t.2 > 2), "{tried:?}");
}

/// A chunk with importance weights whose values are not whole rows, or given to an encoder
/// without a weighted quantizer, is an error naming the tensor, never a wrong file.
#[test]
#[cfg_attr(target_arch = "wasm32", wasm_bindgen_test::wasm_bindgen_test)]
fn a_malformed_encode_job_is_refused() {
    let job = gguf_writer::EncodeJob {
        tensor: "blk.0.ffn_up.weight".into(),
        ty: gguf_writer::OutType::from_id("q4_k").unwrap(),
        values: vec![0.5; 512],
        importance: Some(vec![1.0; 384]),
        padding: 0,
    };
    let e = job.encode(Some(quantscope_core::schemes::quantize_with_importance)).unwrap_err().to_string();
    assert!(e.contains("blk.0.ffn_up.weight") && e.contains("not whole rows of 384"), "{e}");
    let e = gguf_writer::EncodeJob { importance: Some(vec![1.0; 256]), ..job.clone() }.encode(None).unwrap_err().to_string();
    assert!(e.contains("no weighted quantizer"), "{e}");
    let unweighted = gguf_writer::EncodeJob { importance: None, padding: 7, ..job };
    assert_eq!(unweighted.encode(None).unwrap().len() as u64, unweighted.encoded_len().unwrap());
}
