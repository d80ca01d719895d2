//! The `Frame` value: one RESP2 or RESP3 reply or request, as decoded or about to be encoded.
//!
//! A frame holds `Bytes` so that decoded strings share the read buffer instead of being
//! copied. RESP3-only types still exist when a connection speaks RESP2: the encoder
//! downgrades them the way Redis does (see `encode.rs`).

use bytes::Bytes;

/// One RESP value. The comments give the wire form each variant has in RESP3.
#[derive(Clone, Debug, PartialEq)]
pub enum Frame {
    /// `+OK`: a status line. Must not contain CR or LF.
    Simple(Bytes),
    /// `-ERR ...`: the text without the '-' and the CRLF. Must not contain CR or LF.
    Error(Bytes),
    /// `:1`.
    Integer(i64),
    /// `$3\r\nfoo`: a binary-safe string.
    Bulk(Bytes),
    /// RESP2 `$-1`, RESP3 `_`.
    Null,
    /// RESP2 `*-1`, RESP3 `_`. Decoding `_` always gives `Null`, so this variant only
    /// comes out of a RESP2 `*-1`.
    NullArray,
    /// `*2\r\n...`.
    Array(Vec<Frame>),
    /// `%1\r\n<key><value>`: the pairs keep the order they were sent in.
    Map(Vec<(Frame, Frame)>),
    /// `~2\r\n...`.
    Set(Vec<Frame>),
    /// `,1.5`, `,inf`, `,-inf`, `,nan`.
    Double(f64),
    /// `#t` or `#f`.
    Boolean(bool),
    /// `(-123...`: an optional sign and one or more digits.
    BigNumber(Bytes),
    /// `=15\r\ntxt:Some string`: a three-byte format and the text.
    Verbatim { format: [u8; 3], text: Bytes },
    /// `>3\r\n...`: out-of-band data such as pub/sub messages.
    Push(Vec<Frame>),
    /// `|1\r\n<key><value>`: decoded as a frame of its own. The reply it describes is the
    /// next frame. Inside an aggregate it takes one element's place.
    Attribute(Vec<(Frame, Frame)>),
    /// `!21\r\nSYNTAX invalid syntax`: an error that may hold any bytes.
    BlobError(Bytes),
}

impl Frame {
    /// The `+OK` status reply, which most write commands return.
    pub fn ok() -> Frame {
        Frame::Simple(Bytes::from_static(b"OK"))
    }

    /// A status reply from static text, such as `Frame::simple("PONG")`.
    pub fn simple(text: &'static str) -> Frame {
        assert!(!has_line_break(text.as_bytes()));
        Frame::Simple(Bytes::from_static(text.as_bytes()))
    }

    /// An error reply. CR and LF become spaces, as Redis does, because either would end
    /// the error line early and desynchronise the client.
    pub fn error(text: impl Into<String>) -> Frame {
        let mut text = text.into().into_bytes();
        for byte in text.iter_mut() {
            if *byte == b'\r' || *byte == b'\n' {
                *byte = b' ';
            }
        }
        Frame::Error(Bytes::from(text))
    }

    /// A bulk string from anything that converts into `Bytes` (`Vec<u8>`, `&'static [u8]`,
    /// `String`, ...).
    pub fn bulk(bytes: impl Into<Bytes>) -> Frame {
        Frame::Bulk(bytes.into())
    }

    /// An array of bulk strings, the shape of every client request.
    pub fn command<I, B>(args: I) -> Frame
    where
        I: IntoIterator<Item = B>,
        B: Into<Bytes>,
    {
        Frame::Array(args.into_iter().map(Frame::bulk).collect())
    }

    /// Whether this is `Null` or `NullArray`, which RESP3 does not tell apart.
    pub fn is_null(&self) -> bool {
        matches!(self, Frame::Null | Frame::NullArray)
    }
}

/// Whether `bytes` holds CR or LF, which a line-based frame cannot carry.
pub(crate) fn has_line_break(bytes: &[u8]) -> bool {
    bytes.iter().any(|&byte| byte == b'\r' || byte == b'\n')
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn error_replaces_line_breaks() {
        let frame = Frame::error("ERR bad\r\nthing");
        assert_eq!(frame, Frame::Error(Bytes::from_static(b"ERR bad  thing")));
    }

    #[test]
    fn constructors() {
        assert_eq!(Frame::ok(), Frame::Simple(Bytes::from_static(b"OK")));
        assert_eq!(
            Frame::simple("PONG"),
            Frame::Simple(Bytes::from_static(b"PONG"))
        );
        assert_eq!(
            Frame::bulk(&b"v"[..]),
            Frame::Bulk(Bytes::from_static(b"v"))
        );
        assert_eq!(
            Frame::command(["GET", "k"]),
            Frame::Array(vec![Frame::bulk("GET"), Frame::bulk("k")])
        );
        assert!(Frame::Null.is_null());
        assert!(Frame::NullArray.is_null());
        assert!(!Frame::Integer(0).is_null());
    }

    #[test]
    #[should_panic]
    fn simple_rejects_line_breaks() {
        let _ = Frame::simple("a\r\nb");
    }
}
