//! The WebSocket frame decoder (`rally::session::frame::Decoder`: framing, size limits from the
//! header, fragment reassembly, control frames between fragments, UTF-8, close payloads).
//!
//! The first byte picks a mode:
//! - raw (high bit clear): the rest is fed as arbitrary bytes, cut into reads of
//!   `(first & 0x7F) + 1` bytes;
//! - structured (high bit set): the rest describes a sequence of frames (`arbitrary`): any
//!   opcode, FIN, RSV and mask bits, payloads padded past the limits, a header that declares
//!   more than follows (a length from 0 to 2^64-1), cut into reads of fuzzer-chosen sizes; the
//!   decoder must deliver exactly what an independent frame-level model of RFC 6455 and of the
//!   documented limits expects, and fail with the same close code.
//!
//! In both modes: it never panics, never delivers a message past its limit, never holds more
//! than its bound between reads, stays failed after a violation, and gives the same messages
//! and result whether the bytes come in one read or in many.
#![no_main]

use libfuzzer_sys::arbitrary::{self, Arbitrary, Unstructured};
use libfuzzer_sys::fuzz_target;
use rally::session::frame::{
    valid_close_code, Decoder, Incoming, Limits, MAX_CONTROL_PAYLOAD, MAX_HEADER_BYTES,
};

const LIMITS: Limits = Limits {
    max_frame: rally::protocol::MAX_FRAME_BYTES,
    max_message: rally::protocol::MAX_MESSAGE_BYTES,
};

fuzz_target!(|data: &[u8]| {
    let Some((&mode, rest)) = data.split_first() else {
        return;
    };
    if mode & 0x80 == 0 {
        let chunk = usize::from(mode & 0x7F) + 1;
        let cuts: Vec<usize> = std::iter::repeat_n(chunk, rest.len() / chunk + 1).collect();
        let chunked = decode(rest, &cuts);
        assert_eq!(
            chunked,
            decode(rest, &[rest.len().max(1)]),
            "chunking changed the result"
        );
    } else {
        structured(rest);
    }
});

/// Decode `bytes` cut into reads of `cuts` sizes (cycled), checking the per-read invariants;
/// returns the messages and the first violation's close code.
fn decode(bytes: &[u8], cuts: &[usize]) -> (Vec<Incoming>, Option<u16>) {
    let mut d = Decoder::new(LIMITS);
    let mut got = Vec::new();
    let mut violation = None;
    let mut rest = bytes;
    let mut i = 0;
    while !rest.is_empty() {
        let n = cuts[i % cuts.len()].clamp(1, rest.len());
        i += 1;
        let (now, later) = rest.split_at(n);
        rest = later;
        let r = d.feed(now, &mut |m| {
            match &m {
                Incoming::Text(t) => assert!(t.len() <= LIMITS.max_message),
                Incoming::Binary(b) => assert!(b.len() <= LIMITS.max_message),
                Incoming::Ping(p) | Incoming::Pong(p) => assert!(p.len() <= MAX_CONTROL_PAYLOAD),
                Incoming::Close(c) => {
                    assert!(c
                        .as_ref()
                        .is_none_or(|(code, r)| valid_close_code(*code)
                            && r.len() + 2 <= MAX_CONTROL_PAYLOAD))
                }
            }
            got.push(m);
        });
        match (violation, r) {
            (Some(_), r) => assert!(r.is_err(), "the decoder recovered after a violation"),
            (None, Err(v)) => {
                violation = Some(v.close_code());
                assert!(matches!(v.close_code(), 1002 | 1007 | 1009));
                assert_eq!(d.buffered(), 0, "a failed decoder releases its buffers");
            }
            (None, Ok(())) => {}
        }
        // Between reads: one incomplete frame (grown as it arrives, so at most twice its
        // size) and one reassembly buffer.
        assert!(
            d.buffered() <= 2 * (LIMITS.max_frame + MAX_HEADER_BYTES) + 2 * LIMITS.max_message,
            "decoder holds {} bytes",
            d.buffered()
        );
    }
    (got, violation)
}

/// Padding added to a payload is below this: enough to pass the 8 KiB limits.
const PAD_MAX: usize = 8_400;
/// Frames per structured input.
const MAX_FRAMES: usize = 64;

#[derive(Arbitrary, Debug)]
enum Payload {
    Text(String),
    Bytes(Vec<u8>),
}

#[derive(Arbitrary, Debug)]
struct Frame {
    fin: bool,
    /// Low 4 bits: the opcode (0x3..=0x7 and 0xB..=0xF are reserved).
    opcode: u8,
    /// One of RSV1..3 set.
    rsv: bool,
    /// Client frames must be masked.
    unmasked: bool,
    mask: [u8; 4],
    payload: Payload,
    /// Spaces appended to the payload (modulo [`PAD_MAX`]), to reach and pass the limits with a
    /// short input.
    pad: u16,
    /// Length encoding: 0 the shortest, 1 16-bit when it fits, else 64-bit.
    form: u8,
    /// The header declares this length and, unless it is 0, the frame is cut off after its
    /// header (the last frame of the sequence): the limit must be enforced from the header
    /// alone.
    declared: Option<u64>,
}

#[derive(Arbitrary, Debug)]
struct Script {
    frames: Vec<Frame>,
    cuts: Vec<u16>,
}

fn structured(data: &[u8]) {
    let Ok(script) = Script::arbitrary_take_rest(Unstructured::new(data)) else {
        return;
    };
    let mut bytes = Vec::new();
    let mut frames = Vec::new();
    for f in script.frames.iter().take(MAX_FRAMES) {
        let mut payload = match &f.payload {
            Payload::Text(t) => t.as_bytes().to_vec(),
            Payload::Bytes(b) => b.clone(),
        };
        payload.resize(payload.len() + usize::from(f.pad) % PAD_MAX, b' ');
        if f.declared == Some(0) {
            // A header declaring no payload is a whole frame.
            payload.clear();
        }
        let op = f.opcode & 0x0F;
        let len = f.declared.unwrap_or(payload.len() as u64);
        bytes.push(u8::from(f.fin) << 7 | u8::from(f.rsv) << 6 | op);
        let mask_bit = if f.unmasked { 0 } else { 0x80 };
        match (f.form % 3, len) {
            (0, 0..=125) => bytes.push(mask_bit | len as u8),
            (0 | 1, 0..=0xFFFF) => {
                bytes.push(mask_bit | 126);
                bytes.extend_from_slice(&(len as u16).to_be_bytes());
            }
            _ => {
                bytes.push(mask_bit | 127);
                bytes.extend_from_slice(&len.to_be_bytes());
            }
        }
        if !f.unmasked {
            bytes.extend_from_slice(&f.mask);
        }
        frames.push((f, op, payload.clone()));
        if f.declared.is_some_and(|d| d > 0) {
            break;
        }
        let mask = if f.unmasked { [0; 4] } else { f.mask };
        bytes.extend(payload.iter().zip(mask.iter().cycle()).map(|(b, m)| b ^ m));
    }
    let cuts: Vec<usize> = if script.cuts.is_empty() {
        vec![bytes.len().max(1)]
    } else {
        script.cuts.iter().map(|&c| usize::from(c)).collect()
    };
    let got = decode(&bytes, &cuts);
    let want = model(&frames);
    assert_eq!(got, want, "decoder and model disagree on {frames:?}");
    assert_eq!(
        got,
        decode(&bytes, &[bytes.len().max(1)]),
        "chunking changed the result"
    );
}

/// What RFC 6455 and the documented limits make of these frames: the messages delivered and the
/// close code of the first violation.
fn model(frames: &[(&Frame, u8, Vec<u8>)]) -> (Vec<Incoming>, Option<u16>) {
    let mut out = Vec::new();
    let mut fragments: Option<(u8, Vec<u8>)> = None;
    for (f, op, payload) in frames {
        let (fin, op) = (f.fin, *op);
        let len = f.declared.unwrap_or(payload.len() as u64);
        let control = op >= 0x8;
        let known = matches!(op, 0x0..=0x2 | 0x8..=0xA);
        if f.rsv || !known || f.unmasked {
            return (out, Some(1002));
        }
        if control && (!fin || len > MAX_CONTROL_PAYLOAD as u64) {
            return (out, Some(1002));
        }
        if len > LIMITS.max_frame as u64 {
            return (out, Some(1009));
        }
        if f.declared.is_some_and(|d| d > 0) {
            // The rest of the frame never comes: nothing more is delivered.
            return (out, None);
        }
        match op {
            0x9 => out.push(Incoming::Ping(payload.clone())),
            0xA => out.push(Incoming::Pong(payload.clone())),
            0x8 => match payload.as_slice() {
                [] => out.push(Incoming::Close(None)),
                [_] => return (out, Some(1002)),
                [a, b, reason @ ..] => {
                    let code = u16::from_be_bytes([*a, *b]);
                    if !valid_close_code(code) {
                        return (out, Some(1002));
                    }
                    let Ok(reason) = std::str::from_utf8(reason) else {
                        return (out, Some(1007));
                    };
                    out.push(Incoming::Close(Some((code, reason.to_string()))));
                }
            },
            0x1 | 0x2 => {
                if fragments.is_some() {
                    return (out, Some(1002));
                }
                if fin {
                    match whole(op, payload.clone()) {
                        Some(m) => out.push(m),
                        None => return (out, Some(1007)),
                    }
                } else if payload.len() > LIMITS.max_message {
                    return (out, Some(1009));
                } else {
                    fragments = Some((op, payload.clone()));
                }
            }
            _ => {
                let Some((kind, mut buf)) = fragments.take() else {
                    return (out, Some(1002));
                };
                if buf.len() + payload.len() > LIMITS.max_message {
                    return (out, Some(1009));
                }
                buf.extend_from_slice(payload);
                if fin {
                    match whole(kind, buf) {
                        Some(m) => out.push(m),
                        None => return (out, Some(1007)),
                    }
                } else {
                    fragments = Some((kind, buf));
                }
            }
        }
    }
    (out, None)
}

fn whole(kind: u8, bytes: Vec<u8>) -> Option<Incoming> {
    if kind == 0x2 {
        return Some(Incoming::Binary(bytes));
    }
    String::from_utf8(bytes).ok().map(Incoming::Text)
}
