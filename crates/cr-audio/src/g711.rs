//! ITU-T G.711 µ-law and A-law, to and from 16-bit linear PCM.
//!
//! Decoding expands each code to the 16-bit value of the segment's mid-point (the classic
//! Sun/CCITT reference tables that sox, Asterisk and most telephony software use), so a
//! decode here is bit-exact with `sox -t ul ... -e signed -b 16`. Encoding first rounds the
//! 16-bit sample to the nearest 14-bit (µ-law) or 13-bit (A-law) value, as sox does, and
//! then applies the G.711 segment coding.

const fn ulaw_to_linear(code: u8) -> i16 {
    let u = !code;
    let mut t: i32 = (((u & 0x0f) as i32) << 3) + 0x84;
    t <<= ((u & 0x70) >> 4) as i32;
    if u & 0x80 != 0 {
        (0x84 - t) as i16
    } else {
        (t - 0x84) as i16
    }
}

const fn alaw_to_linear(code: u8) -> i16 {
    let a = code ^ 0x55;
    let mut t: i32 = ((a & 0x0f) as i32) << 4;
    let seg = ((a & 0x70) >> 4) as i32;
    match seg {
        0 => t += 8,
        1 => t += 0x108,
        _ => {
            t += 0x108;
            t <<= seg - 1;
        }
    }
    if a & 0x80 != 0 { t as i16 } else { -t as i16 }
}

const fn build_table(alaw: bool) -> [i16; 256] {
    let mut table = [0i16; 256];
    let mut i = 0;
    while i < 256 {
        table[i] = if alaw {
            alaw_to_linear(i as u8)
        } else {
            ulaw_to_linear(i as u8)
        };
        i += 1;
    }
    table
}

static ULAW_TABLE: [i16; 256] = build_table(false);
static ALAW_TABLE: [i16; 256] = build_table(true);

/// Decodes one µ-law byte to a 16-bit sample.
#[inline]
pub fn ulaw_decode(code: u8) -> i16 {
    ULAW_TABLE[code as usize]
}

/// Decodes one A-law byte to a 16-bit sample.
#[inline]
pub fn alaw_decode(code: u8) -> i16 {
    ALAW_TABLE[code as usize]
}

/// Encodes one 16-bit sample as µ-law (rounded to 14 bits first, like sox).
pub fn ulaw_encode(sample: i16) -> u8 {
    const SEG_END: [i32; 8] = [0x3F, 0x7F, 0xFF, 0x1FF, 0x3FF, 0x7FF, 0xFFF, 0x1FFF];
    let mut v = ((sample as i32) + 2) >> 2; // 14-bit, rounded to nearest
    if v > 8191 {
        v = 8191;
    }
    let mask: u8 = if v < 0 {
        v = -v;
        0x7F
    } else {
        0xFF
    };
    if v > 8159 {
        v = 8159;
    }
    v += 0x84 >> 2;
    let seg = SEG_END.iter().position(|&end| v <= end).unwrap_or(8);
    if seg >= 8 {
        return 0x7F ^ mask;
    }
    let u = ((seg as u8) << 4) | (((v >> (seg + 1)) & 0x0F) as u8);
    u ^ mask
}

/// Encodes one 16-bit sample as A-law (rounded to 13 bits first, like sox).
pub fn alaw_encode(sample: i16) -> u8 {
    const SEG_END: [i32; 8] = [0x1F, 0x3F, 0x7F, 0xFF, 0x1FF, 0x3FF, 0x7FF, 0xFFF];
    let mut v = ((sample as i32) + 4) >> 3; // 13-bit, rounded to nearest
    if v > 4095 {
        v = 4095;
    }
    let mask: u8 = if v >= 0 {
        0xD5
    } else {
        v = -v - 1;
        0x55
    };
    let seg = SEG_END.iter().position(|&end| v <= end).unwrap_or(8);
    if seg >= 8 {
        return 0x7F ^ mask;
    }
    let mut a = (seg as u8) << 4;
    if seg < 2 {
        a |= ((v >> 1) & 0x0F) as u8;
    } else {
        a |= ((v >> seg) & 0x0F) as u8;
    }
    a ^ mask
}

/// Decodes a buffer of µ-law bytes, appending to `out`.
pub fn ulaw_decode_into(codes: &[u8], out: &mut Vec<i16>) {
    out.extend(codes.iter().map(|&c| ulaw_decode(c)));
}

/// Decodes a buffer of A-law bytes, appending to `out`.
pub fn alaw_decode_into(codes: &[u8], out: &mut Vec<i16>) {
    out.extend(codes.iter().map(|&c| alaw_decode(c)));
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn known_reference_values() {
        // Values from the ITU-T G.711 tables as scaled to 16 bits by the CCITT reference code.
        assert_eq!(ulaw_decode(0xFF), 0);
        assert_eq!(ulaw_decode(0x7F), 0);
        assert_eq!(ulaw_decode(0x00), -32124);
        assert_eq!(ulaw_decode(0x80), 32124);
        assert_eq!(alaw_decode(0xD5), 8);
        assert_eq!(alaw_decode(0x55), -8);
        assert_eq!(alaw_decode(0xAA), 32256);
        assert_eq!(alaw_decode(0x2A), -32256);
    }

    #[test]
    fn encode_of_decode_is_identity() {
        for c in 0..=255u8 {
            let u = ulaw_encode(ulaw_decode(c));
            // 0x7F and 0xFF both mean zero in µ-law; encode picks the positive one.
            if c == 0x7F {
                assert_eq!(u, 0xFF);
            } else {
                assert_eq!(u, c, "µ-law code {c:#x}");
            }
            assert_eq!(alaw_encode(alaw_decode(c)), c, "A-law code {c:#x}");
        }
    }

    #[test]
    fn encode_is_monotonic() {
        let mut last = i16::MIN;
        for s in (i16::MIN..=i16::MAX).step_by(7) {
            let d = ulaw_decode(ulaw_encode(s));
            assert!(d >= last);
            last = d;
        }
    }
}
