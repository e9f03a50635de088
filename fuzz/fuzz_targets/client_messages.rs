//! The client message decoder (`rally::protocol::parse_client`, what a session calls on every
//! text frame) fed arbitrary text. Invariants:
//! - it never panics;
//! - an error carries one of the three documented codes, and the right one: not JSON or not
//!   an object → `invalid_json`; an object whose `type` is missing, not a string or unknown →
//!   `unknown_type`; a known type with a bad or unknown field → `invalid_field`;
//! - the error message stays bounded by the input (it is sent back to the client);
//! - an accepted message re-encodes to JSON that decodes to the same message (numbers compared
//!   as numbers: serde_json's default float parsing may differ in the last bit).
#![no_main]

use libfuzzer_sys::fuzz_target;
use rally::protocol::{code, parse_client, ClientMsg, KNOWN_TYPES};
use serde_json::Value;

#[path = "../common/json.rs"]
mod json;

fuzz_target!(|data: &[u8]| {
    // The frame decoder delivers only valid UTF-8 text (else close 1007), at most 8 KiB.
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    match parse_client(text) {
        Ok(msg) => {
            let encoded = serde_json::to_string(&msg).expect("a decoded message encodes");
            let again = parse_client(&encoded)
                .unwrap_or_else(|e| panic!("re-encoded {encoded} is refused: {e:?}"));
            let (a, b) = (as_value(&msg), as_value(&again));
            assert!(json::same(&a, &b), "round trip changed {a} into {b}");
        }
        Err((c, message)) => {
            let want = expected_code(text);
            assert_eq!(c, want, "{text:?} classified as {c}: {message}");
            // Debug-escaping of an echoed `type` costs at most 10 bytes per input byte.
            assert!(
                message.len() <= 10 * text.len() + 256,
                "message of {} bytes for {} bytes of input",
                message.len(),
                text.len()
            );
        }
    }
});

fn as_value(m: &ClientMsg) -> Value {
    serde_json::to_value(m).expect("a decoded message converts to a value")
}

/// The documented classification, computed independently of the decoder.
fn expected_code(text: &str) -> &'static str {
    match serde_json::from_str::<Value>(text) {
        Ok(Value::Object(o)) => match o.get("type") {
            Some(Value::String(t)) if KNOWN_TYPES.contains(&t.as_str()) => code::INVALID_FIELD,
            _ => code::UNKNOWN_TYPE,
        },
        _ => code::INVALID_JSON,
    }
}
