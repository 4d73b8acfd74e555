//! The engine's immutable indexes, built once and searched without allocation, all ordered
//! open-addressing tables ([`table`]): a [`KeyIndex`] for byte-string keys (placed by a 64-bit
//! fingerprint, value and key bytes in a record beside the table), a [`HashTable`] for file
//! hashes (fixed-size keys and the value in the slot), and before either a
//! [`PresenceFilter`] that answers most searches for absent keys.

mod filter;
mod hash_table;
mod key_index;
mod table;

pub(crate) use filter::{PresenceFilter, in_block};
pub(crate) use hash_table::{HashTable, spread};
pub(crate) use key_index::{KeyHashing, KeyIndex, RecordValue, record_bytes};
