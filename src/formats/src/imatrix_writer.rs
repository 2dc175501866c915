//! Writing an importance matrix in the GGUF layout `llama-imatrix` writes (the reading is in
//! [`crate::imatrix`]; the file's header and data layout are the GGUF writer's).

use crate::error::{Error, Result};
use crate::gguf;
use crate::gguf_writer::{layout, padding, OutType, PlannedTensor, Value};
use crate::imatrix::{Imatrix, ImatrixError, ImatrixFormat};

/// The GGUF file `llama-imatrix` writes for these statistics (`tools/imatrix/imatrix.cpp`,
/// `save_imatrix`): keys `general.type` = "imatrix", `imatrix.datasets`, `imatrix.chunk_count`,
/// `imatrix.chunk_size` in that order, then per entry in name order `W.in_sum2` (ne = [columns,
/// experts]) and `W.counts` (ne = [1, experts]) as F32, each with as many dims as
/// `ggml_n_dims` gives (trailing 1s dropped), data aligned to 32. `sums` and `counts` are written
/// as stored, so a GGUF imatrix read by [`parse`] is written back byte for byte. Statistics read
/// from a legacy `.dat` are refused: their sums are means × ncall, not raw sums.
pub fn write_gguf(m: &Imatrix) -> Result<Vec<u8>> {
    if m.format == ImatrixFormat::Legacy {
        return Err(Error::invalid("imatrix: a legacy .dat's statistics are not raw sums; only GGUF statistics are written".into()));
    }
    let mut datasets = gguf::vt::STRING.to_le_bytes().to_vec(); // an array of strings
    datasets.extend_from_slice(&(m.datasets.len() as u64).to_le_bytes());
    for d in &m.datasets {
        datasets.extend_from_slice(&(d.len() as u64).to_le_bytes());
        datasets.extend_from_slice(d.as_bytes());
    }
    let count = |key: &str, v: i32| u32::try_from(v).map_err(|_| Error::invalid(format!("imatrix: {key} is {v}")));
    let metadata = vec![
        ("general.type".to_string(), Value::Str("imatrix".into())),
        ("imatrix.datasets".to_string(), Value::Raw { value_type: gguf::vt::ARRAY, bytes: datasets }),
        ("imatrix.chunk_count".to_string(), Value::U32(count("the chunk count", m.chunk_count)?)),
        ("imatrix.chunk_size".to_string(), Value::U32(count("the chunk size", m.chunk_size)?)),
    ];
    // llama-imatrix writes its std::map in name order; an Imatrix keeps its entries so.
    if !m.entries.windows(2).all(|w| w[0].name < w[1].name) {
        return Err(Error::invalid("imatrix: the entries are not in name order (or a name repeats)".into()));
    }
    let mut planned = Vec::new();
    let mut data: Vec<Vec<u8>> = Vec::new();
    for e in &m.entries {
        let experts = e.counts.len();
        if experts == 0 || e.sums.is_empty() || e.sums.len() % experts != 0 {
            return Err(ImatrixError::BadShape { name: e.name.clone(), sums: e.sums.len() as u64, counts: experts as u64 }.into());
        }
        let columns = (e.sums.len() / experts) as u64;
        // ggml_n_dims: numpy order here, so a leading 1 (one expert) is dropped.
        let dims = |inner: u64| if experts == 1 { vec![inner] } else { vec![experts as u64, inner] };
        let counts: Vec<f32> = e.counts.iter().map(|&c| c as f32).collect();
        for (suffix, shape, values) in [(".in_sum2", dims(columns), &e.sums), (".counts", dims(1), &counts)] {
            let source = planned.len();
            let name = format!("{}{suffix}", e.name);
            planned.push(PlannedTensor {
                name,
                shape,
                ty: OutType::F32,
                note: None,
                copy: false,
                source,
                importance: None,
                offset: 0,
                size: 0,
            });
            data.push(values.iter().flat_map(|v| v.to_le_bytes()).collect());
        }
    }
    let plan = layout(&metadata, planned)?;
    let mut out = plan.header;
    for (t, bytes) in plan.tensors.iter().zip(data) {
        debug_assert_eq!(out.len() as u64, t.offset);
        out.extend_from_slice(&bytes);
        out.extend_from_slice(&padding(t.size));
    }
    Ok(out)
}
