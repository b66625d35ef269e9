//! Sorted, non-overlapping address ranges with a value each, looked up by binary search. IPv4 and
//! IPv6 are kept apart (`u32` and `u128` keys) so that an IPv4 address never matches an IPv6 range.

use std::net::IpAddr;

#[derive(Debug)]
pub struct RangeMap<V> {
    v4: Vec<(u32, u32, V)>,
    v6: Vec<(u128, u128, V)>,
}

impl<V> Default for RangeMap<V> {
    fn default() -> Self {
        RangeMap { v4: Vec::new(), v6: Vec::new() }
    }
}

impl<V> RangeMap<V> {
    /// Takes ranges in any order; where ranges overlap, `merge` decides the value of the overlap.
    pub fn build(v4: Vec<(u32, u32, V)>, v6: Vec<(u128, u128, V)>, merge: impl Fn(&V, &V) -> V + Copy) -> RangeMap<V>
    where
        V: Clone,
    {
        RangeMap { v4: flatten(v4, merge), v6: flatten(v6, merge) }
    }

    pub fn get(&self, ip: IpAddr) -> Option<&V> {
        match ip {
            IpAddr::V4(v4) => find(&self.v4, u32::from(v4)),
            IpAddr::V6(v6) => find(&self.v6, u128::from(v6)),
        }
    }

    pub fn len(&self) -> usize {
        self.v4.len() + self.v6.len()
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

fn find<K: Ord + Copy, V>(ranges: &[(K, K, V)], key: K) -> Option<&V> {
    let i = ranges.partition_point(|(start, _, _)| *start <= key);
    let (_, end, v) = ranges.get(i.checked_sub(1)?)?;
    (key <= *end).then_some(v)
}

trait Step: Ord + Copy {
    fn next(self) -> Option<Self>;
    fn prev(self) -> Option<Self>;
}

impl Step for u32 {
    fn next(self) -> Option<Self> {
        self.checked_add(1)
    }
    fn prev(self) -> Option<Self> {
        self.checked_sub(1)
    }
}

impl Step for u128 {
    fn next(self) -> Option<Self> {
        self.checked_add(1)
    }
    fn prev(self) -> Option<Self> {
        self.checked_sub(1)
    }
}

/// Sorts and splits overlapping ranges so that every address falls in at most one range, whose value
/// merges those of every range covering it. Most data sets have no overlaps: then this is a sort and
/// one pass.
fn flatten<K: Step, V: Clone>(mut ranges: Vec<(K, K, V)>, merge: impl Fn(&V, &V) -> V) -> Vec<(K, K, V)> {
    ranges.retain(|(s, e, _)| s <= e);
    ranges.sort_by_key(|r| r.0);
    let overlapping = ranges.windows(2).any(|w| w[1].0 <= w[0].1);
    if !overlapping {
        return ranges;
    }
    // Elementary intervals between every start and every end + 1.
    let mut bounds: Vec<K> = ranges.iter().flat_map(|(s, e, _)| [Some(*s), e.next()]).flatten().collect();
    bounds.sort();
    bounds.dedup();
    let mut out = Vec::with_capacity(ranges.len());
    let mut active: Vec<usize> = Vec::new();
    let mut next = 0;
    for (i, &point) in bounds.iter().enumerate() {
        while next < ranges.len() && ranges[next].0 <= point {
            active.push(next);
            next += 1;
        }
        active.retain(|&r| ranges[r].1 >= point);
        let Some((&first, rest)) = active.split_first() else { continue };
        let value = rest.iter().fold(ranges[first].2.clone(), |acc, &r| merge(&acc, &ranges[r].2));
        let end = match bounds.get(i + 1) {
            Some(b) => b.prev().expect("bounds are increasing"),
            None => active.iter().map(|&r| ranges[r].1).max().expect("active is not empty"),
        };
        out.push((point, end, value));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ip(s: &str) -> IpAddr {
        s.parse().unwrap()
    }

    #[test]
    fn lookup_finds_the_containing_range_only() {
        let v4 = vec![(u32::from_be_bytes([8, 8, 8, 0]), u32::from_be_bytes([8, 8, 8, 255]), "google")];
        let v6 = vec![(0x2001_4860u128 << 96, (0x2001_4860u128 << 96) | u128::from(u32::MAX), "google6")];
        let map = RangeMap::build(v4, v6, |a, _| *a);
        assert_eq!(map.get(ip("8.8.8.8")), Some(&"google"));
        assert_eq!(map.get(ip("8.8.9.0")), None);
        assert_eq!(map.get(ip("8.8.7.255")), None);
        assert_eq!(map.get(ip("2001:4860::8888")), Some(&"google6"));
        // The IPv4 range's numbers as an IPv6 address must not match.
        assert_eq!(map.get(ip("::808:808")), None);
    }

    #[test]
    fn overlaps_are_split_and_merged() {
        let v4 = vec![(10u32, 100u32, 1u8), (20, 30, 2), (90, 120, 4)];
        let map = RangeMap::build(v4, vec![], |a, b| a | b);
        let at = |n: u32| map.get(IpAddr::V4(n.into())).copied();
        assert_eq!(at(10), Some(1));
        assert_eq!(at(19), Some(1));
        assert_eq!(at(20), Some(3));
        assert_eq!(at(30), Some(3));
        assert_eq!(at(31), Some(1));
        assert_eq!(at(95), Some(5));
        assert_eq!(at(110), Some(4));
        assert_eq!(at(121), None);
    }
}
