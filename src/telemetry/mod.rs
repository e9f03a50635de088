//! Logging: a tracing subscriber writing text or JSON lines to stdout, filtered by `RALLY_LOG`.
//!
//! - **One event, one line.** Text lines escape control characters in every field and message
//!   ([`fields::SafeFields`]), so request data (a path with `%0A` decoded into an id, a name)
//!   can never start a forged line; JSON lines are serde-escaped objects.
//! - **Colour only on a terminal**: ANSI colours when stdout is a TTY and `NO_COLOR` is unset
//!   or empty (<https://no-color.org>); never in JSON.
//! - **Client mistakes are not server errors**: HTTP requests are logged by [`access`] (DEBUG
//!   for successes, INFO for 4xx, WARN for 5xx), and the few library events a client can
//!   trigger at ERROR (a fragmented WebSocket ping, an oversized request head) are demoted to
//!   DEBUG by [`noise`].
//!
//! Tokens and passwords are never logged: they travel only in bodies and headers, which are not
//! recorded. The fields are documented in docs/operations.md ("Logs").

pub mod access;
pub mod fields;
pub mod noise;

use crate::config::LogFormat;
use std::io::IsTerminal;
use tracing_subscriber::layer::SubscriberExt;
use tracing_subscriber::util::SubscriberInitExt;
use tracing_subscriber::{EnvFilter, Layer};

/// Whether text logs are coloured: stdout is a terminal and `NO_COLOR` is unset or empty.
pub fn colour_wanted() -> bool {
    let no_color = std::env::var_os("NO_COLOR").is_some_and(|v| !v.is_empty());
    !no_color && std::io::stdout().is_terminal()
}

/// Install the global subscriber (idempotent: a second call is ignored). `filter` has been
/// validated with the settings; an invalid one falls back to `info`.
pub fn init(filter: &str, format: LogFormat) {
    let filter = EnvFilter::try_new(filter).unwrap_or_else(|_| EnvFilter::new("info"));
    let output = match format {
        LogFormat::Json => tracing_subscriber::fmt::layer()
            .json()
            .flatten_event(true)
            .with_target(true)
            .boxed(),
        LogFormat::Text => tracing_subscriber::fmt::layer()
            .with_ansi(colour_wanted())
            .with_target(true)
            .fmt_fields(fields::SafeFields)
            .boxed(),
    };
    let _ = tracing_subscriber::registry()
        .with(filter)
        .with(noise::ClientNoise)
        .with(output)
        .try_init();
}
