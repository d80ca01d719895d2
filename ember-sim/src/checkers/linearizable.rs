//! The linearizability checker for one node: every reply must be the one the reference
//! model gives for the command applied at some instant between its send and its receipt.
//! The model (`oracle.rs`) turns that instant's uncertainty into an [`Expected`]; this file
//! says what replies each `Expected` admits, over RESP2 and RESP3 alike.

use bytes::Bytes;
use ember_proto::Frame;

/// A reply in the form the model speaks, independent of the protocol version.
#[derive(Clone, Debug, PartialEq)]
pub enum Reply {
    Status(&'static str),
    Error(String),
    Int(i64),
    Bulk(Bytes),
    Nil,
    Array(Vec<Reply>),
}

/// What the model admits as the reply to one command.
#[derive(Clone, Debug, PartialEq)]
pub enum Expected {
    /// The command's outcome is not determined (an expiry fell inside the window, or the
    /// model lost track of a key); any well-formed reply is accepted.
    Any,
    Exact(Reply),
    /// An integer in `lo..=hi` (TTLs, DBSIZE).
    IntIn {
        lo: i64,
        hi: i64,
    },
    /// INCRBYFLOAT's result: a bulk string holding this number, up to rounding.
    Float(f64),
}

/// Checks `got` against `expected`; the error says how they differ.
pub fn check(expected: &Expected, got: &Frame) -> Result<(), String> {
    match expected {
        Expected::Any => well_formed(got),
        Expected::Exact(reply) => {
            if matches(reply, got) {
                Ok(())
            } else {
                Err(format!("expected {reply:?}, got {}", show(got)))
            }
        }
        Expected::IntIn { lo, hi } => {
            assert!(lo <= hi, "an empty range admits nothing");
            match got {
                Frame::Integer(value) if lo <= value && value <= hi => Ok(()),
                _ => Err(format!(
                    "expected an integer in {lo}..={hi}, got {}",
                    show(got)
                )),
            }
        }
        Expected::Float(value) => check_float(*value, got),
    }
}

/// Whether `got` is `reply` on the wire. Nil must be a null bulk string (`$-1` or `_`), not
/// RESP2's null array, which Redis never sends for these commands.
pub fn matches(reply: &Reply, got: &Frame) -> bool {
    match (reply, got) {
        (Reply::Status(text), Frame::Simple(bytes)) => bytes == text.as_bytes(),
        (Reply::Error(text), Frame::Error(bytes)) => bytes == text.as_bytes(),
        (Reply::Int(value), Frame::Integer(got)) => value == got,
        (Reply::Bulk(value), Frame::Bulk(got)) => value == got,
        (Reply::Nil, Frame::Null) => true,
        (Reply::Array(items), Frame::Array(got)) => {
            items.len() == got.len()
                && items
                    .iter()
                    .zip(got)
                    .all(|(item, frame)| matches(item, frame))
        }
        _ => false,
    }
}

/// A compact, deterministic rendering of a frame for failure messages and the trace.
pub fn show(frame: &Frame) -> String {
    match frame {
        Frame::Simple(bytes) => format!("+{}", String::from_utf8_lossy(bytes)),
        Frame::Error(bytes) => format!("-{}", String::from_utf8_lossy(bytes)),
        Frame::Integer(value) => format!(":{value}"),
        Frame::Bulk(bytes) => format!("{:?}", String::from_utf8_lossy(bytes)),
        Frame::Null => "(nil)".to_string(),
        Frame::Array(items) => {
            let items: Vec<String> = items.iter().map(show).collect();
            format!("[{}]", items.join(", "))
        }
        other => format!("{other:?}"),
    }
}

/// An ambiguous outcome still has the reply shapes these commands can have.
fn well_formed(got: &Frame) -> Result<(), String> {
    match got {
        Frame::Simple(_) | Frame::Error(_) | Frame::Integer(_) | Frame::Bulk(_) | Frame::Null => {
            Ok(())
        }
        Frame::Array(items) => items.iter().try_for_each(well_formed),
        other => Err(format!("a reply of an unexpected type: {}", show(other))),
    }
}

/// Redis formats INCRBYFLOAT's result as a plain decimal (no exponent, no trailing zeros);
/// the value is compared as a number because Redis computes in long double.
fn check_float(value: f64, got: &Frame) -> Result<(), String> {
    assert!(value.is_finite());
    let Frame::Bulk(bytes) = got else {
        return Err(format!(
            "expected a bulk string near {value}, got {}",
            show(got)
        ));
    };
    let text = std::str::from_utf8(bytes).map_err(|_| format!("not UTF-8: {}", show(got)))?;
    let parsed: f64 = text
        .parse()
        .map_err(|_| format!("not a number: {}", show(got)))?;
    let tolerance = 1e-9 * value.abs().max(1.0);
    if (parsed - value).abs() > tolerance {
        return Err(format!(
            "expected a bulk string near {value}, got {}",
            show(got)
        ));
    }
    if !is_plain_decimal(text) {
        return Err(format!(
            "{value} formatted unlike Redis (plain decimal, no trailing zeros): {}",
            show(got)
        ));
    }
    Ok(())
}

fn is_plain_decimal(text: &str) -> bool {
    let digits = text.strip_prefix('-').unwrap_or(text);
    let (whole, fraction) = match digits.split_once('.') {
        Some((whole, fraction)) => (whole, Some(fraction)),
        None => (digits, None),
    };
    let whole_ok = !whole.is_empty() && whole.bytes().all(|byte| byte.is_ascii_digit());
    let fraction_ok = fraction.is_none_or(|fraction| {
        !fraction.is_empty()
            && fraction.bytes().all(|byte| byte.is_ascii_digit())
            && !fraction.ends_with('0')
    });
    whole_ok && fraction_ok
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn nil_is_a_null_bulk_in_both_protocols() {
        assert!(matches(&Reply::Nil, &Frame::Null));
        assert!(!matches(&Reply::Nil, &Frame::NullArray));
        assert!(!matches(&Reply::Nil, &Frame::Bulk(Bytes::new())));
    }

    #[test]
    fn arrays_match_element_wise() {
        let reply = Reply::Array(vec![Reply::Nil, Reply::Bulk(Bytes::from_static(b"v"))]);
        let good = Frame::Array(vec![Frame::Null, Frame::bulk(&b"v"[..])]);
        let bad = Frame::Array(vec![Frame::bulk(&b"v"[..]), Frame::Null]);
        assert!(check(&Expected::Exact(reply.clone()), &good).is_ok());
        assert!(check(&Expected::Exact(reply), &bad).is_err());
    }

    #[test]
    fn ranges_and_floats() {
        assert!(check(&Expected::IntIn { lo: 1, hi: 3 }, &Frame::Integer(3)).is_ok());
        assert!(check(&Expected::IntIn { lo: 1, hi: 3 }, &Frame::Integer(4)).is_err());
        assert!(check(
            &Expected::Float(1000.1),
            &Frame::bulk(&b"1000.09999999999999998"[..])
        )
        .is_ok());
        assert!(check(&Expected::Float(3.0), &Frame::bulk(&b"3"[..])).is_ok());
        assert!(check(&Expected::Float(3.0), &Frame::bulk(&b"3.0"[..])).is_err());
        assert!(check(&Expected::Float(300.0), &Frame::bulk(&b"3e2"[..])).is_err());
        assert!(check(&Expected::Float(3.0), &Frame::bulk(&b"4"[..])).is_err());
    }

    #[test]
    fn any_still_rejects_strange_types() {
        assert!(check(&Expected::Any, &Frame::Integer(1)).is_ok());
        assert!(check(&Expected::Any, &Frame::Double(1.0)).is_err());
    }
}
