//! What the two kinds of index share: ordered open-addressing. Keys are placed in the order
//! of a uniformly spread hash, each at its home slot (the hash scaled to the capacity) or just
//! after the previous key, so a search reads a short run from the home and can stop at the
//! first empty slot or later key.

use iocd_prefetch::vec_for_random_access;

/// The capacity (the range of homes) of an ordered open-addressing table of `len` keys: a
/// load of 2/3.
pub(super) fn table_capacity(len: usize) -> u64 {
    (len as u64 * 3).div_ceil(2)
}

/// The home slot, in `0..capacity`, of a key whose uniformly spread 64-bit hash is `hash`.
#[inline]
pub(super) fn home_slot(hash: u64, capacity: u64) -> usize {
    ((u128::from(hash) * u128::from(capacity)) >> 64) as usize
}

/// Lays out the slots of an ordered open-addressing table from `(home, slot)` pairs given in
/// table order: each slot at its home, or just after the previous one if that is taken, with
/// `empty` in the gaps and once more at the end, so every run ends inside the vector.
pub(super) fn place_in_order<S: Clone>(
    capacity: u64,
    homed: impl Iterator<Item = (usize, S)>,
    empty: S,
) -> Vec<S> {
    // Keys pushed past the end need room: a few more slots than the capacity is plenty for
    // random hashes, and the vector grows if not.
    let mut slots = vec_for_random_access(capacity as usize + 64);
    for (home, slot) in homed {
        if slots.len() < home {
            slots.resize(home, empty.clone());
        }
        slots.push(slot);
    }
    slots.push(empty);
    slots
}
