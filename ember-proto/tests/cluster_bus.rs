//! Property tests of the cluster bus: every message round trips under a plain and an
//! authenticated codec, whole and split at any bytes; arbitrary bytes, and arbitrary
//! bytes behind a valid header, never panic the decoder.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

use bytes::BytesMut;
use ember_proto::cluster_bus::{
    check_bus_decode, Ack, BusCodec, BusDecoder, BusError, BusKey, BusMessage, Hello, MemberState,
    MemberUpdate, NodeAddress, NodeId, Ping, PingReq, StateSync, BUS_MAGIC, BUS_VERSION,
};
use proptest::collection::vec;
use proptest::prelude::*;
use proptest::sample::Index;

fn node_id() -> impl Strategy<Value = NodeId> {
    any::<[u8; 20]>().prop_map(NodeId::from_bytes)
}

fn address() -> impl Strategy<Value = NodeAddress> {
    let ip = prop_oneof![
        any::<[u8; 4]>().prop_map(|octets| IpAddr::V4(Ipv4Addr::from(octets))),
        any::<[u8; 16]>().prop_map(|octets| IpAddr::V6(Ipv6Addr::from(octets))),
    ];
    (ip, any::<u16>(), any::<u16>()).prop_map(|(ip, data_port, bus_port)| NodeAddress {
        ip,
        data_port,
        bus_port,
    })
}

fn update() -> impl Strategy<Value = MemberUpdate> {
    let state = prop_oneof![
        Just(MemberState::Alive),
        Just(MemberState::Suspect),
        Just(MemberState::Dead),
        Just(MemberState::Left),
    ];
    (node_id(), address(), any::<u64>(), state, node_id()).prop_map(
        |(node, address, incarnation, state, origin)| MemberUpdate {
            node,
            address,
            incarnation,
            state,
            origin,
        },
    )
}

fn message() -> impl Strategy<Value = BusMessage> {
    let updates = || vec(update(), 0..8);
    prop_oneof![
        (node_id(), address(), any::<u16>()).prop_map(|(sender, address, protocol_version)| {
            BusMessage::Hello(Hello {
                sender,
                address,
                protocol_version,
            })
        }),
        (any::<u64>(), update(), updates()).prop_map(|(sequence, sender, updates)| {
            BusMessage::Ping(Ping {
                sequence,
                sender,
                updates,
            })
        }),
        (any::<u64>(), update(), node_id(), address(), updates()).prop_map(
            |(sequence, sender, target, target_address, updates)| {
                BusMessage::PingReq(PingReq {
                    sequence,
                    sender,
                    target,
                    target_address,
                    updates,
                })
            }
        ),
        (any::<u64>(), update(), updates()).prop_map(|(sequence, sender, updates)| {
            BusMessage::Ack(Ack {
                sequence,
                sender,
                updates,
            })
        }),
        (update(), any::<bool>(), vec(update(), 0..40)).prop_map(
            |(sender, reply_wanted, members)| BusMessage::StateSync(StateSync {
                sender,
                reply_wanted,
                members,
            })
        ),
        (any::<u8>(), vec(any::<u8>(), 0..300))
            .prop_map(|(kind, body)| BusMessage::Raft { kind, body }),
    ]
}

fn codec(authenticated: bool) -> BusCodec {
    let key = authenticated.then(|| BusKey::new(b"property secret"));
    BusCodec::new(key)
}

proptest! {
    #[test]
    fn messages_round_trip(messages in vec(message(), 1..6), authenticated: bool) {
        let codec = codec(authenticated);
        let mut stream = BytesMut::new();
        for message in &messages {
            codec.encode(message, &mut stream).expect("within the limits");
        }
        for message in &messages {
            prop_assert_eq!(codec.decode(&mut stream), Ok(Some(message.clone())));
        }
        prop_assert!(stream.is_empty());
    }

    #[test]
    fn messages_split_anywhere_decode_the_same(
        messages in vec(message(), 1..4),
        authenticated: bool,
        cuts in vec(any::<Index>(), 0..8),
    ) {
        let codec = codec(authenticated);
        let mut stream = BytesMut::new();
        for message in &messages {
            codec.encode(message, &mut stream).expect("within the limits");
        }
        let mut cuts: Vec<usize> = cuts.iter().map(|cut| cut.index(stream.len() + 1)).collect();
        cuts.push(stream.len());
        cuts.sort_unstable();
        let mut decoder = BusDecoder::new(codec);
        let mut decoded = Vec::new();
        let mut start = 0;
        for cut in cuts {
            decoder.feed(&stream[start..cut]);
            start = cut;
            while let Some(message) = decoder.next_message().expect("valid frames") {
                decoded.push(message);
            }
        }
        prop_assert_eq!(decoded, messages);
        prop_assert_eq!(decoder.buffered_len(), 0);
    }

    #[test]
    fn a_frame_under_another_secret_never_decodes(message in message()) {
        let mut frame = BytesMut::new();
        BusCodec::new(Some(BusKey::new(b"one"))).encode(&message, &mut frame).unwrap();
        let other = BusCodec::new(Some(BusKey::new(b"two")));
        prop_assert_eq!(other.decode(&mut frame), Err(BusError::BadMac));
    }

    #[test]
    fn arbitrary_bytes_never_panic(data in vec(any::<u8>(), 0..512)) {
        check_bus_decode(&data);
    }

    #[test]
    fn arbitrary_bytes_after_a_valid_header_never_panic(
        flags in 0u8..2,
        data in vec(any::<u8>(), 0..512),
    ) {
        let mut framed = BUS_MAGIC.to_vec();
        framed.extend_from_slice(&[BUS_VERSION, flags]);
        framed.extend_from_slice(&(data.len() as u32).to_le_bytes());
        framed.extend_from_slice(&data);
        check_bus_decode(&framed);
    }
}
