//! ITU-T G.722 decoder (64 kbit/s mode, as carried in RTP payload type 9): 8-bit codes in,
//! 16 kHz 16-bit samples out, two per code.
//!
//! A straight port of the ITU-T reference algorithm in the widely used public-domain
//! form (CMU / Steve Underwood's spandsp `g722.c`): sub-band ADPCM decoders for the low
//! and high band followed by the receive QMF. No crate on crates.io offered a plain
//! decoder without pulling in a media framework, so it lives here (see docs/audio.md).

const WL: [i32; 8] = [-60, -30, 58, 172, 334, 538, 1198, 3042];
const RL42: [usize; 16] = [0, 7, 6, 5, 4, 3, 2, 1, 7, 6, 5, 4, 3, 2, 1, 0];
const ILB: [i32; 32] = [
    2048, 2093, 2139, 2186, 2233, 2282, 2332, 2383, 2435, 2489, 2543, 2599, 2656, 2714, 2774, 2834,
    2896, 2960, 3025, 3091, 3158, 3228, 3298, 3371, 3444, 3520, 3597, 3676, 3756, 3838, 3922, 4008,
];
const WH: [i32; 3] = [0, -214, 798];
const RH2: [usize; 4] = [2, 1, 2, 1];
const QM2: [i32; 4] = [-7408, -1616, 7408, 1616];
const QM4: [i32; 16] = [
    0, -20456, -12896, -8968, -6288, -4240, -2584, -1200, 20456, 12896, 8968, 6288, 4240, 2584,
    1200, 0,
];
const QM6: [i32; 64] = [
    -136, -136, -136, -136, -24808, -21904, -19008, -16704, -14984, -13512, -12280, -11192, -10232,
    -9360, -8576, -7856, -7192, -6576, -6000, -5456, -4944, -4464, -4008, -3576, -3168, -2776,
    -2400, -2032, -1688, -1360, -1040, -728, 24808, 21904, 19008, 16704, 14984, 13512, 12280,
    11192, 10232, 9360, 8576, 7856, 7192, 6576, 6000, 5456, 4944, 4464, 4008, 3576, 3168, 2776,
    2400, 2032, 1688, 1360, 1040, 728, 432, 136, -432, -136,
];
const QMF: [i32; 12] = [3, -11, 12, 32, -210, 951, 3876, -805, 362, -156, 53, -11];

fn sat(v: i32) -> i32 {
    v.clamp(i16::MIN as i32, i16::MAX as i32)
}

#[derive(Debug, Clone, Default)]
struct Band {
    s: i32,
    sp: i32,
    sz: i32,
    r: [i32; 3],
    a: [i32; 3],
    ap: [i32; 3],
    p: [i32; 3],
    d: [i32; 7],
    b: [i32; 7],
    bp: [i32; 7],
    sg: [i32; 7],
    nb: i32,
    det: i32,
}

impl Band {
    fn block4(&mut self, d: i32) {
        // RECONS, PARREC
        self.d[0] = d;
        self.r[0] = sat(self.s + d);
        self.p[0] = sat(self.sz + d);
        // UPPOL2
        for i in 0..3 {
            self.sg[i] = self.p[i] >> 15;
        }
        let wd1 = sat(self.a[1] << 2);
        let mut wd2 = if self.sg[0] == self.sg[1] { -wd1 } else { wd1 };
        if wd2 > 32767 {
            wd2 = 32767;
        }
        let mut wd3 = (wd2 >> 7) + if self.sg[0] == self.sg[2] { 128 } else { -128 };
        wd3 += (self.a[2] * 32512) >> 15;
        self.ap[2] = wd3.clamp(-12288, 12288);
        // UPPOL1
        self.sg[0] = self.p[0] >> 15;
        self.sg[1] = self.p[1] >> 15;
        let wd1 = if self.sg[0] == self.sg[1] { 192 } else { -192 };
        let wd2 = (self.a[1] * 32640) >> 15;
        self.ap[1] = sat(wd1 + wd2);
        let wd3 = sat(15360 - self.ap[2]);
        self.ap[1] = self.ap[1].clamp(-wd3, wd3);
        // UPZERO
        let wd1 = if d == 0 { 0 } else { 128 };
        self.sg[0] = d >> 15;
        for i in 1..7 {
            self.sg[i] = self.d[i] >> 15;
            let wd2 = if self.sg[i] == self.sg[0] { wd1 } else { -wd1 };
            let wd3 = (self.b[i] * 32640) >> 15;
            self.bp[i] = sat(wd2 + wd3);
        }
        // DELAYA
        for i in (1..7).rev() {
            self.d[i] = self.d[i - 1];
            self.b[i] = self.bp[i];
        }
        for i in (1..3).rev() {
            self.r[i] = self.r[i - 1];
            self.p[i] = self.p[i - 1];
            self.a[i] = self.ap[i];
        }
        // FILTEP
        let wd1 = (self.a[1] * sat(self.r[1] + self.r[1])) >> 15;
        let wd2 = (self.a[2] * sat(self.r[2] + self.r[2])) >> 15;
        self.sp = sat(wd1 + wd2);
        // FILTEZ
        let mut sz = 0;
        for i in (1..7).rev() {
            sz += (self.b[i] * sat(self.d[i] + self.d[i])) >> 15;
        }
        self.sz = sat(sz);
        // PREDIC
        self.s = sat(self.sp + self.sz);
    }
}

/// State of one G.722 decoder (one RTP stream). About 400 bytes.
#[derive(Debug, Clone)]
pub struct G722Decoder {
    band: [Band; 2],
    x: [i32; 24],
}

impl Default for G722Decoder {
    fn default() -> Self {
        Self::new()
    }
}

impl G722Decoder {
    /// A decoder in its reset state.
    pub fn new() -> G722Decoder {
        let mut band: [Band; 2] = Default::default();
        band[0].det = 32;
        band[1].det = 8;
        G722Decoder { band, x: [0; 24] }
    }

    /// Decodes `codes` (64 kbit/s G.722), appending two 16 kHz samples per byte to `out`.
    pub fn decode_into(&mut self, codes: &[u8], out: &mut Vec<i16>) {
        out.reserve(codes.len() * 2);
        for &code in codes {
            let code = code as i32;
            let mut wd1 = code & 0x3F;
            let ihigh = ((code >> 6) & 0x03) as usize;
            let wd2 = QM6[wd1 as usize];
            wd1 >>= 2;
            // Low band: INVQBL, RECONS, LIMIT
            let lb = &mut self.band[0];
            let wd2 = (lb.det * wd2) >> 15;
            let rlow = (lb.s + wd2).clamp(-16384, 16383);
            // INVQAL
            let dlowt = (lb.det * QM4[wd1 as usize]) >> 15;
            // LOGSCL
            let wd2 = RL42[wd1 as usize];
            let nb = ((lb.nb * 127) >> 7) + WL[wd2];
            lb.nb = nb.clamp(0, 18432);
            // SCALEL
            let wd1 = ((lb.nb >> 6) & 31) as usize;
            let wd2 = 8 - (lb.nb >> 11);
            let wd3 = if wd2 < 0 {
                ILB[wd1] << -wd2
            } else {
                ILB[wd1] >> wd2
            };
            lb.det = wd3 << 2;
            lb.block4(dlowt);

            // High band: INVQAH, RECONS, LIMIT
            let hb = &mut self.band[1];
            let dhigh = (hb.det * QM2[ihigh]) >> 15;
            let rhigh = (dhigh + hb.s).clamp(-16384, 16383);
            // LOGSCH
            let nb = ((hb.nb * 127) >> 7) + WH[RH2[ihigh]];
            hb.nb = nb.clamp(0, 22528);
            // SCALEH
            let wd1 = ((hb.nb >> 6) & 31) as usize;
            let wd2 = 10 - (hb.nb >> 11);
            let wd3 = if wd2 < 0 {
                ILB[wd1] << -wd2
            } else {
                ILB[wd1] >> wd2
            };
            hb.det = wd3 << 2;
            hb.block4(dhigh);

            // Receive QMF
            self.x.copy_within(2..24, 0);
            self.x[22] = rlow + rhigh;
            self.x[23] = rlow - rhigh;
            let mut xout1 = 0i32;
            let mut xout2 = 0i32;
            for i in 0..12 {
                xout2 += self.x[2 * i] * QMF[i];
                xout1 += self.x[2 * i + 1] * QMF[11 - i];
            }
            out.push(sat(xout1 >> 11) as i16);
            out.push(sat(xout2 >> 11) as i16);
        }
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn arbitrary_codes_never_panic_or_overflow() {
        let mut d = G722Decoder::new();
        let mut out = Vec::new();
        let mut x: u32 = 12345;
        for _ in 0..200_000 {
            x = x.wrapping_mul(1_103_515_245).wrapping_add(12345);
            d.decode_into(&[(x >> 16) as u8], &mut out);
        }
        assert_eq!(out.len(), 400_000);
    }
}
