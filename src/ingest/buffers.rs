//! Per-thread decode and validation buffers ([`Buffers`]), reused from one
//! request to the next so that a request allocates no per-series memory and
//! no fresh decompression buffer (whose pages the kernel would zero on
//! every request). Writes are handled on the blocking pool, whose threads
//! live across requests.
//!
//! Invariant: a thread keeps buffers of at most [`RETAINED_BUFFER_BYTES`];
//! buffers an unusually large request grew past that are dropped after it.

use std::cell::RefCell;

use super::{ValidatedWrite, WriteView};

/// Largest decode buffer a thread keeps for the next request: 16 MiB, far
/// above a Prometheus batch (2000 samples, well under 1 MiB decoded).
pub const RETAINED_BUFFER_BYTES: usize = 16 << 20;

/// What decoding and validating a request writes into.
#[derive(Debug, Default)]
pub struct Buffers {
    /// The decoded request.
    pub view: WriteView,
    /// Its validation.
    pub validated: ValidatedWrite,
}

thread_local! {
    static BUFFERS: RefCell<Buffers> = RefCell::default();
}

/// Runs `f` with this thread's buffers. Not reentrant: `f` must not call
/// `with_buffers` again.
pub fn with_buffers<T>(f: impl FnOnce(&mut Buffers) -> T) -> T {
    BUFFERS.with_borrow_mut(|buffers| {
        let out = f(buffers);
        if buffers.view.buffer_capacity() > RETAINED_BUFFER_BYTES {
            *buffers = Buffers::default();
        }
        out
    })
}
