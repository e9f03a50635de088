//! The WebSocket frame decoder (framing, size limits from the header, reassembly, UTF-8) fed
//! arbitrary bytes in arbitrary chunks: it never panics, never holds more than its bounds,
//! and once it reports a violation it stays failed.
#![no_main]

use libfuzzer_sys::fuzz_target;
use rally::session::frame::{Decoder, Incoming, Limits, MAX_CONTROL_PAYLOAD, MAX_HEADER_BYTES};

const LIMITS: Limits = Limits {
    max_frame: 8192,
    max_message: 8192,
};

fuzz_target!(|data: &[u8]| {
    // The first byte chooses how the rest is cut into reads (1..=256 bytes each).
    let Some((&cut, mut rest)) = data.split_first() else {
        return;
    };
    let chunk = usize::from(cut) + 1;
    let mut d = Decoder::new(LIMITS);
    let mut failed = false;
    while !rest.is_empty() {
        let (now, later) = rest.split_at(chunk.min(rest.len()));
        rest = later;
        let mut ok = true;
        let r = d.feed(now, &mut |m| match m {
            Incoming::Text(t) => ok &= t.len() <= LIMITS.max_message,
            Incoming::Binary(b) => ok &= b.len() <= LIMITS.max_message,
            Incoming::Ping(p) | Incoming::Pong(p) => ok &= p.len() <= MAX_CONTROL_PAYLOAD,
            Incoming::Close(c) => {
                ok &= c.is_none_or(|(_, r)| r.len() + 2 <= MAX_CONTROL_PAYLOAD)
            }
        });
        assert!(ok, "a message past its limit was delivered");
        if failed {
            assert!(r.is_err(), "the decoder recovered after a violation");
        }
        failed |= r.is_err();
        // What it holds between reads: one incomplete frame (grown as it arrives, so at most
        // twice its size) and one reassembly buffer.
        assert!(
            d.buffered() <= 2 * (LIMITS.max_frame + MAX_HEADER_BYTES) + 2 * LIMITS.max_message,
            "decoder holds {} bytes",
            d.buffered()
        );
    }
});
