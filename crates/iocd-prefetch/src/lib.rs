//! A safe cache-prefetch hint, so the matching engine can ask for the memory its next lookups
//! will read while it works on earlier ones. The workspace's only `unsafe` code is here.
//!
//! Stable Rust exposes prefetching only through `core::arch` intrinsics, which are `unsafe`
//! to call. A prefetch is a hint: it never faults, never changes memory and has no effect a
//! program can observe except speed, so wrapping it in a safe function over a reference is
//! sound. On targets without a wrapped intrinsic the hint does nothing.

#![no_std]

/// Hints that `value` will be read soon, into every cache level.
#[inline(always)]
pub fn prefetch<T>(value: &T) {
    #[cfg(target_arch = "x86_64")]
    #[allow(unsafe_code)]
    // SAFETY: `_mm_prefetch` only hints the cache; it cannot fault or write, and the pointer
    // comes from a live reference. SSE is part of the x86_64 baseline.
    unsafe {
        core::arch::x86_64::_mm_prefetch::<{ core::arch::x86_64::_MM_HINT_T0 }>(
            (value as *const T).cast(),
        );
    }
    #[cfg(not(target_arch = "x86_64"))]
    let _ = value;
}

/// Hints that `slice[index]` will be read soon; does nothing when `index` is out of bounds.
#[inline(always)]
pub fn prefetch_at<T>(slice: &[T], index: usize) {
    if let Some(value) = slice.get(index) {
        prefetch(value);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn prefetching_changes_nothing() {
        let values = [1u64, 2, 3];
        prefetch(&values[1]);
        prefetch_at(&values, 2);
        prefetch_at(&values, 99);
        assert_eq!(values, [1, 2, 3]);
    }
}
