//! Single-byte code pages Python knows and Ansible's text modules accept as `encoding`
//! (the table is Python's codec, byte → character).

/// IBM EBCDIC Germany/Austria (Python's `cp273`).
const CP273: [char; 256] = [
    '\u{0}', '\u{1}', '\u{2}', '\u{3}', '\u{9c}', '\u{9}', '\u{86}', '\u{7f}', '\u{97}', '\u{8d}',
    '\u{8e}', '\u{b}', '\u{c}', '\u{d}', '\u{e}', '\u{f}', '\u{10}', '\u{11}', '\u{12}', '\u{13}',
    '\u{9d}', '\u{85}', '\u{8}', '\u{87}', '\u{18}', '\u{19}', '\u{92}', '\u{8f}', '\u{1c}',
    '\u{1d}', '\u{1e}', '\u{1f}', '\u{80}', '\u{81}', '\u{82}', '\u{83}', '\u{84}', '\u{a}',
    '\u{17}', '\u{1b}', '\u{88}', '\u{89}', '\u{8a}', '\u{8b}', '\u{8c}', '\u{5}', '\u{6}',
    '\u{7}', '\u{90}', '\u{91}', '\u{16}', '\u{93}', '\u{94}', '\u{95}', '\u{96}', '\u{4}',
    '\u{98}', '\u{99}', '\u{9a}', '\u{9b}', '\u{14}', '\u{15}', '\u{9e}', '\u{1a}', '\u{20}',
    '\u{a0}', '\u{e2}', '\u{7b}', '\u{e0}', '\u{e1}', '\u{e3}', '\u{e5}', '\u{e7}', '\u{f1}',
    '\u{c4}', '\u{2e}', '\u{3c}', '\u{28}', '\u{2b}', '\u{21}', '\u{26}', '\u{e9}', '\u{ea}',
    '\u{eb}', '\u{e8}', '\u{ed}', '\u{ee}', '\u{ef}', '\u{ec}', '\u{7e}', '\u{dc}', '\u{24}',
    '\u{2a}', '\u{29}', '\u{3b}', '\u{5e}', '\u{2d}', '\u{2f}', '\u{c2}', '\u{5b}', '\u{c0}',
    '\u{c1}', '\u{c3}', '\u{c5}', '\u{c7}', '\u{d1}', '\u{f6}', '\u{2c}', '\u{25}', '\u{5f}',
    '\u{3e}', '\u{3f}', '\u{f8}', '\u{c9}', '\u{ca}', '\u{cb}', '\u{c8}', '\u{cd}', '\u{ce}',
    '\u{cf}', '\u{cc}', '\u{60}', '\u{3a}', '\u{23}', '\u{a7}', '\u{27}', '\u{3d}', '\u{22}',
    '\u{d8}', '\u{61}', '\u{62}', '\u{63}', '\u{64}', '\u{65}', '\u{66}', '\u{67}', '\u{68}',
    '\u{69}', '\u{ab}', '\u{bb}', '\u{f0}', '\u{fd}', '\u{fe}', '\u{b1}', '\u{b0}', '\u{6a}',
    '\u{6b}', '\u{6c}', '\u{6d}', '\u{6e}', '\u{6f}', '\u{70}', '\u{71}', '\u{72}', '\u{aa}',
    '\u{ba}', '\u{e6}', '\u{b8}', '\u{c6}', '\u{a4}', '\u{b5}', '\u{df}', '\u{73}', '\u{74}',
    '\u{75}', '\u{76}', '\u{77}', '\u{78}', '\u{79}', '\u{7a}', '\u{a1}', '\u{bf}', '\u{d0}',
    '\u{dd}', '\u{de}', '\u{ae}', '\u{a2}', '\u{a3}', '\u{a5}', '\u{b7}', '\u{a9}', '\u{40}',
    '\u{b6}', '\u{bc}', '\u{bd}', '\u{be}', '\u{ac}', '\u{7c}', '\u{203e}', '\u{a8}', '\u{b4}',
    '\u{d7}', '\u{e4}', '\u{41}', '\u{42}', '\u{43}', '\u{44}', '\u{45}', '\u{46}', '\u{47}',
    '\u{48}', '\u{49}', '\u{ad}', '\u{f4}', '\u{a6}', '\u{f2}', '\u{f3}', '\u{f5}', '\u{fc}',
    '\u{4a}', '\u{4b}', '\u{4c}', '\u{4d}', '\u{4e}', '\u{4f}', '\u{50}', '\u{51}', '\u{52}',
    '\u{b9}', '\u{fb}', '\u{7d}', '\u{f9}', '\u{fa}', '\u{ff}', '\u{d6}', '\u{f7}', '\u{53}',
    '\u{54}', '\u{55}', '\u{56}', '\u{57}', '\u{58}', '\u{59}', '\u{5a}', '\u{b2}', '\u{d4}',
    '\u{5c}', '\u{d2}', '\u{d3}', '\u{d5}', '\u{30}', '\u{31}', '\u{32}', '\u{33}', '\u{34}',
    '\u{35}', '\u{36}', '\u{37}', '\u{38}', '\u{39}', '\u{b3}', '\u{db}', '\u{5d}', '\u{d9}',
    '\u{da}', '\u{9f}',
];

/// Windows Western European (Python's `cp1252`): Latin-1 but for 0x80–0x9F. The five
/// bytes Python leaves undefined there decode to U+FFFE (Python refuses them).
const CP1252_HIGH: [char; 32] = [
    '\u{20ac}', UNDEFINED, '\u{201a}', '\u{192}', '\u{201e}', '\u{2026}', '\u{2020}', '\u{2021}',
    '\u{2c6}', '\u{2030}', '\u{160}', '\u{2039}', '\u{152}', UNDEFINED, '\u{17d}', UNDEFINED,
    UNDEFINED, '\u{2018}', '\u{2019}', '\u{201c}', '\u{201d}', '\u{2022}', '\u{2013}', '\u{2014}',
    '\u{2dc}', '\u{2122}', '\u{161}', '\u{203a}', '\u{153}', UNDEFINED, '\u{17e}', '\u{178}',
];

const UNDEFINED: char = '\u{fffe}';

const CP1252: [char; 256] = {
    let mut t = ['\0'; 256];
    let mut i = 0;
    while i < 256 {
        t[i] = if i >= 0x80 && i < 0xa0 {
            CP1252_HIGH[i - 0x80]
        } else {
            match char::from_u32(i as u32) {
                Some(c) => c,
                None => UNDEFINED,
            }
        };
        i += 1;
    }
    t
};

/// The byte → character table of a single-byte encoding, if it is one we have.
pub(crate) fn table(encoding: &str) -> Option<&'static [char; 256]> {
    match encoding.to_ascii_lowercase().replace('_', "-").as_str() {
        "cp273" | "273" | "ibm273" | "csibm273" => Some(&CP273),
        "cp1252" | "windows-1252" | "1252" => Some(&CP1252),
        _ => None,
    }
}

/// Decode with a table (every byte maps to a character).
pub(crate) fn decode(bytes: &[u8], table: &[char; 256]) -> String {
    bytes.iter().map(|&b| table[usize::from(b)]).collect()
}

/// Encode with a table; the first character it cannot hold is the error.
pub(crate) fn encode(text: &str, table: &[char; 256]) -> Result<Vec<u8>, char> {
    text.chars()
        .map(|c| {
            (c != UNDEFINED)
                .then(|| table.iter().position(|&t| t == c))
                .flatten()
                .map(|i| i as u8)
                .ok_or(c)
        })
        .collect()
}

#[cfg(test)]
mod tests {
    #[test]
    fn cp273_round_trip() {
        let t = super::table("cp273").unwrap();
        let text = "Äpfel über Straße";
        let bytes = super::encode(text, t).unwrap();
        assert_eq!(super::decode(&bytes, t), text);
    }

    #[test]
    fn cp1252_is_latin1_but_for_its_high_block() {
        let t = super::table("windows-1252").unwrap();
        let text = "€ “quoted” café";
        let bytes = super::encode(text, t).unwrap();
        assert_eq!(bytes[0], 0x80);
        assert_eq!(bytes[2], 0x93);
        assert_eq!(*bytes.last().unwrap(), 0xe9);
        assert_eq!(super::decode(&bytes, t), text);
        assert!(super::table("CP1252").is_some());
        assert_eq!(super::encode("\u{fffe}", t), Err('\u{fffe}'));
    }
}
