//! Hash filters: `hash`, `md5`, `sha1`, `checksum`, `password_hash`.
//!
//! `password_hash` produces what ansible-core produces without passlib: the salt goes
//! through libxcrypt's `crypt_gensalt` (salt bytes re-encoded in crypt's base64, groups
//! of three bytes) with Ansible's implicit rounds (sha512: 656000, sha256: 535000), and
//! the hash is SHA-crypt / MD5-crypt as glibc/libxcrypt compute it.

use md5::Md5;
use minijinja::value::ValueOrKwargs;
use minijinja::{Environment, Error, State, Value};
use sha1::Sha1;
use sha2::{Digest, Sha224, Sha256, Sha384, Sha512};

use super::{Args, add, err, py_str};

const NS: &str = "ansible.builtin";

pub(crate) fn register(env: &mut Environment<'static>) {
    add(env, NS, "hash", hash_filter);
    add(env, NS, "md5", |_, v, r| {
        Args::parse("md5", r, &[], false)?;
        Ok(Value::from(hex_digest("md5", py_str(&v).as_bytes())?))
    });
    add(env, NS, "sha1", |_, v, r| {
        Args::parse("sha1", r, &[], false)?;
        Ok(Value::from(hex_digest("sha1", py_str(&v).as_bytes())?))
    });
    add(env, NS, "checksum", |_, v, r| {
        Args::parse("checksum", r, &[], false)?;
        Ok(Value::from(hex_digest("sha1", py_str(&v).as_bytes())?))
    });
    add(env, NS, "password_hash", password_hash_filter);
}

/// `hashlib.new(name, data).hexdigest()`.
pub fn hex_digest(name: &str, data: &[u8]) -> Result<String, Error> {
    let bytes: Vec<u8> = match name.to_lowercase().as_str() {
        "md5" => Md5::digest(data).to_vec(),
        "sha1" => Sha1::digest(data).to_vec(),
        "sha224" => Sha224::digest(data).to_vec(),
        "sha256" => Sha256::digest(data).to_vec(),
        "sha384" => Sha384::digest(data).to_vec(),
        "sha512" => Sha512::digest(data).to_vec(),
        _ => return Err(err(format!("unsupported hash type {name}"))),
    };
    Ok(bytes.iter().map(|b| format!("{b:02x}")).collect())
}

fn hash_filter(_: &State, v: Value, rest: &[ValueOrKwargs]) -> Result<Value, Error> {
    let a = Args::parse("hash", rest, &["hashtype"], false)?;
    let t = a.string(0, "sha1");
    Ok(Value::from(hex_digest(&t, py_str(&v).as_bytes())?))
}

const ITOA64: &[u8; 64] = b"./0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz";

fn b64_24(out: &mut String, b2: u8, b1: u8, b0: u8, n: usize) {
    let mut w = ((b2 as u32) << 16) | ((b1 as u32) << 8) | b0 as u32;
    for _ in 0..n {
        out.push(ITOA64[(w & 0x3f) as usize] as char);
        w >>= 6;
    }
}

/// libxcrypt `crypt_gensalt` salt text from random/user bytes: 3 bytes -> 4 chars.
fn gensalt_chars(rbytes: &[u8], max_chars: usize) -> String {
    let mut out = String::new();
    let mut i = 0;
    while i + 3 <= rbytes.len() && out.len() + 4 <= max_chars {
        // write_itoa64_4: low 6 bits first, bytes little-endian
        b64_24(&mut out, rbytes[i + 2], rbytes[i + 1], rbytes[i], 4);
        i += 3;
    }
    out
}

fn sha_crypt<D: Digest + Clone>(pw: &[u8], salt: &[u8], rounds: u32) -> Vec<u8> {
    let dlen = <D as Digest>::output_size();
    let b = {
        let mut h = D::new();
        h.update(pw);
        h.update(salt);
        h.update(pw);
        h.finalize().to_vec()
    };
    let mut a = D::new();
    a.update(pw);
    a.update(salt);
    let mut n = pw.len();
    while n > dlen {
        a.update(&b);
        n -= dlen;
    }
    a.update(&b[..n]);
    let mut n = pw.len();
    while n > 0 {
        if n & 1 != 0 {
            a.update(&b);
        } else {
            a.update(pw);
        }
        n >>= 1;
    }
    let a = a.finalize().to_vec();
    let dp = {
        let mut h = D::new();
        for _ in 0..pw.len() {
            h.update(pw);
        }
        h.finalize().to_vec()
    };
    let p: Vec<u8> = dp.iter().cycle().take(pw.len()).copied().collect();
    let ds = {
        let mut h = D::new();
        for _ in 0..(16 + a[0] as usize) {
            h.update(salt);
        }
        h.finalize().to_vec()
    };
    let s: Vec<u8> = ds.iter().cycle().take(salt.len()).copied().collect();
    let mut c = a;
    for i in 0..rounds {
        let mut h = D::new();
        if i & 1 != 0 {
            h.update(&p);
        } else {
            h.update(&c);
        }
        if i % 3 != 0 {
            h.update(&s);
        }
        if i % 7 != 0 {
            h.update(&p);
        }
        if i & 1 != 0 {
            h.update(&c);
        } else {
            h.update(&p);
        }
        c = h.finalize().to_vec();
    }
    c
}

/// SHA-crypt (`$5$` / `$6$`) of `pw` with `salt` (at most 16 chars used) and `rounds`
/// (`None`: the default 5000, not written).
pub fn sha_crypt_str(sha512: bool, pw: &str, salt: &str, rounds: Option<u32>) -> String {
    let salt: String = salt.chars().take(16).collect();
    let r = rounds.unwrap_or(5000).clamp(1000, 999_999_999);
    let mut out = if sha512 {
        "$6$".to_string()
    } else {
        "$5$".to_string()
    };
    if rounds.is_some() && r != 5000 {
        out.push_str(&format!("rounds={r}$"));
    }
    out.push_str(&salt);
    out.push('$');
    if sha512 {
        let c = sha_crypt::<Sha512>(pw.as_bytes(), salt.as_bytes(), r);
        const ORDER: [(usize, usize, usize); 21] = [
            (0, 21, 42),
            (22, 43, 1),
            (44, 2, 23),
            (3, 24, 45),
            (25, 46, 4),
            (47, 5, 26),
            (6, 27, 48),
            (28, 49, 7),
            (50, 8, 29),
            (9, 30, 51),
            (31, 52, 10),
            (53, 11, 32),
            (12, 33, 54),
            (34, 55, 13),
            (56, 14, 35),
            (15, 36, 57),
            (37, 58, 16),
            (59, 17, 38),
            (18, 39, 60),
            (40, 61, 19),
            (62, 20, 41),
        ];
        for (x, y, z) in ORDER {
            b64_24(&mut out, c[x], c[y], c[z], 4);
        }
        b64_24(&mut out, 0, 0, c[63], 2);
    } else {
        let c = sha_crypt::<Sha256>(pw.as_bytes(), salt.as_bytes(), r);
        const ORDER: [(usize, usize, usize); 10] = [
            (0, 10, 20),
            (21, 1, 11),
            (12, 22, 2),
            (3, 13, 23),
            (24, 4, 14),
            (15, 25, 5),
            (6, 16, 26),
            (27, 7, 17),
            (18, 28, 8),
            (9, 19, 29),
        ];
        for (x, y, z) in ORDER {
            b64_24(&mut out, c[x], c[y], c[z], 4);
        }
        b64_24(&mut out, 0, c[31], c[30], 3);
    }
    out
}

/// MD5-crypt (`$1$`).
pub fn md5_crypt_str(pw: &str, salt: &str) -> String {
    let salt: String = salt.chars().take(8).collect();
    let pw = pw.as_bytes();
    let sb = salt.as_bytes();
    let fin = {
        let mut h = Md5::new();
        h.update(pw);
        h.update(sb);
        h.update(pw);
        h.finalize().to_vec()
    };
    let mut h = Md5::new();
    h.update(pw);
    h.update(b"$1$");
    h.update(sb);
    let mut pl = pw.len() as isize;
    while pl > 0 {
        h.update(&fin[..(pl.min(16)) as usize]);
        pl -= 16;
    }
    let mut i = pw.len();
    while i > 0 {
        if i & 1 != 0 {
            h.update([0u8]);
        } else {
            h.update(&pw[..1.min(pw.len())]);
        }
        i >>= 1;
    }
    let mut fin = h.finalize().to_vec();
    for i in 0..1000 {
        let mut h = Md5::new();
        if i & 1 != 0 {
            h.update(pw);
        } else {
            h.update(&fin);
        }
        if i % 3 != 0 {
            h.update(sb);
        }
        if i % 7 != 0 {
            h.update(pw);
        }
        if i & 1 != 0 {
            h.update(&fin);
        } else {
            h.update(pw);
        }
        fin = h.finalize().to_vec();
    }
    let mut out = format!("$1${salt}$");
    for (x, y, z) in [(0, 6, 12), (1, 7, 13), (2, 8, 14), (3, 9, 15), (4, 10, 5)] {
        b64_24(&mut out, fin[x], fin[y], fin[z], 4);
    }
    b64_24(&mut out, 0, 0, fin[11], 2);
    out
}

fn random_bytes(n: usize) -> Vec<u8> {
    let mut buf = vec![0u8; n];
    if let Ok(mut f) = std::fs::File::open("/dev/urandom") {
        use std::io::Read;
        let _ = f.read_exact(&mut buf);
    }
    buf
}

/// Ansible's `password_hash(password, hashtype, salt, salt_size, rounds, ident)` on a
/// host without passlib.
pub fn password_hash(
    password: &str,
    hashtype: &str,
    salt: Option<&str>,
    salt_size: Option<i64>,
    rounds: Option<i64>,
) -> Result<String, Error> {
    let algo = match hashtype {
        "sha512" | "sha512_crypt" => "sha512_crypt",
        "sha256" | "sha256_crypt" => "sha256_crypt",
        "md5" | "md5_crypt" => "md5_crypt",
        other => return Err(err(format!("crypt does not support '{other}' algorithm"))),
    };
    let (max_salt, implicit_rounds) = match algo {
        "sha512_crypt" => (16usize, Some(656000)),
        "sha256_crypt" => (16, Some(535000)),
        _ => (8, None),
    };
    let size = salt_size.unwrap_or(0);
    let size = if size <= 0 { max_salt } else { size as usize };
    if size > max_salt {
        return Err(err(format!(
            "invalid salt size supplied ({size}), expected at most {max_salt}"
        )));
    }
    let rbytes: Vec<u8> = match salt {
        None => random_bytes(size),
        Some(s) => {
            if !s
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || c == '.' || c == '/')
            {
                return Err(err("invalid characters in salt"));
            }
            if s.len() > max_salt {
                return Err(err(format!(
                    "invalid salt size supplied ({}), expected at most {max_salt}",
                    s.len()
                )));
            }
            s.as_bytes().to_vec()
        }
    };
    if rbytes.len() < 3 {
        return Err(err(format!(
            "Failed to generate salt for '{algo}' algorithm"
        )));
    }
    let rounds = rounds.filter(|r| *r != 0).or(implicit_rounds);
    match algo {
        "md5_crypt" => {
            let salt = gensalt_chars(&rbytes[..rbytes.len().min(6)], 8);
            Ok(md5_crypt_str(password, &salt))
        }
        _ => {
            let salt = gensalt_chars(&rbytes, 16);
            let r = rounds.map(|r| r.clamp(1000, 999_999_999) as u32);
            Ok(sha_crypt_str(algo == "sha512_crypt", password, &salt, r))
        }
    }
}

fn password_hash_filter(_: &State, v: Value, rest: &[ValueOrKwargs]) -> Result<Value, Error> {
    let a = Args::parse(
        "password_hash",
        rest,
        &["hashtype", "salt", "salt_size", "rounds", "ident"],
        false,
    )?;
    let hashtype = a.string(0, "sha512");
    let salt = a.some(1).map(py_str);
    let salt_size = match a.some(2) {
        Some(v) => Some(super::to_int(v).ok_or_else(|| err("salt_size must be an integer"))?),
        None => None,
    };
    let rounds = match a.some(3) {
        Some(v) => Some(super::to_int(v).ok_or_else(|| err("rounds must be an integer"))?),
        None => None,
    };
    password_hash(&py_str(&v), &hashtype, salt.as_deref(), salt_size, rounds).map(Value::from)
}

#[cfg(test)]
mod tests {
    use super::*;

    // Expected values produced by ansible-core 2.21.5 (do_encrypt, libxcrypt).
    #[test]
    fn crypt_like_ansible() {
        assert_eq!(
            password_hash(
                "secret",
                "sha512",
                Some("abcdefghijklmnop"),
                None,
                Some(5000)
            )
            .unwrap(),
            "$6$V7qMYJaNbVKOeh4P$v1TccBL3GYE945hru3koMlBAsr0IOPKddqg3W.0lWytKSwsdubWiWWfz6.WPgO4EfXY.b0GYFI03hBoDS1WZ9/"
        );
        assert_eq!(
            password_hash(
                "pässwordlong1234567890",
                "md5",
                Some("abcdefgh"),
                None,
                None
            )
            .unwrap(),
            "$1$V7qMYJaN$ZnEr34IQKFU8SKdD7iGUR0"
        );
    }

    #[test]
    fn digests() {
        assert_eq!(
            hex_digest("sha1", b"abc").unwrap(),
            "a9993e364706816aba3e25717850c26c9cd0d89d"
        );
        assert!(hex_digest("nope", b"").is_err());
    }
}
