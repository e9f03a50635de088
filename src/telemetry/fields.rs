//! Field formatting for text logs that keeps every event on one line.
//!
//! tracing-subscriber's default text formatter writes `%`-formatted values and messages as
//! they are: a value holding a newline (an id decoded from `%0A` in a URL, a name) would end
//! the line and let the rest pose as a new, forged log line. [`SafeFields`] escapes control
//! characters everywhere (`\n`, `\r`, `\t`, `\u{1b}`…) and quotes string values that contain
//! spaces, quotes or `=` so that `key=value` pairs stay unambiguous.

use std::borrow::Cow;
use std::fmt::{self, Write};
use tracing::field::{Field, Visit};
use tracing_subscriber::field::RecordFields;
use tracing_subscriber::fmt::format::Writer;
use tracing_subscriber::fmt::FormatFields;

/// Text field formatter: `message key=value key="quoted value"`, control characters escaped.
#[derive(Clone, Copy, Debug, Default)]
pub struct SafeFields;

impl<'writer> FormatFields<'writer> for SafeFields {
    fn format_fields<R: RecordFields>(
        &self,
        mut writer: Writer<'writer>,
        fields: R,
    ) -> fmt::Result {
        let mut visitor = SafeVisitor {
            writer: &mut writer,
            first: true,
            result: Ok(()),
        };
        fields.record(&mut visitor);
        visitor.result
    }
}

struct SafeVisitor<'a, 'writer> {
    writer: &'a mut Writer<'writer>,
    first: bool,
    result: fmt::Result,
}

impl SafeVisitor<'_, '_> {
    fn write(&mut self, field: &Field, value: &str, is_str: bool) {
        if self.result.is_err() {
            return;
        }
        let name = field.name();
        // Fields added by the `log` bridge repeat the metadata the line already shows.
        if name.starts_with("log.") {
            return;
        }
        let name = name.strip_prefix("r#").unwrap_or(name);
        let sep = if self.first { "" } else { " " };
        self.first = false;
        self.result = if name == "message" {
            write!(self.writer, "{sep}{}", escape_controls(value))
        } else if is_str && needs_quotes(value) {
            write!(self.writer, "{sep}{name}={value:?}")
        } else {
            write!(self.writer, "{sep}{name}={}", escape_controls(value))
        };
    }
}

impl Visit for SafeVisitor<'_, '_> {
    fn record_str(&mut self, field: &Field, value: &str) {
        self.write(field, value, true);
    }

    fn record_debug(&mut self, field: &Field, value: &dyn fmt::Debug) {
        let mut text = String::new();
        if write!(text, "{value:?}").is_err() {
            self.result = Err(fmt::Error);
            return;
        }
        self.write(field, &text, false);
    }
}

/// Whether a string value must be quoted to stay one unambiguous `key=value` token.
fn needs_quotes(value: &str) -> bool {
    value.is_empty()
        || value
            .chars()
            .any(|c| c.is_whitespace() || c.is_control() || c == '"' || c == '=' || c == '\\')
}

/// `text` with every control character written as an escape (`\n`, `\r`, `\t`, `\u{…}`).
pub fn escape_controls(text: &str) -> Cow<'_, str> {
    if !text.chars().any(char::is_control) {
        return Cow::Borrowed(text);
    }
    let mut out = String::with_capacity(text.len() + 8);
    for c in text.chars() {
        match c {
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            c if c.is_control() => {
                let _ = write!(out, "\\u{{{:x}}}", u32::from(c));
            }
            c => out.push(c),
        }
    }
    Cow::Owned(out)
}

#[cfg(test)]
mod tests {
    use super::{escape_controls, SafeFields};
    use std::sync::{Arc, Mutex};

    /// Format events with [`SafeFields`] into a string.
    fn formatted(emit: impl FnOnce()) -> String {
        let out = Arc::new(Mutex::new(Vec::<u8>::new()));
        let sink = out.clone();
        let subscriber = tracing_subscriber::fmt()
            .with_ansi(false)
            .fmt_fields(SafeFields)
            .with_writer(move || SinkWriter(sink.clone()))
            .finish();
        tracing::subscriber::with_default(subscriber, emit);
        let bytes = out.lock().map(|b| b.clone()).unwrap_or_default();
        String::from_utf8_lossy(&bytes).into_owned()
    }

    struct SinkWriter(Arc<Mutex<Vec<u8>>>);

    impl std::io::Write for SinkWriter {
        fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
            if let Ok(mut b) = self.0.lock() {
                b.extend_from_slice(buf);
            }
            Ok(buf.len())
        }
        fn flush(&mut self) -> std::io::Result<()> {
            Ok(())
        }
    }

    #[test]
    fn an_event_is_one_line_whatever_its_fields_hold() {
        let evil = "x\n2026-01-01T00:00:00Z ERROR forged";
        let out = formatted(|| {
            let span = tracing::info_span!("http", request_id = evil);
            let _in = span.enter();
            tracing::info!(
                name = evil,
                shown = %evil,
                debugged = ?evil,
                plain = "ok",
                spaced = "two words",
                "message {evil}"
            );
        });
        assert_eq!(out.matches('\n').count(), 1, "{out}");
        assert!(out.contains("message x\\n2026"), "{out}");
        assert!(out.contains("name=\"x\\n2026"), "{out}");
        assert!(out.contains("shown=x\\n2026"), "{out}");
        assert!(out.contains("plain=ok "), "{out}");
        assert!(out.contains("spaced=\"two words\""), "{out}");
        assert!(out.contains("http{request_id=\"x\\n2026"), "{out}");
    }

    #[test]
    fn control_characters_are_escaped_and_plain_text_is_borrowed() {
        assert_eq!(
            escape_controls("a\nb\r\tc\u{1b}[31m"),
            "a\\nb\\r\\tc\\u{1b}[31m"
        );
        assert_eq!(escape_controls("x\u{85}y"), "x\\u{85}y");
        assert!(matches!(
            escape_controls("/api/v1/players/x%0A"),
            std::borrow::Cow::Borrowed(_)
        ));
    }
}
