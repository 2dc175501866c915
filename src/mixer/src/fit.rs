//! "Fit a size" in the page (`quantscope_formats::gguf_fit`): the Inspect worker measures every
//! tensor of the model in every type it can take a step at a time (progress and Cancel between
//! steps), then fits a target, compares the named mixes, and writes the fitted file as it writes
//! a mix. The measured table also gives the mix preview each tensor's SQNR and weighted MSE.

use crate::{describe, mix_err, GgufMixer};
use quantscope_formats::gguf_fit::{self, Assignment, FitTable, Measure, Target};
use quantscope_formats::gguf_mix::{FileType, MixOptions};
use quantscope_formats::gguf_writer::{self, Export, Plan};
use quantscope_wasm_common::to_js;
use serde::Serialize;
use wasm_bindgen::prelude::*;

/// The candidate table of one model (with the mixer's importance matrix), and the last fit.
#[derive(Default)]
pub(crate) struct FitState {
    measure: Option<Measure>,
    table: Option<FitTable>,
    fitted: Option<(String, Plan)>,
}

impl FitState {
    pub(crate) fn table(&self) -> Option<&FitTable> {
        self.table.as_ref()
    }
}

/// One named mix on the SQNR-vs-bpw chart.
#[derive(Serialize)]
struct MixPoint {
    file_type: &'static str,
    bytes: u64,
    bits_per_weight: f64,
    /// Over every weight of the file (`None`: exact).
    sqnr_db: Option<f64>,
    /// The total error the fit minimises (importance-weighted with an imatrix).
    error: f64,
}

impl GgufMixer {
    /// Every named mix llama.cpp's rules give this model (with the mixer's imatrix) that the
    /// table has every type of: its name and its candidates.
    fn named_mixes(&self, table: &FitTable) -> Vec<(FileType, Assignment)> {
        let options = MixOptions { imatrix: self.imatrix.clone(), ..MixOptions::default() };
        FileType::ALL
            .into_iter()
            .filter_map(|f| {
                let plan = gguf_writer::plan_mix(&self.file, f, &options).ok()?;
                Some((f, table.assignment_of(&plan)?))
            })
            .collect()
    }

    fn table_or_err(&self) -> Result<&FitTable, JsError> {
        self.fit.table.as_ref().ok_or_else(|| JsError::new("the errors are not measured yet"))
    }

    fn start_measure(&mut self) -> Result<&Measure, JsError> {
        if self.fit.measure.is_none() {
            let m = Measure::new(&self.file, self.imatrix.clone(), quantscope_core::schemes::quantize_with_importance).map_err(mix_err)?;
            self.fit.measure = Some(m);
        }
        Ok(self.fit.measure.as_ref().expect("set above"))
    }
}

#[wasm_bindgen]
impl GgufMixer {
    /// Every tensor's error in every type it can take is measured (for this imatrix).
    pub fn measured(&self) -> bool {
        self.fit.table.is_some()
    }

    /// Begins measuring (or goes on with a measurement under way); returns the values to measure.
    pub fn measure_begin(&mut self) -> Result<f64, JsError> {
        Ok(self.start_measure()?.total as f64)
    }

    /// Measures about `values` more values (whole chunks); returns the values measured so far,
    /// the total once the table is complete.
    pub fn measure_step(&mut self, values: f64) -> Result<f64, JsError> {
        let Some(m) = self.fit.measure.as_mut() else { return Err(JsError::new("no measurement is under way")) };
        let until = m.done as f64 + values;
        let mut more = true;
        while more && (m.done as f64) < until {
            more = m.step(&self.file).map_err(mix_err)?;
        }
        let done = m.done as f64;
        if !more {
            let m = self.fit.measure.take().expect("under way");
            self.fit.table = Some(m.finish().map_err(mix_err)?);
        }
        Ok(done)
    }

    /// Drops a measurement under way.
    pub fn measure_cancel(&mut self) {
        self.fit.measure = None;
    }

    /// The file size a target allows: `value` (NaN if what the person typed, `text`, is not a
    /// number) in `unit` "bpw" (bits per weight) or "mb" (megabytes), checked against the sizes
    /// this model can be written in (known before anything is measured); an error in words.
    pub fn fit_target(&mut self, unit: &str, value: f64, text: &str) -> Result<f64, JsError> {
        let target = match unit {
            "bpw" => Target::bpw(value, text),
            _ => Target::megabytes(value, text),
        }
        .map_err(mix_err)?;
        let table = match &self.fit.table {
            Some(t) => t,
            None => self.start_measure()?.candidates(),
        };
        Ok(target.bytes_for(table).map_err(mix_err)? as f64)
    }

    /// The types of least total error within `bytes` (the table measured), named `label`:
    /// its plan as [`GgufMixer::plan`] gives one, with `from` (the named mix it was grown from,
    /// if the greedy did worse). [`GgufMixer::begin_fit`] writes it.
    pub fn fit(&mut self, bytes: f64, label: &str) -> Result<JsValue, JsError> {
        let table = self.table_or_err()?;
        let rivals: Vec<(String, Assignment)> = self.named_mixes(table).into_iter().map(|(f, a)| (f.name().to_string(), a)).collect();
        let fitted = gguf_fit::fit(table, bytes as u64, &rivals).map_err(mix_err)?;
        let (_, _, mut plan) = gguf_fit::plan_fit(&self.file, table, &fitted.choice, self.imatrix.clone()).map_err(mix_err)?;
        let how = match &fitted.from {
            Some(m) => format!("fit: least total error within the target (grown from {m})"),
            None => "fit: least total error within the target".to_string(),
        };
        for (p, t) in plan.tensors.iter_mut().zip(&table.tensors) {
            p.note = Some(match (&t.kept, &p.note) {
                (Some(kept), _) => kept.clone(),
                (None, Some(note)) => note.replace("--tensor-type", &how),
                (None, None) => how.clone(),
            });
        }
        let described = describe(&plan, label, Some(table))?;
        self.fit.fitted = Some((label.to_string(), plan));
        Ok(described)
    }

    /// The last fit's plan, or `null` if there is none (a new imatrix drops it).
    pub fn fit_plan(&self) -> Result<JsValue, JsError> {
        match &self.fit.fitted {
            Some((label, plan)) => describe(plan, label, self.fit.table.as_ref()),
            None => Ok(JsValue::NULL),
        }
    }

    /// Begins writing the last fit, as [`GgufMixer::begin`] writes a mix.
    pub fn begin_fit(&mut self) -> Result<JsValue, JsError> {
        let (label, plan) = self.fit.fitted.clone().ok_or_else(|| JsError::new("no fit to write: fit a size first"))?;
        let described = describe(&plan, &label, self.fit.table.as_ref())?;
        self.export = Some(Export::with_importance(plan, quantscope_core::schemes::quantize_with_importance));
        Ok(described)
    }

    /// Every named mix as a point of the SQNR-vs-bpw chart: `[{file_type, bytes,
    /// bits_per_weight, sqnr_db, error}]`, in llama-quantize's order of file types.
    pub fn compare(&self) -> Result<JsValue, JsError> {
        let table = self.table_or_err()?;
        let elements = table.elements().max(1) as f64;
        let points: Vec<MixPoint> = self
            .named_mixes(table)
            .into_iter()
            .map(|(f, a)| {
                let t = table.totals(&a);
                MixPoint {
                    file_type: f.name(),
                    bytes: t.bytes,
                    bits_per_weight: 8.0 * t.bytes as f64 / elements,
                    sqnr_db: t.sqnr_db(),
                    error: t.error,
                }
            })
            .collect();
        to_js(&points)
    }
}
