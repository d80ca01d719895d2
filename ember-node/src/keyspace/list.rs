//! The list type. (Scaffold: the full implementation with its compact and full encodings
//! replaces this file.)

#[derive(Debug, Default)]
pub struct List {
    size_bytes: usize,
}

impl List {
    pub fn encoding(&self) -> &'static str {
        "listpack"
    }

    pub fn size_bytes(&self) -> usize {
        self.size_bytes
    }
}
