//! Exact replies for the types scenario: what the collection model (`collections.rs`) and
//! the queue and pub/sub checks expect, and whether a frame is that reply in the protocol
//! the connection speaks. RESP3 changes shapes (maps, sets, doubles, nested score pairs,
//! one null for both of RESP2's nils), so the expectation names the reply's meaning and
//! `fits` knows how each protocol spells it.

use bytes::Bytes;
use ember_proto::Frame;

use super::linearizable::show;

/// A reply, by meaning.
#[derive(Clone, Debug, PartialEq)]
pub enum Want {
    Status(&'static str),
    /// The whole error line, prefix included.
    Error(String),
    Int(i64),
    Bulk(Bytes),
    /// A null bulk string: RESP2 `$-1`, RESP3 `_`.
    Nil,
    /// A null array: RESP2 `*-1`, RESP3 `_`.
    NilArray,
    Array(Vec<Want>),
    /// An unordered collection of members: a RESP2 array, a RESP3 set.
    Members(Vec<Bytes>),
    /// Field-value pairs in any order: a flat RESP2 array, a RESP3 map.
    Pairs(Vec<(Bytes, Bytes)>),
    /// A score: a RESP2 bulk string in Redis's format, a RESP3 double.
    Score(f64),
    /// Member-score pairs in this order: flat in RESP2; in RESP3 nested pairs when `nested`
    /// (ZRANGE WITHSCORES, ZPOPMIN with a count), else flat (ZPOPMIN without one).
    Scored {
        pairs: Vec<(Bytes, f64)>,
        nested: bool,
    },
}

/// The reply Redis gives for a command against a key of another type.
pub fn wrongtype() -> Want {
    Want::Error("WRONGTYPE Operation against a key holding the wrong kind of value".to_string())
}

/// Checks `got` against `want`; the error says how they differ.
pub fn check(want: &Want, got: &Frame, resp3: bool) -> Result<(), String> {
    if fits(want, got, resp3) {
        Ok(())
    } else {
        Err(format!(
            "expected {}, got {}",
            describe(want),
            show_any(got)
        ))
    }
}

/// Whether `got` is `want` on a RESP2 (`resp3` false) or RESP3 connection.
pub fn fits(want: &Want, got: &Frame, resp3: bool) -> bool {
    match (want, got) {
        (Want::Status(text), Frame::Simple(bytes)) => bytes == text.as_bytes(),
        (Want::Error(text), Frame::Error(bytes)) => bytes == text.as_bytes(),
        (Want::Int(value), Frame::Integer(got)) => value == got,
        (Want::Bulk(value), Frame::Bulk(got)) => value == got,
        (Want::Nil, Frame::Null) => true,
        (Want::NilArray, Frame::NullArray) => !resp3,
        (Want::NilArray, Frame::Null) => resp3,
        (Want::Array(items), Frame::Array(got)) => {
            items.len() == got.len()
                && items
                    .iter()
                    .zip(got)
                    .all(|(item, frame)| fits(item, frame, resp3))
        }
        (Want::Members(members), Frame::Array(got)) if !resp3 => same_members(members, got),
        (Want::Members(members), Frame::Set(got)) if resp3 => same_members(members, got),
        (Want::Pairs(pairs), Frame::Array(flat)) if !resp3 => {
            flat.len() % 2 == 0 && same_pairs(pairs, flat.chunks(2).map(|p| (&p[0], &p[1])))
        }
        (Want::Pairs(pairs), Frame::Map(got)) if resp3 => {
            same_pairs(pairs, got.iter().map(|(field, value)| (field, value)))
        }
        (Want::Score(score), frame) => fits_score(*score, frame, resp3),
        (Want::Scored { pairs, nested }, Frame::Array(got)) => {
            fits_scored(pairs, *nested && resp3, got, resp3)
        }
        _ => false,
    }
}

/// Redis's text for the scores the scenario uses (integers and halves): `%.17g`, which for
/// these values is the shortest decimal without a trailing `.0`.
pub fn score_text(score: f64) -> String {
    assert!(score.is_finite());
    assert!((score * 2.0).fract() == 0.0, "scores are halves: {score}");
    format!("{score}")
}

fn fits_score(score: f64, got: &Frame, resp3: bool) -> bool {
    match got {
        Frame::Double(value) => resp3 && *value == score,
        Frame::Bulk(text) => !resp3 && text == score_text(score).as_bytes(),
        _ => false,
    }
}

fn fits_scored(pairs: &[(Bytes, f64)], nested: bool, got: &[Frame], resp3: bool) -> bool {
    if nested {
        return pairs.len() == got.len()
            && pairs.iter().zip(got).all(|((member, score), frame)| {
                matches!(frame, Frame::Array(pair) if pair.len() == 2
                    && pair[0] == Frame::Bulk(member.clone())
                    && fits_score(*score, &pair[1], resp3))
            });
    }
    pairs.len() * 2 == got.len()
        && pairs
            .iter()
            .zip(got.chunks(2))
            .all(|((member, score), pair)| {
                pair[0] == Frame::Bulk(member.clone()) && fits_score(*score, &pair[1], resp3)
            })
}

fn same_members(members: &[Bytes], got: &[Frame]) -> bool {
    let mut want: Vec<&[u8]> = members.iter().map(|m| &m[..]).collect();
    let mut have = Vec::with_capacity(got.len());
    for frame in got {
        let Frame::Bulk(member) = frame else {
            return false;
        };
        have.push(&member[..]);
    }
    want.sort_unstable();
    have.sort_unstable();
    want == have
}

fn same_pairs<'a>(
    pairs: &[(Bytes, Bytes)],
    got: impl Iterator<Item = (&'a Frame, &'a Frame)>,
) -> bool {
    let mut want: Vec<(&[u8], &[u8])> = pairs.iter().map(|(f, v)| (&f[..], &v[..])).collect();
    let mut have = Vec::new();
    for pair in got {
        let (Frame::Bulk(field), Frame::Bulk(value)) = pair else {
            return false;
        };
        have.push((&field[..], &value[..]));
    }
    want.sort_unstable();
    have.sort_unstable();
    want == have
}

/// A compact rendering of an expectation for failure messages.
pub fn describe(want: &Want) -> String {
    match want {
        Want::Status(text) => format!("+{text}"),
        Want::Error(text) => format!("-{text}"),
        Want::Int(value) => format!(":{value}"),
        Want::Bulk(bytes) => format!("{:?}", String::from_utf8_lossy(bytes)),
        Want::Nil => "(nil)".to_string(),
        Want::NilArray => "(nil array)".to_string(),
        Want::Array(items) => {
            let items: Vec<String> = items.iter().map(describe).collect();
            format!("[{}]", items.join(", "))
        }
        Want::Members(members) => format!("members {:?}", lossy(members.iter())),
        Want::Pairs(pairs) => {
            let pairs: Vec<String> = pairs
                .iter()
                .map(|(f, v)| {
                    format!(
                        "{}={}",
                        String::from_utf8_lossy(f),
                        String::from_utf8_lossy(v)
                    )
                })
                .collect();
            format!("pairs {{{}}}", pairs.join(", "))
        }
        Want::Score(score) => format!("score {}", score_text(*score)),
        Want::Scored { pairs, nested } => {
            let pairs: Vec<String> = pairs
                .iter()
                .map(|(m, s)| format!("{}:{}", String::from_utf8_lossy(m), score_text(*s)))
                .collect();
            let shape = if *nested { "nested" } else { "flat" };
            format!("scored {shape} [{}]", pairs.join(", "))
        }
    }
}

/// `show`, plus the RESP3 types it leaves to Debug.
pub fn show_any(frame: &Frame) -> String {
    match frame {
        Frame::NullArray => "(nil array)".to_string(),
        Frame::Double(value) => format!(",{value}"),
        Frame::Set(items) => {
            let items: Vec<String> = items.iter().map(show_any).collect();
            format!("~[{}]", items.join(", "))
        }
        Frame::Map(pairs) => {
            let pairs: Vec<String> = pairs
                .iter()
                .map(|(k, v)| format!("{}: {}", show_any(k), show_any(v)))
                .collect();
            format!("%{{{}}}", pairs.join(", "))
        }
        Frame::Push(items) => {
            let items: Vec<String> = items.iter().map(show_any).collect();
            format!(">[{}]", items.join(", "))
        }
        Frame::Array(items) => {
            let items: Vec<String> = items.iter().map(show_any).collect();
            format!("[{}]", items.join(", "))
        }
        other => show(other),
    }
}

fn lossy<'a>(items: impl Iterator<Item = &'a Bytes>) -> Vec<String> {
    items
        .map(|item| String::from_utf8_lossy(item).into_owned())
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn bulk(text: &'static str) -> Frame {
        Frame::bulk(text.as_bytes())
    }

    #[test]
    fn nils_follow_the_protocol() {
        assert!(fits(&Want::NilArray, &Frame::NullArray, false));
        assert!(!fits(&Want::NilArray, &Frame::Null, false));
        assert!(fits(&Want::NilArray, &Frame::Null, true));
        assert!(fits(&Want::Nil, &Frame::Null, false));
        assert!(!fits(&Want::Nil, &Frame::NullArray, false));
    }

    #[test]
    fn collections_ignore_order_and_check_shape() {
        let members = Want::Members(vec![Bytes::from_static(b"a"), Bytes::from_static(b"b")]);
        let got = vec![bulk("b"), bulk("a")];
        assert!(fits(&members, &Frame::Array(got.clone()), false));
        assert!(!fits(&members, &Frame::Array(got.clone()), true));
        assert!(fits(&members, &Frame::Set(got), true));
        let pairs = Want::Pairs(vec![(Bytes::from_static(b"f"), Bytes::from_static(b"v"))]);
        assert!(fits(
            &pairs,
            &Frame::Array(vec![bulk("f"), bulk("v")]),
            false
        ));
        assert!(fits(
            &pairs,
            &Frame::Map(vec![(bulk("f"), bulk("v"))]),
            true
        ));
        assert!(!fits(
            &pairs,
            &Frame::Array(vec![bulk("v"), bulk("f")]),
            false
        ));
    }

    #[test]
    fn scores_by_protocol() {
        assert_eq!(score_text(1.0), "1");
        assert_eq!(score_text(-2.5), "-2.5");
        let scored = Want::Scored {
            pairs: vec![(Bytes::from_static(b"a"), 1.5)],
            nested: true,
        };
        assert!(fits(
            &scored,
            &Frame::Array(vec![bulk("a"), bulk("1.5")]),
            false
        ));
        let nested = Frame::Array(vec![Frame::Array(vec![bulk("a"), Frame::Double(1.5)])]);
        assert!(fits(&scored, &nested, true));
        assert!(!fits(
            &scored,
            &Frame::Array(vec![bulk("a"), Frame::Double(1.5)]),
            true
        ));
    }
}
