//! Text a policy supplies (log lines, `info` descriptions, parameter lists, error messages)
//! is untrusted: it is capped in length and its control characters are escaped before the
//! host prints or records it, so a policy can neither flood a terminal nor write escape
//! sequences or fake lines into it.

/// Longest log line or error message kept, in bytes.
pub const LINE_MAX_BYTES: usize = 2048;
/// Longest `info` description kept, in bytes.
pub const DESCRIPTION_MAX_BYTES: usize = 4096;
/// Longest name, version, parameter name or opt-out kept, in bytes.
pub const NAME_MAX_BYTES: usize = 128;
/// Most parameters or opt-outs kept from one `info`: far more than any rule declares.
pub const LIST_MAX: usize = 256;

/// `text` with control characters escaped (`\n`, `\t`, `\u{1b}`, …) and cut to at most
/// `max_bytes` bytes on a character boundary, marked with ` …` when cut.
pub fn sanitize(text: &str, max_bytes: usize) -> String {
    let mut out = String::with_capacity(text.len().min(max_bytes + 4));
    for c in text.chars() {
        let before = out.len();
        if c.is_control() {
            out.extend(c.escape_default());
        } else {
            out.push(c);
        }
        if out.len() > max_bytes {
            out.truncate(before);
            out.push_str(" …");
            break;
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn escapes_control_characters() {
        assert_eq!(sanitize("a\nb\x1b[31mc\td", 100), "a\\nb\\u{1b}[31mc\\td");
    }

    #[test]
    fn cuts_long_text_on_a_character_boundary() {
        assert_eq!(sanitize("ééé", 3), "é …");
        assert_eq!(sanitize("short", 5), "short");
        assert_eq!(sanitize(&"x".repeat(10_000), 10).len(), 10 + " …".len());
    }
}
