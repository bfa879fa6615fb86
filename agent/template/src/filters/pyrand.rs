//! Python's `random.Random`: the MT19937 generator seeded as CPython seeds it, with
//! `randbelow`, `randrange`, `choice`, `shuffle` and `random` drawing numbers the same
//! way, so a seeded `shuffle`/`random` gives Ansible's exact output.

use sha2::{Digest, Sha512};

const N: usize = 624;
const M: usize = 397;

/// A Python-compatible Mersenne Twister.
#[derive(Clone)]
pub struct PyRandom {
    mt: [u32; N],
    index: usize,
}

impl PyRandom {
    fn init_genrand(s: u32) -> PyRandom {
        let mut mt = [0u32; N];
        mt[0] = s;
        for i in 1..N {
            mt[i] = 1812433253u32
                .wrapping_mul(mt[i - 1] ^ (mt[i - 1] >> 30))
                .wrapping_add(i as u32);
        }
        PyRandom { mt, index: N }
    }

    fn init_by_array(key: &[u32]) -> PyRandom {
        let mut r = PyRandom::init_genrand(19650218);
        let mt = &mut r.mt;
        let mut i = 1usize;
        let mut j = 0usize;
        let klen = key.len().max(1);
        let mut k = N.max(klen);
        while k > 0 {
            let kj = key.get(j).copied().unwrap_or(0);
            mt[i] = (mt[i] ^ (mt[i - 1] ^ (mt[i - 1] >> 30)).wrapping_mul(1664525))
                .wrapping_add(kj)
                .wrapping_add(j as u32);
            i += 1;
            j += 1;
            if i >= N {
                mt[0] = mt[N - 1];
                i = 1;
            }
            if j >= klen {
                j = 0;
            }
            k -= 1;
        }
        k = N - 1;
        while k > 0 {
            mt[i] = (mt[i] ^ (mt[i - 1] ^ (mt[i - 1] >> 30)).wrapping_mul(1566083941))
                .wrapping_sub(i as u32);
            i += 1;
            if i >= N {
                mt[0] = mt[N - 1];
                i = 1;
            }
            k -= 1;
        }
        mt[0] = 0x8000_0000;
        r
    }

    /// `random.Random(n)` for an integer seed.
    pub fn from_int(n: i128) -> PyRandom {
        let mut a = n.unsigned_abs();
        let mut key = Vec::new();
        while a > 0 {
            key.push((a & 0xffff_ffff) as u32);
            a >>= 32;
        }
        if key.is_empty() {
            key.push(0);
        }
        PyRandom::init_by_array(&key)
    }

    /// `random.Random(s)` for a string seed (version 2: the bytes plus their SHA-512).
    pub fn from_text(s: &str) -> PyRandom {
        let mut bytes = s.as_bytes().to_vec();
        bytes.extend_from_slice(&Sha512::digest(s.as_bytes()));
        // int.from_bytes(big endian) split into 32-bit words, least significant first.
        let mut key = Vec::with_capacity(bytes.len() / 4 + 1);
        let mut end = bytes.len();
        while end > 0 {
            let start = end.saturating_sub(4);
            let mut w = 0u32;
            for b in &bytes[start..end] {
                w = (w << 8) | *b as u32;
            }
            key.push(w);
            end = start;
        }
        while key.len() > 1 && key.last() == Some(&0) {
            key.pop();
        }
        PyRandom::init_by_array(&key)
    }

    /// A seed as Python would take it from a template value.
    pub fn from_value(v: &minijinja::Value) -> PyRandom {
        if let Some(b) = super::as_bool(v) {
            return PyRandom::from_int(b as i128);
        }
        if v.is_integer()
            && let Ok(i) = i128::try_from(v.clone())
        {
            return PyRandom::from_int(i);
        }
        PyRandom::from_text(&super::py_str(v))
    }

    fn next_u32(&mut self) -> u32 {
        if self.index >= N {
            for kk in 0..N {
                let y = (self.mt[kk] & 0x8000_0000) | (self.mt[(kk + 1) % N] & 0x7fff_ffff);
                let mut v = self.mt[(kk + M) % N] ^ (y >> 1);
                if y & 1 != 0 {
                    v ^= 0x9908_b0df;
                }
                self.mt[kk] = v;
            }
            self.index = 0;
        }
        let mut y = self.mt[self.index];
        self.index += 1;
        y ^= y >> 11;
        y ^= (y << 7) & 0x9d2c_5680;
        y ^= (y << 15) & 0xefc6_0000;
        y ^= y >> 18;
        y
    }

    /// `getrandbits(k)`.
    pub fn getrandbits(&mut self, k: u32) -> u128 {
        if k == 0 {
            return 0;
        }
        if k <= 32 {
            return (self.next_u32() >> (32 - k)) as u128;
        }
        let mut result: u128 = 0;
        let mut bits = k;
        let mut shift = 0;
        while bits > 0 {
            let mut r = self.next_u32();
            if bits < 32 {
                r >>= 32 - bits;
            }
            if shift < 128 {
                result |= (r as u128) << shift;
            }
            shift += 32;
            bits = bits.saturating_sub(32);
        }
        result
    }

    /// `_randbelow(n)` for n > 0.
    pub fn randbelow(&mut self, n: u128) -> u128 {
        if n == 0 {
            return 0;
        }
        let k = 128 - n.leading_zeros();
        loop {
            let r = self.getrandbits(k);
            if r < n {
                return r;
            }
        }
    }

    /// `randrange(start, stop, step)`.
    pub fn randrange(&mut self, start: i64, stop: i64, step: i64) -> Result<i64, String> {
        let width = stop as i128 - start as i128;
        if step == 1 {
            if width <= 0 {
                return Err(format!("empty range in randrange({start}, {stop})"));
            }
            return Ok((start as i128 + self.randbelow(width as u128) as i128) as i64);
        }
        if step == 0 {
            return Err("zero step for randrange()".into());
        }
        let step = step as i128;
        let n = if step > 0 {
            (width + step - 1).div_euclid(step)
        } else {
            (width + step + 1).div_euclid(step)
        };
        if n <= 0 {
            return Err(format!("empty range in randrange({start}, {stop}, {step})"));
        }
        Ok((start as i128 + step * self.randbelow(n as u128) as i128) as i64)
    }

    /// `shuffle(list)`.
    pub fn shuffle<T>(&mut self, items: &mut [T]) {
        for i in (1..items.len()).rev() {
            let j = self.randbelow(i as u128 + 1) as usize;
            items.swap(i, j);
        }
    }

    /// `random()`: a float in [0, 1).
    pub fn random(&mut self) -> f64 {
        let a = (self.next_u32() >> 5) as f64;
        let b = (self.next_u32() >> 6) as f64;
        (a * 67108864.0 + b) * (1.0 / 9007199254740992.0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    // Values from CPython 3.12: random.Random(42).random() etc.
    #[test]
    fn matches_cpython_int_seed() {
        let mut r = PyRandom::from_int(42);
        assert_eq!(r.random(), 0.6394267984578837);
        let mut r = PyRandom::from_int(42);
        let mut v: Vec<i32> = (1..=10).collect();
        r.shuffle(&mut v);
        assert_eq!(v, vec![8, 4, 3, 9, 6, 7, 10, 5, 1, 2]);
    }

    #[test]
    fn matches_cpython_str_seed() {
        let mut r = PyRandom::from_text("web01");
        assert_eq!(r.randrange(0, 60, 1).unwrap(), 22);
    }
}
