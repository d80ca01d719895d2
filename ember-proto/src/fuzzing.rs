//! The check that the fuzz target, the corpus test and the no-panic property all run on
//! arbitrary bytes, kept here so the three cannot drift apart.
//!
//! It decodes the input as a stream of frames and, separately, as a stream of requests,
//! until an error or a need for more bytes. Every decoded value must encode and decode
//! back to itself, and every successful decode must consume at least one byte.

use bytes::{Bytes, BytesMut};

use crate::resp::decode::{decode, decode_request, Limits};
use crate::resp::encode::{encode, Protocol};
use crate::resp::frame::Frame;

/// Runs both decoders over `data` and panics if any property fails.
pub fn check_decoders(data: &[u8]) {
    // Small limits reach every limit's error path with small inputs.
    let small = Limits {
        bulk_len_max_bytes: 64,
        multibulk_len_max: 8,
        nesting_depth_max: 4,
        inline_len_max_bytes: 32,
    };
    for limits in [Limits::DEFAULT, small] {
        check_frames(data, &limits);
        check_requests(data, &limits);
    }
}

fn check_frames(data: &[u8], limits: &Limits) {
    let mut buf = BytesMut::from(data);
    // Bounded by the input: each frame consumes at least one byte.
    while let Ok(Some(frame)) = decode(&mut buf, limits) {
        assert!(buf.len() < data.len());
        let mut encoded = BytesMut::new();
        encode(&frame, Protocol::Resp3, &mut encoded);
        let encoded_len = encoded.len();
        let again = decode(&mut encoded, limits);
        let Ok(Some(again)) = again else {
            panic!("{frame:?} encoded as {encoded_len} bytes decoded as {again:?}");
        };
        assert!(encoded.is_empty());
        assert!(same_frame(&frame, &again), "{frame:?} != {again:?}");
        let mut resp2 = BytesMut::new();
        encode(&frame, Protocol::Resp2, &mut resp2);
    }
}

fn check_requests(data: &[u8], limits: &Limits) {
    let mut buf = BytesMut::from(data);
    // Bounded by the input: each request consumes at least one byte.
    while let Ok(Some(args)) = decode_request(&mut buf, limits) {
        assert!(buf.len() < data.len());
        let mut encoded = BytesMut::new();
        encode_request(&args, &mut encoded);
        // Inline arguments answer to no bulk or count limit, as in Redis, so their
        // multibulk form is read back under the defaults.
        let again = decode_request(&mut encoded, &Limits::DEFAULT);
        assert_eq!(again, Ok(Some(args)));
        assert!(encoded.is_empty());
    }
}

/// Encodes arguments as the multibulk request a client sends.
pub fn encode_request(args: &[Bytes], out: &mut BytesMut) {
    let frame = Frame::Array(args.iter().cloned().map(Frame::Bulk).collect());
    encode(&frame, Protocol::Resp3, out);
}

/// Frame equality where NaN equals NaN and `NullArray` equals `Null`, as a RESP3 round
/// trip leaves them.
pub fn same_frame(left: &Frame, right: &Frame) -> bool {
    match (left, right) {
        (Frame::Double(a), Frame::Double(b)) => a == b || (a.is_nan() && b.is_nan()),
        (a, b) if a.is_null() && b.is_null() => true,
        (Frame::Array(a), Frame::Array(b))
        | (Frame::Set(a), Frame::Set(b))
        | (Frame::Push(a), Frame::Push(b)) => same_list(a, b),
        (Frame::Map(a), Frame::Map(b)) | (Frame::Attribute(a), Frame::Attribute(b)) => {
            a.len() == b.len()
                && a.iter()
                    .zip(b)
                    .all(|((ka, va), (kb, vb))| same_frame(ka, kb) && same_frame(va, vb))
        }
        (a, b) => a == b,
    }
}

fn same_list(left: &[Frame], right: &[Frame]) -> bool {
    left.len() == right.len() && left.iter().zip(right).all(|(a, b)| same_frame(a, b))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn same_frame_treats_nan_and_nulls_as_equal() {
        let nan = Frame::Array(vec![Frame::Double(f64::NAN)]);
        assert!(same_frame(&nan, &nan.clone()));
        assert!(same_frame(&Frame::NullArray, &Frame::Null));
        assert!(!same_frame(&Frame::Double(1.0), &Frame::Double(2.0)));
        assert!(!same_frame(&Frame::Null, &Frame::Integer(0)));
    }

    #[test]
    fn check_decoders_accepts_mixed_input() {
        check_decoders(b"*1\r\n$4\r\nPING\r\n%1\r\n+a\r\n,nan\r\nGET \"x\"\r\n");
        check_decoders(b"");
        check_decoders(b"\xff\xfe");
    }
}
