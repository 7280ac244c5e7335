//! Assigning one step's samples to groups (aggregation groups) or to
//! signatures (vector matching), in first-seen order.
//!
//! Each sample's selected labels are hashed once ([`LabelSel::hash`]); a
//! hash hit is confirmed by comparing the selected labels with the group's
//! first member, and groups whose hashes collide are chained, so the result
//! never depends on the hash function.

use std::collections::HashMap;
use std::hash::{BuildHasherDefault, Hasher};

use super::labels::LabelSel;
use crate::promql::value::{Labels, Sample};

/// Hasher for keys that are already hashes.
#[derive(Default)]
pub(crate) struct IdHasher(u64);

impl Hasher for IdHasher {
    fn finish(&self) -> u64 {
        self.0
    }
    fn write(&mut self, bytes: &[u8]) {
        for b in bytes {
            self.0 = (self.0 << 8) ^ u64::from(*b) ^ (self.0 >> 56);
        }
    }
    fn write_u64(&mut self, n: u64) {
        self.0 = n;
    }
}

/// A map keyed by precomputed hashes.
pub(crate) type HashIndex<V> = HashMap<u64, V, BuildHasherDefault<IdHasher>>;

const NONE: u32 = u32::MAX;

/// Distinct selections of label sets, numbered in first-seen order.
pub(crate) struct SigTable<'s, 'a, 'l> {
    sel: &'s LabelSel<'a>,
    heads: HashIndex<u32>,
    /// Per entry: the next entry with the same hash, or `NONE`.
    next: Vec<u32>,
    /// Per entry: the label set it was first seen with.
    reps: Vec<&'l Labels>,
    buf: Vec<u8>,
}

impl<'s, 'a, 'l> SigTable<'s, 'a, 'l> {
    /// An empty table for selection `sel`.
    pub(crate) fn new(sel: &'s LabelSel<'a>) -> Self {
        Self { sel, heads: HashIndex::default(), next: Vec::new(), reps: Vec::new(), buf: Vec::with_capacity(256) }
    }

    /// Number of distinct entries.
    pub(crate) fn len(&self) -> usize {
        self.reps.len()
    }

    /// The entry of `ls`'s selection, if present; `hash` from [`Self::hash`].
    pub(crate) fn find(&self, ls: &Labels, hash: u64) -> Option<usize> {
        let mut e = *self.heads.get(&hash)?;
        loop {
            if self.sel.same(self.reps[e as usize], ls) {
                return Some(e as usize);
            }
            if self.next[e as usize] == NONE {
                return None;
            }
            e = self.next[e as usize];
        }
    }

    /// The signature hash of `ls`.
    pub(crate) fn hash(&mut self, ls: &Labels) -> u64 {
        if self.sel.selects_nothing() {
            return 0;
        }
        self.sel.hash(ls, &mut self.buf)
    }

    /// The entry of `ls`'s selection and whether it is new.
    pub(crate) fn entry(&mut self, ls: &'l Labels) -> (usize, bool) {
        let hash = self.hash(ls);
        self.entry_hashed(ls, hash)
    }

    /// [`Self::entry`] with the hash already computed.
    pub(crate) fn entry_hashed(&mut self, ls: &'l Labels, hash: u64) -> (usize, bool) {
        let new = self.reps.len() as u32;
        let Some(&head) = self.heads.get(&hash) else {
            self.heads.insert(hash, new);
            self.next.push(NONE);
            self.reps.push(ls);
            return (new as usize, true);
        };
        let mut e = head;
        loop {
            if self.sel.same(self.reps[e as usize], ls) {
                return (e as usize, false);
            }
            if self.next[e as usize] == NONE {
                break;
            }
            e = self.next[e as usize];
        }
        self.next[e as usize] = new;
        self.next.push(NONE);
        self.reps.push(ls);
        (new as usize, true)
    }
}

/// Assigns the samples of one step to aggregation groups.
pub(crate) struct Grouper<'s, 'a, 'l> {
    table: SigTable<'s, 'a, 'l>,
}

impl<'s, 'a, 'l> Grouper<'s, 'a, 'l> {
    /// Groups by `sel`.
    pub(crate) fn new(sel: &'s LabelSel<'a>) -> Self {
        Self { table: SigTable::new(sel) }
    }

    /// The group of `input[i]` and whether this sample opened it.
    pub(crate) fn group_of(&mut self, input: &'l [Sample], i: usize) -> (usize, bool) {
        self.table.entry(&input[i].labels)
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use super::*;

    fn sample(pairs: &[(&str, &str)]) -> Sample {
        Sample { labels: Arc::new(Labels::from_pairs(pairs.iter().copied())), t: 0, v: 0.0, drop_name: false }
    }

    #[test]
    fn groups_in_first_seen_order() {
        let input = vec![
            sample(&[("g", "b"), ("i", "1")]),
            sample(&[("g", "a"), ("i", "2")]),
            sample(&[("g", "b"), ("i", "3")]),
            sample(&[("i", "4")]),
        ];
        let sel = LabelSel::keep(["g"]);
        let mut g = Grouper::new(&sel);
        let got: Vec<_> = (0..input.len()).map(|i| g.group_of(&input, i)).collect();
        assert_eq!(got, vec![(0, true), (1, true), (0, false), (2, true)]);
    }

    #[test]
    fn colliding_hashes_stay_apart() {
        let a = Labels::from_pairs([("x", "1")]);
        let b = Labels::from_pairs([("x", "2")]);
        let sel = LabelSel::drop([]);
        let mut t = SigTable::new(&sel);
        // Force both into the same hash bucket.
        assert_eq!(t.entry_hashed(&a, 42), (0, true));
        assert_eq!(t.entry_hashed(&b, 42), (1, true));
        assert_eq!(t.entry_hashed(&b, 42), (1, false));
        assert_eq!(t.find(&a, 42), Some(0));
        assert_eq!(t.find(&b, 42), Some(1));
        assert_eq!(t.find(&Labels::from_pairs([("x", "3")]), 42), None);
        assert_eq!(t.find(&a, 7), None);
    }
}
