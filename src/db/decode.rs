//! Values as the protocol delivers them: the text protocol sends nearly everything as bytes,
//! the servers differ in which columns they send as integers, and any may be NULL. Every
//! source reads its cells through these, so a column's shape never fails a scrape.

use std::borrow::Cow;

use mysql_async::Value;

/// Text columns; bytes that are not UTF-8 (a user name in latin1) are replaced, not fatal.
pub(super) fn text(v: Value) -> Option<String> {
    text_ref(&v).map(Cow::into_owned)
}

/// Text borrowed from the row where it is valid UTF-8 (nearly always).
pub(super) fn text_ref(v: &Value) -> Option<Cow<'_, str>> {
    match v {
        Value::NULL => None,
        Value::Bytes(b) => Some(String::from_utf8_lossy(b)),
        other => Some(Cow::Owned(
            other.as_sql(true).trim_matches('\'').to_string(),
        )),
    }
}

/// Counts and sums: integers or DECIMAL text; NULL is 0; negatives clamp to 0.
pub(super) fn number(v: Value) -> Result<u64, String> {
    number_ref(&v)
}

pub(super) fn number_ref(v: &Value) -> Result<u64, String> {
    match v {
        Value::NULL => Ok(0),
        Value::Int(i) => Ok((*i).max(0) as u64),
        Value::UInt(u) => Ok(*u),
        Value::Bytes(b) => {
            let s = String::from_utf8_lossy(b);
            let s = s.trim();
            // Integers (nearly every value) without the float parser.
            if let Ok(n) = s.parse::<u64>() {
                return Ok(n);
            }
            let f: f64 = s.parse().map_err(|_| format!("`{s}` is not a number"))?;
            Ok(if f.is_finite() && f > 0.0 {
                f as u64
            } else {
                0
            })
        }
        other => Err(format!("{other:?} is not a number")),
    }
}

/// Bytes that may be NULL, as text (NULL reads as empty).
pub(super) fn lossy(v: Option<Vec<u8>>) -> String {
    String::from_utf8_lossy(&v.unwrap_or_default()).into_owned()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn numbers_read_from_every_shape_the_protocol_gives() {
        assert_eq!(number(Value::NULL), Ok(0));
        assert_eq!(number(Value::Int(-3)), Ok(0));
        assert_eq!(number(Value::UInt(7)), Ok(7));
        assert_eq!(number(Value::Bytes(b"42".to_vec())), Ok(42));
        assert_eq!(number(Value::Bytes(b"42.0000".to_vec())), Ok(42));
        assert!(number(Value::Bytes(b"x".to_vec())).is_err());
    }

    #[test]
    fn text_survives_bytes_that_are_not_utf8() {
        assert_eq!(
            text(Value::Bytes(vec![b'a', 0xff, b'b'])).unwrap(),
            "a\u{fffd}b"
        );
        assert_eq!(text(Value::NULL), None);
        assert_eq!(lossy(None), "");
    }
}
