//! No input may panic the parser: random bytes and mutations of real YAML.

use std::path::Path;

use agent_yaml::{Limits, parse_all};

/// A small deterministic xorshift generator (no extra dependencies).
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        let mut x = self.0;
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        self.0 = x;
        x
    }
    fn below(&mut self, n: usize) -> usize {
        (self.next() % n.max(1) as u64) as usize
    }
}

const SEEDS: &[&str] = &[
    "- name: x\n  hosts: all\n  tasks:\n    - debug: msg=\"{{ a }}\"\n      when: b\n",
    "a: &a {x: 1, y: [1, 2]}\nb:\n  <<: *a\n  c: !unsafe '{{ x }}'\n",
    "k: |\n  literal\n   text\nf: >-\n  folded\n\"q\": 'it''s'\n? x\n: y\n",
    "--- !!map\n%YAML 1.1\n...\n[1, {a: b}, \"c\\u00e9\", *z, &z 2, !vault x]\n",
];

const ALPHABET: &[u8] = b" \t\n\r-:?[]{},&*!|>'\"%@`#<=~.0123456789abcxyz\\";

#[test]
fn random_and_mutated_inputs_do_not_panic() {
    let mut rng = Rng(0x9E37_79B9_7F4A_7C15);
    let file = Path::new("fuzz.yml");
    let limits = Limits {
        max_nodes: 10_000,
        max_depth: 64,
    };
    for i in 0..600 {
        let bytes: Vec<u8> = if i % 3 == 0 {
            let len = rng.below(80);
            (0..len)
                .map(|_| ALPHABET[rng.below(ALPHABET.len())])
                .collect()
        } else {
            let mut b = SEEDS[rng.below(SEEDS.len())].as_bytes().to_vec();
            for _ in 0..=rng.below(6) {
                let at = rng.below(b.len() + 1);
                match rng.below(3) {
                    0 if at < b.len() => {
                        b.remove(at);
                    }
                    1 if at < b.len() => b[at] = ALPHABET[rng.below(ALPHABET.len())],
                    _ => b.insert(at, ALPHABET[rng.below(ALPHABET.len())]),
                }
            }
            b
        };
        let src = String::from_utf8_lossy(&bytes);
        // Either result is fine; only a panic fails the test.
        let _ = parse_all(&src, file, limits);
    }
    // Arbitrary unicode too.
    for _ in 0..100 {
        let s: String = (0..rng.below(40))
            .map(|_| char::from_u32(rng.below(0x3000) as u32).unwrap_or('?'))
            .collect();
        let _ = parse_all(&s, file, limits);
    }
}
