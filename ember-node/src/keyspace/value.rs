//! `Value`: what a key holds. Strings are binary-safe `Bytes`; each collection type lives in
//! its own module with a compact encoding for small values and a full structure past the
//! `EncodingLimits` thresholds.

use bytes::Bytes;

use super::hash::Hash;
use super::list::List;
use super::set::Set;
use super::zset::ZSet;

/// How Redis would encode a string that was built rather than set: modified in place (APPEND,
/// SETRANGE, SETBIT, BITFIELD, BITOP) it is always "raw"; made from a float (INCRBYFLOAT) it
/// is "embstr" or "raw" by length, never "int".
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum TextEncoding {
    Raw,
    NotInt,
}

#[derive(Clone, Debug)]
pub enum Value {
    /// A string whose OBJECT ENCODING follows its content, as after SET.
    Str(Bytes),
    /// A string whose OBJECT ENCODING follows how it was built.
    Text(Bytes, TextEncoding),
    List(List),
    Hash(Hash),
    Set(Set),
    ZSet(ZSet),
}

impl Value {
    /// The name TYPE reports (and SCAN TYPE filters on).
    pub fn type_name(&self) -> &'static str {
        match self {
            Value::Str(_) | Value::Text(..) => "string",
            Value::List(_) => "list",
            Value::Hash(_) => "hash",
            Value::Set(_) => "set",
            Value::ZSet(_) => "zset",
        }
    }

    /// The name OBJECT ENCODING reports.
    pub fn encoding(&self) -> &'static str {
        match self {
            Value::Str(bytes) => string_encoding(bytes),
            Value::Text(_, TextEncoding::Raw) => "raw",
            Value::Text(bytes, TextEncoding::NotInt) if bytes.len() <= 44 => "embstr",
            Value::Text(..) => "raw",
            Value::List(list) => list.encoding(),
            Value::Hash(hash) => hash.encoding(),
            Value::Set(set) => set.encoding(),
            Value::ZSet(zset) => zset.encoding(),
        }
    }

    /// Bytes of payload the value holds, for memory accounting.
    pub fn size_bytes(&self) -> usize {
        match self {
            Value::Str(bytes) | Value::Text(bytes, _) => bytes.len(),
            Value::List(list) => list.size_bytes(),
            Value::Hash(hash) => hash.size_bytes(),
            Value::Set(set) => set.size_bytes(),
            Value::ZSet(zset) => zset.size_bytes(),
        }
    }

    /// Elements a collection holds (1 for a string): what freeing it costs.
    pub fn element_count(&self) -> usize {
        match self {
            Value::Str(_) | Value::Text(..) => 1,
            Value::List(list) => list.len(),
            Value::Hash(hash) => hash.len(),
            Value::Set(set) => set.len(),
            Value::ZSet(zset) => zset.len(),
        }
    }

    /// The bytes of a string value of either kind.
    pub fn as_string(&self) -> Option<&Bytes> {
        match self {
            Value::Str(bytes) | Value::Text(bytes, _) => Some(bytes),
            _ => None,
        }
    }

    /// A string value copied out of a request buffer, so it owns exactly its bytes.
    pub fn string(bytes: &[u8]) -> Value {
        Value::Str(Bytes::copy_from_slice(bytes))
    }
}

/// Redis reports "int" for strings that read as a 64-bit integer, "embstr" for short strings
/// (at most 44 bytes) and "raw" for the rest.
pub(super) fn string_encoding(bytes: &[u8]) -> &'static str {
    if bytes.len() <= 20 && crate::cmd::args::parse_i64(bytes).is_some() {
        "int"
    } else if bytes.len() <= 44 {
        "embstr"
    } else {
        "raw"
    }
}
