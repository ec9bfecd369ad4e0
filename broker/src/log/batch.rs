//! Kafka record batch (magic v2) headers: just enough to assign offsets, stamp the leader
//! epoch and track idempotent producers without decoding records. The layout is fixed by the
//! protocol (KIP-98); the CRC covers bytes from `attributes` on, so the base offset and the
//! partition leader epoch can be rewritten in place.

use bytes::{Bytes, BytesMut};

pub(crate) const HEADER_BYTES: usize = 61;
const BASE_OFFSET: usize = 0;
const BATCH_LENGTH: usize = 8;
const PARTITION_LEADER_EPOCH: usize = 12;
const MAGIC: usize = 16;
const CRC: usize = 17;
const ATTRIBUTES: usize = 21;
const LAST_OFFSET_DELTA: usize = 23;
const PRODUCER_ID: usize = 43;
const PRODUCER_EPOCH: usize = 51;
const BASE_SEQUENCE: usize = 53;
const RECORD_COUNT: usize = 57;
const TRANSACTIONAL_BIT: i16 = 0x10;

/// Why a batch was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum BatchError {
    /// Fewer bytes than the header or than `batchLength` announces.
    #[error("truncated record batch")]
    Truncated,
    /// Only magic v2 exists on this broker.
    #[error("unsupported record batch magic {0}")]
    UnsupportedMagic(i8),
    /// CRC-32C over the batch body does not match.
    #[error("record batch CRC mismatch")]
    CorruptCrc,
    /// `lastOffsetDelta + 1` disagrees with the record count, or the count is not positive.
    #[error("record batch count is inconsistent")]
    InvalidCount,
    /// A produce that carries no batch at all (Kafka refuses it too).
    #[error("no record batch")]
    Empty,
    /// Transactions are not offered by this service.
    #[error("transactional batches are not supported")]
    Transactional,
}

/// A view of one v2 batch.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct BatchHeader {
    pub base_offset: i64,
    pub partition_leader_epoch: i32,
    pub last_offset_delta: i32,
    pub producer_id: i64,
    pub producer_epoch: i16,
    pub base_sequence: i32,
    pub record_count: i32,
    pub total_bytes: usize,
}

impl BatchHeader {
    pub(crate) fn last_offset(&self) -> i64 {
        self.base_offset + self.last_offset_delta as i64
    }

    pub(crate) fn last_sequence(&self) -> i32 {
        self.base_sequence.wrapping_add(self.last_offset_delta)
    }

    pub(crate) fn is_idempotent(&self) -> bool {
        self.producer_id >= 0
    }
}

fn read_i16(bytes: &[u8], at: usize) -> i16 {
    i16::from_be_bytes(bytes[at..at + 2].try_into().unwrap())
}
fn read_i32(bytes: &[u8], at: usize) -> i32 {
    i32::from_be_bytes(bytes[at..at + 4].try_into().unwrap())
}
fn read_i64(bytes: &[u8], at: usize) -> i64 {
    i64::from_be_bytes(bytes[at..at + 8].try_into().unwrap())
}

/// Parses the header of the batch at the start of `bytes`, checking its CRC when `verify_crc`.
pub(crate) fn parse_header(bytes: &[u8], verify_crc: bool) -> Result<BatchHeader, BatchError> {
    if bytes.len() < HEADER_BYTES {
        return Err(BatchError::Truncated);
    }
    let batch_length = read_i32(bytes, BATCH_LENGTH);
    if batch_length < (HEADER_BYTES - 12) as i32 {
        return Err(BatchError::Truncated);
    }
    let total_bytes = 12 + batch_length as usize;
    if bytes.len() < total_bytes {
        return Err(BatchError::Truncated);
    }
    let magic = bytes[MAGIC] as i8;
    if magic != 2 {
        return Err(BatchError::UnsupportedMagic(magic));
    }
    if verify_crc {
        let expected = u32::from_be_bytes(bytes[CRC..CRC + 4].try_into().unwrap());
        if crc32c::crc32c(&bytes[ATTRIBUTES..total_bytes]) != expected {
            return Err(BatchError::CorruptCrc);
        }
    }
    let header = BatchHeader {
        base_offset: read_i64(bytes, BASE_OFFSET),
        partition_leader_epoch: read_i32(bytes, PARTITION_LEADER_EPOCH),
        last_offset_delta: read_i32(bytes, LAST_OFFSET_DELTA),
        producer_id: read_i64(bytes, PRODUCER_ID),
        producer_epoch: read_i16(bytes, PRODUCER_EPOCH),
        base_sequence: read_i32(bytes, BASE_SEQUENCE),
        record_count: read_i32(bytes, RECORD_COUNT),
        total_bytes,
    };
    if header.record_count <= 0 || header.last_offset_delta != header.record_count - 1 {
        return Err(BatchError::InvalidCount);
    }
    if read_i16(bytes, ATTRIBUTES) & TRANSACTIONAL_BIT != 0 {
        return Err(BatchError::Transactional);
    }
    Ok(header)
}

/// Splits a produce or fetch payload into its batches (each validated).
pub(crate) fn split_batches(mut records: Bytes, verify_crc: bool) -> Result<Vec<(BatchHeader, Bytes)>, BatchError> {
    let mut batches = Vec::new();
    while !records.is_empty() {
        let header = parse_header(&records, verify_crc)?;
        let batch = records.split_to(header.total_bytes);
        batches.push((header, batch));
    }
    Ok(batches)
}

/// Copies the batch with a new base offset and partition leader epoch (outside the CRC).
pub(crate) fn restamp(batch: &[u8], base_offset: i64, leader_epoch: i32) -> Bytes {
    let mut copy = BytesMut::from(batch);
    copy[BASE_OFFSET..BASE_OFFSET + 8].copy_from_slice(&base_offset.to_be_bytes());
    copy[PARTITION_LEADER_EPOCH..PARTITION_LEADER_EPOCH + 4].copy_from_slice(&leader_epoch.to_be_bytes());
    copy.freeze()
}

/// Encodes values as one uncompressed v2 batch (our clients and the offsets topic use it).
pub fn encode_values(values: &[Bytes], producer_id: i64, producer_epoch: i16, base_sequence: i32) -> Bytes {
    use kafka_protocol::records::{Compression, Record, RecordBatchEncoder, RecordEncodeOptions, TimestampType};
    let records: Vec<Record> = values
        .iter()
        .enumerate()
        .map(|(index, value)| Record {
            transactional: false,
            control: false,
            delete_horizon: false,
            partition_leader_epoch: 0,
            producer_id,
            producer_epoch,
            timestamp_type: TimestampType::Creation,
            offset: index as i64,
            // The encoder keeps records in one batch while offset - sequence is constant.
            sequence: if producer_id >= 0 { base_sequence } else { -1 }.wrapping_add(index as i32),
            timestamp: 0,
            key: None,
            value: Some(value.clone()),
            headers: Default::default(),
        })
        .collect();
    let mut buffer = BytesMut::new();
    RecordBatchEncoder::encode(
        &mut buffer,
        &records,
        &RecordEncodeOptions { version: 2, compression: Compression::None },
    )
    .expect("encoding an uncompressed batch into memory cannot fail");
    buffer.freeze()
}

/// The values of every record in `records` with their offsets (decoding, for clients).
pub fn decode_values(records: Bytes) -> Result<Vec<(i64, Option<Bytes>)>, BatchError> {
    let mut buffer = records;
    let sets =
        kafka_protocol::records::RecordBatchDecoder::decode_all(&mut buffer).map_err(|_| BatchError::Truncated)?;
    Ok(sets.into_iter().flat_map(|set| set.records).map(|record| (record.offset, record.value)).collect())
}

#[cfg(test)]
pub(crate) fn encode(values: &[&str], producer_id: i64, base_sequence: i32) -> Bytes {
    let values: Vec<Bytes> = values.iter().map(|v| Bytes::copy_from_slice(v.as_bytes())).collect();
    encode_values(&values, producer_id, 0, base_sequence)
}

#[cfg(test)]
mod tests {
    use super::*;
    #[test]
    fn parses_what_the_encoder_writes() {
        let batch = encode(&["a", "b", "c"], 42, 7);
        let header = parse_header(&batch, true).unwrap();
        assert_eq!((header.record_count, header.last_offset_delta), (3, 2));
        assert_eq!((header.producer_id, header.base_sequence, header.last_sequence()), (42, 7, 9));
        assert_eq!(header.total_bytes, batch.len());
    }

    #[test]
    fn restamping_keeps_the_crc_valid() {
        let batch = encode(&["x"], -1, -1);
        let restamped = restamp(&batch, 1_000, 9);
        let header = parse_header(&restamped, true).unwrap();
        assert_eq!((header.base_offset, header.partition_leader_epoch), (1_000, 9));
    }

    #[test]
    fn rejects_corruption_and_truncation() {
        let batch = encode(&["payload"], -1, -1);
        let mut corrupt = batch.to_vec();
        let last = corrupt.len() - 1;
        corrupt[last] ^= 0xff;
        assert_eq!(parse_header(&corrupt, true), Err(BatchError::CorruptCrc));
        assert_eq!(parse_header(&batch[..batch.len() - 1], true), Err(BatchError::Truncated));
        assert_eq!(parse_header(&batch[..10], true), Err(BatchError::Truncated));
        let mut old_magic = batch.to_vec();
        old_magic[MAGIC] = 1;
        assert_eq!(parse_header(&old_magic, false), Err(BatchError::UnsupportedMagic(1)));
    }

    #[test]
    fn splits_concatenated_batches() {
        let mut both = BytesMut::from(&encode(&["a"], -1, -1)[..]);
        both.extend_from_slice(&encode(&["b", "c"], -1, -1));
        let batches = split_batches(both.freeze(), true).unwrap();
        assert_eq!(batches.iter().map(|(h, _)| h.record_count).collect::<Vec<_>>(), vec![1, 2]);
    }
}
