//! The set type. (Scaffold: the full implementation with its compact and full encodings
//! replaces this file.)

#[derive(Debug, Default)]
pub struct Set {
    size_bytes: usize,
}

impl Set {
    pub fn encoding(&self) -> &'static str {
        "listpack"
    }

    pub fn size_bytes(&self) -> usize {
        self.size_bytes
    }
}
