//! The stored value encoding, the one place that defines it: a type tag
//! byte, then the payload (lua-hashmap's tags, plus raw bytes).
//!
//! | tag | type | payload |
//! |---:|---|---|
//! | 0 | string | UTF-8 bytes |
//! | 1 | boolean | one byte, 0 or 1 |
//! | 2 | number | IEEE-754 double, 8 bytes little-endian |
//! | 4 | bigint | int64, 8 bytes little-endian |
//! | 5 | bytes | the bytes |
//! | 6 | structured | MessagePack (msgpackr, structured clone) of null, an object, an array, a `Date`, `Map`, `Set`…; encoded and decoded in JavaScript |
//!
//! Invariant: [`Value::decode`] accepts exactly what [`Value::encode_into`]
//! writes; any other tag or payload length is [`ErrorKind::Corrupt`], on every
//! path that reads a value.

use crate::error::{Error, Result};

/// A value's type tag: the first byte of every stored value.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[repr(u8)]
pub enum Tag {
    /// UTF-8 string.
    String = 0,
    /// Boolean.
    Boolean = 1,
    /// IEEE-754 double.
    Number = 2,
    /// Signed 64-bit integer.
    Bigint = 4,
    /// Raw bytes.
    Bytes = 5,
    /// A structured value (null, objects, arrays, Date, Map, Set…) as
    /// MessagePack; the core never looks inside.
    Structured = 6,
}

/// A decoded value, borrowing its bytes from the encoding.
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum Value<'a> {
    /// A string's UTF-8 bytes (as stored; not validated here).
    String(&'a [u8]),
    /// A boolean.
    Boolean(bool),
    /// A double.
    Number(f64),
    /// An int64.
    Bigint(i64),
    /// Raw bytes.
    Bytes(&'a [u8]),
    /// A structured value's MessagePack bytes.
    Structured(&'a [u8]),
}

fn word(payload: &[u8], len: usize) -> Result<[u8; 8]> {
    payload.try_into().map_err(|_| malformed(len))
}

fn malformed(len: usize) -> Error {
    Error::corrupt(format!("a stored value of {len} bytes is malformed"))
}

impl<'a> Value<'a> {
    /// Decodes an encoded value (tag first).
    pub fn decode(buf: &'a [u8]) -> Result<Value<'a>> {
        let (&tag, payload) = buf.split_first().ok_or_else(|| malformed(0))?;
        Ok(match tag {
            t if t == Tag::String as u8 => Value::String(payload),
            t if t == Tag::Boolean as u8 => match payload {
                [b] if *b <= 1 => Value::Boolean(*b == 1),
                _ => return Err(malformed(buf.len())),
            },
            t if t == Tag::Number as u8 => Value::Number(f64::from_bits(u64::from_le_bytes(word(
                payload,
                buf.len(),
            )?))),
            t if t == Tag::Bigint as u8 => {
                Value::Bigint(i64::from_le_bytes(word(payload, buf.len())?))
            }
            t if t == Tag::Bytes as u8 => Value::Bytes(payload),
            t if t == Tag::Structured as u8 && !payload.is_empty() => Value::Structured(payload),
            t => {
                return Err(Error::corrupt(format!(
                    "a stored value has the unknown type tag {t}"
                )))
            }
        })
    }

    /// The value's tag.
    pub fn tag(&self) -> Tag {
        match self {
            Value::String(_) => Tag::String,
            Value::Boolean(_) => Tag::Boolean,
            Value::Number(_) => Tag::Number,
            Value::Bigint(_) => Tag::Bigint,
            Value::Bytes(_) => Tag::Bytes,
            Value::Structured(_) => Tag::Structured,
        }
    }

    /// Appends the encoding (tag first) to `out`.
    pub fn encode_into(&self, out: &mut Vec<u8>) {
        out.push(self.tag() as u8);
        match *self {
            Value::String(b) | Value::Bytes(b) | Value::Structured(b) => out.extend_from_slice(b),
            Value::Boolean(b) => out.push(u8::from(b)),
            Value::Number(d) => out.extend_from_slice(&d.to_bits().to_le_bytes()),
            Value::Bigint(i) => out.extend_from_slice(&i.to_le_bytes()),
        }
    }

    /// The encoding, tag first.
    pub fn encode(&self) -> Vec<u8> {
        let mut v = Vec::new();
        self.encode_into(&mut v);
        v
    }

    /// What the value is, for messages.
    pub fn kind(&self) -> &'static str {
        match self {
            Value::String(_) => "a string",
            Value::Boolean(_) => "a boolean",
            Value::Number(_) => "a number",
            Value::Bigint(_) => "a bigint",
            Value::Bytes(_) => "a Buffer",
            Value::Structured(_) => "an object",
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_value_round_trips_and_nothing_else_decodes() {
        for v in [
            Value::String(b"h\xc3\xa9"),
            Value::String(b""),
            Value::Boolean(true),
            Value::Boolean(false),
            Value::Number(-0.0),
            Value::Number(f64::INFINITY),
            Value::Bigint(i64::MIN),
            Value::Bytes(&[0, 255]),
            Value::Structured(&[0xc0]),
        ] {
            let e = v.encode();
            assert_eq!(Value::decode(&e), Ok(v));
        }
        for bad in [
            &[][..],
            &[3],
            &[7, 1],
            &[6],
            &[1, 2],
            &[1],
            &[2, 0, 0],
            &[4; 10],
        ] {
            assert!(
                matches!(
                    Value::decode(bad).map_err(Error::into_kind),
                    Err(crate::ErrorKind::Corrupt(_))
                ),
                "{bad:?}"
            );
        }
    }
}
