//! Safe memory hints for the matching engine: a cache prefetch, so it can ask for the memory
//! its next lookups will read while it works on earlier ones, and a huge-page request for its
//! large tables. The workspace's only `unsafe` code is here.
//!
//! Stable Rust exposes prefetching only through `core::arch` intrinsics and `madvise` only
//! through `libc`, both `unsafe` to call. Both are hints: they never fault, never change the
//! contents of memory and have no effect a program can observe except speed, so wrapping them
//! in safe functions over references is sound. Where a hint is not available it does nothing.

/// Hints that `value` will be read soon, into every cache level.
#[inline(always)]
pub fn prefetch<T>(value: &T) {
    prefetch_address((value as *const T).cast());
}

/// Hints that every cache line holding a value of `slice[range]` will be read soon; the part
/// of `range` outside the slice is ignored.
#[inline(always)]
pub fn prefetch_span<T>(slice: &[T], range: core::ops::Range<usize>) {
    let end = range.end.min(slice.len());
    if range.start >= end || core::mem::size_of::<T>() == 0 {
        return;
    }
    let bytes = slice[range.start..end].as_ptr().cast::<u8>();
    let len = (end - range.start) * core::mem::size_of::<T>();
    // From the line holding the first byte to the line holding the last.
    let skew = bytes as usize % CACHE_LINE;
    let mut offset = 0;
    while offset < skew + len {
        prefetch_address(bytes.wrapping_sub(skew).wrapping_add(offset));
        offset += CACHE_LINE;
    }
}

/// The cache line size of the processors this runs on (x86_64 and most ARM cores).
const CACHE_LINE: usize = 64;

/// Hints that the memory at `address` will be read soon. The address need not be valid: a
/// prefetch never faults (the callers keep it within a slice's lines anyway).
#[inline(always)]
fn prefetch_address(address: *const u8) {
    #[cfg(target_arch = "x86_64")]
    #[allow(unsafe_code)]
    // SAFETY: as in `prefetch`; `_mm_prefetch` of any address is a hint that cannot fault.
    unsafe {
        core::arch::x86_64::_mm_prefetch::<{ core::arch::x86_64::_MM_HINT_T0 }>(address.cast());
    }
    #[cfg(not(target_arch = "x86_64"))]
    let _ = address;
}

/// Hints that `slice[index]` will be read soon; does nothing when `index` is out of bounds.
#[inline(always)]
pub fn prefetch_at<T>(slice: &[T], index: usize) {
    if let Some(value) = slice.get(index) {
        prefetch(value);
    }
}

/// Allocations from this size on ask for transparent huge pages.
pub const HUGE_PAGE_THRESHOLD: usize = 4 << 20;

/// An empty vector with room for `capacity` values whose memory, when large, is backed by
/// 2 MiB pages if the kernel allows it (Linux `madvise(MADV_HUGEPAGE)`): a table read at
/// random then needs far fewer address-translation misses. Fill it before it grows, because
/// a reallocation loses the hint.
pub fn vec_for_random_access<T>(capacity: usize) -> Vec<T> {
    let vector: Vec<T> = Vec::with_capacity(capacity);
    let bytes = vector.capacity() * core::mem::size_of::<T>();
    if bytes >= HUGE_PAGE_THRESHOLD {
        advise_huge_pages(vector.as_ptr().cast(), bytes);
    }
    vector
}

#[cfg(target_os = "linux")]
fn advise_huge_pages(start: *const u8, len: usize) {
    const HUGE_PAGE: usize = 2 << 20;
    // Only whole huge pages inside the allocation.
    let first = (start as usize).next_multiple_of(HUGE_PAGE);
    let end = (start as usize + len) / HUGE_PAGE * HUGE_PAGE;
    if end > first {
        #[allow(unsafe_code)]
        // SAFETY: the range lies inside a live allocation we own; MADV_HUGEPAGE only changes
        // how the kernel backs the pages, never their contents or whether they are mapped.
        // A failure (for example huge pages disabled) leaves everything as it was.
        unsafe {
            libc::madvise(first as *mut libc::c_void, end - first, libc::MADV_HUGEPAGE);
        }
    }
}

#[cfg(not(target_os = "linux"))]
fn advise_huge_pages(_start: *const u8, _len: usize) {}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn prefetching_leaves_values_alone_and_ignores_out_of_bounds_indexes() {
        let values = [1u64, 2, 3];
        prefetch(&values[1]);
        prefetch_at(&values, 2);
        prefetch_at(&values, 99);
        prefetch_span(&values, 1..3);
        prefetch_span(&values, 2..99);
        prefetch_span(&values, 5..9);
        prefetch_span(&[(); 4], 0..4);
        assert_eq!(values, [1, 2, 3]);
    }

    #[test]
    fn large_vectors_work_as_usual() {
        let mut values: Vec<u64> = vec_for_random_access(HUGE_PAGE_THRESHOLD);
        assert!(values.capacity() >= HUGE_PAGE_THRESHOLD);
        values.extend(0..HUGE_PAGE_THRESHOLD as u64);
        assert_eq!(values[12_345], 12_345);
        let small: Vec<u8> = vec_for_random_access(10);
        assert!(small.capacity() >= 10);
    }
}
