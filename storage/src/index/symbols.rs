//! Interned label strings: every distinct label name or value is stored once
//! and referred to by a 4-byte [`Symbol`].
//!
//! Invariants: a symbol, once handed out, names the same string for the life
//! of the table (strings are never removed: the series index never shrinks,
//! see `crate::index`); the same string always gets the same symbol.

use std::collections::HashMap;
use std::sync::Arc;

/// A reference to an interned string.
pub(crate) type Symbol = u32;

/// The interning table.
#[derive(Default)]
pub(crate) struct Symbols {
    by_string: HashMap<Arc<str>, Symbol>,
    strings: Vec<Arc<str>>,
}

impl Symbols {
    /// The symbol of `s`, interning it on first use.
    pub(crate) fn intern(&mut self, s: &str) -> Symbol {
        if let Some(sym) = self.by_string.get(s) {
            return *sym;
        }
        let sym = Symbol::try_from(self.strings.len()).expect("fewer than 2^32 distinct label strings");
        let shared: Arc<str> = Arc::from(s);
        self.strings.push(shared.clone());
        self.by_string.insert(shared, sym);
        sym
    }

    /// The string of a symbol this table handed out.
    pub(crate) fn resolve(&self, sym: Symbol) -> &str {
        &self.strings[sym as usize]
    }

    /// The shared string of a symbol (for maps keyed by string).
    pub(crate) fn shared(&self, sym: Symbol) -> Arc<str> {
        self.strings[sym as usize].clone()
    }

    /// Approximate heap bytes held: each string once, plus both tables.
    pub(crate) fn heap_bytes(&self) -> usize {
        let strings: usize = self.strings.iter().map(|s| s.len() + 2 * std::mem::size_of::<usize>()).sum();
        let entry = std::mem::size_of::<(Arc<str>, Symbol)>() + 1;
        strings + self.by_string.capacity() * entry + self.strings.capacity() * std::mem::size_of::<Arc<str>>()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_same_string_gets_the_same_symbol() {
        let mut s = Symbols::default();
        let a = s.intern("job");
        let b = s.intern("node");
        assert_ne!(a, b);
        assert_eq!(s.intern("job"), a);
        assert_eq!((s.resolve(a), s.resolve(b)), ("job", "node"));
        assert_eq!(&*s.shared(b), "node");
    }
}
