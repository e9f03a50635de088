//! The client message decoders fed arbitrary bytes: `rally::protocol::parse_client` (what a
//! `rally.v1.json` session calls on every text frame; inputs that are UTF-8) and
//! `rally::protocol::bin::parse_client` (what a `rally.v1.bin` session calls on every binary
//! frame; every input). Invariants of the JSON decoder:
//! - it never panics;
//! - an error carries one of the three documented codes, and the right one: not JSON or not
//!   an object → `invalid_json`; an object whose `type` is missing, not a string or unknown →
//!   `unknown_type`; a known type with a bad or unknown field → `invalid_field`;
//! - the error message stays bounded by the input (it is sent back to the client);
//! - an accepted message re-encodes to JSON that decodes to the same message (numbers compared
//!   as numbers: serde_json's default float parsing may differ in the last bit).
//!
//! Of the bin decoder:
//! - it never panics;
//! - an error carries the documented code: not one MessagePack value of the subset, or neither
//!   a map nor an array → `invalid_bin`; a map is classified as a JSON object is; an array
//!   whose first element is not the input code 2 → `unknown_type`, else `invalid_field`;
//! - the error message stays bounded by the input;
//! - an accepted message re-encodes (`bin::encode_client`) to bytes that decode to the same
//!   message, and its JSON encoding decodes to the same message too (one message, two
//!   encodings).
#![no_main]

use libfuzzer_sys::fuzz_target;
use rally::protocol::{bin, code, msgpack, parse_client, ClientMsg, KNOWN_TYPES};
use serde_json::Value;

#[path = "../common/json.rs"]
mod json;

fuzz_target!(|data: &[u8]| {
    check_bin(data);
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

fn check_bin(data: &[u8]) {
    match bin::parse_client(data) {
        Ok(msg) => {
            let encoded = bin::encode_client(&msg);
            let again = bin::parse_client(&encoded)
                .unwrap_or_else(|e| panic!("re-encoded {encoded:02x?} is refused: {e:?}"));
            let (a, b) = (as_value(&msg), as_value(&again));
            assert!(json::same(&a, &b), "bin round trip changed {a} into {b}");
            let text = serde_json::to_string(&msg).expect("a decoded message encodes");
            let from_json = parse_client(&text)
                .unwrap_or_else(|e| panic!("its JSON form {text} is refused: {e:?}"));
            let c = as_value(&from_json);
            assert!(json::same(&a, &c), "JSON form changed {a} into {c}");
        }
        Err((c, message)) => {
            let want = expected_bin_code(data);
            assert_eq!(c, want, "{data:02x?} classified as {c}: {message}");
            assert!(
                message.len() <= 10 * data.len() + 256,
                "message of {} bytes for {} bytes of input",
                message.len(),
                data.len()
            );
        }
    }
}

/// The documented classification of a binary frame, computed independently of the decoder.
fn expected_bin_code(data: &[u8]) -> &'static str {
    match msgpack::read_value(data) {
        Ok(Value::Object(o)) => match o.get("type") {
            Some(Value::String(t)) if KNOWN_TYPES.contains(&t.as_str()) => code::INVALID_FIELD,
            _ => code::UNKNOWN_TYPE,
        },
        Ok(Value::Array(a)) => match a.first().and_then(Value::as_u64) {
            Some(k) if k == u64::from(bin::INPUT) => code::INVALID_FIELD,
            _ => code::UNKNOWN_TYPE,
        },
        _ => code::INVALID_BIN,
    }
}
