//! The MessagePack subset `rally.v1.bin` uses (docs/protocol.md §13): writers for the few
//! types the server emits, a JSON → MessagePack transcoder that keeps the order of object
//! keys, and a bounded reader into the JSON data model. The bytes are written and read by the
//! `rmp` crate (`rmp::encode`, `rmp::decode`); this module chooses the subset, keeps key
//! order, and bounds what a hostile frame can make the reader do. Pure: no I/O.
//!
//! What the server writes: `nil`, `bool`, integers in their smallest form, `float 64`, `str`,
//! `array` and `map` (string keys). What the reader accepts: the same plus `float 32`; `bin`,
//! `ext`, non-string map keys, duplicate keys and nesting deeper than [`MAX_DEPTH`] are
//! refused, as are bytes after the value.

use rmp::decode::{self as dec, Bytes};
use rmp::encode as enc;
use rmp::Marker;
use serde::de::{DeserializeSeed, Deserializer, MapAccess, SeqAccess, Visitor};
use std::fmt;

/// Deepest nesting of arrays and maps the reader accepts (client messages are at most three
/// levels deep; the bound keeps a hostile frame from recursing the stack).
pub const MAX_DEPTH: usize = 32;

/// rmp's writers return a `Result` because they write to any `io::Write`; writing into a
/// `Vec<u8>` cannot fail (std's `Write for Vec<u8>` never returns an error), so the result
/// carries nothing and is dropped here, in one place.
#[inline]
fn into_vec<T, E>(written: Result<T, E>) {
    debug_assert!(written.is_ok(), "writing MessagePack into a Vec failed");
    drop(written);
}

/// A length as MessagePack's 32-bit length field. Nothing the server writes comes near 2³²
/// elements or bytes (every frame is bounded by the outbound size limits), so the saturation
/// is never reached; it only keeps the conversion total.
#[inline]
fn len32(n: usize) -> u32 {
    u32::try_from(n).unwrap_or(u32::MAX)
}

/// `nil`.
pub fn write_nil(out: &mut Vec<u8>) {
    into_vec(enc::write_nil(out));
}

/// `true` / `false`.
pub fn write_bool(out: &mut Vec<u8>, b: bool) {
    into_vec(enc::write_bool(out, b));
}

/// An unsigned integer, in its smallest form.
pub fn write_uint(out: &mut Vec<u8>, n: u64) {
    into_vec(enc::write_uint(out, n));
}

/// A signed integer, in its smallest form (non-negative values as unsigned).
pub fn write_int(out: &mut Vec<u8>, n: i64) {
    into_vec(enc::write_sint(out, n));
}

/// A `float 64`.
pub fn write_f64(out: &mut Vec<u8>, f: f64) {
    into_vec(enc::write_f64(out, f));
}

/// A UTF-8 string.
pub fn write_str(out: &mut Vec<u8>, s: &str) {
    into_vec(enc::write_str_len(out, len32(s.len())));
    out.extend_from_slice(s.as_bytes());
}

/// An array header for `n` elements.
pub fn write_array_len(out: &mut Vec<u8>, n: usize) {
    into_vec(enc::write_array_len(out, len32(n)));
}

/// A map header for `n` pairs.
pub fn write_map_len(out: &mut Vec<u8>, n: usize) {
    into_vec(enc::write_map_len(out, len32(n)));
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
/// values as [`from_json`]): the compact form of a game state (docs/protocol.md §13.4). Any
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
    let mut r = Reader { rest: bytes };
    let v = r.value(0)?;
    if !r.rest.is_empty() {
        return err(format!("{} bytes after the value", r.rest.len()));
    }
    Ok(v)
}

/// A cursor over the bytes not read yet; the values themselves are decoded by `rmp::decode`.
struct Reader<'b> {
    rest: &'b [u8],
}

impl<'b> Reader<'b> {
    /// Run one of rmp's readers on the rest. The marker was looked at before the call, so
    /// the only way for it to fail is to run out of bytes.
    fn read<T, E>(
        &mut self,
        f: impl FnOnce(&mut Bytes<'b>) -> Result<T, E>,
    ) -> Result<T, ReadError> {
        let mut rd = Bytes::new(self.rest);
        let v = f(&mut rd).or_else(|_| err("truncated"))?;
        self.rest = rd.remaining_slice();
        Ok(v)
    }

    fn value(&mut self, depth: usize) -> Result<serde_json::Value, ReadError> {
        use serde_json::Value;
        let Some(&first) = self.rest.first() else {
            return err("truncated");
        };
        Ok(match Marker::from_u8(first) {
            Marker::Null => {
                self.read(dec::read_nil)?;
                Value::Null
            }
            Marker::False | Marker::True => Value::Bool(self.read(dec::read_bool)?),
            Marker::FixPos(_) | Marker::U8 | Marker::U16 | Marker::U32 | Marker::U64 => {
                Value::from(self.read(dec::read_int::<u64, _>)?)
            }
            Marker::FixNeg(_) | Marker::I8 | Marker::I16 | Marker::I32 | Marker::I64 => {
                Value::from(self.read(dec::read_int::<i64, _>)?)
            }
            Marker::F32 => float(f64::from(self.read(dec::read_f32)?)),
            Marker::F64 => float(self.read(dec::read_f64)?),
            Marker::FixStr(_) | Marker::Str8 | Marker::Str16 | Marker::Str32 => {
                Value::String(self.string()?)
            }
            Marker::FixArray(_) | Marker::Array16 | Marker::Array32 => {
                let n = self.read(dec::read_array_len)?;
                self.array(n as usize, depth)?
            }
            Marker::FixMap(_) | Marker::Map16 | Marker::Map32 => {
                let n = self.read(dec::read_map_len)?;
                self.map(n as usize, depth)?
            }
            Marker::Bin8 | Marker::Bin16 | Marker::Bin32 => {
                return err("bin values are not used by this protocol")
            }
            Marker::Ext8
            | Marker::Ext16
            | Marker::Ext32
            | Marker::FixExt1
            | Marker::FixExt2
            | Marker::FixExt4
            | Marker::FixExt8
            | Marker::FixExt16 => return err("ext values are not used by this protocol"),
            Marker::Reserved => return err("0xc1 is never used in MessagePack"),
        })
    }

    fn string(&mut self) -> Result<String, ReadError> {
        match dec::read_str_from_slice(self.rest) {
            Ok((s, tail)) => {
                self.rest = tail;
                Ok(s.to_owned())
            }
            Err(dec::DecodeStringError::InvalidUtf8(..)) => err("a str is not valid UTF-8"),
            Err(_) => err("truncated"),
        }
    }

    fn array(&mut self, n: usize, depth: usize) -> Result<serde_json::Value, ReadError> {
        if depth >= MAX_DEPTH {
            return err("nested too deep");
        }
        // Every element takes at least one byte: a length beyond what is left is a lie, and
        // is refused before anything is allocated for it.
        if n > self.rest.len() {
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
        if n > self.rest.len() / 2 {
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

    /// The header of every width at its boundaries: what docs/protocol.md §13.1 promises
    /// ("smallest form"), checked on the bytes so that a change in the MessagePack writer
    /// underneath cannot change the wire.
    #[test]
    fn headers_switch_width_at_the_documented_boundaries() {
        let mut out = Vec::new();
        for (n, want) in [
            (-128_i64, &[0xd0, 0x80][..]),
            (-129, &[0xd1, 0xff, 0x7f]),
            (-32_769, &[0xd2, 0xff, 0xff, 0x7f, 0xff]),
            (i64::MIN, &[0xd3, 0x80, 0, 0, 0, 0, 0, 0, 0]),
            (255, &[0xcc, 0xff]),
            (65_536, &[0xce, 0, 1, 0, 0]),
            (1 << 32, &[0xcf, 0, 0, 0, 1, 0, 0, 0, 0]),
        ] {
            out.clear();
            write_int(&mut out, n);
            assert_eq!(out, want, "{n}");
            assert_eq!(read_value(&out).unwrap(), json!(n));
        }
        for (len, head) in [
            (31, &[0xbf][..]),
            (32, &[0xd9, 32]),
            (255, &[0xd9, 0xff]),
            (256, &[0xda, 0x01, 0x00]),
            (65_536, &[0xdb, 0, 1, 0, 0]),
        ] {
            out.clear();
            write_str(&mut out, &"s".repeat(len));
            assert_eq!(&out[..head.len()], head, "str of {len}");
            assert_eq!(out.len(), head.len() + len);
        }
        for (n, array, map) in [
            (15, &[0x9f][..], &[0x8f][..]),
            (16, &[0xdc, 0, 16], &[0xde, 0, 16]),
            (65_536, &[0xdd, 0, 1, 0, 0], &[0xdf, 0, 1, 0, 0]),
        ] {
            out.clear();
            write_array_len(&mut out, n);
            assert_eq!(out, array, "array of {n}");
            out.clear();
            write_map_len(&mut out, n);
            assert_eq!(out, map, "map of {n}");
        }
        out.clear();
        write_f64(&mut out, 12.5);
        assert_eq!(out, [0xcb, 0x40, 0x29, 0, 0, 0, 0, 0, 0]);
        // Accepted though never written: integers in any width, float 32.
        assert_eq!(read_value(&[0xcd, 0x00, 0x05]).unwrap(), json!(5));
        assert_eq!(read_value(&[0xd0, 0x05]).unwrap(), json!(5));
        assert_eq!(read_value(&[0xca, 0x41, 0x48, 0, 0]).unwrap(), json!(12.5));
        // Non-finite floats have no JSON form.
        assert_eq!(
            read_value(&[0xcb, 0x7f, 0xf8, 0, 0, 0, 0, 0, 0]).unwrap(),
            serde_json::Value::Null
        );
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
