//! RESP2 and RESP3: the frame type, its decoders and its encoder.
//!
//! The decoders share one design: a first pass scans `&buf[..]` without allocating to
//! find where one complete frame ends (or to learn that more bytes are needed), and only
//! then a second pass splits those bytes off the buffer and slices the values out of them.

pub mod decode;
pub mod encode;
pub mod frame;
