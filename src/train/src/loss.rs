//! Softmax cross-entropy with mean reduction, as `torch.nn.functional.cross_entropy(logits,
//! labels)`: `loss = mean_n(logsumexp(z_n) − z_n[y_n])`, gradient `(softmax(z) − onehot(y)) / N`.
//! The max is subtracted before exponentiating (as torch's `log_softmax`), so large logits do
//! not overflow.

/// Mean loss over the batch, and (into `grad`) d loss / d logits. `logits` is `[n, classes]`.
pub fn softmax_cross_entropy(logits: &[f32], labels: &[u8], classes: usize, grad: &mut [f32]) -> f32 {
    let n = labels.len();
    assert_eq!(logits.len(), n * classes);
    assert_eq!(grad.len(), logits.len());
    let mut total = 0.0f64;
    for (row, (z, g)) in logits.chunks_exact(classes).zip(grad.chunks_exact_mut(classes)).enumerate() {
        let max = z.iter().copied().fold(f32::NEG_INFINITY, f32::max);
        let mut sum = 0.0f32;
        for (gi, &zi) in g.iter_mut().zip(z) {
            *gi = (zi - max).exp();
            sum += *gi;
        }
        let label = labels[row] as usize;
        total += (sum.ln() - (z[label] - max)) as f64;
        for gi in g.iter_mut() {
            *gi = *gi / sum / n as f32;
        }
        g[label] -= 1.0 / n as f32;
    }
    (total / n as f64) as f32
}
