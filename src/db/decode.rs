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

/// The first `N` cells of a text-protocol row packet as the server sent them (`None`: NULL),
/// borrowed from the packet: no allocation per cell. Cells past `N` are left unread (MariaDB's
/// `SHOW PROCESSLIST` sends Info and Progress after the seven the session list uses).
pub(super) fn text_cells<const N: usize>(packet: &[u8]) -> Result<[Option<&[u8]>; N], String> {
    let mut cells = [None; N];
    let mut rest = packet;
    for (i, cell) in cells.iter_mut().enumerate() {
        let truncated = || format!("a row packet of {} bytes ends in column {i}", packet.len());
        let (&first, after) = rest.split_first().ok_or_else(truncated)?;
        // A length-encoded integer, or 0xFB for NULL.
        let (len, after) = match first {
            0xFB => {
                rest = after;
                continue;
            }
            0xFC => (2, after),
            0xFD => (3, after),
            0xFE => (8, after),
            0xFF => return Err(format!("column {i} starts with 0xFF, not a length")),
            n => {
                let (value, after) = after
                    .split_at_checked(usize::from(n))
                    .ok_or_else(truncated)?;
                *cell = Some(value);
                rest = after;
                continue;
            }
        };
        let (size, after) = after.split_at_checked(len).ok_or_else(truncated)?;
        let mut bytes = [0u8; 8];
        bytes[..len].copy_from_slice(size);
        let n = usize::try_from(u64::from_le_bytes(bytes)).map_err(|_| truncated())?;
        let (value, after) = after.split_at_checked(n).ok_or_else(truncated)?;
        *cell = Some(value);
        rest = after;
    }
    Ok(cells)
}

/// A text cell as text, borrowed where it is valid UTF-8.
pub(super) fn cell_text(cell: Option<&[u8]>) -> Option<Cow<'_, str>> {
    cell.map(String::from_utf8_lossy)
}

/// A text cell as a count: NULL, negative or not a number is 0 (as [`number_ref`]).
pub(super) fn cell_number(cell: Option<&[u8]>) -> u64 {
    match cell {
        None => 0,
        Some(b) => {
            // Integers (nearly every value) without building a string.
            if !b.is_empty() && b.len() <= 19 && b.iter().all(u8::is_ascii_digit) {
                return b.iter().fold(0, |n, d| n * 10 + u64::from(d - b'0'));
            }
            number_ref(&Value::Bytes(b.to_vec())).unwrap_or(0)
        }
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

    /// Packets as the text protocol frames them: short, NULL, empty, a 300-byte cell behind
    /// 0xFC, trailing cells left unread; a packet cut short is an error, never a panic.
    #[test]
    fn text_row_packets_are_read_in_place() {
        let mut packet = vec![2, b'4', b'2', 0xFB, 0];
        packet.extend([0xFC, 44, 1]);
        packet.extend(vec![b'x'; 300]);
        packet.extend([1, b'9']);
        let [a, b, c, d]: [Option<&[u8]>; 4] = text_cells(&packet).unwrap();
        assert_eq!((a, b, c), (Some(&b"42"[..]), None, Some(&b""[..])));
        assert_eq!(d.map(<[u8]>::len), Some(300));
        let [first]: [Option<&[u8]>; 1] = text_cells(&packet).unwrap();
        assert_eq!(cell_number(first), 42);
        for cut in [0, 2, 6, 100] {
            let short = &packet[..cut];
            assert!(text_cells::<4>(short).is_err(), "cut at {cut}");
        }
        assert!(text_cells::<1>(&[0xFF]).is_err());
        assert!(text_cells::<1>(&[0xFE, 255, 255, 255, 255, 255, 255, 255, 255]).is_err());
        assert_eq!(cell_number(Some(b"12.000")), 12);
        assert_eq!(cell_number(Some(b"-3")), 0);
        assert_eq!(cell_number(Some(b"99999999999999999999")), u64::MAX);
        assert_eq!(cell_number(None), 0);
        assert_eq!(cell_text(Some(&[b'a', 0xff])).as_deref(), Some("a\u{fffd}"));
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
