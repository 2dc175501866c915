//! The window of Conv and pooling over the spatial axes (`onnx/defs/nn/defs.cc`): `auto_pad`,
//! `pads`, `strides`, `dilations`, `kernel_shape` and `ceil_mode` as given ([`WindowAttrs`]),
//! resolved against an input's sizes ([`Geometry`]), and im2col's patches.

use crate::attr::Attrs;
use crate::op::{attr_err, shape_err, OpError};

/// ONNX `auto_pad`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AutoPad {
    NotSet,
    SameUpper,
    SameLower,
    Valid,
}

/// Window attributes as given (lengths are checked against the input at run time).
#[derive(Debug, Clone)]
pub struct WindowAttrs {
    pub auto_pad: AutoPad,
    pub kernel_shape: Option<Vec<usize>>,
    pub strides: Option<Vec<i64>>,
    pub dilations: Option<Vec<i64>>,
    /// `[x1_begin, x2_begin, ..., x1_end, x2_end, ...]`.
    pub pads: Option<Vec<i64>>,
    pub ceil_mode: bool,
}

impl WindowAttrs {
    pub fn parse(a: &Attrs) -> Result<Self, OpError> {
        let auto_pad = match a.string("auto_pad")?.as_deref() {
            None | Some("NOTSET") => AutoPad::NotSet,
            Some("SAME_UPPER") => AutoPad::SameUpper,
            Some("SAME_LOWER") => AutoPad::SameLower,
            Some("VALID") => AutoPad::Valid,
            Some(other) => return Err(attr_err("auto_pad", format!("'{other}' is not NOTSET, SAME_UPPER, SAME_LOWER or VALID"))),
        };
        let kernel_shape = match a.ints("kernel_shape")? {
            Some(k) if k.iter().any(|&x| x < 1) => return Err(attr_err("kernel_shape", format!("{k:?} has a dimension below 1"))),
            k => k.map(|k| k.iter().map(|&x| x as usize).collect()),
        };
        let pads = a.ints("pads")?;
        if pads.as_ref().is_some_and(|p| p.iter().any(|&x| x < 0)) {
            return Err(attr_err("pads", "has a negative value"));
        }
        Ok(WindowAttrs {
            auto_pad,
            kernel_shape,
            strides: a.ints("strides")?,
            dilations: a.ints("dilations")?,
            pads,
            ceil_mode: a.int("ceil_mode", 0)? != 0,
        })
    }

    /// The geometry for `input` spatial sizes and `kernel` sizes.
    pub fn geometry(&self, input: &[usize], kernel: &[usize]) -> Result<Geometry, OpError> {
        let r = input.len();
        let per_axis = |name: &str, v: &Option<Vec<i64>>| -> Result<Vec<usize>, OpError> {
            match v {
                None => Ok(vec![1; r]),
                Some(v) if v.len() == r && v.iter().all(|&x| x >= 1) => Ok(v.iter().map(|&x| x as usize).collect()),
                Some(v) => Err(attr_err(name, format!("is {v:?}: it needs {r} values (one per spatial axis), each at least 1"))),
            }
        };
        let strides = per_axis("strides", &self.strides)?;
        let dilations = per_axis("dilations", &self.dilations)?;
        if kernel.len() != r {
            return Err(shape_err(format!("the kernel has {} spatial axes but the input has {r}", kernel.len())));
        }
        let mut pad_begin = vec![0; r];
        let mut pad_end = vec![0; r];
        let mut out = vec![0; r];
        for i in 0..r {
            let span = dilations[i] * (kernel[i] - 1) + 1;
            let (begin, end) = match self.auto_pad {
                AutoPad::NotSet => match &self.pads {
                    None => (0, 0),
                    Some(p) if p.len() == 2 * r => (p[i] as usize, p[i + r] as usize),
                    Some(p) => return Err(attr_err("pads", format!("is {p:?}: it needs {} values", 2 * r))),
                },
                AutoPad::Valid => (0, 0),
                AutoPad::SameUpper | AutoPad::SameLower => {
                    let o = input[i].div_ceil(strides[i]);
                    let total = ((o.max(1) - 1) * strides[i] + span).saturating_sub(input[i]);
                    let small = total / 2;
                    if self.auto_pad == AutoPad::SameUpper {
                        (small, total - small)
                    } else {
                        (total - small, small)
                    }
                }
            };
            let padded = input[i] + begin + end;
            if padded < span {
                return Err(shape_err(format!(
                    "the window ({span} wide with dilation) is larger than spatial axis {i} ({} with padding)",
                    padded
                )));
            }
            let mut o = if self.ceil_mode { (padded - span).div_ceil(strides[i]) + 1 } else { (padded - span) / strides[i] + 1 };
            // A window may not start in the end padding (the PyTorch and ONNX reference rule).
            if self.ceil_mode && (o - 1) * strides[i] >= input[i] + begin {
                o -= 1;
            }
            pad_begin[i] = begin;
            pad_end[i] = end;
            out[i] = o;
        }
        Ok(Geometry { input: input.to_vec(), kernel: kernel.to_vec(), strides, dilations, pad_begin, pad_end, out })
    }
}

/// Resolved window geometry over the spatial axes.
#[derive(Debug, Clone)]
pub struct Geometry {
    pub input: Vec<usize>,
    pub kernel: Vec<usize>,
    pub strides: Vec<usize>,
    pub dilations: Vec<usize>,
    pub pad_begin: Vec<usize>,
    pub pad_end: Vec<usize>,
    pub out: Vec<usize>,
}

impl Geometry {
    pub fn out_count(&self) -> usize {
        self.out.iter().product()
    }

    pub fn kernel_count(&self) -> usize {
        self.kernel.iter().product()
    }

    pub fn in_count(&self) -> usize {
        self.input.iter().product()
    }

    /// For axis `d`: the input coordinate of kernel tap `k` at output position `o`, if inside.
    pub fn coord(&self, d: usize, k: usize, o: usize) -> Option<usize> {
        let x = (o * self.strides[d] + k * self.dilations[d]).checked_sub(self.pad_begin[d])?;
        (x < self.input[d]).then_some(x)
    }

    /// True when im2col would copy the input unchanged (1×…×1 kernel, stride 1, no padding).
    pub fn is_identity(&self) -> bool {
        self.kernel.iter().all(|&k| k == 1)
            && self.strides.iter().all(|&s| s == 1)
            && self.pad_begin.iter().all(|&p| p == 0)
            && self.out == self.input
    }

    /// Writes the patches of `channels` channels of one image (`x`, channel-major) into
    /// `cols` (`channels·∏k` rows × `∏out` columns); taps outside the input get `pad`.
    pub fn im2col<T: Copy>(&self, x: &[T], channels: usize, pad: T, cols: &mut [T]) {
        let r = self.input.len();
        let (kc, oc, ic) = (self.kernel_count(), self.out_count(), self.in_count());
        let in_strides = crate::op::strides(&self.input);
        // Per axis, per (tap, output position): the input coordinate or None.
        let tables: Vec<Vec<Option<usize>>> = (0..r)
            .map(|d| (0..self.kernel[d]).flat_map(|k| (0..self.out[d]).map(move |o| (k, o))).map(|(k, o)| self.coord(d, k, o)).collect())
            .collect();
        let last = r - 1;
        let (out_last, outer_out) = (self.out[last], oc / self.out[last].max(1));
        let mut kidx = vec![0usize; r];
        let mut oidx = vec![0usize; r.saturating_sub(1)];
        for c in 0..channels {
            let xc = &x[c * ic..(c + 1) * ic];
            for kpos in 0..kc {
                // kernel multi-index of kpos
                let mut rem = kpos;
                for d in (0..r).rev() {
                    kidx[d] = rem % self.kernel[d];
                    rem /= self.kernel[d];
                }
                let row = &mut cols[(c * kc + kpos) * oc..(c * kc + kpos + 1) * oc];
                let last_table = &tables[last][kidx[last] * out_last..(kidx[last] + 1) * out_last];
                oidx.iter_mut().for_each(|v| *v = 0);
                for op in 0..outer_out {
                    // Offset and validity of the outer axes.
                    let mut base = Some(0usize);
                    for d in 0..last {
                        base = match (base, tables[d][kidx[d] * self.out[d] + oidx[d]]) {
                            (Some(b), Some(xd)) => Some(b + xd * in_strides[d]),
                            _ => None,
                        };
                    }
                    let dst = &mut row[op * out_last..(op + 1) * out_last];
                    match base {
                        None => dst.fill(pad),
                        Some(b) => {
                            for (v, t) in dst.iter_mut().zip(last_table) {
                                *v = match t {
                                    Some(xl) => xc[b + xl],
                                    None => pad,
                                };
                            }
                        }
                    }
                    for d in (0..last).rev() {
                        oidx[d] += 1;
                        if oidx[d] < self.out[d] {
                            break;
                        }
                        oidx[d] = 0;
                    }
                }
            }
        }
    }
}
