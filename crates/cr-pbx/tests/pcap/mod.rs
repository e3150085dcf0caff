//! A pcap of two A-law RTP streams for sipp's `play_pcap_audio`, written from scratch (no
//! capture stored in the repository). Shared by cr-pbx's sipp tests and cr-recorder's
//! end-to-end SIPREC test (included there by path).
#![allow(dead_code)]

use std::path::Path;

/// A-law encoding for the fixture, straight from the G.711 segment table.
fn fixture_alaw(s: i16) -> u8 {
    let (mask, mut v) = if s >= 0 {
        (0xd5u8, s as i32)
    } else {
        (0x55u8, -(s as i32) - 1)
    };
    if v > 32767 {
        v = 32767;
    }
    let ends = [0xff, 0x1ff, 0x3ff, 0x7ff, 0xfff, 0x1fff, 0x3fff, 0x7fff];
    let seg = ends.iter().position(|&e| v <= e).unwrap_or(7) as i32;
    let aval = if seg < 2 {
        (v >> 4) & 0x0f
    } else {
        (v >> (seg + 3)) & 0x0f
    } | (seg << 4);
    (aval as u8) ^ mask
}

/// Writes a pcap with two A-law RTP streams: `tone_a` Hz to UDP port `base`, `tone_b` Hz
/// to `base + 2`, 20 ms packets for `packets` packets each; packets whose index is in
/// `skip` are left out (lost).
pub fn write_pcap(path: &Path, base: u16, tone_a: f64, tone_b: f64, packets: u16, skip: &[u16]) {
    let mut f = Vec::new();
    f.extend_from_slice(&0xa1b2c3d4u32.to_le_bytes());
    f.extend_from_slice(&2u16.to_le_bytes());
    f.extend_from_slice(&4u16.to_le_bytes());
    f.extend_from_slice(&0i32.to_le_bytes());
    f.extend_from_slice(&0u32.to_le_bytes());
    f.extend_from_slice(&65535u32.to_le_bytes());
    f.extend_from_slice(&1u32.to_le_bytes()); // Ethernet
    for n in 0..packets {
        for (leg, (port, tone)) in [(base, tone_a), (base + 2, tone_b)].into_iter().enumerate() {
            if skip.contains(&n) {
                continue;
            }
            let mut rtp = vec![0x80, 8];
            rtp.extend_from_slice(&(1000u16 + n).to_be_bytes());
            rtp.extend_from_slice(&(160u32 * n as u32).to_be_bytes());
            rtp.extend_from_slice(&(0x1000 + leg as u32).to_be_bytes());
            for i in 0..160u32 {
                let t = (n as u32 * 160 + i) as f64 / 8000.0;
                let s = (8000.0 * (2.0 * std::f64::consts::PI * tone * t).sin()) as i16;
                rtp.push(fixture_alaw(s));
            }
            let udp_len = 8 + rtp.len();
            let ip_len = 20 + udp_len;
            let mut ip = vec![
                0x45,
                0,
                (ip_len >> 8) as u8,
                ip_len as u8,
                0,
                0,
                0x40,
                0,
                64,
                17,
                0,
                0,
                127,
                0,
                0,
                1,
                127,
                0,
                0,
                1,
            ];
            let mut sum: u32 = 0;
            for c in ip.chunks(2) {
                sum += u16::from_be_bytes([c[0], c[1]]) as u32;
            }
            while sum > 0xffff {
                sum = (sum & 0xffff) + (sum >> 16);
            }
            let ck = !(sum as u16);
            ip[10] = (ck >> 8) as u8;
            ip[11] = ck as u8;
            let mut frame = vec![0u8; 12];
            frame.extend_from_slice(&[0x08, 0x00]);
            frame.extend_from_slice(&ip);
            frame.extend_from_slice(&(6000u16 + leg as u16).to_be_bytes());
            frame.extend_from_slice(&port.to_be_bytes());
            frame.extend_from_slice(&(udp_len as u16).to_be_bytes());
            frame.extend_from_slice(&[0, 0]);
            frame.extend_from_slice(&rtp);
            let usec = n as u32 * 20_000;
            f.extend_from_slice(&(usec / 1_000_000).to_le_bytes());
            f.extend_from_slice(&(usec % 1_000_000).to_le_bytes());
            f.extend_from_slice(&(frame.len() as u32).to_le_bytes());
            f.extend_from_slice(&(frame.len() as u32).to_le_bytes());
            f.extend_from_slice(&frame);
        }
    }
    std::fs::write(path, f).expect("write pcap");
}

