//! JSON comparison shared by the fuzz targets.

use serde_json::Value;

/// How many units in the last place a float may move in an encode-and-parse round trip.
/// serde_json's default float parsing (rally does not enable `float_roundtrip`) scales by
/// powers of ten in f64 and is off by a few units for extreme exponents: a float32 of
/// 1.0144027609216637e-38 in a `rally.v1.bin` input came back from its JSON text as
/// …635e-38 (fuzz/seeds/client_messages/float_far_exponent.bin).
/// Counted on the bit patterns, so subnormals (`1.1e-309`, where the spacing is fixed) are
/// compared the same way.
const MAX_ULPS: u64 = 8;

/// How many representable doubles lie between `x` and `y` (`u64::MAX` across zero).
fn ulps_apart(x: f64, y: f64) -> u64 {
    if x == y {
        0
    } else if x.is_sign_negative() != y.is_sign_negative() {
        u64::MAX
    } else {
        x.to_bits().abs_diff(y.to_bits())
    }
}

/// Whether two JSON values are equal, numbers compared by value, floats to within
/// [`MAX_ULPS`] units in the last place.
pub fn same(a: &Value, b: &Value) -> bool {
    match (a, b) {
        (Value::Number(x), Value::Number(y)) => {
            if x == y {
                return true;
            }
            match (x.as_f64(), y.as_f64()) {
                (Some(x), Some(y)) => ulps_apart(x, y) <= MAX_ULPS,
                _ => false,
            }
        }
        (Value::Array(x), Value::Array(y)) => {
            x.len() == y.len() && x.iter().zip(y).all(|(x, y)| same(x, y))
        }
        (Value::Object(x), Value::Object(y)) => {
            x.len() == y.len() && x.iter().all(|(k, v)| y.get(k).is_some_and(|w| same(v, w)))
        }
        _ => a == b,
    }
}
