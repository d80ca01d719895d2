//! Property tests: RESP3 round trips for arbitrary frames and requests, incremental
//! decoding split at any byte, RESP2 framing, and no panics on arbitrary bytes.

use bytes::{Bytes, BytesMut};
use ember_proto::fuzzing::{check_decoders, encode_request, same_frame};
use ember_proto::{decode, decode_request, encode, Frame, Limits, Protocol};
use proptest::collection::vec;
use proptest::prelude::*;
use proptest::sample::Index;

/// Text for line frames: any bytes but CR and LF, which a line cannot carry.
fn line_text() -> impl Strategy<Value = Bytes> {
    let byte = any::<u8>().prop_map(|byte| match byte {
        b'\r' | b'\n' => b' ',
        other => other,
    });
    vec(byte, 0..12).prop_map(Bytes::from)
}

fn blob() -> impl Strategy<Value = Bytes> {
    vec(any::<u8>(), 0..24).prop_map(Bytes::from)
}

/// Every leaf type except `NullArray`, which RESP3 cannot tell from `Null`.
fn leaf() -> impl Strategy<Value = Frame> {
    prop_oneof![
        line_text().prop_map(Frame::Simple),
        line_text().prop_map(Frame::Error),
        any::<i64>().prop_map(Frame::Integer),
        blob().prop_map(Frame::Bulk),
        Just(Frame::Null),
        any::<f64>().prop_map(Frame::Double),
        any::<bool>().prop_map(Frame::Boolean),
        "[+-]?[0-9]{1,30}".prop_map(|digits| Frame::BigNumber(Bytes::from(digits))),
        (any::<[u8; 3]>(), blob()).prop_map(|(format, text)| Frame::Verbatim { format, text }),
        blob().prop_map(Frame::BlobError),
    ]
}

/// Frames nested up to four levels, with up to six children per aggregate.
fn frame() -> impl Strategy<Value = Frame> {
    leaf().prop_recursive(4, 48, 6, |inner| {
        let pairs = vec((inner.clone(), inner.clone()), 0..4);
        prop_oneof![
            vec(inner.clone(), 0..6).prop_map(Frame::Array),
            vec(inner.clone(), 0..6).prop_map(Frame::Set),
            vec(inner.clone(), 0..6).prop_map(Frame::Push),
            pairs.clone().prop_map(Frame::Map),
            pairs.prop_map(Frame::Attribute),
        ]
    })
}

fn request() -> impl Strategy<Value = Vec<Bytes>> {
    vec(vec(any::<u8>(), 0..32).prop_map(Bytes::from), 0..8)
}

/// Byte offsets at which to cut `len` bytes, sorted, from arbitrary indices.
fn cuts(len: usize, indices: &[Index]) -> Vec<usize> {
    let mut cuts: Vec<usize> = indices.iter().map(|index| index.index(len + 1)).collect();
    cuts.sort_unstable();
    cuts.push(len);
    cuts
}

/// Feeds `encoded` to `decode_one` in pieces ending at `cuts`, decoding all it can after
/// each piece, and checks that `Ok(None)` never consumes anything.
fn feed<T>(
    encoded: &[u8],
    cuts: &[usize],
    mut decode_one: impl FnMut(&mut BytesMut) -> Result<Option<T>, ember_proto::DecodeError>,
) -> Vec<T> {
    let mut buf = BytesMut::new();
    let mut decoded = Vec::new();
    let mut fed = 0;
    for &cut in cuts {
        buf.extend_from_slice(&encoded[fed..cut]);
        fed = cut;
        loop {
            let len_before = buf.len();
            match decode_one(&mut buf).expect("valid input decodes") {
                Some(value) => decoded.push(value),
                None => {
                    assert_eq!(buf.len(), len_before);
                    break;
                }
            }
        }
    }
    assert!(buf.is_empty());
    decoded
}

fn encode_all(frames: &[Frame]) -> BytesMut {
    let mut out = BytesMut::new();
    for frame in frames {
        encode(frame, Protocol::Resp3, &mut out);
    }
    out
}

fn assert_same_frames(got: &[Frame], want: &[Frame]) {
    assert_eq!(got.len(), want.len());
    for (got, want) in got.iter().zip(want) {
        assert!(same_frame(got, want), "{got:?} != {want:?}");
    }
}

proptest! {
    #[test]
    fn resp3_round_trip(frame in frame()) {
        let mut buf = encode_all(std::slice::from_ref(&frame));
        let decoded = decode(&mut buf, &Limits::DEFAULT).unwrap().unwrap();
        prop_assert!(same_frame(&decoded, &frame), "{decoded:?} != {frame:?}");
        prop_assert!(buf.is_empty());
    }

    #[test]
    fn resp3_split_anywhere(frames in vec(frame(), 1..4), indices in vec(any::<Index>(), 0..8)) {
        let encoded = encode_all(&frames);
        let cuts = cuts(encoded.len(), &indices);
        let decoded = feed(&encoded, &cuts, |buf| decode(buf, &Limits::DEFAULT));
        assert_same_frames(&decoded, &frames);
    }

    #[test]
    fn resp3_byte_at_a_time(frames in vec(frame(), 1..3)) {
        let encoded = encode_all(&frames);
        let cuts: Vec<usize> = (0..=encoded.len()).collect();
        let decoded = feed(&encoded, &cuts, |buf| decode(buf, &Limits::DEFAULT));
        assert_same_frames(&decoded, &frames);
    }

    #[test]
    fn resp2_output_frames_correctly(frame in frame()) {
        let mut buf = BytesMut::new();
        encode(&frame, Protocol::Resp2, &mut buf);
        if matches!(frame, Frame::Attribute(_)) {
            prop_assert!(buf.is_empty());
        } else {
            prop_assert!(decode(&mut buf, &Limits::DEFAULT).unwrap().is_some());
            prop_assert!(buf.is_empty());
        }
    }

    #[test]
    fn request_round_trip(args in request()) {
        let mut buf = BytesMut::new();
        encode_request(&args, &mut buf);
        let decoded = decode_request(&mut buf, &Limits::DEFAULT).unwrap().unwrap();
        prop_assert_eq!(decoded, args);
        prop_assert!(buf.is_empty());
    }

    #[test]
    fn requests_split_anywhere(
        requests in vec(request(), 1..4),
        indices in vec(any::<Index>(), 0..8),
    ) {
        let mut encoded = BytesMut::new();
        for args in &requests {
            encode_request(args, &mut encoded);
        }
        let cuts = cuts(encoded.len(), &indices);
        let decoded = feed(&encoded, &cuts, |buf| decode_request(buf, &Limits::DEFAULT));
        prop_assert_eq!(decoded, requests);
    }

    #[test]
    fn requests_byte_at_a_time(requests in vec(request(), 1..3)) {
        let mut encoded = BytesMut::new();
        for args in &requests {
            encode_request(args, &mut encoded);
        }
        let cuts: Vec<usize> = (0..=encoded.len()).collect();
        let decoded = feed(&encoded, &cuts, |buf| decode_request(buf, &Limits::DEFAULT));
        prop_assert_eq!(decoded, requests);
    }

    #[test]
    fn arbitrary_bytes_never_panic(data in vec(any::<u8>(), 0..512)) {
        check_decoders(&data);
    }

    #[test]
    fn token_soup_never_panics(tokens in vec(token(), 0..48)) {
        let data: Vec<u8> = tokens.concat();
        check_decoders(&data);
    }
}

/// Pieces of RESP, so random inputs often get deep into the decoders.
fn token() -> impl Strategy<Value = Vec<u8>> {
    let pieces: &[&[u8]] = &[
        b"*",
        b"$",
        b"%",
        b"~",
        b">",
        b"|",
        b"!",
        b"=",
        b"+",
        b"-",
        b":",
        b"_",
        b",",
        b"#",
        b"(",
        b"\r\n",
        b"\r",
        b"\n",
        b"0",
        b"1",
        b"2",
        b"3",
        b"-1",
        b"4",
        b"txt:",
        b"inf",
        b"nan",
        b"t",
        b"f",
        b"abc",
        b" ",
        b"\"",
        b"'",
        b"\\",
        b"\\x4",
        b"\0",
        b"99999999999",
    ];
    proptest::sample::select(pieces).prop_map(<[u8]>::to_vec)
}
