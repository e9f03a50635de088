//! Library events a client can trigger at will, demoted from ERROR to DEBUG.
//!
//! actix-http logs some protocol violations of the peer at ERROR: a request head over its size
//! limit or a malformed request (`stream error: …`). (WebSocket framing is rally's own since
//! the session transport left actix-http's codec: its violations are logged at DEBUG under
//! the same target, `rally::client`, by `session::actor`.)
//! Nothing is wrong with the server in those cases, and anyone can produce them, so at ERROR
//! they would page operators and flood the log. [`ClientNoise`] drops those events and
//! re-emits each as a DEBUG event with target `rally::client`, `origin` (the library's target)
//! and `detail` (its message) — visible with `RALLY_LOG=info,rally::client=debug`. The client
//! still gets its error answer or close code; only the log level changes. Anything else at
//! ERROR from those libraries is kept as it is.

use std::fmt::{self, Write};
use tracing::field::{Field, Visit};
use tracing::{Event, Level, Subscriber};
use tracing_subscriber::layer::{Context, Layer};

/// Target of the demoted events.
pub const TARGET: &str = "rally::client";

/// `(target, message prefix)` of the library events that only a peer's mistake produces.
pub const CLIENT_CAUSED: &[(&str, &str)] = &[
    // h1::Dispatcher: the request failed to parse (head too large, bad header, bad method…)
    // or the connection broke while reading it.
    ("actix_http::h1::dispatcher", "stream error"),
];

/// The layer: see the module documentation.
#[derive(Clone, Copy, Debug, Default)]
pub struct ClientNoise;

impl<S: Subscriber> Layer<S> for ClientNoise {
    fn event_enabled(&self, event: &Event<'_>, _ctx: Context<'_, S>) -> bool {
        let meta = event.metadata();
        // tracing orders levels by verbosity: ERROR and WARN are the two smallest.
        if *meta.level() > Level::WARN {
            return true;
        }
        let target = meta.target();
        let mut prefixes = CLIENT_CAUSED
            .iter()
            .filter(|(t, _)| *t == target)
            .map(|(_, p)| *p)
            .peekable();
        if prefixes.peek().is_none() {
            return true;
        }
        let mut message = MessageText(String::new());
        event.record(&mut message);
        if !prefixes.any(|p| message.0.starts_with(p)) {
            return true;
        }
        tracing::debug!(
            target: TARGET,
            origin = target,
            detail = message.0.as_str(),
            "client protocol error (a library event at ERROR, demoted)"
        );
        false
    }
}

/// Collects an event's `message` field.
struct MessageText(String);

impl Visit for MessageText {
    fn record_str(&mut self, field: &Field, value: &str) {
        if field.name() == "message" {
            self.0.push_str(value);
        }
    }

    fn record_debug(&mut self, field: &Field, value: &dyn fmt::Debug) {
        if field.name() == "message" {
            let _ = write!(self.0, "{value:?}");
        }
    }
}
