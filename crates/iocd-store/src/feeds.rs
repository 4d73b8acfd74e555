//! Feeds defined through the API, stored so that they survive restarts (and, later, are seen
//! by every node). The store keeps each definition as the JSON the server validated; what a
//! feed is and how it runs is the server's business.

use crate::StoreError;
use iocd_model::Timestamp;

/// A stored feed definition.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StoredFeed {
    pub tenant: String,
    pub name: String,
    /// The definition, as JSON.
    pub definition: String,
    pub created: Timestamp,
    pub created_by: String,
}

/// Storage of feed definitions.
pub trait FeedStore: Send + Sync + std::fmt::Debug {
    /// Adds a feed; `false` (and nothing changed) when the tenant has one of that name.
    fn create_feed(&self, feed: &StoredFeed) -> Result<bool, StoreError>;

    /// Every tenant's feeds, by tenant and name.
    fn stored_feeds(&self) -> Result<Vec<StoredFeed>, StoreError>;

    /// Deletes a feed; `false` if there was none.
    fn delete_feed(&self, tenant: &str, name: &str) -> Result<bool, StoreError>;
}
