//! No key lost or duplicated: once the clients have stopped and every migration has
//! completed or been rolled back, each key lives on exactly one node, that node owns the
//! key's slot, and what it holds is what the writing client's model admits; a key the model
//! says must exist is somewhere, and no key exists that nobody wrote.

use std::collections::BTreeMap;

use bytes::Bytes;

use crate::cluster_model::{show_value, Model};

/// What the census found on the nodes.
#[derive(Debug, Default)]
pub struct Census {
    /// Key -> the nodes holding it, with the value each holds.
    pub held: BTreeMap<Bytes, Vec<(usize, Bytes)>>,
}

/// Checks the census against the models; `owner` gives the node owning a key's slot.
/// Returns every discrepancy found.
pub fn check(
    census: &Census,
    models: &BTreeMap<usize, Model>,
    owner: impl Fn(&Bytes) -> Option<usize>,
    now_ms: u64,
) -> Vec<String> {
    let mut problems = Vec::new();
    for (key, holders) in &census.held {
        let nodes: Vec<usize> = holders.iter().map(|(node, _)| *node).collect();
        if holders.len() > 1 {
            problems.push(format!("{} is on several nodes: {nodes:?}", text(key)));
        }
        let owner = owner(key);
        if let Some((node, _)) = holders.iter().find(|(node, _)| Some(*node) != owner) {
            problems.push(format!(
                "{} is on node {node}, but its slot's owner is {owner:?}",
                text(key)
            ));
        }
        let known = models
            .values()
            .any(|model| model.strings.contains_key(key) || model.counters.contains_key(key));
        if !known {
            problems.push(format!("{} exists but no client wrote it", text(key)));
        }
    }
    for model in models.values() {
        for (key, string) in &model.strings {
            let value = census.held.get(key).map(|holders| holders[0].1.clone());
            if let Err(error) = string.clone().read(value, now_ms) {
                problems.push(format!("{}: {error}", text(key)));
            }
        }
        for (key, counter) in &model.counters {
            let value = census.held.get(key).map(|holders| holders[0].1.clone());
            let number = match &value {
                None => Some(0),
                Some(bytes) => std::str::from_utf8(bytes).ok().and_then(|t| t.parse().ok()),
            };
            let Some(number) = number else {
                problems.push(format!("{} holds {}", text(key), show_value(&value)));
                continue;
            };
            if let Err(error) = counter.clone().read(number, now_ms) {
                problems.push(format!("{}: {error}", text(key)));
            }
        }
    }
    problems
}

fn text(key: &Bytes) -> String {
    format!("{:?}", String::from_utf8_lossy(key))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn b(text: &str) -> Bytes {
        Bytes::from(text.to_string())
    }

    fn model() -> Model {
        let mut model = Model::new(&[b("s0:0"), b("s0:1")], &[b("n0:0")]);
        model.string(&b("s0:0")).acknowledged(Some(b("c0-1")), 0);
        model.counter(&b("n0:0")).incremented(1, 0).unwrap();
        model
    }

    fn census(entries: &[(&str, &[(usize, &str)])]) -> Census {
        Census {
            held: entries
                .iter()
                .map(|(key, holders)| {
                    let holders = holders.iter().map(|(node, value)| (*node, b(value)));
                    (b(key), holders.collect())
                })
                .collect(),
        }
    }

    #[test]
    fn a_clean_census_passes() {
        let models = BTreeMap::from([(0, model())]);
        let found = census(&[("s0:0", &[(1, "c0-1")]), ("n0:0", &[(2, "1")])]);
        let owner = |key: &Bytes| Some(if key[0] == b's' { 1 } else { 2 });
        assert_eq!(check(&found, &models, owner, 1), Vec::<String>::new());
    }

    #[test]
    fn lost_duplicated_stranded_and_foreign_keys_fail() {
        let models = BTreeMap::from([(0, model())]);
        let owner = |_: &Bytes| Some(1);
        let lost = census(&[("n0:0", &[(1, "1")])]);
        assert_eq!(check(&lost, &models, owner, 1).len(), 1);
        let twice = census(&[("s0:0", &[(1, "c0-1"), (2, "c0-1")]), ("n0:0", &[(1, "1")])]);
        assert_eq!(
            check(&twice, &models, owner, 1).len(),
            2,
            "on two nodes, one a stranger"
        );
        let stranded = census(&[("s0:0", &[(2, "c0-1")]), ("n0:0", &[(1, "1")])]);
        assert_eq!(check(&stranded, &models, owner, 1).len(), 1);
        let foreign = census(&[
            ("s0:0", &[(1, "c0-1")]),
            ("n0:0", &[(1, "1")]),
            ("x", &[(1, "y")]),
        ]);
        assert_eq!(check(&foreign, &models, owner, 1).len(), 1);
        let stale = census(&[("s0:0", &[(1, "c0-0")]), ("n0:0", &[(1, "0")])]);
        assert_eq!(check(&stale, &models, owner, 1).len(), 2);
    }
}
