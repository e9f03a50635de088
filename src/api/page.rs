//! Pagination shared by every list endpoint: `?limit=&offset=` in, `{"items","limit","offset"}`
//! out.

use crate::error::{AppError, AppResult};
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};

/// Page size when `limit` is absent.
pub const DEFAULT_LIMIT: u32 = 20;
/// Largest page size; a larger `limit` is capped to it. 100 rows of a match list is about 40 KB
/// of JSON: enough for any screen, small enough that one request cannot make the database and
/// the server build an unbounded answer.
pub const MAX_LIMIT: u32 = 100;

/// The query string of a list endpoint. Non-numeric values are refused by the query extractor
/// (400 `validation`).
#[derive(Clone, Copy, Debug, Default, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct PageQuery {
    /// Items per page, `1..`; capped at 100; 20 when absent.
    #[param(minimum = 1)]
    pub limit: Option<i64>,
    /// Items to skip, `0..`; 0 when absent.
    #[param(minimum = 0)]
    pub offset: Option<i64>,
}

/// A validated page request.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct PageRequest {
    /// Items per page, `1..=MAX_LIMIT`.
    pub limit: i64,
    /// Items to skip.
    pub offset: i64,
}

impl PageQuery {
    /// Validate: `limit` below 1 or a negative `offset` is 400 `validation`; a `limit` above
    /// [`MAX_LIMIT`] is capped.
    pub fn validate(self) -> AppResult<PageRequest> {
        let limit = self.limit.unwrap_or(i64::from(DEFAULT_LIMIT));
        if limit < 1 {
            return Err(AppError::validation("limit must be at least 1"));
        }
        let offset = self.offset.unwrap_or(0);
        if offset < 0 {
            return Err(AppError::validation("offset must not be negative"));
        }
        Ok(PageRequest {
            limit: limit.min(i64::from(MAX_LIMIT)),
            offset,
        })
    }
}

/// One page of a list: `{"items":[…],"limit":20,"offset":0}`. `limit` is the size actually
/// used (after capping); fewer than `limit` items means the last page.
#[derive(Debug, Serialize, ToSchema)]
pub struct Page<T> {
    /// The items of this page.
    pub items: Vec<T>,
    /// Page size used.
    pub limit: i64,
    /// Items skipped.
    pub offset: i64,
}

impl<T> Page<T> {
    /// Wrap `items` fetched for `request`.
    pub fn new(items: Vec<T>, request: PageRequest) -> Self {
        Self {
            items,
            limit: request.limit,
            offset: request.offset,
        }
    }
}

/// A [`Page`] that also says how many items there are in all: `{"items","limit","offset",
/// "total"}`.
#[derive(Debug, Serialize, ToSchema)]
pub struct CountedPage<T> {
    /// The items of this page.
    pub items: Vec<T>,
    /// Page size used.
    pub limit: i64,
    /// Items skipped.
    pub offset: i64,
    /// Items in all.
    pub total: i64,
}

impl<T> CountedPage<T> {
    /// Wrap `items` fetched for `request` out of `total`.
    pub fn new(items: Vec<T>, request: PageRequest, total: i64) -> Self {
        Self {
            items,
            limit: request.limit,
            offset: request.offset,
            total,
        }
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use super::*;

    fn q(limit: Option<i64>, offset: Option<i64>) -> AppResult<PageRequest> {
        PageQuery { limit, offset }.validate()
    }

    #[test]
    fn defaults_caps_and_bounds() {
        assert_eq!(
            q(None, None).unwrap(),
            PageRequest {
                limit: 20,
                offset: 0
            }
        );
        assert_eq!(q(Some(1000), Some(7)).unwrap().limit, 100);
        assert_eq!(q(Some(i64::MAX), None).unwrap().limit, 100);
        assert_eq!(q(Some(1), Some(i64::MAX)).unwrap().offset, i64::MAX);
        assert!(q(Some(0), None).is_err());
        assert!(q(Some(-1), None).is_err());
        assert!(q(None, Some(-1)).is_err());
    }
}
