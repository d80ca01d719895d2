//! `Entry`: one key and its value in a single allocation, laid out for bytes per key.
//!
//! ```text
//! offset 0   next      u64   the next entry of the bucket's chain, tagged (see KeyTable)
//!        8   access    [u8; 3] LRU clock or LFU (minutes, counter), by the eviction policy
//!        11  flags     u8    value kind (2 bits), has TTL, long key
//!        12  key_len   u8    key length (0 when the key is long: a u32 follows the TTL)
//!        13  value_len u8    inline string length
//!        14  [ttl_slot u32]                   only when the key has a TTL: its place in
//!                                             the table's TTL index, which holds the time
//!            [key_len u32]                    only for keys of 256 bytes or more
//!            key bytes
//!            value: the string's bytes inline, or a Box<Value> pointer
//! ```
//!
//! A 14-byte key with a 16-byte value takes 44 bytes (a 48-byte allocation); with a TTL,
//! 48 (and 16 bytes in the TTL index). Strings up to `INLINE_STRING_MAX` bytes live inline and are copied out on read;
//! longer strings and every collection are boxed `Value`s. Changing the shape (a TTL added
//! or removed, a value of another length) builds a new entry; the table swaps it in.

use std::alloc::{alloc, dealloc, handle_alloc_error, Layout};
use std::ptr::NonNull;

use super::value::{TextEncoding, Value};

/// The longest string stored inside its entry.
pub const INLINE_STRING_MAX: usize = u8::MAX as usize;

const NEXT: usize = 0;
const ACCESS: usize = 8;
const FLAGS: usize = 11;
const KEY_LEN: usize = 12;
const VALUE_LEN: usize = 13;
const HEADER: usize = 14;
const TTL_FIELDS: usize = 4;

const KIND_MASK: u8 = 0b11;
const KIND_STR: u8 = 0;
const KIND_TEXT_RAW: u8 = 1;
const KIND_TEXT_NOT_INT: u8 = 2;
const KIND_BOXED: u8 = 3;
const FLAG_TTL: u8 = 1 << 2;
const FLAG_LONG_KEY: u8 = 1 << 3;

const ALIGN: usize = 8;

/// A view of an entry's value.
#[derive(Clone, Copy, Debug)]
pub enum Stored<'a> {
    /// A string kept inline, and how Redis would encode it.
    Inline(&'a [u8], Option<TextEncoding>),
    Boxed(&'a Value),
}

impl<'a> Stored<'a> {
    /// The value as a `Value`, copying an inline string out.
    pub fn to_value(self) -> Value {
        match self {
            Stored::Inline(bytes, None) => Value::string(bytes),
            Stored::Inline(bytes, Some(encoding)) => {
                Value::Text(bytes::Bytes::copy_from_slice(bytes), encoding)
            }
            Stored::Boxed(value) => value.clone(),
        }
    }

    pub fn type_name(self) -> &'static str {
        match self {
            Stored::Inline(..) => "string",
            Stored::Boxed(value) => value.type_name(),
        }
    }

    /// A string's bytes, stored either way; `None` for a collection.
    pub fn as_bytes(self) -> Option<&'a [u8]> {
        match self {
            Stored::Inline(bytes, _) => Some(bytes),
            Stored::Boxed(value) => value.as_string().map(|bytes| &bytes[..]),
        }
    }

    /// The name OBJECT ENCODING reports.
    pub fn encoding(self) -> &'static str {
        match self {
            Stored::Inline(bytes, None) => super::value::string_encoding(bytes),
            Stored::Inline(_, Some(TextEncoding::Raw)) => "raw",
            Stored::Inline(bytes, Some(TextEncoding::NotInt)) if bytes.len() <= 44 => "embstr",
            Stored::Inline(..) => "raw",
            Stored::Boxed(value) => value.encoding(),
        }
    }

    /// The value's payload bytes, as `Value::size_bytes` counts them.
    pub fn size_bytes(self) -> usize {
        match self {
            Stored::Inline(bytes, _) => bytes.len(),
            Stored::Boxed(value) => value.size_bytes(),
        }
    }
}

/// What a new entry holds: the parts `Entry::new` lays out.
pub struct Contents<'a> {
    pub key: &'a [u8],
    pub value: Value,
    /// Whether the key has a TTL (its time lives in the table's TTL index).
    pub ttl: bool,
    pub access: u32,
}

/// A pointer to an entry allocation. Copy, like a raw pointer: the table owns entries and
/// frees each exactly once (`Entry::free`).
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub struct Entry(NonNull<u8>);

// SAFETY: an entry is owned by exactly one table, which lives on one shard at a time.
unsafe impl Send for Entry {}

struct Shape {
    ttl: bool,
    key_len: usize,
    payload: usize,
}

impl Shape {
    fn key_offset(&self) -> usize {
        let mut offset = HEADER;
        if self.ttl {
            offset += TTL_FIELDS;
        }
        if self.key_len > u8::MAX as usize {
            offset += 4;
        }
        offset
    }

    fn size(&self) -> usize {
        self.key_offset() + self.key_len + self.payload
    }

    fn layout(&self) -> Layout {
        Layout::from_size_align(self.size(), ALIGN).expect("entry sizes are bounded by limits")
    }
}

impl Entry {
    /// Allocates an entry. The `next` link starts empty.
    pub fn new(contents: Contents<'_>) -> Entry {
        let Contents {
            key,
            value,
            ttl,
            access,
        } = contents;
        let (kind, inline): (u8, Option<bytes::Bytes>) = match value {
            Value::Str(bytes) if bytes.len() <= INLINE_STRING_MAX => (KIND_STR, Some(bytes)),
            Value::Text(bytes, TextEncoding::Raw) if bytes.len() <= INLINE_STRING_MAX => {
                (KIND_TEXT_RAW, Some(bytes))
            }
            Value::Text(bytes, TextEncoding::NotInt) if bytes.len() <= INLINE_STRING_MAX => {
                (KIND_TEXT_NOT_INT, Some(bytes))
            }
            other => return Entry::boxed(key, Box::new(other), ttl, access),
        };
        let bytes = inline.expect("set for inline kinds");
        Entry::inline(kind, key, &bytes, ttl, access)
    }

    /// Allocates an entry whose value is boxed whatever it is (so it can be written in place).
    pub fn new_boxed(contents: Contents<'_>) -> Entry {
        let value = Box::new(contents.value);
        Entry::boxed(contents.key, value, contents.ttl, contents.access)
    }

    fn inline(kind: u8, key: &[u8], bytes: &[u8], ttl: bool, access: u32) -> Entry {
        let shape = Shape {
            ttl,
            key_len: key.len(),
            payload: bytes.len(),
        };
        let entry = Entry::allocate(&shape, kind, key, access);
        entry.write(VALUE_LEN, &[bytes.len() as u8]);
        entry.write(shape.key_offset() + key.len(), bytes);
        entry
    }

    /// A copy of this entry with or without room for a TTL, taking over its boxed value:
    /// free this one with `free_shell`.
    pub fn with_ttl(self, ttl: bool) -> Entry {
        let key = self.key();
        if self.kind() == KIND_BOXED {
            return Entry::boxed_at(key, self.box_pointer(), ttl, self.access());
        }
        let Stored::Inline(bytes, _) = self.stored() else {
            unreachable!("not boxed")
        };
        Entry::inline(self.kind(), key, bytes, ttl, self.access())
    }

    /// Frees the allocation but not a boxed value, which another entry took over.
    pub fn free_shell(self) {
        let layout = self.shape().layout();
        // SAFETY: as in `free`; the boxed value now belongs to the entry built by
        // `with_expiry`.
        unsafe { dealloc(self.0.as_ptr(), layout) };
    }

    fn boxed(key: &[u8], value: Box<Value>, ttl: bool, access: u32) -> Entry {
        Entry::boxed_at(key, Box::into_raw(value), ttl, access)
    }

    /// An entry holding the boxed value at `pointer` (made by `Box::into_raw`).
    fn boxed_at(key: &[u8], pointer: *mut Value, ttl: bool, access: u32) -> Entry {
        let shape = Shape {
            ttl,
            key_len: key.len(),
            payload: std::mem::size_of::<usize>(),
        };
        let entry = Entry::allocate(&shape, KIND_BOXED, key, access);
        let pointer = pointer as usize;
        entry.write(shape.key_offset() + key.len(), &pointer.to_ne_bytes());
        entry
    }

    fn allocate(shape: &Shape, kind: u8, key: &[u8], access: u32) -> Entry {
        let layout = shape.layout();
        // SAFETY: the layout has a non-zero size (the header alone is 14 bytes).
        let raw = unsafe { alloc(layout) };
        let Some(pointer) = NonNull::new(raw) else {
            handle_alloc_error(layout);
        };
        let entry = Entry(pointer);
        let mut flags = kind;
        if shape.ttl {
            flags |= FLAG_TTL;
        }
        let long = key.len() > u8::MAX as usize;
        if long {
            flags |= FLAG_LONG_KEY;
        }
        entry.write(NEXT, &0u64.to_ne_bytes());
        entry.set_access(access);
        entry.write(FLAGS, &[flags]);
        entry.write(KEY_LEN, &[if long { 0 } else { key.len() as u8 }]);
        entry.write(VALUE_LEN, &[0]);
        let mut offset = HEADER;
        if shape.ttl {
            entry.write(offset, &0u32.to_ne_bytes());
            offset += TTL_FIELDS;
        }
        if long {
            let len = u32::try_from(key.len()).expect("keys are limited below 4 GiB");
            entry.write(offset, &len.to_ne_bytes());
        }
        entry.write(shape.key_offset(), key);
        entry
    }

    /// Frees the entry and hands back its boxed value, if it had one (so a big collection
    /// can be dropped off the hot path).
    pub fn free(self) -> Option<Box<Value>> {
        let boxed = self.take_box();
        let layout = self.shape().layout();
        // SAFETY: allocated by `allocate` with this same layout (the shape is read back from
        // the header, which never changes after allocation), and freed once.
        unsafe { dealloc(self.0.as_ptr(), layout) };
        boxed
    }

    fn take_box(self) -> Option<Box<Value>> {
        if self.kind() != KIND_BOXED {
            return None;
        }
        let pointer = self.box_pointer();
        // SAFETY: made by Box::into_raw in `boxed`, and taken back only here, once.
        Some(unsafe { Box::from_raw(pointer) })
    }

    pub fn as_ptr(self) -> *mut u8 {
        self.0.as_ptr()
    }

    /// # Safety
    /// `pointer` must come from `Entry::as_ptr` of an entry that is still allocated.
    pub unsafe fn from_ptr(pointer: *mut u8) -> Entry {
        Entry(NonNull::new(pointer).expect("entry pointers are never null"))
    }

    fn write(self, offset: usize, bytes: &[u8]) {
        // SAFETY: every caller writes inside the entry's allocated shape.
        unsafe {
            std::ptr::copy_nonoverlapping(bytes.as_ptr(), self.0.as_ptr().add(offset), bytes.len())
        };
    }

    fn byte(self, offset: usize) -> u8 {
        // SAFETY: offsets below HEADER are inside every entry.
        unsafe { *self.0.as_ptr().add(offset) }
    }

    fn slice<'a>(self, offset: usize, len: usize) -> &'a [u8] {
        // SAFETY: callers ask for ranges inside the allocation; the borrow is tied by the
        // table's accessors to the table's own borrow.
        unsafe { std::slice::from_raw_parts(self.0.as_ptr().add(offset), len) }
    }

    fn flags(self) -> u8 {
        self.byte(FLAGS)
    }

    fn kind(self) -> u8 {
        self.flags() & KIND_MASK
    }

    pub fn has_ttl(self) -> bool {
        self.flags() & FLAG_TTL != 0
    }

    fn shape(self) -> Shape {
        let ttl = self.has_ttl();
        let key_len = self.key_len();
        let payload = if self.kind() == KIND_BOXED {
            std::mem::size_of::<usize>()
        } else {
            self.byte(VALUE_LEN) as usize
        };
        Shape {
            ttl,
            key_len,
            payload,
        }
    }

    fn key_len(self) -> usize {
        if self.flags() & FLAG_LONG_KEY == 0 {
            return self.byte(KEY_LEN) as usize;
        }
        let offset = if self.has_ttl() {
            HEADER + TTL_FIELDS
        } else {
            HEADER
        };
        let mut len = [0u8; 4];
        len.copy_from_slice(self.slice(offset, 4));
        u32::from_ne_bytes(len) as usize
    }

    /// The bytes the allocator hands out for this entry and its boxed value's header: what
    /// the shard accounts (the value's own payload is added by `Value::size_bytes`).
    pub fn allocated_bytes(self) -> usize {
        let mut bytes = allocation_class(self.shape().size());
        if self.kind() == KIND_BOXED {
            bytes += allocation_class(std::mem::size_of::<Value>());
        }
        bytes
    }

    pub fn key<'a>(self) -> &'a [u8] {
        let shape = self.shape();
        self.slice(shape.key_offset(), shape.key_len)
    }

    pub fn next(self) -> u64 {
        let mut next = [0u8; 8];
        next.copy_from_slice(self.slice(NEXT, 8));
        u64::from_ne_bytes(next)
    }

    pub fn set_next(self, next: u64) {
        self.write(NEXT, &next.to_ne_bytes());
    }

    /// A pointer to the `next` link, for unlinking from a chain.
    pub fn next_link(self) -> *mut u64 {
        // `next` is at offset 0 of an 8-aligned allocation.
        self.0.as_ptr().cast::<u64>()
    }

    pub fn access(self) -> u32 {
        let bytes = self.slice(ACCESS, 3);
        u32::from(bytes[0]) | u32::from(bytes[1]) << 8 | u32::from(bytes[2]) << 16
    }

    /// Stores the low 24 bits of `access`.
    pub fn set_access(self, access: u32) {
        let bytes = access.to_le_bytes();
        self.write(ACCESS, &bytes[..3]);
    }

    /// The entry's position in its table's TTL index.
    pub fn ttl_slot(self) -> usize {
        assert!(self.has_ttl());
        let mut slot = [0u8; 4];
        slot.copy_from_slice(self.slice(HEADER, 4));
        u32::from_ne_bytes(slot) as usize
    }

    pub fn set_ttl_slot(self, slot: usize) {
        assert!(self.has_ttl());
        let slot = u32::try_from(slot).expect("under 4G keys with a TTL per table");
        self.write(HEADER, &slot.to_ne_bytes());
    }

    fn payload_offset(self) -> usize {
        let shape = self.shape();
        shape.key_offset() + shape.key_len
    }

    fn box_pointer(self) -> *mut Value {
        let mut pointer = [0u8; std::mem::size_of::<usize>()];
        let offset = self.payload_offset();
        pointer.copy_from_slice(self.slice(offset, std::mem::size_of::<usize>()));
        usize::from_ne_bytes(pointer) as *mut Value
    }

    pub fn stored<'a>(self) -> Stored<'a> {
        let inline = |encoding| {
            let len = self.byte(VALUE_LEN) as usize;
            Stored::Inline(self.slice(self.payload_offset(), len), encoding)
        };
        match self.kind() {
            KIND_STR => inline(None),
            KIND_TEXT_RAW => inline(Some(TextEncoding::Raw)),
            KIND_TEXT_NOT_INT => inline(Some(TextEncoding::NotInt)),
            _ => {
                // SAFETY: a boxed entry's pointer is live until `free`.
                Stored::Boxed(unsafe { &*self.box_pointer() })
            }
        }
    }

    /// The boxed value for writing; `None` for an inline string (the table re-boxes it first).
    pub fn boxed_mut<'a>(self) -> Option<&'a mut Value> {
        if self.kind() != KIND_BOXED {
            return None;
        }
        // SAFETY: as in `stored`; the table hands out one borrow at a time.
        Some(unsafe { &mut *self.box_pointer() })
    }

    /// Whether `value` can replace this entry's value in place (same shape).
    pub fn fits(self, value: &Value) -> bool {
        match (self.kind(), value) {
            (KIND_BOXED, _) => !fits_inline(value),
            (_, Value::Str(bytes) | Value::Text(bytes, _)) => {
                bytes.len() == self.byte(VALUE_LEN) as usize
            }
            _ => false,
        }
    }

    /// Replaces the value in place; the caller checked `fits`. Returns the old value.
    pub fn replace_value(self, value: Value) -> Value {
        assert!(self.fits(&value));
        if let Some(slot) = self.boxed_mut() {
            return std::mem::replace(slot, value);
        }
        let old = self.stored().to_value();
        let (kind, bytes) = match value {
            Value::Str(bytes) => (KIND_STR, bytes),
            Value::Text(bytes, TextEncoding::Raw) => (KIND_TEXT_RAW, bytes),
            Value::Text(bytes, TextEncoding::NotInt) => (KIND_TEXT_NOT_INT, bytes),
            _ => unreachable!("fits() admits only strings into inline entries"),
        };
        let flags = (self.flags() & !KIND_MASK) | kind;
        self.write(FLAGS, &[flags]);
        self.write(self.payload_offset(), &bytes);
        old
    }

    /// The value's payload bytes (for accounting), without copying an inline string.
    pub fn value_bytes(self) -> usize {
        match self.stored() {
            Stored::Inline(..) => 0,
            Stored::Boxed(value) => value.size_bytes(),
        }
    }
}

fn fits_inline(value: &Value) -> bool {
    matches!(value, Value::Str(bytes) | Value::Text(bytes, _) if bytes.len() <= INLINE_STRING_MAX)
}

/// The size the allocator (mimalloc) really hands out for a request of `size` bytes: 8,
/// then steps of 16 up to 64, then four classes per power of two.
pub fn allocation_class(size: usize) -> usize {
    if size <= 8 {
        return 8;
    }
    if size <= 64 {
        return size.div_ceil(16) * 16;
    }
    let power = usize::BITS - 1 - (size - 1).leading_zeros();
    let step = 1usize << (power - 2);
    size.div_ceil(step) * step
}

#[cfg(test)]
mod tests {
    use super::*;
    use bytes::Bytes;

    fn entry(key: &[u8], value: Value, ttl: bool) -> Entry {
        Entry::new(Contents {
            key,
            value,
            ttl,
            access: 0x123456,
        })
    }

    #[test]
    fn a_small_key_and_value_fit_one_48_byte_allocation() {
        let e = entry(b"key:0000000001", Value::string(&[7u8; 16]), false);
        assert_eq!(e.shape().size(), 44);
        assert_eq!(e.allocated_bytes(), 48);
        assert_eq!(e.key(), b"key:0000000001");
        assert!(matches!(e.stored(), Stored::Inline(v, None) if v == [7u8; 16]));
        assert_eq!(e.access(), 0x123456);
        assert!(!e.has_ttl());
        assert!(e.free().is_none());
        let t = entry(b"key:0000000001", Value::string(&[7u8; 16]), true);
        assert_eq!(t.allocated_bytes(), 48);
        assert!(t.has_ttl());
        t.set_ttl_slot(77);
        assert_eq!(t.ttl_slot(), 77);
        assert_eq!(t.key(), b"key:0000000001");
        t.free();
    }

    #[test]
    fn long_keys_long_strings_and_collections() {
        let key = vec![b'k'; 70_000];
        let e = entry(&key, Value::string(&[1u8; 300]), true);
        assert_eq!(e.key(), &key[..]);
        e.set_ttl_slot(5);
        assert_eq!(e.ttl_slot(), 5);
        match e.stored() {
            Stored::Boxed(Value::Str(bytes)) => assert_eq!(bytes.len(), 300),
            other => panic!("{other:?}"),
        }
        assert!(e.free().is_some());
        let text = entry(
            b"t",
            Value::Text(Bytes::from_static(b"1.5"), TextEncoding::NotInt),
            false,
        );
        assert!(matches!(
            text.stored(),
            Stored::Inline(b"1.5", Some(TextEncoding::NotInt))
        ));
        text.free();
    }

    #[test]
    fn values_of_the_same_shape_replace_in_place() {
        let e = entry(b"k", Value::string(b"abc"), false);
        assert!(e.fits(&Value::string(b"xyz")));
        assert!(!e.fits(&Value::string(b"wxyz")));
        let old = e.replace_value(Value::Text(Bytes::from_static(b"xyz"), TextEncoding::Raw));
        assert!(matches!(old, Value::Str(ref b) if b == "abc"));
        assert!(matches!(
            e.stored(),
            Stored::Inline(b"xyz", Some(TextEncoding::Raw))
        ));
        e.set_next(0xdead_beef);
        assert_eq!(e.next(), 0xdead_beef);
        e.free();
    }

    #[test]
    fn allocation_classes_follow_mimalloc_bins() {
        assert_eq!(allocation_class(1), 8);
        assert_eq!(allocation_class(24), 32);
        assert_eq!(allocation_class(44), 48);
        assert_eq!(allocation_class(56), 64);
        assert_eq!(allocation_class(65), 80);
        assert_eq!(allocation_class(129), 160);
        assert_eq!(allocation_class(1024), 1024);
    }
}
