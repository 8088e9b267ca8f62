//! Paging, ordering and searching of lists, with the arithmetic Django REST framework's
//! page-number pagination uses, so clients that page through authentik page through akin.

/// Default page size, as authentik's.
pub const DEFAULT_PAGE_SIZE: u64 = 100;
/// Upper bound on `page_size` so one request cannot ask for the whole table.
pub const MAX_PAGE_SIZE: u64 = 10_000;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PageRequest {
    /// 1-based.
    pub page: u64,
    pub page_size: u64,
}

impl Default for PageRequest {
    fn default() -> Self {
        Self {
            page: 1,
            page_size: DEFAULT_PAGE_SIZE,
        }
    }
}

impl PageRequest {
    pub fn offset(&self) -> u64 {
        (self.page - 1) * self.page_size
    }
}

/// One `ordering` key: `username` or `-date_joined`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SortKey {
    pub field: String,
    pub descending: bool,
}

/// Parses DRF's `ordering` parameter (comma-separated, `-` for descending). Empty parts are
/// skipped; whether a field may be sorted on is the caller's whitelist to decide.
pub fn parse_ordering(raw: &str) -> Vec<SortKey> {
    raw.split(',')
        .map(str::trim)
        .filter(|part| !part.is_empty() && *part != "-")
        .map(|part| match part.strip_prefix('-') {
            Some(field) => SortKey {
                field: field.to_owned(),
                descending: true,
            },
            None => SortKey {
                field: part.to_owned(),
                descending: false,
            },
        })
        .collect()
}

/// What a list request asks for besides its filters.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ListQuery {
    pub page: PageRequest,
    pub ordering: Vec<SortKey>,
    pub search: Option<String>,
}

/// The `pagination` object of a list response.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, utoipa::ToSchema)]
pub struct Pagination {
    pub next: u64,
    pub previous: u64,
    pub count: u64,
    pub current: u64,
    pub total_pages: u64,
    pub start_index: u64,
    pub end_index: u64,
    /// Pages by cursor (`?after=`) only: the `after` of the next page; absent on the last.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub next_after: Option<String>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error("Invalid page.")]
pub struct InvalidPage;

impl Pagination {
    /// The pagination of `page` over `count` items; `InvalidPage` when the page lies beyond
    /// the last one (page 1 of an empty list is valid).
    pub fn compute(page: PageRequest, count: u64) -> Result<Self, InvalidPage> {
        let total_pages = count.div_ceil(page.page_size).max(1);
        if page.page == 0 || page.page > total_pages {
            return Err(InvalidPage);
        }
        let (start_index, end_index) = if count == 0 {
            (0, 0)
        } else {
            (page.offset() + 1, (page.page * page.page_size).min(count))
        };
        Ok(Self {
            next: if page.page < total_pages {
                page.page + 1
            } else {
                0
            },
            previous: page.page.saturating_sub(1),
            count,
            current: page.page,
            total_pages,
            start_index,
            end_index,
            next_after: None,
        })
    }

    /// A page by cursor over `count` items: it has no number, so `next`, `previous`,
    /// `current` and the indexes are 0; `next_after` leads on.
    pub fn by_cursor(count: u64, page_size: u64, next_after: Option<String>) -> Self {
        Self {
            next: 0,
            previous: 0,
            count,
            current: 0,
            total_pages: count.div_ceil(page_size.max(1)).max(1),
            start_index: 0,
            end_index: 0,
            next_after,
        }
    }
}

/// One page of results with its pagination.
#[derive(Debug, Clone, PartialEq)]
pub struct Page<T> {
    pub pagination: Pagination,
    pub results: Vec<T>,
}

impl<T> Page<T> {
    pub fn map<U>(self, f: impl FnMut(T) -> U) -> Page<U> {
        Page {
            pagination: self.pagination,
            results: self.results.into_iter().map(f).collect(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn page(page: u64, page_size: u64) -> PageRequest {
        PageRequest { page, page_size }
    }

    #[test]
    fn empty_list_is_one_empty_page() {
        let p = Pagination::compute(page(1, 100), 0).unwrap();
        assert_eq!(
            (
                p.total_pages,
                p.current,
                p.start_index,
                p.end_index,
                p.next,
                p.previous
            ),
            (1, 1, 0, 0, 0, 0)
        );
        assert_eq!(Pagination::compute(page(2, 100), 0), Err(InvalidPage));
    }

    #[test]
    fn middle_and_last_pages() {
        let p = Pagination::compute(page(2, 10), 25).unwrap();
        assert_eq!(
            (p.next, p.previous, p.start_index, p.end_index),
            (3, 1, 11, 20)
        );
        let last = Pagination::compute(page(3, 10), 25).unwrap();
        assert_eq!(
            (last.next, last.previous, last.start_index, last.end_index),
            (0, 2, 21, 25)
        );
        assert_eq!(Pagination::compute(page(4, 10), 25), Err(InvalidPage));
        assert_eq!(Pagination::compute(page(0, 10), 25), Err(InvalidPage));
    }

    #[test]
    fn ordering_parses_signs_and_skips_blanks() {
        assert_eq!(
            parse_ordering("username,-date_joined,, -"),
            vec![
                SortKey {
                    field: "username".into(),
                    descending: false
                },
                SortKey {
                    field: "date_joined".into(),
                    descending: true
                },
            ]
        );
    }
}
