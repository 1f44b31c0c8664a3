//! Small text helpers for outputs and error messages.

/// Bytes as text: invalid UTF-8 is replaced, and a multi-byte character cut in half at the end
/// (by an output cap) is dropped rather than shown as a replacement character.
pub(crate) fn lossy_prefix(bytes: &[u8]) -> String {
    let end = match std::str::from_utf8(bytes) {
        Ok(_) => bytes.len(),
        Err(e) if e.error_len().is_none() => e.valid_up_to(),
        Err(_) => bytes.len(),
    };
    String::from_utf8_lossy(&bytes[..end]).into_owned()
}

/// At most `max` characters of `s`, with an ellipsis and the count of what was left out.
pub(crate) fn clip(s: &str, max: usize) -> String {
    let count = s.chars().count();
    if count <= max {
        return s.to_owned();
    }
    let head: String = s.chars().take(max).collect();
    format!("{head}… ({} more characters)", count - max)
}

/// The last `lines` lines of `s`, at most `max` characters (cut at the front).
pub(crate) fn tail(s: &str, lines: usize, max: usize) -> String {
    let trimmed = s.trim_end();
    let all: Vec<&str> = trimmed.lines().collect();
    let start = all.len().saturating_sub(lines);
    let mut out = all[start..].join("\n");
    let count = out.chars().count();
    if count > max {
        out = format!("…{}", out.chars().skip(count - max).collect::<String>());
    } else if start > 0 {
        out = format!("…\n{out}");
    }
    out
}

/// An error and its causes, `a: b: c`, skipping causes already spelled out by their parent.
pub(crate) fn error_chain(error: &(dyn std::error::Error + 'static)) -> String {
    let mut out = error.to_string();
    let mut source = error.source();
    while let Some(cause) = source {
        let text = cause.to_string();
        if !text.is_empty() && !out.contains(&text) {
            out.push_str(": ");
            out.push_str(&text);
        }
        source = cause.source();
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cut_characters_are_dropped() {
        let bytes = "héllo".as_bytes();
        assert_eq!(lossy_prefix(&bytes[..2]), "h");
        assert_eq!(lossy_prefix(&bytes[..3]), "hé");
        assert_eq!(lossy_prefix(b"a\xffb"), "a\u{fffd}b");
    }

    #[test]
    fn clip_and_tail_are_bounded() {
        assert_eq!(clip("abcdef", 3), "abc… (3 more characters)");
        assert_eq!(clip("abc", 3), "abc");
        let many: String = (1..=100).map(|i| format!("line{i}\n")).collect();
        let t = tail(&many, 3, 1000);
        assert_eq!(t, "…\nline98\nline99\nline100");
        let t = tail(&"x".repeat(5000), 3, 100);
        assert_eq!(t.chars().count(), 101);
    }
}
