//! Learn panel 1, "How numbers are stored": one number in FP32 and in every narrow float format
//! — its bits (sign, exponent, mantissa), the exact value stored, the rounding error, the two
//! representable neighbours around it and their gap — plus each float and integer format's
//! range.
//!
//! Nothing here encodes or decodes on its own: FP32 is Rust's `f32`, and every narrower format
//! goes through the scheme library's scalar reference ([`FloatFormat::encode`] /
//! [`FloatFormat::decode`]), which src/core/tests/float_fixtures.rs holds to numpy, ml_dtypes and ONNX.
//! A typed number is read as f64, rounded once to f32 (as every tensor value is) and then cast,
//! exactly as the `fp16`, `fp8_e4m3`, … schemes cast a tensor; errors are measured against the
//! typed number.

use quantscope_core::error::{Error, Result};
use quantscope_core::schemes::float::FloatFormat;
use quantscope_core::schemes::int::qrange;
use serde::Serialize;

/// A float layout the panel shows: FP32 itself or one of the scheme library's narrow formats.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Format {
    Fp32,
    Narrow(FloatFormat),
}

impl Format {
    /// In the order the panel lists them, widest first.
    pub const ALL: [Format; 6] = [
        Format::Fp32,
        Format::Narrow(FloatFormat::Fp16),
        Format::Narrow(FloatFormat::Bf16),
        Format::Narrow(FloatFormat::Fp8E4m3),
        Format::Narrow(FloatFormat::Fp8E5m2),
        Format::Narrow(FloatFormat::Fp4E2m1),
    ];

    /// `fp32`, or the scheme id (`fp16`, `bf16`, `fp8_e4m3`, `fp8_e5m2`, `fp4_e2m1`).
    pub fn id(self) -> &'static str {
        match self {
            Format::Fp32 => "fp32",
            Format::Narrow(f) => f.id(),
        }
    }

    pub fn from_id(id: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|f| f.id() == id)
    }

    /// The name people use for it.
    pub fn name(self) -> &'static str {
        match self {
            Format::Fp32 => "FP32",
            Format::Narrow(FloatFormat::Fp16) => "FP16",
            Format::Narrow(FloatFormat::Bf16) => "BF16",
            Format::Narrow(FloatFormat::Fp8E4m3) => "FP8 E4M3",
            Format::Narrow(FloatFormat::Fp8E5m2) => "FP8 E5M2",
            Format::Narrow(FloatFormat::Fp4E2m1) => "FP4 E2M1",
        }
    }

    pub fn exponent_bits(self) -> u32 {
        match self {
            Format::Fp32 | Format::Narrow(FloatFormat::Bf16) => 8,
            Format::Narrow(FloatFormat::Fp16 | FloatFormat::Fp8E5m2) => 5,
            Format::Narrow(FloatFormat::Fp8E4m3) => 4,
            Format::Narrow(FloatFormat::Fp4E2m1) => 2,
        }
    }

    pub fn mantissa_bits(self) -> u32 {
        match self {
            Format::Fp32 => 23,
            Format::Narrow(FloatFormat::Fp16) => 10,
            Format::Narrow(FloatFormat::Bf16) => 7,
            Format::Narrow(FloatFormat::Fp8E4m3) => 3,
            Format::Narrow(FloatFormat::Fp8E5m2) => 2,
            Format::Narrow(FloatFormat::Fp4E2m1) => 1,
        }
    }

    /// Sign + exponent + mantissa.
    pub fn bits(self) -> u32 {
        1 + self.exponent_bits() + self.mantissa_bits()
    }

    /// 2^(E−1) − 1 for every format here (FP32 127, FP16 15, E4M3 7, E2M1 1, ...).
    pub fn bias(self) -> i32 {
        (1 << (self.exponent_bits() - 1)) - 1
    }

    /// One f32 → its code, with the scheme library's rounding (RNE) and overflow rules.
    pub fn encode(self, x: f32) -> u32 {
        match self {
            Format::Fp32 => x.to_bits(),
            Format::Narrow(f) => f.encode(x) as u32,
        }
    }

    /// One code (in the low `bits` bits) → its exact value.
    pub fn decode(self, code: u32) -> f32 {
        match self {
            Format::Fp32 => f32::from_bits(code),
            Format::Narrow(f) => f.decode(code as u16),
        }
    }

    fn sign_bit(self) -> u32 {
        1 << (self.bits() - 1)
    }

    /// The code of the largest finite magnitude (sign bit clear).
    pub fn max_code(self) -> u32 {
        match self {
            Format::Fp32 => f32::MAX.to_bits(),
            Format::Narrow(f) => f.encode(f.max_finite()) as u32,
        }
    }

    /// What the format spends codes on besides numbers.
    fn specials(self) -> &'static str {
        match self {
            Format::Fp32 | Format::Narrow(FloatFormat::Fp16 | FloatFormat::Bf16) => "±∞ and NaN (exponent all ones)",
            Format::Narrow(FloatFormat::Fp8E4m3) => "NaN only (S.1111.111); no ∞, so the top exponent holds numbers up to 448",
            Format::Narrow(FloatFormat::Fp8E5m2) => "±∞ and NaN (exponent all ones), as IEEE",
            Format::Narrow(FloatFormat::Fp4E2m1) => "none: all 16 codes are numbers",
        }
    }

    /// What happens to a value beyond the largest finite one.
    fn overflow(self) -> &'static str {
        match self {
            Format::Fp32 | Format::Narrow(FloatFormat::Fp16 | FloatFormat::Bf16) => "rounds to ±∞",
            Format::Narrow(FloatFormat::Fp4E2m1) => "saturates to ±6; NaN becomes +6 (ONNX spec)",
            Format::Narrow(_) => "saturates to ±max, ∞ too (ONNX saturate=1)",
        }
    }
}

/// How a code is read.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Kind {
    Zero,
    Subnormal,
    Normal,
    Infinity,
    Nan,
}

/// One code of one format, taken apart, and how it compares with the typed number.
#[derive(Debug, Clone, Serialize)]
pub struct Stored {
    pub format: &'static str,
    pub name: &'static str,
    pub code: u32,
    /// The bits, most significant first: sign, exponent and mantissa fields as "0"/"1" text.
    pub sign: String,
    pub exponent: String,
    pub mantissa: String,
    pub kind: Kind,
    /// The stored value (JSON null for NaN and ±∞; `exact` always says what it is).
    #[serde(serialize_with = "quantscope_core::stats::finite_or_null")]
    pub value: f64,
    /// Every decimal digit of the stored value, or `+∞`, `−∞`, `NaN`.
    pub exact: String,
    /// How the fields make the value, with this code's numbers filled in.
    pub formula: String,
    /// stored − typed, and |stored − typed| / |typed|; null when either is not finite (and the
    /// relative error when the typed number is 0).
    pub abs_error: Option<f64>,
    pub rel_error: Option<f64>,
    /// The representable values either side of the typed number (or, without one, this value
    /// and the next one away from 0) and the gap between them: the format's spacing there.
    pub below: Option<f64>,
    pub above: Option<f64>,
    pub gap: Option<f64>,
    /// Overflow, saturation, underflow or subnormal: said in words.
    pub note: Option<String>,
}

/// A typed number in every format of [`Format::ALL`].
#[derive(Debug, Clone, Serialize)]
pub struct NumberReport {
    /// The number as read (f64); null when not finite (`text` says which).
    #[serde(serialize_with = "quantscope_core::stats::finite_or_null")]
    pub typed: f64,
    pub text: String,
    pub formats: Vec<Stored>,
}

/// Reads a number the way a person types it: `0.1`, `-3.5e-4`, `+448`, `−2` (a typographic
/// minus), `inf`, `nan`.
pub fn parse_number(text: &str) -> Result<f64> {
    let t = text.trim().replace('−', "-");
    if t.is_empty() {
        return Err(Error::InvalidArgument("type a number, e.g. 0.1".into()));
    }
    t.parse::<f64>().map_err(|_| Error::InvalidArgument(format!("'{}' is not a number (try 0.1, -3.5e-4 or 448)", text.trim())))
}

/// The typed number in FP32 and every narrow format.
pub fn explain_number(text: &str) -> Result<NumberReport> {
    let typed = parse_number(text)?;
    let x = typed as f32;
    let formats = Format::ALL.iter().map(|&f| stored(f, f.encode(x), Some(typed))).collect();
    Ok(NumberReport { typed, text: text.trim().to_string(), formats })
}

/// One code of `format` taken apart (for toggled bits); `typed` is the number it is compared
/// with, if any. Errors on an unknown format or a code wider than the format.
pub fn decode_code(format: &str, code: u32, typed: Option<f64>) -> Result<Stored> {
    let f = Format::from_id(format).ok_or_else(|| {
        let known: Vec<&str> = Format::ALL.iter().map(|f| f.id()).collect();
        Error::InvalidArgument(format!("unknown float format '{format}' (known: {})", known.join(", ")))
    })?;
    if f.bits() < 32 && code >> f.bits() != 0 {
        return Err(Error::InvalidArgument(format!("code {code:#x} does not fit in {}'s {} bits", f.name(), f.bits())));
    }
    Ok(stored(f, code, typed))
}

fn bit_text(value: u32, width: u32) -> String {
    (0..width).rev().map(|i| if value >> i & 1 == 1 { '1' } else { '0' }).collect()
}

fn stored(f: Format, code: u32, typed: Option<f64>) -> Stored {
    let (eb, mb) = (f.exponent_bits(), f.mantissa_bits());
    let negative = code & f.sign_bit() != 0;
    let e = (code >> mb) & ((1 << eb) - 1);
    let m = code & ((1 << mb) - 1);
    let v = f.decode(code);
    let kind = if v.is_nan() {
        Kind::Nan
    } else if v.is_infinite() {
        Kind::Infinity
    } else if v == 0.0 {
        Kind::Zero
    } else if e == 0 {
        Kind::Subnormal
    } else {
        Kind::Normal
    };
    let s = u32::from(negative);
    let formula = match kind {
        Kind::Normal => format!("(−1)^{s} × 2^({e} − {}) × (1 + {m}/{})", f.bias(), 1u32 << mb),
        Kind::Subnormal => format!("(−1)^{s} × 2^(1 − {}) × ({m}/{})  (subnormal: exponent 0, no leading 1)", f.bias(), 1u32 << mb),
        Kind::Zero => format!("exponent and mantissa all 0: {}0", if negative { "−" } else { "+" }),
        Kind::Infinity => format!("exponent all 1s, mantissa 0: {}∞", if negative { "−" } else { "+" }),
        Kind::Nan if f == Format::Narrow(FloatFormat::Fp8E4m3) => "S.1111.111 is E4M3's only NaN".into(),
        Kind::Nan => "exponent all 1s, mantissa not 0: NaN".into(),
    };
    let value = v as f64;
    let (abs_error, rel_error) = match typed {
        Some(t) if t.is_finite() && v.is_finite() => {
            let d = value - t;
            (Some(d), (t != 0.0).then(|| d.abs() / t.abs()))
        }
        _ => (None, None),
    };
    let (below, above, gap) = neighbours(f, code, typed);
    Stored {
        format: f.id(),
        name: f.name(),
        code,
        sign: bit_text(s, 1),
        exponent: bit_text(e, eb),
        mantissa: bit_text(m, mb),
        kind,
        value,
        exact: exact_decimal(v),
        formula,
        abs_error,
        rel_error,
        below,
        above,
        gap,
        note: note(f, v, kind, typed),
    }
}

/// The representable values either side of `typed` (or of the code's own value) and their gap.
fn neighbours(f: Format, code: u32, typed: Option<f64>) -> (Option<f64>, Option<f64>, Option<f64>) {
    let v = f.decode(code);
    if !v.is_finite() {
        return (None, None, None);
    }
    let mag = code & (f.sign_bit() - 1);
    let max = f.max_code();
    // Magnitude codes are ordered like their values, so neighbours are code ± 1.
    let rounded_up = typed.is_some_and(|t| t.is_finite() && (v.abs() as f64) > t.abs());
    let (lo, hi) = if mag == max || (rounded_up && mag > 0) { (mag - 1, mag) } else { (mag, mag + 1) };
    let (lo, hi) = (f.decode(lo) as f64, f.decode(hi) as f64);
    let negative = code & f.sign_bit() != 0;
    let (below, above) = if negative { (-hi, -lo) } else { (lo, hi) };
    (Some(below), Some(above), Some(hi - lo))
}

fn note(f: Format, v: f32, kind: Kind, typed: Option<f64>) -> Option<String> {
    let max = f.decode(f.max_code()) as f64;
    let min_sub = f.decode(1) as f64;
    let min_normal = f.decode(1 << f.mantissa_bits()) as f64;
    let t = typed?;
    if t.is_nan() {
        return Some(match kind {
            Kind::Nan => "NaN stays NaN".into(),
            _ => format!("{} has no NaN: the ONNX spec maps NaN to {}", f.name(), exact_decimal(v)),
        });
    }
    if t.abs() > max {
        return Some(match kind {
            Kind::Infinity if t.is_finite() => format!("beyond the largest finite value {}: overflows to ∞", exact_decimal(max as f32)),
            Kind::Infinity => "∞ stays ∞".into(),
            _ => format!("beyond the largest finite value: saturates to {}", exact_decimal(v)),
        });
    }
    match kind {
        Kind::Zero if t != 0.0 => Some(format!("below half the smallest subnormal ({}): underflows to 0", exact_decimal(min_sub as f32))),
        Kind::Subnormal => {
            Some(format!("subnormal: below the smallest normal {}, so fewer significant bits", exact_decimal(min_normal as f32)))
        }
        _ => None,
    }
}

/// Every decimal digit of a finite f32 (all are dyadic, so the expansion ends), `+∞`, `−∞` or
/// `NaN`. `exact_decimal(0.1) == "0.100000001490116119384765625"`.
pub fn exact_decimal(v: f32) -> String {
    if v.is_nan() {
        return "NaN".into();
    }
    if v.is_infinite() {
        return if v > 0.0 { "+∞" } else { "−∞" }.into();
    }
    let bits = v.to_bits();
    let sign = if bits >> 31 == 1 { "-" } else { "" };
    let (exp, frac) = ((bits >> 23) & 0xff, bits & 0x7f_ffff);
    // v = m · 2^e exactly.
    let (m, e) = if exp == 0 { (frac, -149) } else { (frac | 0x80_0000, exp as i32 - 150) };
    // Decimal digits of m, least significant first, multiplied up in place: by 2^e when e ≥ 0;
    // when e < 0, m · 2^e = m · 5^−e / 10^−e, so multiply by 5 and place the point.
    let mut digits: Vec<u8> = m.to_string().bytes().rev().map(|b| b - b'0').collect();
    let (factor, times) = if e >= 0 { (2, e as usize) } else { (5, (-e) as usize) };
    for _ in 0..times {
        let mut carry = 0;
        for d in digits.iter_mut() {
            let p = *d * factor + carry;
            *d = p % 10;
            carry = p / 10;
        }
        if carry > 0 {
            digits.push(carry);
        }
    }
    let point = if e >= 0 { 0 } else { times };
    if digits.len() <= point {
        digits.resize(point + 1, 0);
    }
    let text: String = digits.iter().rev().map(|d| (b'0' + d) as char).collect();
    let (int, fraction) = text.split_at(text.len() - point);
    let fraction = fraction.trim_end_matches('0');
    if fraction.is_empty() {
        format!("{sign}{int}")
    } else {
        format!("{sign}{int}.{fraction}")
    }
}

/// One float format's layout and range.
#[derive(Debug, Clone, Serialize)]
pub struct FloatFacts {
    pub format: &'static str,
    pub name: &'static str,
    pub bits: u32,
    pub exponent_bits: u32,
    pub mantissa_bits: u32,
    pub bias: i32,
    /// Largest finite value, smallest normal (exponent field 1, mantissa 0) and smallest
    /// subnormal (code 1), decoded by the scheme library.
    pub max: f64,
    pub min_normal: f64,
    pub min_subnormal: f64,
    /// log10(2^(mantissa bits + 1)): how many decimal digits a normal value keeps.
    pub decimal_digits: f64,
    pub specials: &'static str,
    pub overflow: &'static str,
}

/// `n`-bit integers: two's complement and unsigned, and the code ranges quantscope's integer
/// schemes use (`schemes::int::qrange`).
#[derive(Debug, Clone, Serialize)]
pub struct IntFacts {
    pub bits: u32,
    pub unsigned: (i64, i64),
    pub signed: (i64, i64),
    /// 2^n: every code is a different value.
    pub distinct: u64,
    /// quantscope's symmetric codes: the restricted range ±(2^(n−1) − 1), 2^n − 1 values.
    pub symmetric: (i32, i32),
    pub symmetric_distinct: u64,
    /// quantscope's asymmetric codes: unsigned, with a zero point.
    pub asymmetric: (i32, i32),
}

#[derive(Debug, Clone, Serialize)]
pub struct Facts {
    pub floats: Vec<FloatFacts>,
    pub ints: Vec<IntFacts>,
}

pub fn float_facts(f: Format) -> FloatFacts {
    FloatFacts {
        format: f.id(),
        name: f.name(),
        bits: f.bits(),
        exponent_bits: f.exponent_bits(),
        mantissa_bits: f.mantissa_bits(),
        bias: f.bias(),
        max: f.decode(f.max_code()) as f64,
        min_normal: f.decode(1 << f.mantissa_bits()) as f64,
        min_subnormal: f.decode(1) as f64,
        decimal_digits: (f.mantissa_bits() + 1) as f64 * std::f64::consts::LOG10_2,
        specials: f.specials(),
        overflow: f.overflow(),
    }
}

pub fn int_facts(bits: u32) -> IntFacts {
    let (smin, smax) = qrange(bits, true);
    IntFacts {
        bits,
        unsigned: (0, (1i64 << bits) - 1),
        signed: (-(1i64 << (bits - 1)), (1i64 << (bits - 1)) - 1),
        distinct: 1 << bits,
        symmetric: (smin, smax),
        symmetric_distinct: (smax - smin + 1) as u64,
        asymmetric: qrange(bits, false),
    }
}

/// Every float format's facts and INT8/INT4/INT2's.
pub fn facts() -> Facts {
    Facts { floats: Format::ALL.iter().map(|&f| float_facts(f)).collect(), ints: [8, 4, 2].into_iter().map(int_facts).collect() }
}

/// A histogram whose bars can be clicked: counts over the finite range and, per bin, one value
/// of the tensor in it (the one nearest the bin's centre; null for an empty bin).
#[derive(Debug, Clone, Serialize)]
pub struct PickHistogram {
    pub lo: f64,
    pub hi: f64,
    pub counts: Vec<u64>,
    pub picks: Vec<Option<f32>>,
}

/// [`PickHistogram`] of `values` with `bins` bins (1..=256) over their finite range.
pub fn pick_histogram(values: &[f32], bins: usize) -> Result<PickHistogram> {
    if !(1..=256).contains(&bins) {
        return Err(Error::InvalidArgument(format!("bins must be between 1 and 256, got {bins}")));
    }
    let (lo, hi) = quantscope_core::stats::summary::min_max(values);
    if lo > hi {
        return Err(Error::InvalidArgument("the tensor has no finite values".into()));
    }
    let h = quantscope_core::stats::histogram::histogram(values, bins, lo as f64, hi as f64);
    // The same bin index as the histogram's kernel (stats::histogram::reference::bin).
    let scale = bins as f64 / (h.hi - h.lo);
    let mut best: Vec<Option<(f64, f32)>> = vec![None; bins];
    for &v in values.iter().filter(|v| v.is_finite()) {
        let bin = (((v as f64 - h.lo) * scale) as usize).min(bins - 1);
        let distance = ((v as f64 - h.lo) * scale - (bin as f64 + 0.5)).abs();
        if best[bin].map_or(true, |(d, _)| distance < d) {
            best[bin] = Some((distance, v));
        }
    }
    Ok(PickHistogram { lo: h.lo, hi: h.hi, counts: h.counts, picks: best.into_iter().map(|b| b.map(|(_, v)| v)).collect() })
}
