//! RFC 6455 §5 on the wire: frame headers, masking and close payloads.
//! Pure functions and types; the rules that depend on the connection (which
//! side masks, what RSV1 means, fragmentation) live in the reader.

use alloc::vec::Vec;
use core::fmt;

use crate::error::Misuse;

/// The longest header: 2 bytes, an 8-byte length and a 4-byte mask.
pub const MAX_HEADER_LEN: usize = 14;

/// A frame's opcode (RFC 6455 §5.2).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum OpCode {
    /// 0x0: continues a fragmented message.
    Continuation,
    /// 0x1: the first frame of a text message.
    Text,
    /// 0x2: the first frame of a binary message.
    Binary,
    /// 0x8: the close frame.
    Close,
    /// 0x9: a ping.
    Ping,
    /// 0xA: a pong.
    Pong,
    /// 0x3–0x7 and 0xB–0xF, reserved for future use: receiving one fails
    /// the connection.
    Reserved(u8),
}

impl OpCode {
    /// The opcode of the low four bits of `bits`.
    pub fn from_u4(bits: u8) -> OpCode {
        match bits & 0x0f {
            0x0 => OpCode::Continuation,
            0x1 => OpCode::Text,
            0x2 => OpCode::Binary,
            0x8 => OpCode::Close,
            0x9 => OpCode::Ping,
            0xa => OpCode::Pong,
            other => OpCode::Reserved(other),
        }
    }

    /// The four bits this opcode is written as.
    pub fn as_u4(self) -> u8 {
        match self {
            OpCode::Continuation => 0x0,
            OpCode::Text => 0x1,
            OpCode::Binary => 0x2,
            OpCode::Close => 0x8,
            OpCode::Ping => 0x9,
            OpCode::Pong => 0xa,
            OpCode::Reserved(bits) => bits & 0x0f,
        }
    }

    /// Control opcodes have the high bit of the nibble set (§5.5), reserved
    /// ones included: they may not be fragmented or exceed 125 bytes.
    pub fn is_control(self) -> bool {
        self.as_u4() & 0x8 != 0
    }
}

/// A frame header as it is on the wire.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct FrameHeader {
    /// The final fragment of a message.
    pub fin: bool,
    /// Reserved bit 1 (permessage-deflate: "this message is compressed").
    pub rsv1: bool,
    /// Reserved bit 2.
    pub rsv2: bool,
    /// Reserved bit 3.
    pub rsv3: bool,
    /// The opcode.
    pub opcode: OpCode,
    /// The masking key, present exactly on frames a client sends.
    pub mask: Option<[u8; 4]>,
    /// The payload length (at most 2^63 − 1).
    pub payload_len: u64,
}

/// A header no payload could make valid.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum HeaderError {
    /// A 64-bit length with its most significant bit set (§5.2).
    LengthMsbSet,
    /// A control frame longer than 125 bytes (§5.5).
    ControlTooLong {
        /// The declared length.
        len: u64,
    },
    /// A control frame without FIN (§5.5).
    ControlFragmented,
}

impl fmt::Display for HeaderError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            HeaderError::LengthMsbSet => f.write_str("64-bit payload length has its top bit set"),
            HeaderError::ControlTooLong { len } => {
                write!(f, "control frame declares {len} bytes, over 125")
            }
            HeaderError::ControlFragmented => f.write_str("control frame without FIN"),
        }
    }
}

impl core::error::Error for HeaderError {}

impl FrameHeader {
    /// A header as this crate sends it: RSV2 and RSV3 clear (no extension
    /// we speak uses them), RSV1 only for a compressed message's first frame.
    pub fn outgoing(fin: bool, rsv1: bool, opcode: OpCode, payload_len: u64, mask: Option<[u8; 4]>) -> Self {
        FrameHeader { fin, rsv1, rsv2: false, rsv3: false, opcode, mask, payload_len }
    }

    /// Parses a header from the front of `input`: `Ok(None)` when more bytes
    /// are needed (never an error), else the header and its length.
    #[inline]
    pub fn parse(input: &[u8]) -> Result<Option<(FrameHeader, usize)>, HeaderError> {
        let [b0, b1, rest @ ..] = input else {
            return Ok(None);
        };
        let opcode = OpCode::from_u4(*b0);
        let masked = b1 & 0x80 != 0;
        let (payload_len, len_bytes) = match b1 & 0x7f {
            126 => match rest {
                [a, b, ..] => (u64::from(u16::from_be_bytes([*a, *b])), 2),
                _ => return Ok(None),
            },
            127 => match rest.get(..8) {
                Some(bytes) => {
                    let mut be = [0u8; 8];
                    be.copy_from_slice(bytes);
                    let len = u64::from_be_bytes(be);
                    if len >> 63 != 0 {
                        return Err(HeaderError::LengthMsbSet);
                    }
                    (len, 8)
                }
                None => return Ok(None),
            },
            short => (u64::from(short), 0),
        };
        let fin = b0 & 0x80 != 0;
        if opcode.is_control() {
            if payload_len > 125 {
                return Err(HeaderError::ControlTooLong { len: payload_len });
            }
            if !fin {
                return Err(HeaderError::ControlFragmented);
            }
        }
        let mut used = 2 + len_bytes;
        let mask = if masked {
            let Some(key) = input.get(used..used + 4) else {
                return Ok(None);
            };
            used += 4;
            Some([key[0], key[1], key[2], key[3]])
        } else {
            None
        };
        let header = FrameHeader {
            fin,
            rsv1: b0 & 0x40 != 0,
            rsv2: b0 & 0x20 != 0,
            rsv3: b0 & 0x10 != 0,
            opcode,
            mask,
            payload_len,
        };
        Ok(Some((header, used)))
    }

    /// How many bytes [`encode`](Self::encode) writes.
    pub fn encoded_len(&self) -> usize {
        let len_bytes = match self.payload_len {
            0..=125 => 0,
            126..=0xffff => 2,
            _ => 8,
        };
        2 + len_bytes + if self.mask.is_some() { 4 } else { 0 }
    }

    /// Appends the header, with the shortest length encoding (§5.2 requires
    /// the minimal number of bytes).
    pub fn encode(&self, out: &mut Vec<u8>) {
        let b0 = (u8::from(self.fin) << 7)
            | (u8::from(self.rsv1) << 6)
            | (u8::from(self.rsv2) << 5)
            | (u8::from(self.rsv3) << 4)
            | self.opcode.as_u4();
        let mask_bit = if self.mask.is_some() { 0x80 } else { 0 };
        out.push(b0);
        match self.payload_len {
            len @ 0..=125 => out.push(mask_bit | len as u8),
            len @ 126..=0xffff => {
                out.push(mask_bit | 126);
                out.extend_from_slice(&(len as u16).to_be_bytes());
            }
            len => {
                out.push(mask_bit | 127);
                out.extend_from_slice(&len.to_be_bytes());
            }
        }
        if let Some(key) = self.mask {
            out.extend_from_slice(&key);
        }
    }
}

/// Width of the masking fast path: one `u128` per step.
const WIDE: usize = 16;

/// The key rotated so that index 0 applies to payload byte `phase`. Done on
/// a `u32`: a runtime-amount array rotation compiles to a slow generic
/// routine, which cost small frames several times over.
#[inline]
fn rotated_key(key: [u8; 4], phase: usize) -> [u8; 4] {
    let shift = 8 * (phase % 4) as u32;
    u32::from_le_bytes(key).rotate_right(shift).to_le_bytes()
}

/// The key repeated across a `u128`; 16 is a multiple of 4, so every whole
/// chunk stays aligned with the key.
#[inline]
fn wide_key(k: [u8; 4]) -> u128 {
    let mut w = [0u8; WIDE];
    for lane in w.as_chunks_mut::<4>().0 {
        *lane = k;
    }
    u128::from_ne_bytes(w)
}

/// XORs `buf` with the masking key in place (RFC 6455 §5.3; the operation
/// is its own inverse). `phase` is how many payload bytes of the frame came
/// before `buf`, so a payload split across reads unmasks correctly.
#[inline]
pub fn apply_mask(buf: &mut [u8], key: [u8; 4], phase: usize) {
    let k = rotated_key(key, phase);
    let wk = wide_key(k);
    let (chunks, tail) = buf.as_chunks_mut::<WIDE>();
    for chunk in chunks {
        *chunk = (u128::from_ne_bytes(*chunk) ^ wk).to_ne_bytes();
    }
    for (i, b) in tail.iter_mut().enumerate() {
        *b ^= k[i & 3];
    }
}

/// Writes `src` unmasked into `dst` (of the same length) in one pass, with
/// no `memcpy`: for a buffer that already has the length (the reader's
/// scratch, for a lent piece). In wasm, `memcpy` is the host's, whose `rep movsb` runs
/// some 15 times slower when the destination lies 1 to 15 bytes past the
/// source modulo 4 KiB, as an allocation made just after the input's
/// does (www/BENCHMARKS-node.md, "A copy 15 times slower").
#[inline]
pub fn unmask_to(dst: &mut [u8], src: &[u8], key: [u8; 4], phase: usize) {
    let k = rotated_key(key, phase);
    let wk = wide_key(k);
    let (dst_chunks, dst_tail) = dst.as_chunks_mut::<WIDE>();
    let (src_chunks, src_tail) = src.as_chunks::<WIDE>();
    for (d, s) in dst_chunks.iter_mut().zip(src_chunks) {
        *d = (u128::from_ne_bytes(*s) ^ wk).to_ne_bytes();
    }
    for (i, (d, s)) in dst_tail.iter_mut().zip(src_tail).enumerate() {
        *d = s ^ k[i & 3];
    }
}

/// Appends `src` unmasked to `dst`: a plain copy, then [`apply_mask`] in
/// place. A fused copy-and-XOR measured faster in isolation but compiled to
/// a byte loop once inlined into the driver (40% of the echo benchmark's
/// CPU); two tight passes over cache-hot bytes are robust.
#[inline]
pub fn unmask_into(dst: &mut Vec<u8>, src: &[u8], key: [u8; 4], phase: usize) {
    let start = dst.len();
    dst.extend_from_slice(src);
    apply_mask(&mut dst[start..], key, phase);
}

/// Why a close payload is not acceptable.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum CloseError {
    /// A payload of one byte: a code needs two.
    Truncated,
    /// A code that may not appear on the wire.
    InvalidCode(u16),
    /// The reason is not UTF-8 (close code 1007 when received).
    InvalidUtf8,
    /// A reason over 123 bytes would not fit a control frame.
    ReasonTooLong {
        /// The reason's length.
        len: usize,
    },
}

impl fmt::Display for CloseError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            CloseError::Truncated => f.write_str("close payload of one byte"),
            CloseError::InvalidCode(code) => {
                write!(f, "close code {code} is not allowed on the wire")
            }
            CloseError::InvalidUtf8 => f.write_str("close reason is not UTF-8"),
            CloseError::ReasonTooLong { len } => {
                write!(f, "close reason of {len} bytes exceeds 123")
            }
        }
    }
}

impl core::error::Error for CloseError {}

/// Whether `code` may be sent or received in a close frame (RFC 6455 §7.4
/// and the IANA registry): 1000–1003, 1007–1014 and 3000–4999. 1004 is
/// reserved, 1005, 1006 and 1015 are for reporting only.
pub fn is_valid_close_code(code: u16) -> bool {
    matches!(code, 1000..=1003 | 1007..=1014 | 3000..=4999)
}

/// Reads a close payload: nothing, or a valid code and a UTF-8 reason.
pub fn parse_close_payload(payload: &[u8]) -> Result<Option<(u16, &str)>, CloseError> {
    match payload {
        [] => Ok(None),
        [_] => Err(CloseError::Truncated),
        [hi, lo, reason @ ..] => {
            let code = u16::from_be_bytes([*hi, *lo]);
            if !is_valid_close_code(code) {
                return Err(CloseError::InvalidCode(code));
            }
            let reason = core::str::from_utf8(reason).map_err(|_| CloseError::InvalidUtf8)?;
            Ok(Some((code, reason)))
        }
    }
}

/// Appends a close payload, refusing what the peer would have to reject.
pub fn encode_close_payload(code: u16, reason: &str, out: &mut Vec<u8>) -> Result<(), CloseError> {
    if !is_valid_close_code(code) {
        return Err(CloseError::InvalidCode(code));
    }
    if reason.len() > 123 {
        return Err(CloseError::ReasonTooLong { len: reason.len() });
    }
    out.extend_from_slice(&code.to_be_bytes());
    out.extend_from_slice(reason.as_bytes());
    Ok(())
}

/// The payload of a close frame a connection sends for `close(code,
/// reason)`, checked against RFC 6455 §7.4: nothing, or a code and a reason;
/// what cannot be sent is the application's mistake ([`Misuse`]).
pub(crate) fn close_payload(code: Option<u16>, reason: &str) -> Result<Vec<u8>, Misuse> {
    let mut payload = Vec::new();
    match code {
        None if reason.is_empty() => {}
        None => return Err(Misuse::InvalidCloseCode),
        Some(code) => encode_close_payload(code, reason, &mut payload).map_err(|e| match e {
            CloseError::ReasonTooLong { .. } => Misuse::CloseReasonTooLong,
            _ => Misuse::InvalidCloseCode,
        })?,
    }
    Ok(payload)
}

/// Appends a whole frame: header, then the payload, masked on the way in
/// when `mask` is given. Reserves once.
pub fn encode_frame(
    out: &mut Vec<u8>,
    fin: bool,
    rsv1: bool,
    opcode: OpCode,
    payload: &[u8],
    mask: Option<[u8; 4]>,
) {
    let header = FrameHeader::outgoing(fin, rsv1, opcode, payload.len() as u64, mask);
    out.reserve(header.encoded_len() + payload.len());
    header.encode(out);
    match mask {
        Some(key) => unmask_into(out, payload, key, 0),
        None => out.extend_from_slice(payload),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use alloc::vec;
    use proptest::prelude::*;

    const KEY: [u8; 4] = [0x37, 0xfa, 0x21, 0x3d];

    fn frame(fin: bool, opcode: OpCode, payload: &[u8], mask: Option<[u8; 4]>) -> Vec<u8> {
        let mut out = Vec::new();
        encode_frame(&mut out, fin, false, opcode, payload, mask);
        out
    }

    #[test]
    fn rfc_5_7_examples() {
        // Single-frame unmasked and masked text.
        let unmasked = [0x81, 0x05, 0x48, 0x65, 0x6c, 0x6c, 0x6f];
        let masked = [0x81, 0x85, 0x37, 0xfa, 0x21, 0x3d, 0x7f, 0x9f, 0x4d, 0x51, 0x58];
        assert_eq!(frame(true, OpCode::Text, b"Hello", None), unmasked);
        assert_eq!(frame(true, OpCode::Text, b"Hello", Some(KEY)), masked);
        // Fragmented unmasked text.
        assert_eq!(frame(false, OpCode::Text, b"Hel", None), [0x01, 0x03, 0x48, 0x65, 0x6c]);
        assert_eq!(frame(true, OpCode::Continuation, b"lo", None), [0x80, 0x02, 0x6c, 0x6f]);
        // Unmasked ping, masked pong.
        assert_eq!(frame(true, OpCode::Ping, b"Hello", None), [0x89, 0x05, 0x48, 0x65, 0x6c, 0x6c, 0x6f]);
        assert_eq!(
            frame(true, OpCode::Pong, b"Hello", Some(KEY)),
            [0x8a, 0x85, 0x37, 0xfa, 0x21, 0x3d, 0x7f, 0x9f, 0x4d, 0x51, 0x58]
        );
        // 256 bytes and 64 KiB of binary.
        assert_eq!(frame(true, OpCode::Binary, &[0; 256], None)[..4], [0x82, 0x7e, 0x01, 0x00]);
        assert_eq!(
            frame(true, OpCode::Binary, &[0; 65536], None)[..10],
            [0x82, 0x7f, 0x00, 0x00, 0x00, 0x00, 0x00, 0x01, 0x00, 0x00]
        );

        let (header, used) = FrameHeader::parse(&masked).unwrap().unwrap();
        assert_eq!(used, 6);
        assert_eq!(
            (header.opcode, header.fin, header.mask, header.payload_len),
            (OpCode::Text, true, Some(KEY), 5)
        );
        let mut payload = masked[used..].to_vec();
        apply_mask(&mut payload, KEY, 0);
        assert_eq!(payload, b"Hello");
    }

    #[test]
    fn every_prefix_is_partial() {
        for len in [0usize, 125, 126, 65535, 65536] {
            for mask in [None, Some(KEY)] {
                let bytes = frame(true, OpCode::Binary, &vec![7; len], mask);
                let header_len = FrameHeader::parse(&bytes).unwrap().unwrap().1;
                for cut in 0..header_len {
                    assert_eq!(FrameHeader::parse(&bytes[..cut]), Ok(None), "len {len} cut {cut}");
                }
                let (header, _) = FrameHeader::parse(&bytes).unwrap().unwrap();
                assert_eq!(header.payload_len, len as u64);
                assert_eq!(header.encoded_len(), header_len);
            }
        }
    }

    #[test]
    fn invalid_headers() {
        let huge = [0x82, 0x7f, 0x80, 0, 0, 0, 0, 0, 0, 0];
        assert_eq!(FrameHeader::parse(&huge), Err(HeaderError::LengthMsbSet));
        assert_eq!(
            FrameHeader::parse(&[0x89, 0x7e, 0x00, 0x7e]),
            Err(HeaderError::ControlTooLong { len: 126 })
        );
        assert_eq!(FrameHeader::parse(&[0x09, 0x00]), Err(HeaderError::ControlFragmented));
        assert_eq!(FrameHeader::parse(&[0x8b, 0x00]).unwrap().unwrap().0.opcode, OpCode::Reserved(0xb));
    }

    #[test]
    fn close_payloads() {
        assert_eq!(parse_close_payload(&[]), Ok(None));
        assert_eq!(parse_close_payload(&[0x03]), Err(CloseError::Truncated));
        assert_eq!(parse_close_payload(&[0x03, 0xe8, b'o', b'k']), Ok(Some((1000, "ok"))));
        for code in [0u16, 999, 1004, 1005, 1006, 1015, 1016, 2999, 5000, 65535] {
            assert_eq!(parse_close_payload(&code.to_be_bytes()), Err(CloseError::InvalidCode(code)));
        }
        for code in [1000u16, 1003, 1007, 1011, 1014, 3000, 4999] {
            assert_eq!(parse_close_payload(&code.to_be_bytes()), Ok(Some((code, ""))));
        }
        assert_eq!(parse_close_payload(&[0x03, 0xe8, 0xff]), Err(CloseError::InvalidUtf8));
        let mut out = Vec::new();
        assert_eq!(encode_close_payload(1006, "", &mut out), Err(CloseError::InvalidCode(1006)));
        assert_eq!(
            encode_close_payload(1000, &"x".repeat(124), &mut out),
            Err(CloseError::ReasonTooLong { len: 124 })
        );
        encode_close_payload(1000, &"x".repeat(123), &mut out).unwrap();
        assert_eq!(out.len(), 125);
    }

    fn naive_mask(data: &[u8], key: [u8; 4], phase: usize) -> Vec<u8> {
        data.iter().enumerate().map(|(i, b)| b ^ key[(i + phase) % 4]).collect()
    }

    proptest! {
        #[test]
        fn parse_never_panics(bytes in proptest::collection::vec(any::<u8>(), 0..20)) {
            if let Ok(Some((_, used))) = FrameHeader::parse(&bytes) {
                prop_assert!(used <= bytes.len() && used <= MAX_HEADER_LEN);
            }
        }

        #[test]
        fn headers_round_trip(fin: bool, rsv in 0u8..8, op in 0u8..16, len in prop_oneof![0u64..200, 0u64..70000, 0u64..(1 << 63)], mask: Option<[u8; 4]>) {
            let opcode = OpCode::from_u4(op);
            let (fin, len) = if opcode.is_control() { (true, len % 126) } else { (fin, len) };
            let header = FrameHeader { fin, rsv1: rsv & 4 != 0, rsv2: rsv & 2 != 0, rsv3: rsv & 1 != 0, opcode, mask, payload_len: len };
            let mut out = Vec::new();
            header.encode(&mut out);
            prop_assert_eq!(out.len(), header.encoded_len());
            prop_assert_eq!(FrameHeader::parse(&out), Ok(Some((header, out.len()))));
        }

        #[test]
        fn masking_matches_the_definition(data in proptest::collection::vec(any::<u8>(), 0..100), key: [u8; 4], phase in 0usize..8, split in 0usize..100) {
            let split = split.min(data.len());
            let mut out = Vec::new();
            unmask_into(&mut out, &data[..split], key, phase);
            unmask_into(&mut out, &data[split..], key, phase + split);
            prop_assert_eq!(&out, &naive_mask(&data, key, phase));
            let mut in_place = data.clone();
            apply_mask(&mut in_place, key, phase);
            prop_assert_eq!(&in_place, &out);
            let mut copied = vec![0; data.len()];
            unmask_to(&mut copied[..split], &data[..split], key, phase);
            unmask_to(&mut copied[split..], &data[split..], key, phase + split);
            prop_assert_eq!(copied, out);
        }
    }
}
