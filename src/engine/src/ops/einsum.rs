//! Einsum: a sum over products of its inputs' elements, indexed by the labels of an equation
//! such as `bhqd,bhkd->bhqk` (`onnx/defs/math/defs.cc`, "Einsum"; reference:
//! `onnx/reference/ops/op_einsum.py`, which is numpy's `einsum`). Supports `...` (broadcast
//! like numpy, aligned from the right), repeated labels in one term (diagonals), and the
//! implicit output (the ellipsis, then every label used once, in alphabetical order).
//!
//! One loop over every combination of labels, in f64: the cost is the product of all label
//! sizes, which suits the small contractions exporters emit (attention scores, bilinear
//! layers), not a large matrix product (MatMul is the fast path).

use crate::attr::Attrs;
use crate::op::{attr_err, dtype_err, from_f64, numbers, shape_err, strides, BuildCtx, Inputs, Op, OpError};
use crate::value::Value;
use std::sync::Arc;

/// A term's labels; ellipsis dimensions are labels `'0'..` (before any letter).
#[derive(Debug, Clone)]
struct Term {
    letters: Vec<char>,
    /// Where `...` stands among the letters, if present.
    ellipsis_at: Option<usize>,
}

fn parse_term(t: &str) -> Result<Term, OpError> {
    let bad = |why: String| attr_err("equation", why);
    let (mut letters, mut ellipsis_at) = (Vec::new(), None);
    let mut rest = t;
    while !rest.is_empty() {
        if let Some(r) = rest.strip_prefix("...") {
            if ellipsis_at.is_some() {
                return Err(bad(format!("term '{t}' has two ellipses")));
            }
            ellipsis_at = Some(letters.len());
            rest = r;
            continue;
        }
        let c = rest.chars().next().expect("not empty");
        if !c.is_ascii_alphabetic() {
            return Err(bad(format!("term '{t}' has '{c}': labels are letters (and one '...')")));
        }
        letters.push(c);
        rest = &rest[1..];
    }
    Ok(Term { letters, ellipsis_at })
}

#[derive(Debug)]
pub struct Einsum {
    inputs: Vec<Term>,
    output: Option<Term>,
}

pub fn build_einsum(a: &Attrs, ctx: &BuildCtx) -> Result<Arc<dyn Op>, OpError> {
    a.only(&["equation"])?;
    let eq: String =
        a.string("equation")?.ok_or_else(|| attr_err("equation", "is required"))?.chars().filter(|c| !c.is_whitespace()).collect();
    let (lhs, rhs) = match eq.split_once("->") {
        Some((l, r)) => (l, Some(r)),
        None => (eq.as_str(), None),
    };
    let inputs = lhs.split(',').map(parse_term).collect::<Result<Vec<_>, _>>()?;
    if inputs.len() != ctx.n_inputs {
        return Err(attr_err("equation", format!("'{eq}' has {} input terms for {} inputs", inputs.len(), ctx.n_inputs)));
    }
    let output = rhs.map(parse_term).transpose()?;
    if let Some(o) = &output {
        for (i, c) in o.letters.iter().enumerate() {
            if !inputs.iter().any(|t| t.letters.contains(c)) {
                return Err(attr_err("equation", format!("'{eq}': output label '{c}' is in no input")));
            }
            if o.letters[..i].contains(c) {
                return Err(attr_err("equation", format!("'{eq}': output label '{c}' is repeated")));
            }
        }
    }
    Ok(Arc::new(Einsum { inputs, output }))
}

/// A term's labels for an input of `rank`, ellipsis dimensions as `'0' + k` counted so that the
/// last one is `'0' + (ell − 1)` for every input (right-aligned broadcasting).
fn expand(t: &Term, rank: usize, ell: usize, what: &str) -> Result<Vec<char>, OpError> {
    let Some(at) = t.ellipsis_at else {
        if rank != t.letters.len() {
            return Err(shape_err(format!("{what} has rank {rank} but its term has {} labels", t.letters.len())));
        }
        return Ok(t.letters.clone());
    };
    let own =
        rank.checked_sub(t.letters.len()).ok_or_else(|| shape_err(format!("{what} has rank {rank}, fewer than its term's labels")))?;
    let mut out = t.letters[..at].to_vec();
    out.extend((ell - own..ell).map(|k| char::from(b'0' + k as u8)));
    out.extend(&t.letters[at..]);
    Ok(out)
}

impl Op for Einsum {
    fn op_type(&self) -> &'static str {
        "Einsum"
    }

    fn run(&self, inputs: &mut Inputs<'_>) -> Result<Vec<Value>, OpError> {
        let values: Vec<&Value> = (0..self.inputs.len()).map(|i| inputs.req(i)).collect::<Result<_, _>>()?;
        let dtype = values[0].dtype();
        if values.iter().any(|v| v.dtype() != dtype) {
            return Err(dtype_err("every input must have the same element type"));
        }
        let ell = self
            .inputs
            .iter()
            .zip(&values)
            .filter(|(t, _)| t.ellipsis_at.is_some())
            .map(|(t, v)| v.rank().saturating_sub(t.letters.len()))
            .max()
            .unwrap_or(0);
        if ell > 10 {
            return Err(shape_err("an ellipsis of more than 10 dimensions"));
        }
        let labels: Vec<Vec<char>> = self
            .inputs
            .iter()
            .zip(&values)
            .enumerate()
            .map(|(i, (t, v))| expand(t, v.rank(), ell, &format!("input {i}")))
            .collect::<Result<_, _>>()?;
        // Every label's size (broadcast 1s allowed for ellipsis dimensions only).
        let mut size: Vec<(char, usize)> = Vec::new();
        for (ls, v) in labels.iter().zip(&values) {
            for (&c, &d) in ls.iter().zip(v.shape()) {
                match size.iter_mut().find(|(l, _)| *l == c) {
                    None => size.push((c, d)),
                    Some((_, s)) if *s == d => {}
                    Some((_, s)) if c.is_ascii_digit() && (*s == 1 || d == 1) => *s = (*s).max(d),
                    Some((_, s)) => return Err(shape_err(format!("label '{c}' has sizes {s} and {d}"))),
                }
            }
        }
        let ellipsis: Vec<char> = (0..ell).map(|k| char::from(b'0' + k as u8)).collect();
        let out_labels: Vec<char> = match &self.output {
            Some(o) => {
                let mut l = o.letters.clone();
                if let Some(at) = o.ellipsis_at {
                    l.splice(at..at, ellipsis.iter().copied());
                }
                l
            }
            None => {
                let mut once: Vec<char> = size
                    .iter()
                    .map(|&(c, _)| c)
                    .filter(|c| c.is_ascii_alphabetic() && labels.iter().flatten().filter(|x| *x == c).count() == 1)
                    .collect();
                once.sort_unstable();
                ellipsis.iter().copied().chain(once).collect()
            }
        };
        // Loop order: the output's labels, then the summed ones.
        let mut order = out_labels.clone();
        order.extend(size.iter().map(|&(c, _)| c).filter(|c| !out_labels.contains(c)));
        let dims: Vec<usize> = order.iter().map(|c| size.iter().find(|(l, _)| l == c).map_or(1, |&(_, s)| s)).collect();
        let out_shape: Vec<usize> = dims[..out_labels.len()].to_vec();
        // Per input and loop label: the stride it moves by (0 when broadcast or absent).
        let data: Vec<Vec<f64>> = values.iter().map(|v| numbers(v, "an input")).collect::<Result<_, _>>()?;
        let steps: Vec<Vec<isize>> = labels
            .iter()
            .zip(&values)
            .map(|(ls, v)| {
                let st = strides(v.shape());
                order
                    .iter()
                    .map(|c| ls.iter().enumerate().filter(|(k, l)| *l == c && v.shape()[*k] != 1).map(|(k, _)| st[k] as isize).sum())
                    .collect()
            })
            .collect();
        let out_st = strides(&out_shape);
        let total: usize = dims.iter().product();
        let n_out: usize = out_shape.iter().product();
        let mut out = vec![0.0; n_out];
        let mut idx = vec![0usize; order.len()];
        let mut offs = vec![0isize; values.len()];
        let mut out_at = 0usize;
        for _ in 0..total {
            out[out_at] += offs.iter().zip(&data).map(|(&o, d)| d[o as usize]).product::<f64>();
            for d in (0..order.len()).rev() {
                idx[d] += 1;
                for (o, s) in offs.iter_mut().zip(&steps) {
                    *o += s[d];
                }
                if d < out_labels.len() {
                    out_at += out_st[d];
                }
                if idx[d] < dims[d] {
                    break;
                }
                for (o, s) in offs.iter_mut().zip(&steps) {
                    *o -= s[d] * dims[d] as isize;
                }
                if d < out_labels.len() {
                    out_at -= out_st[d] * dims[d];
                }
                idx[d] = 0;
            }
        }
        Ok(vec![from_f64(dtype, out_shape, out)?])
    }
}
