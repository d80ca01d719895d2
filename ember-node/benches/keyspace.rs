//! The keyspace on its own: inserting, reading and overwriting string keys of
//! redis-benchmark's shape (`key:NNNNNNNNNNNN`, 64-byte values) in a store of a million
//! keys, where most lookups miss the CPU caches as they do in a loaded server.
//!
//! `cargo bench -p ember-node --bench keyspace`
#![allow(clippy::disallowed_methods, clippy::disallowed_types)]

use bytes::Bytes;
use criterion::{black_box, criterion_group, criterion_main, BatchSize, Criterion, Throughput};
use ember_node::keyspace::{Store, Ttl, Value};

const KEYS: u64 = 1_000_000;

fn key(i: u64) -> Vec<u8> {
    format!("key:{i:012}").into_bytes()
}

/// A fixed, cache-unfriendly visiting order over the keys.
fn order(count: usize) -> Vec<u64> {
    (0..count as u64)
        .map(|i| i.wrapping_mul(0x9E37_79B9_7F4A_7C15) % KEYS)
        .collect()
}

fn filled() -> Store {
    let mut store = Store::for_tests();
    let value = Bytes::from(vec![b'v'; 64]);
    for i in 0..KEYS {
        store.insert(0, &key(i), Value::Str(value.clone()), Ttl::Clear, 0);
    }
    store
}

fn keyspace(c: &mut Criterion) {
    let mut store = filled();
    let keys: Vec<Vec<u8>> = order(10_000).into_iter().map(key).collect();
    let value = Bytes::from(vec![b'w'; 64]);
    let mut group = c.benchmark_group("keyspace of 1M keys");
    group.throughput(Throughput::Elements(keys.len() as u64));
    group.bench_function("get", |b| {
        b.iter(|| {
            let mut found = 0;
            for k in &keys {
                found += usize::from(store.get(0, k, 0).is_some());
            }
            black_box(found)
        })
    });
    group.bench_function("overwrite (SET)", |b| {
        b.iter(|| {
            for k in &keys {
                store.insert(0, k, Value::Str(value.clone()), Ttl::Clear, 0);
            }
        })
    });
    group.finish();
    let mut group = c.benchmark_group("keyspace growth");
    group.throughput(Throughput::Elements(100_000));
    group.sample_size(10);
    group.bench_function("insert 100k new keys", |b| {
        b.iter_batched(
            Store::for_tests,
            |mut store| {
                for i in 0..100_000 {
                    store.insert(0, &key(i), Value::Str(value.clone()), Ttl::Clear, 0);
                }
                store
            },
            BatchSize::LargeInput,
        )
    });
    group.finish();
}

criterion_group!(benches, keyspace);
criterion_main!(benches);
