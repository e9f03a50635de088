//! WebSocket framing (RFC 6455) for the server side: a decoder for client frames that enforces
//! the size limits **from the frame header**, before any payload is buffered, reassembles
//! fragmented messages within a bound, and validates UTF-8; and the encoder of server frames.
//!
//! Pure: no I/O, no actix. The decoder is fed whatever bytes a read returned, in any chunking,
//! and never holds more than one frame's worth of unparsed bytes plus one reassembled message:
//! `max_frame + MAX_HEADER_BYTES` and `max_message` bytes. The first violation ends it (the
//! connection is failed with the violation's close code).

/// Largest client frame header: 2 bytes, 8 of extended length, 4 of mask.
pub const MAX_HEADER_BYTES: usize = 14;
/// Largest control frame payload (RFC 6455 §5.5).
pub const MAX_CONTROL_PAYLOAD: usize = 125;

/// Frame opcodes.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Opcode {
    /// Continuation of a fragmented message.
    Continuation,
    /// UTF-8 text.
    Text,
    /// Binary data.
    Binary,
    /// Close.
    Close,
    /// Ping.
    Ping,
    /// Pong.
    Pong,
}

impl Opcode {
    fn from_bits(b: u8) -> Option<Opcode> {
        Some(match b {
            0x0 => Opcode::Continuation,
            0x1 => Opcode::Text,
            0x2 => Opcode::Binary,
            0x8 => Opcode::Close,
            0x9 => Opcode::Ping,
            0xA => Opcode::Pong,
            _ => return None,
        })
    }

    fn bits(self) -> u8 {
        match self {
            Opcode::Continuation => 0x0,
            Opcode::Text => 0x1,
            Opcode::Binary => 0x2,
            Opcode::Close => 0x8,
            Opcode::Ping => 0x9,
            Opcode::Pong => 0xA,
        }
    }

    fn is_control(self) -> bool {
        matches!(self, Opcode::Close | Opcode::Ping | Opcode::Pong)
    }
}

/// A complete message from the client.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Incoming {
    /// A text message (one frame or reassembled), valid UTF-8.
    Text(String),
    /// A binary message (one frame or reassembled).
    Binary(Vec<u8>),
    /// A ping; answer with a pong carrying the same payload.
    Ping(Vec<u8>),
    /// A pong (answer to a server ping), with its payload.
    Pong(Vec<u8>),
    /// The client closes: its code and reason, if it sent any.
    Close(Option<(u16, String)>),
}

/// Why the connection must be failed.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Violation {
    /// A frame header declared more than the frame limit, or a fragmented message grew past
    /// the message limit (close 1009).
    TooBig,
    /// A text message (or a close reason) is not valid UTF-8 (close 1007).
    InvalidUtf8,
    /// A framing error (close 1002): the reason.
    Protocol(&'static str),
}

impl Violation {
    /// The close code RFC 6455 gives this failure.
    pub fn close_code(self) -> u16 {
        match self {
            Violation::TooBig => 1009,
            Violation::InvalidUtf8 => 1007,
            Violation::Protocol(_) => 1002,
        }
    }

    /// A human-readable reason.
    pub fn message(self) -> &'static str {
        match self {
            Violation::TooBig => "frame or message too large",
            Violation::InvalidUtf8 => "text is not valid UTF-8",
            Violation::Protocol(why) => why,
        }
    }
}

/// The decoder's limits.
#[derive(Clone, Copy, Debug)]
pub struct Limits {
    /// Largest frame payload accepted.
    pub max_frame: usize,
    /// Largest reassembled message.
    pub max_message: usize,
}

/// A parsed frame header.
#[derive(Debug)]
struct Header {
    fin: bool,
    opcode: Opcode,
    mask: [u8; 4],
    len: usize,
    header_len: usize,
}

/// Parse a header from the start of `buf`. `Ok(None)`: more bytes needed. The length is
/// checked as soon as its bytes are there, before the mask key and the payload arrive.
fn parse_header(buf: &[u8], limits: &Limits) -> Result<Option<Header>, Violation> {
    let [b0, b1, ..] = *buf else {
        return Ok(None);
    };
    if b0 & 0x70 != 0 {
        return Err(Violation::Protocol(
            "reserved bits set (no extension was negotiated)",
        ));
    }
    let opcode = Opcode::from_bits(b0 & 0x0F).ok_or(Violation::Protocol("unknown frame opcode"))?;
    let fin = b0 & 0x80 != 0;
    if b1 & 0x80 == 0 {
        return Err(Violation::Protocol("client frames must be masked"));
    }
    let (len, len_bytes) = match b1 & 0x7F {
        126 => {
            let Some(b) = buf.get(2..4) else {
                return Ok(None);
            };
            (u64::from(u16::from_be_bytes([b[0], b[1]])), 2)
        }
        127 => {
            let Some(b) = buf.get(2..10) else {
                return Ok(None);
            };
            let mut a = [0u8; 8];
            a.copy_from_slice(b);
            (u64::from_be_bytes(a), 8)
        }
        n => (u64::from(n), 0),
    };
    if opcode.is_control() {
        if !fin {
            return Err(Violation::Protocol("control frames must not be fragmented"));
        }
        if len > MAX_CONTROL_PAYLOAD as u64 {
            return Err(Violation::Protocol("control frame payload over 125 bytes"));
        }
    }
    let max = match opcode {
        Opcode::Text | Opcode::Binary | Opcode::Continuation => limits.max_frame,
        _ => MAX_CONTROL_PAYLOAD,
    };
    if len > max as u64 {
        return Err(Violation::TooBig);
    }
    let header_len = 2 + len_bytes + 4;
    let Some(m) = buf.get(2 + len_bytes..header_len) else {
        return Ok(None);
    };
    Ok(Some(Header {
        fin,
        opcode,
        mask: [m[0], m[1], m[2], m[3]],
        // Bounded by `max` above, so it fits.
        len: len as usize,
        header_len,
    }))
}

fn unmask(payload: &[u8], mask: [u8; 4]) -> Vec<u8> {
    payload
        .iter()
        .zip(mask.iter().cycle())
        .map(|(b, m)| b ^ m)
        .collect()
}

/// Whether a close code may be sent by a peer (RFC 6455 §7.4, IANA registry).
pub fn valid_close_code(code: u16) -> bool {
    matches!(code, 1000..=1003 | 1007..=1014 | 3000..=4999)
}

/// The client-frame decoder of one connection.
#[derive(Debug)]
pub struct Decoder {
    limits: Limits,
    /// Bytes of an incomplete frame carried over to the next read (at most one frame).
    partial: Vec<u8>,
    /// A fragmented message being reassembled: its kind and bytes so far.
    fragments: Option<(Opcode, Vec<u8>)>,
    /// Set by the first violation; nothing more is decoded.
    failed: bool,
}

impl Decoder {
    /// A decoder with these limits.
    pub fn new(limits: Limits) -> Decoder {
        Decoder {
            limits,
            partial: Vec::new(),
            fragments: None,
            failed: false,
        }
    }

    /// Bytes held between reads (partial frame and reassembly), for the memory bound.
    pub fn buffered(&self) -> usize {
        self.partial.capacity() + self.fragments.as_ref().map_or(0, |(_, b)| b.capacity())
    }

    /// Decode `data` (what one read returned), calling `out` for each complete message in
    /// order. The first violation is returned and ends the decoder; the messages before it
    /// have been delivered.
    pub fn feed(
        &mut self,
        mut data: &[u8],
        out: &mut impl FnMut(Incoming),
    ) -> Result<(), Violation> {
        if self.failed {
            return Err(Violation::Protocol("connection already failed"));
        }
        let r = self.feed_inner(&mut data, out);
        if r.is_err() {
            self.failed = true;
            self.partial = Vec::new();
            self.fragments = None;
        }
        r
    }

    fn feed_inner(
        &mut self,
        data: &mut &[u8],
        out: &mut impl FnMut(Incoming),
    ) -> Result<(), Violation> {
        // Complete a frame carried over from the previous read first, taking from `data` only
        // the bytes that frame still needs.
        if !self.partial.is_empty() {
            loop {
                match parse_header(&self.partial, &self.limits)? {
                    None => {
                        // Header still incomplete: move header bytes over one at a time until
                        // it parses (at most 14 bytes).
                        let Some((&b, rest)) = data.split_first() else {
                            return Ok(());
                        };
                        self.partial.push(b);
                        *data = rest;
                    }
                    Some(h) => {
                        let need = h.header_len + h.len - self.partial.len();
                        let take = need.min(data.len());
                        self.partial.extend_from_slice(&data[..take]);
                        *data = &data[take..];
                        if take < need {
                            return Ok(());
                        }
                        let frame = std::mem::take(&mut self.partial);
                        self.frame(&h, &frame[h.header_len..], out)?;
                        break;
                    }
                }
            }
        }
        // Whole frames straight from `data`, without copying them into `partial`.
        loop {
            match parse_header(data, &self.limits)? {
                Some(h) if data.len() >= h.header_len + h.len => {
                    let end = h.header_len + h.len;
                    self.frame(&h, &data[h.header_len..end], out)?;
                    *data = &data[end..];
                }
                Some(_) => {
                    // Held as it arrives (a frame trickled in a byte at a time costs what has
                    // arrived, not what its header declares).
                    self.partial = data.to_vec();
                    return Ok(());
                }
                None => {
                    if !data.is_empty() {
                        self.partial = Vec::with_capacity(MAX_HEADER_BYTES);
                        self.partial.extend_from_slice(data);
                    }
                    return Ok(());
                }
            }
        }
    }

    fn frame(
        &mut self,
        h: &Header,
        masked: &[u8],
        out: &mut impl FnMut(Incoming),
    ) -> Result<(), Violation> {
        let payload = unmask(masked, h.mask);
        match h.opcode {
            Opcode::Ping => out(Incoming::Ping(payload)),
            Opcode::Pong => out(Incoming::Pong(payload)),
            Opcode::Close => out(Incoming::Close(parse_close(&payload)?)),
            Opcode::Text | Opcode::Binary => {
                if self.fragments.is_some() {
                    return Err(Violation::Protocol(
                        "new data frame inside a fragmented message",
                    ));
                }
                if h.fin {
                    out(message(h.opcode, payload)?);
                } else {
                    if payload.len() > self.limits.max_message {
                        return Err(Violation::TooBig);
                    }
                    self.fragments = Some((h.opcode, payload));
                }
            }
            Opcode::Continuation => {
                let Some((kind, buf)) = self.fragments.as_mut() else {
                    return Err(Violation::Protocol(
                        "continuation frame without a first frame",
                    ));
                };
                if buf.len() + payload.len() > self.limits.max_message {
                    return Err(Violation::TooBig);
                }
                buf.extend_from_slice(&payload);
                if h.fin {
                    let kind = *kind;
                    let whole = self.fragments.take().map(|(_, b)| b).unwrap_or_default();
                    out(message(kind, whole)?);
                }
            }
        }
        Ok(())
    }
}

fn message(kind: Opcode, payload: Vec<u8>) -> Result<Incoming, Violation> {
    if kind == Opcode::Binary {
        return Ok(Incoming::Binary(payload));
    }
    String::from_utf8(payload)
        .map(Incoming::Text)
        .map_err(|_| Violation::InvalidUtf8)
}

fn parse_close(payload: &[u8]) -> Result<Option<(u16, String)>, Violation> {
    match payload {
        [] => Ok(None),
        [_] => Err(Violation::Protocol("close payload of one byte")),
        [a, b, reason @ ..] => {
            let code = u16::from_be_bytes([*a, *b]);
            if !valid_close_code(code) {
                return Err(Violation::Protocol("invalid close code"));
            }
            let reason = std::str::from_utf8(reason).map_err(|_| Violation::InvalidUtf8)?;
            Ok(Some((code, reason.to_string())))
        }
    }
}

/// The header of a server frame (FIN set, unmasked) for `len` payload bytes, written into
/// `out`; returns its length (2, 4 or 10).
pub fn server_header(opcode: Opcode, len: usize, out: &mut [u8; 10]) -> usize {
    out[0] = 0x80 | opcode.bits();
    if len < 126 {
        out[1] = len as u8;
        2
    } else if let Ok(n) = u16::try_from(len) {
        out[1] = 126;
        out[2..4].copy_from_slice(&n.to_be_bytes());
        4
    } else {
        out[1] = 127;
        out[2..10].copy_from_slice(&(len as u64).to_be_bytes());
        10
    }
}

/// A whole server frame (header and payload) appended to `out`.
pub fn encode(opcode: Opcode, payload: &[u8], out: &mut Vec<u8>) {
    let mut h = [0u8; 10];
    let n = server_header(opcode, payload.len(), &mut h);
    out.extend_from_slice(&h[..n]);
    out.extend_from_slice(payload);
}

/// A close frame payload: the code and the reason truncated to fit a control frame (at a
/// character boundary).
pub fn close_payload(code: u16, reason: &str) -> Vec<u8> {
    let mut end = reason.len().min(MAX_CONTROL_PAYLOAD - 2);
    while !reason.is_char_boundary(end) {
        end -= 1;
    }
    let mut p = Vec::with_capacity(2 + end);
    p.extend_from_slice(&code.to_be_bytes());
    p.extend_from_slice(&reason.as_bytes()[..end]);
    p
}

#[cfg(test)]
mod tests {
    use super::*;

    const LIMITS: Limits = Limits {
        max_frame: 8192,
        max_message: 8192,
    };

    /// A masked client frame.
    fn client(fin: bool, op: u8, payload: &[u8]) -> Vec<u8> {
        let mask = [0x12, 0x34, 0x56, 0x78];
        let mut f = vec![if fin { 0x80 } else { 0 } | op];
        match payload.len() {
            n if n < 126 => f.push(0x80 | n as u8),
            n if n <= 0xFFFF => {
                f.push(0x80 | 126);
                f.extend_from_slice(&(n as u16).to_be_bytes());
            }
            n => {
                f.push(0x80 | 127);
                f.extend_from_slice(&(n as u64).to_be_bytes());
            }
        }
        f.extend_from_slice(&mask);
        f.extend(unmask(payload, mask));
        f
    }

    fn decode_all(d: &mut Decoder, bytes: &[u8]) -> (Vec<Incoming>, Result<(), Violation>) {
        let mut got = Vec::new();
        let r = d.feed(bytes, &mut |m| got.push(m));
        (got, r)
    }

    #[test]
    fn whole_frames_in_one_read_and_byte_by_byte() {
        let mut bytes = client(true, 1, b"{\"type\":\"ping\",\"id\":1}");
        bytes.extend(client(true, 9, b"hi"));
        bytes.extend(client(true, 1, &vec![b'x'; 300]));
        let want = vec![
            Incoming::Text("{\"type\":\"ping\",\"id\":1}".into()),
            Incoming::Ping(b"hi".to_vec()),
            Incoming::Text("x".repeat(300)),
        ];
        let (got, r) = decode_all(&mut Decoder::new(LIMITS), &bytes);
        assert_eq!((got, r), (want.clone(), Ok(())));
        let mut d = Decoder::new(LIMITS);
        let mut got = Vec::new();
        for b in &bytes {
            d.feed(std::slice::from_ref(b), &mut |m| got.push(m))
                .unwrap();
        }
        assert_eq!(got, want);
        assert_eq!(d.buffered(), 0, "nothing held once every frame is complete");
    }

    #[test]
    fn a_huge_length_is_refused_from_the_header_alone() {
        for len in [8193u64, 1 << 16, 64 << 20, 1 << 40, 1 << 63, u64::MAX] {
            let mut h = vec![0x81, 0x80 | 127];
            h.extend_from_slice(&len.to_be_bytes());
            // No mask key, no payload: the ten length bytes are enough to refuse it.
            let mut d = Decoder::new(LIMITS);
            assert_eq!(decode_all(&mut d, &h).1, Err(Violation::TooBig), "{len}");
            assert_eq!(d.buffered(), 0);
        }
        // 16-bit form, and a header split over reads.
        let mut d = Decoder::new(LIMITS);
        assert_eq!(decode_all(&mut d, &[0x81, 0x80 | 126]).1, Ok(()));
        assert_eq!(decode_all(&mut d, &[0x20, 0x01]).1, Err(Violation::TooBig));
        // Exactly the limit is fine.
        let (got, r) = decode_all(&mut Decoder::new(LIMITS), &client(true, 1, &[b'a'; 8192]));
        assert_eq!((got.len(), r), (1, Ok(())));
    }

    #[test]
    fn reassembly_is_bounded_and_interleaves_control_frames() {
        let mut bytes = client(false, 1, b"{\"type\":");
        bytes.extend(client(true, 9, b"p"));
        bytes.extend(client(false, 0, b"\"ping\","));
        bytes.extend(client(true, 0, b"\"id\":2}"));
        let (got, r) = decode_all(&mut Decoder::new(LIMITS), &bytes);
        assert_eq!(r, Ok(()));
        assert_eq!(
            got,
            vec![
                Incoming::Ping(b"p".to_vec()),
                Incoming::Text("{\"type\":\"ping\",\"id\":2}".into())
            ]
        );
        let mut d = Decoder::new(LIMITS);
        let chunk = vec![b' '; 4096];
        let mut bytes = client(false, 1, &chunk);
        bytes.extend(client(false, 0, &chunk));
        bytes.extend(client(false, 0, b" "));
        assert_eq!(decode_all(&mut d, &bytes).1, Err(Violation::TooBig));
        assert_eq!(d.buffered(), 0, "the reassembly buffer is released");
    }

    #[test]
    fn utf8_is_checked_in_single_and_fragmented_messages() {
        let bad = [b'"', 0xC3, 0x28, b'"'];
        let (_, r) = decode_all(&mut Decoder::new(LIMITS), &client(true, 1, &bad));
        assert_eq!(r, Err(Violation::InvalidUtf8));
        let mut bytes = client(false, 1, &bad[..2]);
        bytes.extend(client(true, 0, &bad[2..]));
        let (_, r) = decode_all(&mut Decoder::new(LIMITS), &bytes);
        assert_eq!(r, Err(Violation::InvalidUtf8));
        // A multi-byte character split across fragments is fine.
        let s = "é".as_bytes();
        let mut bytes = client(false, 1, &s[..1]);
        bytes.extend(client(true, 0, &s[1..]));
        let (got, r) = decode_all(&mut Decoder::new(LIMITS), &bytes);
        assert_eq!((got, r), (vec![Incoming::Text("é".into())], Ok(())));
    }

    #[test]
    fn framing_errors() {
        let cases: Vec<(Vec<u8>, &str)> = vec![
            (vec![0x81, 0x02, b'h', b'i'], "unmasked"),
            (vec![0xC1, 0x80, 0, 0, 0, 0], "reserved bit"),
            (vec![0x83, 0x80, 0, 0, 0, 0], "opcode 3"),
            (client(false, 9, b"x"), "fragmented ping"),
            (client(true, 9, &[0; 126]), "long ping"),
            (client(true, 0, b"x"), "continuation first"),
            (client(true, 8, &[3]), "one-byte close"),
            (client(true, 8, &1005u16.to_be_bytes()), "close 1005"),
            (client(true, 8, &999u16.to_be_bytes()), "close 999"),
        ];
        for (bytes, what) in cases {
            let (_, r) = decode_all(&mut Decoder::new(LIMITS), &bytes);
            assert!(matches!(r, Err(Violation::Protocol(_))), "{what}: {r:?}");
        }
        let mut bytes = client(false, 1, b"a");
        bytes.extend(client(true, 1, b"b"));
        let (_, r) = decode_all(&mut Decoder::new(LIMITS), &bytes);
        assert!(
            matches!(r, Err(Violation::Protocol(_))),
            "text inside fragments"
        );
        // After a violation the decoder stays failed.
        let mut d = Decoder::new(LIMITS);
        let _ = decode_all(&mut d, &[0x81, 0x02]);
        assert!(decode_all(&mut d, &client(true, 1, b"ok")).1.is_err());
    }

    #[test]
    fn close_frames() {
        let mut p = 4000u16.to_be_bytes().to_vec();
        p.extend_from_slice(b"bye");
        let (got, _) = decode_all(&mut Decoder::new(LIMITS), &client(true, 8, &p));
        assert_eq!(got, vec![Incoming::Close(Some((4000, "bye".into())))]);
        let (got, _) = decode_all(&mut Decoder::new(LIMITS), &client(true, 8, b""));
        assert_eq!(got, vec![Incoming::Close(None)]);
        let mut p = 1000u16.to_be_bytes().to_vec();
        p.push(0xFF);
        let (_, r) = decode_all(&mut Decoder::new(LIMITS), &client(true, 8, &p));
        assert_eq!(r, Err(Violation::InvalidUtf8));
    }

    #[test]
    fn server_frames_and_close_payloads() {
        let mut out = Vec::new();
        encode(Opcode::Text, b"hi", &mut out);
        assert_eq!(out, [0x81, 2, b'h', b'i']);
        let mut h = [0u8; 10];
        assert_eq!(server_header(Opcode::Text, 300, &mut h), 4);
        assert_eq!(&h[..4], &[0x81, 126, 1, 44]);
        assert_eq!(server_header(Opcode::Binary, 70_000, &mut h), 10);
        assert_eq!(h[1], 127);
        let long = "é".repeat(100);
        let p = close_payload(1009, &long);
        assert!(p.len() <= MAX_CONTROL_PAYLOAD);
        assert!(std::str::from_utf8(&p[2..]).is_ok());
        assert_eq!(&p[..2], &1009u16.to_be_bytes());
    }
}
