//! A per-thread cache of derived label sets, so that a range query builds
//! each output label set once rather than once per step.
//!
//! The evaluator calls aggregations and binary operators once per step with
//! the same shared (`Arc`) input label sets at every step. The output label
//! set of a group or a matched pair depends only on those inputs and on the
//! operator's modifiers, so it is cached under the inputs' addresses and a
//! text ([`Spec`]) naming everything else it depends on.
//!
//! An entry holds [`Weak`] references to its inputs. A weak reference keeps
//! the allocation's address from being reused, and a live strong count
//! proves the input is the very label set the entry was made from (label
//! sets are never mutated in place while shared: `Arc::make_mut` moves a
//! value away from outstanding weak references). So a hit is always exact;
//! the cache only saves work.
//!
//! The output is held weakly too: the evaluator keeps a node's output series
//! (and so their label sets) while it evaluates the node above, which is
//! when the cache helps, and once a query is done nothing it made stays
//! alive because of the cache. The cache holds at most [`CAPACITY`] entries
//! per thread and drops dead entries when it fills up.

use std::cell::RefCell;
use std::collections::HashMap;
use std::hash::{BuildHasherDefault, Hasher};
use std::sync::{Arc, Weak};

use crate::promql::value::Labels;

/// Most entries kept per thread.
pub(crate) const CAPACITY: usize = 1 << 16;

/// What a derived label set depends on besides its input label sets.
pub(crate) struct Spec {
    text: Arc<str>,
    hash: u64,
}

impl Spec {
    /// A spec from its identifying text.
    pub(crate) fn new(text: String) -> Self {
        let hash = xxhash_rust::xxh3::xxh3_64(text.as_bytes());
        Self { text: text.into(), hash }
    }
}

#[derive(Clone, Copy, PartialEq, Eq, Hash)]
struct Key {
    a: usize,
    b: usize,
    spec: u64,
}

struct Entry {
    a: Weak<Labels>,
    b: Option<Weak<Labels>>,
    spec: Arc<str>,
    out: Weak<Labels>,
}

impl Entry {
    fn alive(&self) -> bool {
        self.a.strong_count() > 0 && self.b.as_ref().is_none_or(|b| b.strong_count() > 0) && self.out.strong_count() > 0
    }
}

/// Hashes a [`Key`] by mixing its three words (they are addresses and a hash
/// already, so no general-purpose hasher is needed).
#[derive(Default)]
struct KeyHasher(u64);

impl Hasher for KeyHasher {
    fn finish(&self) -> u64 {
        self.0
    }
    fn write(&mut self, bytes: &[u8]) {
        for b in bytes {
            self.write_u64(u64::from(*b));
        }
    }
    fn write_u64(&mut self, n: u64) {
        self.0 = (self.0.rotate_left(5) ^ n).wrapping_mul(0x51_7c_c1_b7_27_22_0a_95);
    }
    fn write_usize(&mut self, n: usize) {
        self.write_u64(n as u64);
    }
}

#[derive(Default)]
struct Memo {
    map: HashMap<Key, Entry, BuildHasherDefault<KeyHasher>>,
}

thread_local! {
    static MEMO: RefCell<Memo> = RefCell::new(Memo::default());
}

/// The label set derived from `a` (and `b`, if the result depends on it) as
/// `spec` says: from the cache, or made by `build` and cached.
pub(crate) fn derived(
    spec: &Spec,
    a: &Arc<Labels>,
    b: Option<&Arc<Labels>>,
    build: impl FnOnce() -> Arc<Labels>,
) -> Arc<Labels> {
    let key = Key { a: Arc::as_ptr(a) as usize, b: b.map_or(0, |b| Arc::as_ptr(b) as usize), spec: spec.hash };
    let hit = MEMO.with(|m| {
        let m = m.borrow();
        let e = m.map.get(&key)?;
        let same_inputs = e.alive()
            && Weak::as_ptr(&e.a) == Arc::as_ptr(a)
            && match (&e.b, b) {
                (None, None) => true,
                (Some(eb), Some(b)) => Weak::as_ptr(eb) == Arc::as_ptr(b),
                _ => false,
            };
        if !same_inputs || !(Arc::ptr_eq(&e.spec, &spec.text) || *e.spec == *spec.text) {
            return None;
        }
        e.out.upgrade()
    });
    if let Some(out) = hit {
        return out;
    }
    let out = build();
    MEMO.with(|m| {
        let mut m = m.borrow_mut();
        if m.map.len() >= CAPACITY {
            m.map.retain(|_, e| e.alive());
            if m.map.len() >= CAPACITY / 4 * 3 {
                m.map.clear();
            }
        }
        m.map.insert(
            key,
            Entry {
                a: Arc::downgrade(a),
                b: b.map(Arc::downgrade),
                spec: spec.text.clone(),
                out: Arc::downgrade(&out),
            },
        );
    });
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ls(pairs: &[(&str, &str)]) -> Arc<Labels> {
        Arc::new(Labels::from_pairs(pairs.iter().copied()))
    }

    #[test]
    fn builds_once_per_input_and_spec() {
        let a = ls(&[("a", "1")]);
        let b = ls(&[("b", "2")]);
        let spec = Spec::new("test-once".into());
        let mut builds = 0;
        let mut kept = Vec::new();
        for _ in 0..3 {
            let out = derived(&spec, &a, Some(&b), || {
                builds += 1;
                ls(&[("x", "y")])
            });
            assert_eq!(*out, *ls(&[("x", "y")]));
            kept.push(out);
        }
        assert_eq!(builds, 1);
        assert!(Arc::ptr_eq(&kept[0], &kept[2]));
        // Once nobody holds the output, it is built again.
        kept.clear();
        derived(&spec, &a, Some(&b), || {
            builds += 1;
            ls(&[])
        });
        assert_eq!(builds, 2);
        // Another spec text, or another second input, is another entry.
        let other = Spec::new("test-other".into());
        let _o1 = derived(&other, &a, Some(&b), || {
            builds += 1;
            ls(&[])
        });
        let _o2 = derived(&spec, &a, None, || {
            builds += 1;
            ls(&[])
        });
        assert_eq!(builds, 4);
    }

    #[test]
    fn a_dropped_input_is_never_mistaken_for_a_new_one() {
        let spec = Spec::new("test-drop".into());
        for i in 0..100 {
            let a = ls(&[("i", &i.to_string())]);
            let out = derived(&spec, &a, None, || Arc::new((*a).clone()));
            assert_eq!(out.get("i"), Some(i.to_string().as_str()));
        }
    }
}
