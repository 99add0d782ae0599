//! `limit`/`offset` query parameters and the `{items, total}` list shape.

use serde::{Deserialize, Serialize};
use tvarr_core::{Page, PageRequest};
use utoipa::{IntoParams, ToSchema};

/// Which page of a list to return.
#[derive(Clone, Copy, Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct PageParams {
    /// At most this many items (default 100, at most 10000).
    pub limit: Option<u64>,
    /// Skip this many items (default 0).
    pub offset: Option<u64>,
}

impl PageParams {
    /// The repository's page request.
    pub fn request(&self) -> PageRequest {
        PageRequest::new(self.limit.unwrap_or(100), self.offset.unwrap_or(0))
    }
}

/// A page of a list and the size of the whole list.
#[derive(Debug, Serialize, ToSchema)]
pub struct ListResponse<T: ToSchema> {
    /// The items of this page.
    pub items: Vec<T>,
    /// How many items the whole list has.
    pub total: u64,
}

impl<T: ToSchema> ListResponse<T> {
    /// Converts a repository page item by item.
    pub fn from_page<U>(page: Page<U>, convert: impl FnMut(U) -> T) -> Self {
        Self {
            items: page.items.into_iter().map(convert).collect(),
            total: page.total,
        }
    }
}
