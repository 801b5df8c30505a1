//! Page sizes, parsed one way everywhere: absent gives the route's default, anything
//! but a whole number from 1 to the route's maximum is a 422 naming the parameter.

use crate::problem::Problem;

/// A route's page-size parameter: its name, default and maximum.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PageSize {
    pub field: &'static str,
    pub default: u32,
    pub max: u32,
}

impl PageSize {
    pub const fn new(field: &'static str, default: u32, max: u32) -> Self {
        Self { field, default, max }
    }

    fn refused(&self) -> Problem {
        Problem::invalid_field(self.field, format!("must be an integer from 1 to {}", self.max))
    }

    /// From query text (`?page_size=10`); surrounding spaces are ignored.
    pub fn parse(&self, raw: Option<&str>) -> Result<u32, Problem> {
        match raw {
            None => Ok(self.default),
            Some(s) => s
                .trim()
                .parse::<u32>()
                .ok()
                .filter(|n| (1..=self.max).contains(n))
                .ok_or_else(|| self.refused()),
        }
    }

    /// From a number the query extractor already parsed.
    pub fn check(&self, value: Option<i64>) -> Result<u32, Problem> {
        match value {
            None => Ok(self.default),
            Some(n) => u32::try_from(n)
                .ok()
                .filter(|n| (1..=self.max).contains(n))
                .ok_or_else(|| self.refused()),
        }
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    #[test]
    fn sizes_default_and_refuse_what_is_not_1_to_max() {
        let size = PageSize::new("limit", 20, 100);
        assert_eq!(size.parse(None).unwrap(), 20);
        assert_eq!(size.parse(Some(" 100 ")).unwrap(), 100);
        for bad in ["0", "101", "-1", "1.5", "ten", ""] {
            let p = size.parse(Some(bad)).unwrap_err();
            assert_eq!(p.code, "validation_failed", "{bad}");
            assert!(
                p.detail.starts_with("limit: must be an integer from 1 to 100"),
                "{bad}"
            );
        }
        assert_eq!(size.check(Some(7)).unwrap(), 7);
        assert!(size.check(Some(0)).is_err() && size.check(Some(i64::MAX)).is_err());
    }
}
