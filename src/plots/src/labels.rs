//! Label placement for a scatter plot: each point's label goes in the first of eight places
//! around it (right, left, above, below and the corners between) where it stays inside the plot
//! area and covers neither another label nor any point's marker; a point with no such place is
//! left unlabelled (the page names it on hover). Points are labelled in the order given, so the
//! most important labels (the selected scheme) get the first choice.
//!
//! Pure geometry in canvas pixels (y grows downwards), so it is tested natively; plot.rs measures
//! the text and draws.

/// An axis-aligned box in pixels: `x0 ≤ x < x1`, `y0 ≤ y < y1`.
#[derive(Debug, Clone, Copy, PartialEq, serde::Serialize)]
pub struct Rect {
    pub x0: f64,
    pub y0: f64,
    pub x1: f64,
    pub y1: f64,
}

impl Rect {
    /// True when the two boxes share any area (touching edges do not count).
    pub fn overlaps(&self, other: &Rect) -> bool {
        self.x0 < other.x1 && other.x0 < self.x1 && self.y0 < other.y1 && other.y0 < self.y1
    }

    fn inside(&self, area: &Rect) -> bool {
        self.x0 >= area.x0 && self.x1 <= area.x1 && self.y0 >= area.y0 && self.y1 <= area.y1
    }
}

/// Pixels between a point's centre and its label.
const GAP: f64 = 6.0;

/// The boxes a `w` × `h` label may take around the point `(x, y)`, in order of preference.
fn candidates(x: f64, y: f64, w: f64, h: f64) -> [Rect; 8] {
    let at = |x0: f64, y0: f64| Rect { x0, y0, x1: x0 + w, y1: y0 + h };
    [
        at(x + GAP, y - h - 2.0),     // right, above
        at(x + GAP, y - h / 2.0),     // right
        at(x + GAP, y + 2.0),         // right, below
        at(x - GAP - w, y - h - 2.0), // left, above
        at(x - GAP - w, y - h / 2.0), // left
        at(x - GAP - w, y + 2.0),     // left, below
        at(x - w / 2.0, y - GAP - h), // above
        at(x - w / 2.0, y + GAP),     // below
    ]
}

/// Places the labels of `points` (pixel centres) whose sizes are `sizes` (`(w, h)`, `None`: no
/// label wanted), trying them in `order`; markers are squares of half-side `radius`. Returns each
/// point's label box, or `None` where it got none.
pub fn place(points: &[(f64, f64)], sizes: &[Option<(f64, f64)>], order: &[usize], area: Rect, radius: f64) -> Vec<Option<Rect>> {
    let markers: Vec<Rect> = points.iter().map(|&(x, y)| Rect { x0: x - radius, y0: y - radius, x1: x + radius, y1: y + radius }).collect();
    let mut placed: Vec<Option<Rect>> = vec![None; points.len()];
    let mut taken: Vec<Rect> = Vec::new();
    for &i in order {
        let (Some(&(x, y)), Some(&Some((w, h)))) = (points.get(i), sizes.get(i)) else { continue };
        let free = |r: &Rect| r.inside(&area) && !taken.iter().any(|t| t.overlaps(r)) && !markers.iter().any(|m| m.overlaps(r));
        if let Some(r) = candidates(x, y, w, h).into_iter().find(free) {
            taken.push(r);
            placed[i] = Some(r);
        }
    }
    placed
}

#[cfg(test)]
mod tests {
    use super::*;

    const AREA: Rect = Rect { x0: 0.0, y0: 0.0, x1: 400.0, y1: 300.0 };

    fn no_overlaps(points: &[(f64, f64)], placed: &[Option<Rect>], radius: f64) {
        let boxes: Vec<Rect> = placed.iter().flatten().copied().collect();
        for (i, a) in boxes.iter().enumerate() {
            assert!(a.inside(&AREA), "{a:?} leaves the area");
            for b in &boxes[i + 1..] {
                assert!(!a.overlaps(b), "{a:?} overlaps {b:?}");
            }
            for &(x, y) in points {
                let m = Rect { x0: x - radius, y0: y - radius, x1: x + radius, y1: y + radius };
                assert!(!a.overlaps(&m), "{a:?} covers the point ({x}, {y})");
            }
        }
    }

    #[test]
    fn two_points_on_top_of_each_other_get_labels_apart() {
        // q5_k and q5_1: 5.5 and 6 bits per weight, SQNR within a dB (the "q5_kq5_1").
        let points = [(200.0, 100.0), (206.0, 101.0)];
        let sizes = [Some((30.0, 12.0)), Some((30.0, 12.0))];
        let placed = place(&points, &sizes, &[0, 1], AREA, 4.0);
        assert!(placed.iter().all(Option::is_some), "{placed:?}");
        no_overlaps(&points, &placed, 4.0);
    }

    #[test]
    fn a_crowd_never_overlaps_and_the_first_in_order_is_labelled() {
        // 90 points in a tight cloud, as the all-schemes chart has: many stay unlabelled, none overlap.
        let mut s = 7u64;
        let mut next = || {
            s ^= s << 13;
            s ^= s >> 7;
            s ^= s << 17;
            (s >> 11) as f64 / (1u64 << 53) as f64
        };
        let points: Vec<(f64, f64)> = (0..90).map(|_| (150.0 + 100.0 * next(), 100.0 + 80.0 * next())).collect();
        let sizes: Vec<Option<(f64, f64)>> = (0..90).map(|i| Some((20.0 + (i % 5) as f64 * 10.0, 12.0))).collect();
        let order: Vec<usize> = (0..90).rev().collect();
        let placed = place(&points, &sizes, &order, AREA, 4.0);
        no_overlaps(&points, &placed, 4.0);
        assert!(placed[89].is_some(), "the first in order gets a place");
        let n = placed.iter().flatten().count();
        assert!(n > 5 && n < 90, "{n} labels placed");
    }

    #[test]
    fn labels_stay_inside_the_area_at_its_edges() {
        let points = [(398.0, 2.0), (2.0, 298.0)];
        let sizes = [Some((60.0, 12.0)), Some((60.0, 12.0))];
        let placed = place(&points, &sizes, &[0, 1], AREA, 4.0);
        assert!(placed.iter().all(Option::is_some));
        no_overlaps(&points, &placed, 4.0);
    }

    #[test]
    fn a_point_without_a_size_gets_no_label() {
        let placed = place(&[(100.0, 100.0)], &[None], &[0], AREA, 4.0);
        assert_eq!(placed, vec![None]);
    }
}
