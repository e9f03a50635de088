//! tracing subscriber: text or JSON lines, filtered by `RALLY_LOG`. Tokens and passwords are
//! never logged: they travel only in bodies and headers, which are not recorded.

use crate::config::LogFormat;
use tracing_subscriber::EnvFilter;

/// Install the global subscriber (idempotent: a second call is ignored).
pub fn init(filter: &str, format: LogFormat) {
    let filter = EnvFilter::try_new(filter).unwrap_or_else(|_| EnvFilter::new("info"));
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_target(true);
    let _ = match format {
        LogFormat::Json => builder.json().flatten_event(true).try_init(),
        LogFormat::Text => builder.try_init(),
    };
}
