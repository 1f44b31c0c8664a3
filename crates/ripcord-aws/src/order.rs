//! The order object listings come in, which `s3.sync`'s merge walk depends on.
//!
//! Amazon S3 (and moto, MinIO, ...) lists keys in UTF-8 binary order. SeaweedFS stores keys as
//! paths and lists them depth first: a "directory" comes before its siblings that merely start
//! with its name, so `a/x` comes before `a-b` although `-` sorts before `/`. Both are total
//! orders; a walk that assumes the wrong one pairs keys wrongly. The walk therefore checks each
//! listing against the order it assumes, and on the first key out of order switches to the other
//! one (if the listing fits it) and starts again; the executor remembers what it learned.

use std::cmp::Ordering;

/// A total order of object keys that an endpoint's listings follow.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[repr(u8)]
pub enum Order {
    /// UTF-8 binary order of the whole key (S3's documented order).
    Binary = 0,
    /// Segment by segment (split at `/`), each segment in binary order (SeaweedFS).
    Path = 1,
}

impl Order {
    pub(crate) fn from_u8(v: u8) -> Order {
        if v == Order::Path as u8 {
            Order::Path
        } else {
            Order::Binary
        }
    }

    /// The order to switch to when a listing breaks this one.
    pub fn other(self) -> Order {
        match self {
            Order::Binary => Order::Path,
            Order::Path => Order::Binary,
        }
    }

    /// `binary` or `path`, as the `s3_listing_order` note of `s3.sync` records it.
    pub fn as_str(self) -> &'static str {
        match self {
            Order::Binary => "binary",
            Order::Path => "path",
        }
    }

    /// Compare two keys in this order.
    pub fn cmp(self, a: &str, b: &str) -> Ordering {
        match self {
            Order::Binary => a.as_bytes().cmp(b.as_bytes()),
            Order::Path => path_cmp(a, b),
        }
    }
}

fn path_cmp(a: &str, b: &str) -> Ordering {
    let mut x = a.split('/');
    let mut y = b.split('/');
    loop {
        match (x.next(), y.next()) {
            (None, None) => return Ordering::Equal,
            (None, Some(_)) => return Ordering::Less,
            (Some(_), None) => return Ordering::Greater,
            (Some(s), Some(t)) => match s.as_bytes().cmp(t.as_bytes()) {
                Ordering::Equal => continue,
                other => return other,
            },
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sorted(order: Order, keys: &[&str]) -> Vec<String> {
        let mut v: Vec<String> = keys.iter().map(|s| s.to_string()).collect();
        v.sort_by(|a, b| order.cmp(a, b));
        v
    }

    #[test]
    fn seaweedfs_order_is_path_order() {
        // As SeaweedFS 4.48 listed them.
        let listed = [
            "X",
            "a",
            "a0/1",
            "aa",
            "x/-/q",
            "x/.hidden",
            "x/1",
            "x/a b",
            "x!",
            "x-y/1",
            "x.d/2",
            "x.txt",
            "x0",
            "z",
            "é",
        ];
        assert_eq!(sorted(Order::Path, &listed), listed);
        assert_ne!(sorted(Order::Binary, &listed), listed);
    }

    #[test]
    fn binary_order_is_byte_order() {
        let keys = ["a-b", "a/x", "a/y", "b", "é"];
        assert_eq!(sorted(Order::Binary, &keys), keys);
        assert_eq!(Order::Path.cmp("a-b", "a/x"), Ordering::Greater);
        assert_eq!(Order::Path.cmp("a/", "a/x"), Ordering::Less);
        assert_eq!(Order::Path.cmp("a", "a/x"), Ordering::Less);
        assert_eq!(Order::Path.cmp("a/x", "a/x"), Ordering::Equal);
    }
}
