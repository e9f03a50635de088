//! The MessagePack subset `rally.v1.bin` uses (docs/protocol.md §12): writers for the few
//! types the server emits, a JSON → MessagePack transcoder that keeps the order of object
//! keys, and a bounded reader into the JSON data model. Pure: no I/O.
//!
//! What the server writes: `nil`, `bool`, integers in their smallest form, `float 64`, `str`,
//! `array` and `map` (string keys). What the reader accepts: the same plus `float 32`; `bin`,
//! `ext`, non-string map keys, duplicate keys and nesting deeper than [`MAX_DEPTH`] are
//! refused, as are bytes after the value.

use serde::de::{DeserializeSeed, Deserializer, MapAccess, SeqAccess, Visitor};
use std::fmt;

/// Deepest nesting of arrays and maps the reader accepts (client messages are at most three
/// levels deep; the bound keeps a hostile frame from recursing the stack).
pub const MAX_DEPTH: usize = 32;

/// `nil`.
pub fn write_nil(out: &mut Vec<u8>) {
    out.push(0xc0);
}

/// `true` / `false`.
pub fn write_bool(out: &mut Vec<u8>, b: bool) {
    out.push(if b { 0xc3 } else { 0xc2 });
}

/// An unsigned integer, in its smallest form.
pub fn write_uint(out: &mut Vec<u8>, n: u64) {
    if n < 0x80 {
        out.push(n as u8);
    } else if n <= 0xff {
        out.extend_from_slice(&[0xcc, n as u8]);
    } else if n <= 0xffff {
        out.push(0xcd);
        out.extend_from_slice(&(n as u16).to_be_bytes());
    } else if n <= 0xffff_ffff {
        out.push(0xce);
        out.extend_from_slice(&(n as u32).to_be_bytes());
    } else {
        out.push(0xcf);
        out.extend_from_slice(&n.to_be_bytes());
    }
}

/// A signed integer, in its smallest form (non-negative values as unsigned).
pub fn write_int(out: &mut Vec<u8>, n: i64) {
    if n >= 0 {
        write_uint(out, n as u64);
    } else if n >= -32 {
        out.push(n as i8 as u8);
    } else if n >= i64::from(i8::MIN) {
        out.extend_from_slice(&[0xd0, n as i8 as u8]);
    } else if n >= i64::from(i16::MIN) {
        out.push(0xd1);
        out.extend_from_slice(&(n as i16).to_be_bytes());
    } else if n >= i64::from(i32::MIN) {
        out.push(0xd2);
        out.extend_from_slice(&(n as i32).to_be_bytes());
    } else {
        out.push(0xd3);
        out.extend_from_slice(&n.to_be_bytes());
    }
}

/// A `float 64`.
pub fn write_f64(out: &mut Vec<u8>, f: f64) {
    out.push(0xcb);
    out.extend_from_slice(&f.to_be_bytes());
}

/// A UTF-8 string.
pub fn write_str(out: &mut Vec<u8>, s: &str) {
    let n = s.len();
    if n < 32 {
        out.push(0xa0 | n as u8);
    } else if n <= 0xff {
        out.extend_from_slice(&[0xd9, n as u8]);
    } else if n <= 0xffff {
        out.push(0xda);
        out.extend_from_slice(&(n as u16).to_be_bytes());
    } else {
        out.push(0xdb);
        out.extend_from_slice(&(n as u32).to_be_bytes());
    }
    out.extend_from_slice(s.as_bytes());
}

/// An array header for `n` elements.
pub fn write_array_len(out: &mut Vec<u8>, n: usize) {
    if n < 16 {
        out.push(0x90 | n as u8);
    } else if n <= 0xffff {
        out.push(0xdc);
        out.extend_from_slice(&(n as u16).to_be_bytes());
    } else {
        out.push(0xdd);
        out.extend_from_slice(&(n as u32).to_be_bytes());
    }
}

/// A map header for `n` pairs.
pub fn write_map_len(out: &mut Vec<u8>, n: usize) {
    if n < 16 {
        out.push(0x80 | n as u8);
    } else if n <= 0xffff {
        out.push(0xde);
        out.extend_from_slice(&(n as u16).to_be_bytes());
    } else {
        out.push(0xdf);
        out.extend_from_slice(&(n as u32).to_be_bytes());
    }
}

/// An array of unsigned integers.
pub fn write_uints(out: &mut Vec<u8>, ns: &[u64]) {
    write_array_len(out, ns.len());
    for &n in ns {
        write_uint(out, n);
    }
}

/// A JSON value as MessagePack (objects as maps).
pub fn write_value(out: &mut Vec<u8>, v: &serde_json::Value) {
    use serde_json::Value;
    match v {
        Value::Null => write_nil(out),
        Value::Bool(b) => write_bool(out, *b),
        Value::Number(n) => {
            if let Some(u) = n.as_u64() {
                write_uint(out, u);
            } else if let Some(i) = n.as_i64() {
                write_int(out, i);
            } else {
                write_f64(out, n.as_f64().unwrap_or(0.0));
            }
        }
        Value::String(s) => write_str(out, s),
        Value::Array(a) => {
            write_array_len(out, a.len());
            for e in a {
                write_value(out, e);
            }
        }
        Value::Object(o) => {
            write_map_len(out, o.len());
            for (k, e) in o {
                write_str(out, k);
                write_value(out, e);
            }
        }
    }
}

/// Transcode JSON text into MessagePack, keeping the order of object keys: objects become maps,
/// integers their smallest form, other numbers `float 64`.
pub fn from_json(json: &str, out: &mut Vec<u8>) -> Result<(), serde_json::Error> {
    let mut de = serde_json::Deserializer::from_str(json);
    Transcode { out, values: false }.deserialize(&mut de)?;
    de.end()
}

/// Transcode a JSON object into a MessagePack **array of its values**, in key order (nested
/// values as [`from_json`]): the compact form of a game state (docs/protocol.md §12.4). Any
/// other JSON value is transcoded as it is.
pub fn values_from_json(json: &str, out: &mut Vec<u8>) -> Result<(), serde_json::Error> {
    let mut de = serde_json::Deserializer::from_str(json);
    Transcode { out, values: true }.deserialize(&mut de)?;
    de.end()
}

/// Writes what it visits as MessagePack. `values`: an object becomes the array of its values
/// (top level only).
struct Transcode<'o> {
    out: &'o mut Vec<u8>,
    values: bool,
}

impl<'de> DeserializeSeed<'de> for Transcode<'_> {
    type Value = ();
    fn deserialize<D: Deserializer<'de>>(self, d: D) -> Result<(), D::Error> {
        d.deserialize_any(self)
    }
}

impl<'de> Visitor<'de> for Transcode<'_> {
    type Value = ();

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("any JSON value")
    }
    fn visit_unit<E>(self) -> Result<(), E> {
        write_nil(self.out);
        Ok(())
    }
    fn visit_bool<E>(self, b: bool) -> Result<(), E> {
        write_bool(self.out, b);
        Ok(())
    }
    fn visit_u64<E>(self, n: u64) -> Result<(), E> {
        write_uint(self.out, n);
        Ok(())
    }
    fn visit_i64<E>(self, n: i64) -> Result<(), E> {
        write_int(self.out, n);
        Ok(())
    }
    fn visit_f64<E>(self, f: f64) -> Result<(), E> {
        write_f64(self.out, f);
        Ok(())
    }
    fn visit_str<E>(self, s: &str) -> Result<(), E> {
        write_str(self.out, s);
        Ok(())
    }
    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<(), A::Error> {
        // The length is known only at the end: elements go to a side buffer first.
        let mut body = Vec::new();
        let mut n = 0;
        while seq
            .next_element_seed(Transcode {
                out: &mut body,
                values: false,
            })?
            .is_some()
        {
            n += 1;
        }
        write_array_len(self.out, n);
        self.out.extend_from_slice(&body);
        Ok(())
    }
    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<(), A::Error> {
        let mut body = Vec::new();
        let mut n = 0;
        while let Some(key) = map.next_key::<std::borrow::Cow<'de, str>>()? {
            if !self.values {
                write_str(&mut body, &key);
            }
            map.next_value_seed(Transcode {
                out: &mut body,
                values: false,
            })?;
            n += 1;
        }
        if self.values {
            write_array_len(self.out, n);
        } else {
            write_map_len(self.out, n);
        }
        self.out.extend_from_slice(&body);
        Ok(())
    }
}

/// Why bytes are not a value of the accepted subset.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ReadError(pub String);

impl fmt::Display for ReadError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

fn err<T>(why: impl Into<String>) -> Result<T, ReadError> {
    Err(ReadError(why.into()))
}

/// Read exactly one value (nothing may follow it) into the JSON data model.
pub fn read_value(bytes: &[u8]) -> Result<serde_json::Value, ReadError> {
    let mut r = Reader { bytes, pos: 0 };
    let v = r.value(0)?;
    if r.pos != bytes.len() {
        return err(format!(
            "{} bytes after the value",
            bytes.len().saturating_sub(r.pos)
        ));
    }
    Ok(v)
}

struct Reader<'b> {
    bytes: &'b [u8],
    pos: usize,
}

impl<'b> Reader<'b> {
    fn take(&mut self, n: usize) -> Result<&'b [u8], ReadError> {
        let end = self.pos.checked_add(n).filter(|&e| e <= self.bytes.len());
        let Some(end) = end else {
            return err("truncated");
        };
        let s = &self.bytes[self.pos..end];
        self.pos = end;
        Ok(s)
    }

    fn byte(&mut self) -> Result<u8, ReadError> {
        Ok(self.take(1)?[0])
    }

    fn be<const N: usize>(&mut self) -> Result<[u8; N], ReadError> {
        let mut a = [0u8; N];
        a.copy_from_slice(self.take(N)?);
        Ok(a)
    }

    fn len(&mut self, width: usize) -> Result<usize, ReadError> {
        Ok(match width {
            1 => usize::from(self.byte()?),
            2 => usize::from(u16::from_be_bytes(self.be()?)),
            _ => u32::from_be_bytes(self.be()?) as usize,
        })
    }

    fn string(&mut self, n: usize) -> Result<String, ReadError> {
        let b = self.take(n)?;
        match std::str::from_utf8(b) {
            Ok(s) => Ok(s.to_owned()),
            Err(_) => err("a str is not valid UTF-8"),
        }
    }

    fn value(&mut self, depth: usize) -> Result<serde_json::Value, ReadError> {
        use serde_json::Value;
        let b = self.byte()?;
        Ok(match b {
            0x00..=0x7f => Value::from(u64::from(b)),
            0x80..=0x8f => self.map(usize::from(b & 0x0f), depth)?,
            0x90..=0x9f => self.array(usize::from(b & 0x0f), depth)?,
            0xa0..=0xbf => Value::String(self.string(usize::from(b & 0x1f))?),
            0xc0 => Value::Null,
            0xc2 => Value::Bool(false),
            0xc3 => Value::Bool(true),
            0xca => float(f64::from(f32::from_be_bytes(self.be()?))),
            0xcb => float(f64::from_be_bytes(self.be()?)),
            0xcc => Value::from(self.byte()?),
            0xcd => Value::from(u16::from_be_bytes(self.be()?)),
            0xce => Value::from(u32::from_be_bytes(self.be()?)),
            0xcf => Value::from(u64::from_be_bytes(self.be()?)),
            0xd0 => Value::from(i8::from_be_bytes(self.be()?)),
            0xd1 => Value::from(i16::from_be_bytes(self.be()?)),
            0xd2 => Value::from(i32::from_be_bytes(self.be()?)),
            0xd3 => Value::from(i64::from_be_bytes(self.be()?)),
            0xd9 => {
                let n = self.len(1)?;
                Value::String(self.string(n)?)
            }
            0xda => {
                let n = self.len(2)?;
                Value::String(self.string(n)?)
            }
            0xdb => {
                let n = self.len(4)?;
                Value::String(self.string(n)?)
            }
            0xdc => {
                let n = self.len(2)?;
                self.array(n, depth)?
            }
            0xdd => {
                let n = self.len(4)?;
                self.array(n, depth)?
            }
            0xde => {
                let n = self.len(2)?;
                self.map(n, depth)?
            }
            0xdf => {
                let n = self.len(4)?;
                self.map(n, depth)?
            }
            0xe0..=0xff => Value::from(i64::from(b as i8)),
            0xc4..=0xc6 => return err("bin values are not used by this protocol"),
            0xc7..=0xc9 | 0xd4..=0xd8 => return err("ext values are not used by this protocol"),
            0xc1 => return err("0xc1 is never used in MessagePack"),
        })
    }

    fn array(&mut self, n: usize, depth: usize) -> Result<serde_json::Value, ReadError> {
        if depth >= MAX_DEPTH {
            return err("nested too deep");
        }
        // Every element takes at least one byte: a length beyond what is left is a lie, and
        // is refused before anything is allocated for it.
        if n > self.bytes.len() - self.pos {
            return err("truncated");
        }
        let mut a = Vec::with_capacity(n);
        for _ in 0..n {
            a.push(self.value(depth + 1)?);
        }
        Ok(serde_json::Value::Array(a))
    }

    fn map(&mut self, n: usize, depth: usize) -> Result<serde_json::Value, ReadError> {
        if depth >= MAX_DEPTH {
            return err("nested too deep");
        }
        if n > (self.bytes.len() - self.pos) / 2 {
            return err("truncated");
        }
        let mut m = serde_json::Map::new();
        for _ in 0..n {
            let key = match self.value(depth + 1)? {
                serde_json::Value::String(k) => k,
                _ => return err("map keys must be strings"),
            };
            let v = self.value(depth + 1)?;
            if m.insert(key.clone(), v).is_some() {
                return err(format!("duplicate key {key:?}"));
            }
        }
        Ok(serde_json::Value::Object(m))
    }
}

fn float(f: f64) -> serde_json::Value {
    // NaN and infinities have no JSON form: null, as serde_json maps them.
    serde_json::Number::from_f64(f).map_or(serde_json::Value::Null, serde_json::Value::Number)
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;
    use serde_json::json;

    fn bytes_of(v: &serde_json::Value) -> Vec<u8> {
        let mut out = Vec::new();
        write_value(&mut out, v);
        out
    }

    #[test]
    fn integers_take_their_smallest_form() {
        let cases: &[(i64, &[u8])] = &[
            (0, &[0x00]),
            (127, &[0x7f]),
            (128, &[0xcc, 0x80]),
            (300, &[0xcd, 0x01, 0x2c]),
            (70_000, &[0xce, 0x00, 0x01, 0x11, 0x70]),
            (-1, &[0xff]),
            (-32, &[0xe0]),
            (-33, &[0xd0, 0xdf]),
            (-9010, &[0xd1, 0xdc, 0xce]),
        ];
        for (n, want) in cases {
            let mut out = Vec::new();
            write_int(&mut out, *n);
            assert_eq!(&out, want, "{n}");
            assert_eq!(read_value(&out).unwrap(), json!(n));
        }
        let mut out = Vec::new();
        write_uint(&mut out, u64::MAX);
        assert_eq!(out[0], 0xcf);
        assert_eq!(read_value(&out).unwrap(), json!(u64::MAX));
    }

    #[test]
    fn round_trips_the_json_data_model_in_key_order() {
        let long = "x".repeat(300);
        let text = format!(
            r#"{{"type":"welcome","z":null,"a":[true,false,1.5,-2,{{"k":"{long}"}}],"n":{}}}"#,
            u32::MAX
        );
        let mut out = Vec::new();
        from_json(&text, &mut out).unwrap();
        // Key order kept: "type" first.
        assert_eq!(&out[..6], &[0x84, 0xa4, b't', b'y', b'p', b'e']);
        let back = read_value(&out).unwrap();
        assert_eq!(
            back,
            serde_json::from_str::<serde_json::Value>(&text).unwrap()
        );
        assert_eq!(
            bytes_of(&json!([1, "é", null])),
            [0x93, 1, 0xa2, 0xc3, 0xa9, 0xc0]
        );
    }

    #[test]
    fn values_form_drops_the_keys() {
        let mut out = Vec::new();
        values_from_json(r#"{"tick":3,"ball":[1,-2],"on":true}"#, &mut out).unwrap();
        assert_eq!(out, [0x93, 3, 0x92, 1, 0xfe, 0xc3]);
    }

    #[test]
    fn refuses_what_the_protocol_does_not_use() {
        for (bytes, why) in [
            (&[][..], "truncated"),
            (&[0x92, 1][..], "truncated"),
            (&[0xc4, 1, 0][..], "bin"),
            (&[0xd4, 1, 0][..], "ext"),
            (&[0xc1][..], "0xc1"),
            (&[0x81, 1, 2][..], "map keys"),
            (&[0x82, 0xa1, b'a', 1, 0xa1, b'a', 2][..], "duplicate"),
            (&[0xa1, 0xff][..], "UTF-8"),
            (&[1, 2][..], "after the value"),
            (&[0xdd, 0xff, 0xff, 0xff, 0xff][..], "truncated"),
        ] {
            let e = read_value(bytes).unwrap_err();
            assert!(e.0.contains(why), "{bytes:?}: {e}");
        }
        let deep = vec![0x91; MAX_DEPTH + 1];
        assert!(read_value(&deep).unwrap_err().0.contains("deep"));
    }
}
