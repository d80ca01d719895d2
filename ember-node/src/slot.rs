//! Hash slots: CRC16 (XMODEM) of the key, or of its `{hash tag}`, modulo 16384, exactly as
//! Redis Cluster computes them. Shards own whole slots, so a tag keeps keys on one shard.

pub const SLOT_COUNT: u16 = 16384;

/// CRC16-CCITT (XMODEM): polynomial 0x1021, initial value 0, no reflection. A byte at a
/// time through a table: every command's key goes through here, so the bit loop (eight
/// steps a byte) was a few percent of a pipelined GET.
pub fn crc16(data: &[u8]) -> u16 {
    let mut crc: u16 = 0;
    for &byte in data {
        let index = ((crc >> 8) as u8 ^ byte) as usize;
        crc = (crc << 8) ^ CRC16_TABLE[index];
    }
    crc
}

/// The CRC of each byte value on its own (shifted into the high byte), for `crc16`.
const CRC16_TABLE: [u16; 256] = crc16_table();

const fn crc16_table() -> [u16; 256] {
    let mut table = [0u16; 256];
    let mut byte = 0;
    while byte < 256 {
        let mut crc = (byte as u16) << 8;
        let mut bit = 0;
        while bit < 8 {
            crc = if crc & 0x8000 != 0 {
                (crc << 1) ^ 0x1021
            } else {
                crc << 1
            };
            bit += 1;
        }
        table[byte] = crc;
        byte += 1;
    }
    table
}

/// The part of a key that is hashed: the bytes between the first `{` and the next `}`,
/// when that span is non-empty; otherwise the whole key.
pub fn hash_tag(key: &[u8]) -> &[u8] {
    let Some(open) = key.iter().position(|&b| b == b'{') else {
        return key;
    };
    let rest = &key[open + 1..];
    match rest.iter().position(|&b| b == b'}') {
        Some(close) if close > 0 => &rest[..close],
        _ => key,
    }
}

pub fn key_slot(key: &[u8]) -> u16 {
    let slot = crc16(hash_tag(key)) % SLOT_COUNT;
    assert!(slot < SLOT_COUNT);
    slot
}

/// The shard that owns a slot. Slots map to shards whole, so cluster slot ownership and
/// shard ownership never disagree.
pub fn shard_of_slot(slot: u16, shard_count: usize) -> usize {
    assert!(shard_count > 0);
    slot as usize % shard_count
}

pub fn shard_of_key(key: &[u8], shard_count: usize) -> usize {
    // One shard owns everything: no need to hash.
    if shard_count == 1 {
        return 0;
    }
    shard_of_slot(key_slot(key), shard_count)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The bit-at-a-time definition the table is built from.
    fn crc16_bitwise(data: &[u8]) -> u16 {
        let mut crc: u16 = 0;
        for &byte in data {
            crc ^= (byte as u16) << 8;
            for _ in 0..8 {
                crc = if crc & 0x8000 != 0 {
                    (crc << 1) ^ 0x1021
                } else {
                    crc << 1
                };
            }
        }
        crc
    }

    #[test]
    fn the_table_gives_the_bitwise_crc() {
        let data: Vec<u8> = (0..=255u8).chain((0..=255u8).rev()).collect();
        for end in 0..data.len() {
            assert_eq!(
                crc16(&data[..end]),
                crc16_bitwise(&data[..end]),
                "{end} bytes"
            );
        }
        assert_eq!(shard_of_key(b"anything", 1), 0);
        assert_eq!(shard_of_key(b"foo", 4), 12182 % 4);
    }

    #[test]
    fn crc16_matches_the_reference_check_value() {
        // The XMODEM check value for "123456789" is 0x31C3.
        assert_eq!(crc16(b"123456789"), 0x31C3);
    }

    #[test]
    fn slots_match_redis_cluster() {
        assert_eq!(key_slot(b"foo"), 12182);
        assert_eq!(key_slot(b"bar"), 5061);
        assert_eq!(key_slot(b"{user1000}.following"), key_slot(b"user1000"));
        assert_eq!(key_slot(b"{user1000}.followers"), key_slot(b"user1000"));
    }

    #[test]
    fn empty_or_unclosed_tags_hash_the_whole_key() {
        assert_eq!(hash_tag(b"foo{}{bar}"), b"foo{}{bar}");
        assert_eq!(hash_tag(b"foo{{bar}}zap"), b"{bar");
        assert_eq!(hash_tag(b"foo{bar}{zap}"), b"bar");
        assert_eq!(hash_tag(b"foo{bar"), b"foo{bar");
    }
}
