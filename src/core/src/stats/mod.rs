//! Statistics: a tensor's summary, the error a scheme introduces, and histograms.
//! Non-finite inputs are counted and left out of every sum, so one NaN cannot poison a tensor.

pub mod histogram;
pub mod metrics;
pub mod summary;

/// Serializes a non-finite f64 as JSON `null` (JSON has no Inf or NaN); the docs say what null
/// means for each field (e.g. an SQNR of null is a lossless round trip).
pub fn finite_or_null<S: serde::Serializer>(v: &f64, s: S) -> Result<S::Ok, S::Error> {
    if v.is_finite() {
        s.serialize_f64(*v)
    } else {
        s.serialize_none()
    }
}
