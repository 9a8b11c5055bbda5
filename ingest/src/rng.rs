//! A small seeded generator (SplitMix64). Pulse's generated worlds must be the same for the
//! same seed on every machine and every version, which a library RNG does not promise.

/// SplitMix64: fast, seedable, stable.
#[derive(Debug, Clone)]
pub struct Rng(u64);

impl Rng {
    /// A generator for `seed`.
    pub fn new(seed: u64) -> Rng {
        Rng(seed ^ 0x9E37_79B9_7F4A_7C15)
    }

    /// A generator derived from this seed and a label (independent streams per purpose).
    pub fn derive(seed: u64, label: u64) -> Rng {
        let mut r = Rng::new(
            seed.wrapping_mul(0x100_0000_01B3) ^ label.wrapping_mul(0xD6E8_FEB8_6659_FD93),
        );
        r.next_u64();
        r
    }

    /// The next 64 random bits.
    pub fn next_u64(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    /// A float in `[0, 1)`.
    pub fn f64(&mut self) -> f64 {
        (self.next_u64() >> 11) as f64 / (1u64 << 53) as f64
    }

    /// An integer in `[0, n)` (`n > 0`).
    pub fn below(&mut self, n: u64) -> u64 {
        ((self.next_u64() as u128 * n as u128) >> 64) as u64
    }

    /// True with probability `p`.
    pub fn chance(&mut self, p: f64) -> bool {
        self.f64() < p
    }

    /// A Zipf-like index in `[0, n)`: index `i` with weight `1 / (i + 1)^s`, by inversion of
    /// the continuous approximation (fast, and good enough for popularity).
    pub fn zipf(&mut self, n: usize, s: f64) -> usize {
        let n_f = n as f64;
        let u = self.f64();
        let x = if (s - 1.0).abs() < 1e-9 {
            (n_f + 1.0).powf(u) - 1.0
        } else {
            let a = 1.0 - s;
            (((n_f + 1.0).powf(a) - 1.0) * u + 1.0).powf(1.0 / a) - 1.0
        };
        (x as usize).min(n - 1)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn same_seed_same_stream_and_zipf_favours_the_head() {
        let a: Vec<u64> = (0..4)
            .map({
                let mut r = Rng::new(7);
                move |_| r.next_u64()
            })
            .collect();
        let b: Vec<u64> = (0..4)
            .map({
                let mut r = Rng::new(7);
                move |_| r.next_u64()
            })
            .collect();
        assert_eq!(a, b);
        let mut r = Rng::new(1);
        let mut counts = [0usize; 10];
        for _ in 0..100_000 {
            counts[r.zipf(10, 1.0)] += 1;
        }
        assert!(
            counts[0] > counts[1] && counts[1] > counts[4] && counts[4] > counts[9],
            "{counts:?}"
        );
        assert!((0..1000).all(|_| r.below(3) < 3));
    }
}
