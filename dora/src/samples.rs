//! A bounded multiset of durations (seconds) whose merge gives exact medians while nothing was
//! dropped.
//!
//! When full, it keeps the values with the smallest rank, the rank being a fixed hash of the
//! value (bottom-k sampling). That choice, rather than "drop the first or last arrived", makes
//! the kept set a function of the values alone: the same samples give the same set whatever the
//! arrival order, so incremental and batch agree even past the cap, and the kept values are an
//! unbiased pseudo-random subset, so the median stays a fair estimate. The hash is part of the
//! stored format: changing it would only change which values future overflows drop.

#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub(crate) struct Samples {
    /// Ascending.
    values: Vec<u32>,
    dropped: u32,
}

/// splitmix64's finaliser: a fixed, well-mixed permutation of the value.
fn rank(v: u32) -> (u64, u32) {
    let mut z = u64::from(v).wrapping_add(0x9e37_79b9_7f4a_7c15);
    z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
    (z ^ (z >> 31), v)
}

impl Samples {
    /// From stored values (sorted here: stored data is not trusted to be) and a dropped count;
    /// values over `cap` are dropped by rank like any other overflow.
    pub fn from_parts(mut values: Vec<u32>, dropped: u32, cap: usize) -> Self {
        values.sort_unstable();
        let mut s = Self { values, dropped };
        s.trim(cap);
        s
    }

    pub fn values(&self) -> &[u32] {
        &self.values
    }

    pub fn dropped(&self) -> u32 {
        self.dropped
    }

    pub fn is_empty(&self) -> bool {
        self.values.is_empty() && self.dropped == 0
    }

    pub fn insert(&mut self, v: u32, cap: usize) {
        let at = self.values.partition_point(|x| *x <= v);
        self.values.insert(at, v);
        self.trim(cap);
    }

    /// Adds another set's values and dropped count, then trims to `cap`.
    pub fn merge(&mut self, other: &Samples, cap: usize) {
        self.values.extend_from_slice(&other.values);
        self.values.sort_unstable();
        self.dropped = self.dropped.saturating_add(other.dropped);
        self.trim(cap);
    }

    /// Removes one occurrence of `v`; a value that was dropped only lowers the dropped count.
    pub fn remove(&mut self, v: u32) {
        match self.values.binary_search(&v) {
            Ok(i) => {
                self.values.remove(i);
            }
            Err(_) => self.dropped = self.dropped.saturating_sub(1),
        }
    }

    fn trim(&mut self, cap: usize) {
        while self.values.len() > cap {
            let worst = self
                .values
                .iter()
                .enumerate()
                .max_by_key(|(_, v)| rank(**v))
                .map(|(i, _)| i);
            if let Some(i) = worst {
                self.values.remove(i);
                self.dropped = self.dropped.saturating_add(1);
            }
        }
    }
}

/// Median of an unsorted list (mean of the two middle values for an even count, as SQL's
/// `PERCENTILE_CONT(0.5)` that Four Keys uses).
pub(crate) fn median(mut values: Vec<u32>) -> Option<f64> {
    if values.is_empty() {
        return None;
    }
    values.sort_unstable();
    let n = values.len();
    let mid = n / 2;
    Some(if n % 2 == 1 {
        f64::from(values[mid])
    } else {
        (f64::from(values[mid - 1]) + f64::from(values[mid])) / 2.0
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn medians() {
        assert_eq!(median(vec![]), None);
        assert_eq!(median(vec![5]), Some(5.0));
        assert_eq!(median(vec![9, 1, 4]), Some(4.0));
        assert_eq!(median(vec![1, 2, 3, 10]), Some(2.5));
    }

    #[test]
    fn overflow_keeps_the_same_set_in_any_order() {
        let values: Vec<u32> = (0..40).map(|i| i * 37 % 101).collect();
        let mut a = Samples::default();
        for v in &values {
            a.insert(*v, 8);
        }
        let mut b = Samples::default();
        for v in values.iter().rev() {
            b.insert(*v, 8);
        }
        assert_eq!(a, b);
        assert_eq!(a.values().len(), 8);
        assert_eq!(a.dropped(), 32);
        assert!(a.values().is_sorted());
    }

    #[test]
    fn removing_a_dropped_value_lowers_the_count() {
        let mut s = Samples::default();
        for v in [1, 2, 3] {
            s.insert(v, 2);
        }
        let gone = [1, 2, 3]
            .into_iter()
            .find(|v| !s.values().contains(v))
            .unwrap();
        s.remove(gone);
        assert_eq!((s.values().len(), s.dropped()), (2, 0));
        let kept = s.values()[0];
        s.remove(kept);
        assert_eq!(s.values().len(), 1);
    }
}
