//! `Value`: what a key holds. Strings are binary-safe `Bytes`; the collection types join
//! this enum as their families land.

use bytes::Bytes;

#[derive(Clone, Debug, PartialEq)]
pub enum Value {
    Str(Bytes),
}

impl Value {
    /// The name TYPE reports.
    pub fn type_name(&self) -> &'static str {
        match self {
            Value::Str(_) => "string",
        }
    }

    /// Bytes of payload the value holds, for memory accounting.
    pub fn size_bytes(&self) -> usize {
        match self {
            Value::Str(bytes) => bytes.len(),
        }
    }
}

impl Value {
    /// A string value copied out of a request buffer, so it owns exactly its bytes.
    pub fn string(bytes: &[u8]) -> Value {
        Value::Str(Bytes::copy_from_slice(bytes))
    }
}
