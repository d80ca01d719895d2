//! The RESP request decoder and the reply encoder on the shapes redis-benchmark sends:
//! a pipeline of 16 `SET key:NNNNNNNNNNNN <64 bytes>` and the replies to 16 GETs.
//!
//! `cargo bench -p ember-proto --bench decode`

use bytes::{Bytes, BytesMut};
use criterion::{black_box, criterion_group, criterion_main, Criterion, Throughput};
use ember_proto::{decode_request, encode, Frame, Limits, Protocol};

fn pipeline(commands: usize) -> BytesMut {
    let mut out = BytesMut::new();
    let value = "x".repeat(64);
    for i in 0..commands {
        let key = format!("key:{i:012}");
        out.extend_from_slice(
            format!(
                "*3\r\n$3\r\nSET\r\n${}\r\n{key}\r\n${}\r\n{value}\r\n",
                key.len(),
                value.len()
            )
            .as_bytes(),
        );
    }
    out
}

fn decode(c: &mut Criterion) {
    let input = pipeline(16);
    let limits = Limits::default();
    let mut group = c.benchmark_group("decode_request");
    group.throughput(Throughput::Elements(16));
    group.bench_function("pipeline of 16 SETs", |b| {
        b.iter(|| {
            let mut buffer = input.clone();
            let mut count = 0;
            while let Some(argv) = decode_request(&mut buffer, &limits).expect("valid") {
                count += argv.len();
            }
            black_box(count)
        })
    });
    group.finish();
}

fn replies(c: &mut Criterion) {
    let frame = Frame::Bulk(Bytes::from(vec![b'x'; 64]));
    let mut group = c.benchmark_group("encode");
    group.throughput(Throughput::Elements(16));
    group.bench_function("16 bulk replies of 64 bytes", |b| {
        let mut out = BytesMut::with_capacity(4096);
        b.iter(|| {
            out.clear();
            for _ in 0..16 {
                encode(&frame, Protocol::Resp2, &mut out);
            }
            black_box(out.len())
        })
    });
    group.finish();
}

criterion_group!(benches, decode, replies);
criterion_main!(benches);
