//! A client following MOVED and ASK always reaches the node that serves the key: every
//! redirection names a node of the cluster, a chain of them ends within [`HOPS_MAX`] hops
//! whatever is going on (topology changes reach the nodes a few milliseconds apart, so two
//! nodes may briefly point at each other), and takes at most [`HOPS_CALM_MAX`] more once
//! the cluster is calm (converged, no faults): MOVED to the owner, then at most an ASK and
//! a MOVED that a migration finishing in between may add.

use std::net::{IpAddr, SocketAddr};

/// The most redirections one command may follow while faults or changes are going on.
pub const HOPS_MAX: usize = 64;
/// The most once the cluster is calm.
pub const HOPS_CALM_MAX: usize = 4;

/// A MOVED or ASK error, parsed.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Redirect {
    Moved { slot: u16, to: SocketAddr },
    Ask { slot: u16, to: SocketAddr },
}

/// The redirections one command followed.
#[derive(Debug)]
pub struct Hops {
    nodes: Vec<SocketAddr>,
    followed: Vec<Redirect>,
    /// How many of them were followed in a row while the cluster was calm.
    calm: usize,
}

impl Redirect {
    /// `MOVED <slot> <ip>:<port>` or `ASK <slot> <ip>:<port>`; None for any other error.
    pub fn parse(text: &str) -> Option<Redirect> {
        let mut words = text.split(' ');
        let kind = words.next()?;
        let slot: u16 = words.next()?.parse().ok()?;
        let to = parse_address(words.next()?)?;
        if words.next().is_some() {
            return None;
        }
        match kind {
            "MOVED" => Some(Redirect::Moved { slot, to }),
            "ASK" => Some(Redirect::Ask { slot, to }),
            _ => None,
        }
    }

    fn to(&self) -> SocketAddr {
        match self {
            Redirect::Moved { to, .. } | Redirect::Ask { to, .. } => *to,
        }
    }
}

impl Hops {
    /// A command's chain, in a cluster of `nodes` (their client addresses).
    pub fn new(nodes: Vec<SocketAddr>) -> Hops {
        assert!(!nodes.is_empty());
        Hops {
            nodes,
            followed: Vec::new(),
            calm: 0,
        }
    }

    pub fn count(&self) -> usize {
        self.followed.len()
    }

    /// Records one more redirection; an error if it names a stranger or the chain is too
    /// long for the cluster's state (`calm`).
    pub fn follow(&mut self, redirect: Redirect, calm: bool) -> Result<(), String> {
        if !self.nodes.contains(&redirect.to()) {
            return Err(format!(
                "{redirect:?} names no node of the cluster {:?}",
                self.nodes
            ));
        }
        self.followed.push(redirect);
        self.calm = if calm { self.calm + 1 } else { 0 };
        if self.calm > HOPS_CALM_MAX {
            return Err(format!(
                "more than {HOPS_CALM_MAX} redirections in a calm cluster: {:?}",
                self.followed
            ));
        }
        if self.followed.len() > HOPS_MAX {
            return Err(format!(
                "more than {HOPS_MAX} redirections: {:?}",
                self.followed
            ));
        }
        Ok(())
    }
}

fn parse_address(text: &str) -> Option<SocketAddr> {
    let (ip, port) = text.rsplit_once(':')?;
    let ip = ip.trim_start_matches('[').trim_end_matches(']');
    let ip: IpAddr = ip.parse().ok()?;
    Some(SocketAddr::new(ip, port.parse().ok()?))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn addr(text: &str) -> SocketAddr {
        text.parse().unwrap()
    }

    #[test]
    fn parses_redirections() {
        assert_eq!(
            Redirect::parse("MOVED 3999 10.0.0.2:6379"),
            Some(Redirect::Moved {
                slot: 3999,
                to: addr("10.0.0.2:6379")
            })
        );
        assert_eq!(
            Redirect::parse("ASK 1 [::1]:7000"),
            Some(Redirect::Ask {
                slot: 1,
                to: addr("[::1]:7000")
            })
        );
        assert_eq!(Redirect::parse("TRYAGAIN Multiple keys"), None);
        assert_eq!(Redirect::parse("MOVED x 10.0.0.2:6379"), None);
        assert_eq!(Redirect::parse("MOVED 1 10.0.0.2:6379 extra"), None);
    }

    #[test]
    fn strangers_and_long_chains_fail() {
        let nodes = vec![addr("10.0.0.1:6379"), addr("10.0.0.2:6379")];
        let moved = |to: &str| Redirect::Moved {
            slot: 7,
            to: addr(to),
        };
        let mut hops = Hops::new(nodes.clone());
        assert!(hops.follow(moved("10.0.0.9:6379"), false).is_err());
        let mut calm = Hops::new(nodes.clone());
        for _ in 0..HOPS_CALM_MAX {
            assert!(calm.follow(moved("10.0.0.2:6379"), true).is_ok());
        }
        assert!(calm.follow(moved("10.0.0.1:6379"), true).is_err());
        let mut changing = Hops::new(nodes);
        for _ in 0..HOPS_MAX - HOPS_CALM_MAX {
            assert!(changing.follow(moved("10.0.0.2:6379"), false).is_ok());
        }
        for _ in 0..HOPS_CALM_MAX {
            assert!(
                changing.follow(moved("10.0.0.2:6379"), true).is_ok(),
                "calm since"
            );
        }
        assert!(changing.follow(moved("10.0.0.1:6379"), false).is_err());
    }
}
