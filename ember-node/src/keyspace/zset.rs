//! The zset type. (Scaffold: the full implementation with its compact and full encodings
//! replaces this file.)

#[derive(Debug, Default)]
pub struct ZSet {
    size_bytes: usize,
}

impl ZSet {
    pub fn encoding(&self) -> &'static str {
        "listpack"
    }

    pub fn size_bytes(&self) -> usize {
        self.size_bytes
    }
}
