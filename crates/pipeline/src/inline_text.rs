//! A short text formatted into a fixed buffer, so numbers and times can be read as `&str`
//! without allocating.

use std::fmt;

/// Up to `N` bytes of UTF-8 text held inline. Writes past the capacity are refused.
#[derive(Clone, Copy)]
pub(crate) struct InlineText<const N: usize> {
    buf: [u8; N],
    len: usize,
}

impl<const N: usize> InlineText<N> {
    pub(crate) const fn new() -> Self {
        Self {
            buf: [0; N],
            len: 0,
        }
    }

    /// Formats `args` into a new buffer; `None` if it does not fit.
    pub(crate) fn format(args: fmt::Arguments<'_>) -> Option<Self> {
        let mut text = Self::new();
        fmt::write(&mut text, args).ok()?;
        Some(text)
    }

    pub(crate) fn as_str(&self) -> &str {
        // Only whole `&str`s are ever copied in, so the prefix is always valid UTF-8.
        std::str::from_utf8(&self.buf[..self.len]).unwrap_or("")
    }
}

impl<const N: usize> fmt::Write for InlineText<N> {
    fn write_str(&mut self, s: &str) -> fmt::Result {
        let end = self.len + s.len();
        if end > N {
            return Err(fmt::Error);
        }
        self.buf[self.len..end].copy_from_slice(s.as_bytes());
        self.len = end;
        Ok(())
    }
}

impl<const N: usize> fmt::Debug for InlineText<N> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Debug::fmt(self.as_str(), f)
    }
}

#[cfg(test)]
mod tests {
    use super::InlineText;

    #[test]
    fn formats_numbers_and_refuses_overflow() {
        let text = InlineText::<12>::format(format_args!("{}", 4_294_967_295u32));
        assert_eq!(
            text.map(|t| t.as_str().to_string()).as_deref(),
            Some("4294967295")
        );
        assert!(InlineText::<4>::format(format_args!("{}", 123_456)).is_none());
    }
}
