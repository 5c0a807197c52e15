//! The process's allocator: mimalloc 2, asked the cheapest way each layout allows.
//!
//! glibc's allocator cost a tenth of the proxy's CPU under load (`bench/compare.sh`); mimalloc's
//! thread-local free lists take most of that back. The `mimalloc` crate's `GlobalAlloc` passes
//! every request to `mi_malloc_aligned`, whose checks and generic path cost ~35 instructions
//! more than `mi_malloc` a call — at ~60 allocations a proxied request, ~2k instructions
//! (`bench/instructions.sh`). A plain `mi_malloc` block is already aligned for nearly every
//! Rust layout: mimalloc's own rule (`mi_malloc_is_naturally_aligned` in `alloc-aligned.c`)
//! is that one of at least `align` bytes is aligned to `align` up to 16 (`MI_MAX_ALIGN_SIZE`),
//! the same rule as Rust's `System` allocator's use of `malloc`. Larger alignments, and the
//! odd layout smaller than its alignment, still go to the aligned calls. (mimalloc_rust
//! pull request #170 proposes the same dispatch.)

use libmimalloc_sys as mi;
use std::alloc::{GlobalAlloc, Layout};
use std::ffi::c_void;

/// The alignment every `mi_malloc` block of at least that size has (`MI_MAX_ALIGN_SIZE`).
const PLAIN_ALIGN: usize = 16;

/// Whether a block of `size` bytes from the plain calls satisfies `align`.
fn plain_fits(size: usize, align: usize) -> bool {
    align <= PLAIN_ALIGN && align <= size
}

/// mimalloc as the global allocator.
pub struct MiMalloc;

// SAFETY: every call is one of mimalloc's, which return null or a block of at least the size
// asked for, aligned as asked (by `plain_fits` for the plain calls, by the aligned calls
// otherwise), and free any block from either family with `mi_free`.
unsafe impl GlobalAlloc for MiMalloc {
    #[inline]
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        if plain_fits(layout.size(), layout.align()) {
            mi::mi_malloc(layout.size()).cast()
        } else {
            mi::mi_malloc_aligned(layout.size(), layout.align()).cast()
        }
    }

    #[inline]
    unsafe fn alloc_zeroed(&self, layout: Layout) -> *mut u8 {
        if plain_fits(layout.size(), layout.align()) {
            mi::mi_zalloc(layout.size()).cast()
        } else {
            mi::mi_zalloc_aligned(layout.size(), layout.align()).cast()
        }
    }

    #[inline]
    unsafe fn dealloc(&self, ptr: *mut u8, _layout: Layout) {
        mi::mi_free(ptr.cast::<c_void>());
    }

    #[inline]
    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        // `mi_realloc` keeps the block when it still fits, else moves it into a plain block of
        // `new_size`, which `plain_fits` says is aligned enough.
        if plain_fits(new_size, layout.align()) {
            mi::mi_realloc(ptr.cast(), new_size).cast()
        } else {
            mi::mi_realloc_aligned(ptr.cast(), new_size, layout.align()).cast()
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn check(block: *mut u8, layout: Layout) {
        assert!(!block.is_null(), "{layout:?}");
        assert_eq!(block as usize % layout.align(), 0, "{layout:?}");
    }

    /// Sizes around mimalloc's size classes and alignments up to a page, each written to the
    /// last byte (a block shorter than asked shows as heap corruption in the next loops).
    #[test]
    fn every_layout_gets_an_aligned_block_of_its_size() {
        let sizes = (1..=80).chain([96, 100, 127, 128, 1000, 1024, 1025, 4096, 70_000, 1 << 21]);
        for size in sizes {
            for align in [1, 2, 4, 8, 16, 32, 64, 4096] {
                let layout = Layout::from_size_align(size, align).unwrap();
                unsafe {
                    let block = MiMalloc.alloc(layout);
                    check(block, layout);
                    block.write_bytes(0xa5, size);
                    MiMalloc.dealloc(block, layout);

                    let zeroed = MiMalloc.alloc_zeroed(layout);
                    check(zeroed, layout);
                    assert!(std::slice::from_raw_parts(zeroed, size)
                        .iter()
                        .all(|&b| b == 0));
                    MiMalloc.dealloc(zeroed, layout);
                }
            }
        }
    }

    #[test]
    fn a_reallocated_block_keeps_its_bytes_and_its_alignment() {
        for align in [1, 8, 16, 32, 256] {
            for (from, to) in [(8, 24), (24, 8), (16, 4000), (4000, 17), (100, 1 << 20)] {
                let layout = Layout::from_size_align(from, align).unwrap();
                unsafe {
                    let block = MiMalloc.alloc(layout);
                    check(block, layout);
                    for i in 0..from {
                        *block.add(i) = i as u8;
                    }
                    let moved = MiMalloc.realloc(block, layout, to);
                    let grown = Layout::from_size_align(to, align).unwrap();
                    check(moved, grown);
                    for i in 0..from.min(to) {
                        assert_eq!(*moved.add(i), i as u8, "{from} → {to}, align {align}");
                    }
                    moved.write_bytes(0x5a, to);
                    MiMalloc.dealloc(moved, grown);
                }
            }
        }
    }

    #[test]
    fn plain_calls_are_used_only_where_mimalloc_promises_the_alignment() {
        assert!(plain_fits(24, 16) && plain_fits(1, 1) && plain_fits(8, 8));
        assert!(
            !plain_fits(8, 16),
            "smaller than its alignment: an 8-byte block may sit at 8"
        );
        assert!(!plain_fits(64, 32), "past MI_MAX_ALIGN_SIZE");
    }
}
