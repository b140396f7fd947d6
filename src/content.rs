//! A file's content type, sniffed from its first bytes (by the `infer` crate's signatures), for
//! a rule's `mime` list. Text has no signature: bytes that are UTF-8 without NULs are
//! `text/plain`, anything else unknown `application/octet-stream`.

/// How many bytes from the start are enough for every signature `infer` knows.
pub const HEAD: usize = 8192;

/// The content type of a file that starts with `head`.
pub fn type_of(head: &[u8]) -> &'static str {
    if let Some(kind) = infer::get(head) {
        return kind.mime_type();
    }
    // A text cut off in the middle of a character is still text.
    let valid = match std::str::from_utf8(head) {
        Ok(_) => true,
        Err(e) => e.error_len().is_none() && head.len() == HEAD,
    };
    if valid && !head.contains(&0) { "text/plain" } else { "application/octet-stream" }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn signatures_then_text_then_bytes() {
        assert_eq!(type_of(b"PK\x03\x04\x14\x00\x00\x00"), "application/zip");
        assert_eq!(type_of(b"%PDF-1.7\n"), "application/pdf");
        assert_eq!(type_of(b"\x1f\x8b\x08\x00"), "application/gzip");
        assert_eq!(type_of(b"id,amount\n1,10\n"), "text/plain");
        assert_eq!(type_of("caf\u{e9}\n".as_bytes()), "text/plain");
        assert_eq!(type_of(b"\x00\x01\x02\xff"), "application/octet-stream");
        assert_eq!(type_of(b""), "text/plain");
    }
}
