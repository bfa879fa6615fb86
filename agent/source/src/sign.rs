//! Signed bundles in minisign's format (<https://jedisct1.github.io/minisign/>), so that
//! bundles signed with `minisign -S` verify here and `agent bundle --sign` signatures
//! verify with `minisign -V`.
//!
//! ```text
//! public key   "Ed" | key id (8) | ed25519 public key (32)           base64, one line
//! secret key   "Ed" | kdf "\0\0" | "B2" | salt (32) | opslimit (8) | memlimit (8)
//!              | key id (8) | ed25519 secret key (64) | BLAKE2b-256 checksum (32)
//! signature    untrusted comment: …
//!              base64("ED" | key id | ed25519(BLAKE2b-512(file)))   ("Ed": ed25519(file))
//!              trusted comment: …
//!              base64(ed25519(signature (64) | trusted comment))
//! ```
//!
//! Only unencrypted secret keys (kdf "\0\0", as `minisign -G -W` and `agent keygen` write
//! them) are read: the key file's mode is what protects it.

use std::fmt;
use std::io::{self, Read};
use std::path::Path;

use base64::Engine;
use base64::engine::general_purpose::STANDARD as B64;
use blake2::Digest;
use ed25519_dalek::{Signer, SigningKey, VerifyingKey};

/// Largest signature file read (a real one is about 300 bytes).
pub const MAX_SIG_BYTES: usize = 16 * 1024;
const UNTRUSTED: &str = "untrusted comment:";
const TRUSTED: &str = "trusted comment: ";

#[derive(Debug, thiserror::Error)]
pub enum SignError {
    #[error("not a minisign public key ({why}): expected one line of base64 starting with RW")]
    BadPublicKey { why: String },
    #[error("{path}: not a minisign secret key ({why})")]
    BadSecretKey { path: String, why: String },
    #[error(
        "{path}: the secret key is encrypted with a password; use an unencrypted one (`agent keygen`, or `minisign -G -W`)"
    )]
    EncryptedKey { path: String },
    #[error("the signature is malformed: {why}")]
    Malformed { why: String },
    #[error("it is signed by key {key_id}, which is not a trusted key (trusted: {trusted})")]
    UnknownKey { key_id: String, trusted: String },
    #[error(
        "the signature by key {key_id} does not match the bundle (the bundle or its signature was changed)"
    )]
    Mismatch { key_id: String },
    #[error(
        "the trusted comment's signature by key {key_id} does not verify (the comment was changed)"
    )]
    CommentTampered { key_id: String },
    #[error("{path}: {source}")]
    Io { path: String, source: io::Error },
}

fn b64(text: &str, what: &str) -> Result<Vec<u8>, String> {
    B64.decode(text.trim())
        .map_err(|e| format!("{what} is not valid base64: {e}"))
}

/// A key id as minisign prints it: the 8 bytes as a little-endian number, in hex.
fn key_id_hex(id: &[u8; 8]) -> String {
    format!("{:016X}", u64::from_le_bytes(*id))
}

/// A trusted public key.
#[derive(Clone, PartialEq, Eq)]
pub struct PublicKey {
    key_id: [u8; 8],
    key: VerifyingKey,
}

impl fmt::Debug for PublicKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "PublicKey({})", self.key_id())
    }
}

impl PublicKey {
    /// From the base64 line (`RWQ…`) or a whole `.pub` file (its untrusted comment line
    /// is skipped).
    pub fn parse(text: &str) -> Result<PublicKey, SignError> {
        let bad = |why: String| SignError::BadPublicKey { why };
        let line = text
            .lines()
            .map(str::trim)
            .find(|l| !l.is_empty() && !l.starts_with(UNTRUSTED))
            .ok_or_else(|| bad("it is empty".into()))?;
        let raw = b64(line, "the key").map_err(bad)?;
        if raw.len() != 42 {
            return Err(bad(format!("{} bytes instead of 42", raw.len())));
        }
        if &raw[..2] != b"Ed" {
            return Err(bad("the algorithm is not Ed".into()));
        }
        let mut key_id = [0u8; 8];
        key_id.copy_from_slice(&raw[2..10]);
        let mut pk = [0u8; 32];
        pk.copy_from_slice(&raw[10..42]);
        let key = VerifyingKey::from_bytes(&pk)
            .map_err(|_| bad("not a valid ed25519 public key".into()))?;
        Ok(PublicKey { key_id, key })
    }

    /// The key id in hex, as minisign shows it.
    pub fn key_id(&self) -> String {
        key_id_hex(&self.key_id)
    }

    /// The base64 line (`RW…`).
    pub fn to_base64(&self) -> String {
        let mut raw = Vec::with_capacity(42);
        raw.extend_from_slice(b"Ed");
        raw.extend_from_slice(&self.key_id);
        raw.extend_from_slice(self.key.as_bytes());
        B64.encode(raw)
    }

    /// A `.pub` file as minisign writes it.
    pub fn to_file_text(&self) -> String {
        format!(
            "{UNTRUSTED} minisign public key {}\n{}\n",
            self.key_id(),
            self.to_base64()
        )
    }
}

/// A secret key for signing.
pub struct SecretKey {
    key_id: [u8; 8],
    key: SigningKey,
}

impl fmt::Debug for SecretKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "SecretKey({})", key_id_hex(&self.key_id))
    }
}

fn checksum(key_id: &[u8; 8], sk: &[u8; 64]) -> [u8; 32] {
    let mut h = blake2::Blake2b::<blake2::digest::consts::U32>::new();
    h.update(b"Ed");
    h.update(key_id);
    h.update(sk);
    h.finalize().into()
}

impl SecretKey {
    /// A new key pair from the kernel's random source.
    pub fn generate() -> Result<SecretKey, SignError> {
        let mut buf = [0u8; 40];
        let path = "/dev/urandom";
        std::fs::File::open(path)
            .and_then(|mut f| f.read_exact(&mut buf))
            .map_err(|source| SignError::Io {
                path: path.into(),
                source,
            })?;
        let mut seed = [0u8; 32];
        seed.copy_from_slice(&buf[..32]);
        let mut key_id = [0u8; 8];
        key_id.copy_from_slice(&buf[32..]);
        Ok(SecretKey {
            key_id,
            key: SigningKey::from_bytes(&seed),
        })
    }

    /// Read a minisign secret key file (unencrypted).
    pub fn load(path: &Path) -> Result<SecretKey, SignError> {
        let text = std::fs::read_to_string(path).map_err(|source| SignError::Io {
            path: path.display().to_string(),
            source,
        })?;
        SecretKey::parse(&text, &path.display().to_string())
    }

    pub fn parse(text: &str, path: &str) -> Result<SecretKey, SignError> {
        let bad = |why: &str| SignError::BadSecretKey {
            path: path.to_string(),
            why: why.to_string(),
        };
        let line = text
            .lines()
            .map(str::trim)
            .find(|l| !l.is_empty() && !l.starts_with(UNTRUSTED))
            .ok_or_else(|| bad("it is empty"))?;
        let raw = b64(line, "the key").map_err(|w| bad(&w))?;
        if raw.len() != 158 {
            return Err(bad("wrong length"));
        }
        if &raw[..2] != b"Ed" {
            return Err(bad("the algorithm is not Ed"));
        }
        match &raw[2..4] {
            b"\0\0" => {}
            b"Sc" => {
                return Err(SignError::EncryptedKey {
                    path: path.to_string(),
                });
            }
            _ => return Err(bad("unknown key derivation")),
        }
        if &raw[4..6] != b"B2" {
            return Err(bad("unknown checksum algorithm"));
        }
        let mut key_id = [0u8; 8];
        key_id.copy_from_slice(&raw[54..62]);
        let mut sk = [0u8; 64];
        sk.copy_from_slice(&raw[62..126]);
        // minisign leaves the checksum of an unencrypted key zero; ours carry one.
        let chk = &raw[126..158];
        if chk.iter().any(|b| *b != 0) && checksum(&key_id, &sk)[..] != *chk {
            return Err(bad("its checksum does not match: the file is damaged"));
        }
        let key = SigningKey::from_keypair_bytes(&sk)
            .map_err(|_| bad("its public half does not match its secret half"))?;
        Ok(SecretKey { key_id, key })
    }

    pub fn public(&self) -> PublicKey {
        PublicKey {
            key_id: self.key_id,
            key: self.key.verifying_key(),
        }
    }

    /// The secret key file, unencrypted (kdf "\0\0"), as `minisign -G -W` writes it.
    pub fn to_file_text(&self) -> String {
        let sk = self.key.to_keypair_bytes();
        let mut raw = Vec::with_capacity(158);
        raw.extend_from_slice(b"Ed");
        raw.extend_from_slice(b"\0\0");
        raw.extend_from_slice(b"B2");
        raw.extend_from_slice(&[0u8; 32 + 8 + 8]);
        raw.extend_from_slice(&self.key_id);
        raw.extend_from_slice(&sk);
        raw.extend_from_slice(&checksum(&self.key_id, &sk));
        format!(
            "{UNTRUSTED} minisign secret key {} (unencrypted)\n{}\n",
            key_id_hex(&self.key_id),
            B64.encode(raw)
        )
    }

    /// Sign `data` (prehashed, "ED"); `trusted` is the trusted comment (one line).
    /// Returns the `.minisig` file's text.
    pub fn sign(&self, data: impl Read, trusted: &str) -> Result<String, SignError> {
        let hash = blake2b512(data).map_err(|source| SignError::Io {
            path: "the bundle".into(),
            source,
        })?;
        let sig = self.key.sign(&hash).to_bytes();
        let trusted = trusted.replace(['\r', '\n'], " ");
        let mut global_msg = sig.to_vec();
        global_msg.extend_from_slice(trusted.as_bytes());
        let global = self.key.sign(&global_msg).to_bytes();
        let mut raw = Vec::with_capacity(74);
        raw.extend_from_slice(b"ED");
        raw.extend_from_slice(&self.key_id);
        raw.extend_from_slice(&sig);
        Ok(format!(
            "{UNTRUSTED} signature from agent secret key {}\n{}\n{TRUSTED}{trusted}\n{}\n",
            key_id_hex(&self.key_id),
            B64.encode(raw),
            B64.encode(global)
        ))
    }
}

fn blake2b512(data: impl Read) -> io::Result<Vec<u8>> {
    let mut h = blake2::Blake2b512::new();
    crate::bundle::for_each_chunk(data, |b| h.update(b))?;
    Ok(h.finalize().to_vec())
}

/// A parsed `.minisig` file.
#[derive(Debug)]
pub struct Signature {
    prehashed: bool,
    key_id: [u8; 8],
    sig: ed25519_dalek::Signature,
    trusted: String,
    global: ed25519_dalek::Signature,
}

impl Signature {
    pub fn parse(bytes: &[u8]) -> Result<Signature, SignError> {
        let bad = |why: &str| SignError::Malformed {
            why: why.to_string(),
        };
        if bytes.len() > MAX_SIG_BYTES {
            return Err(bad("the file is too big to be a signature"));
        }
        let text = std::str::from_utf8(bytes).map_err(|_| bad("it is not text"))?;
        let mut lines = text.lines().map(|l| l.trim_end_matches('\r'));
        let first = lines.next().unwrap_or_default();
        if !first.starts_with(UNTRUSTED) {
            return Err(bad("the first line is not an untrusted comment"));
        }
        let raw =
            b64(lines.next().unwrap_or_default(), "the signature line").map_err(|w| bad(&w))?;
        if raw.len() != 74 {
            return Err(bad("the signature line is truncated or too long"));
        }
        let prehashed = match &raw[..2] {
            b"ED" => true,
            b"Ed" => false,
            _ => return Err(bad("unknown signature algorithm")),
        };
        let mut key_id = [0u8; 8];
        key_id.copy_from_slice(&raw[2..10]);
        let mut s = [0u8; 64];
        s.copy_from_slice(&raw[10..74]);
        let trusted = lines
            .next()
            .and_then(|l| l.strip_prefix(TRUSTED))
            .ok_or_else(|| bad("the trusted comment line is missing"))?
            .to_string();
        let g =
            b64(lines.next().unwrap_or_default(), "the comment signature").map_err(|w| bad(&w))?;
        let g: [u8; 64] = g
            .try_into()
            .map_err(|_| bad("the comment signature is truncated or too long"))?;
        if lines.any(|l| !l.trim().is_empty()) {
            return Err(bad("there is more after the comment signature"));
        }
        Ok(Signature {
            prehashed,
            key_id,
            sig: ed25519_dalek::Signature::from_bytes(&s),
            trusted,
            global: ed25519_dalek::Signature::from_bytes(&g),
        })
    }

    /// The signing key's id, as minisign shows it.
    pub fn key_id(&self) -> String {
        key_id_hex(&self.key_id)
    }

    pub fn trusted_comment(&self) -> &str {
        &self.trusted
    }
}

/// What a good signature says.
#[derive(Debug, Clone, PartialEq)]
pub struct Verified {
    pub key_id: String,
    pub trusted_comment: String,
}

/// Check `sig` (a `.minisig` file's bytes) over `data` against the trusted keys.
pub fn verify(keys: &[PublicKey], sig: &[u8], data: impl Read) -> Result<Verified, SignError> {
    let sig = Signature::parse(sig)?;
    let key = keys
        .iter()
        .find(|k| k.key_id == sig.key_id)
        .ok_or_else(|| SignError::UnknownKey {
            key_id: sig.key_id(),
            trusted: keys
                .iter()
                .map(PublicKey::key_id)
                .collect::<Vec<_>>()
                .join(", "),
        })?;
    let io_err = |source| SignError::Io {
        path: "the bundle".into(),
        source,
    };
    let message = if sig.prehashed {
        blake2b512(data).map_err(io_err)?
    } else {
        let mut all = Vec::new();
        let mut data = data;
        data.read_to_end(&mut all).map_err(io_err)?;
        all
    };
    key.key
        .verify_strict(&message, &sig.sig)
        .map_err(|_| SignError::Mismatch {
            key_id: sig.key_id(),
        })?;
    let mut global_msg = sig.sig.to_bytes().to_vec();
    global_msg.extend_from_slice(sig.trusted.as_bytes());
    key.key
        .verify_strict(&global_msg, &sig.global)
        .map_err(|_| SignError::CommentTampered {
            key_id: sig.key_id(),
        })?;
    Ok(Verified {
        key_id: sig.key_id(),
        trusted_comment: sig.trusted,
    })
}

/// Check a bundle file against its signature.
pub fn verify_file(keys: &[PublicKey], sig: &[u8], file: &Path) -> Result<Verified, SignError> {
    let f = std::fs::File::open(file).map_err(|source| SignError::Io {
        path: file.display().to_string(),
        source,
    })?;
    verify(keys, sig, io::BufReader::new(f))
}

#[cfg(test)]
mod tests {
    use super::*;

    const DATA: &[u8] = b"a bundle's bytes\n";

    fn signed() -> (SecretKey, String) {
        let sk = SecretKey::generate().unwrap();
        let sig = sk
            .sign(DATA, "timestamp:1\tfile:site.tar.gz\thashed")
            .unwrap();
        (sk, sig)
    }

    #[test]
    fn round_trip_and_key_files() {
        let (sk, sig) = signed();
        let pk = sk.public();
        let v = verify(std::slice::from_ref(&pk), sig.as_bytes(), DATA).unwrap();
        assert_eq!(v.key_id, pk.key_id());
        assert_eq!(v.trusted_comment, "timestamp:1\tfile:site.tar.gz\thashed");
        // The files read back.
        let sk2 = SecretKey::parse(&sk.to_file_text(), "k").unwrap();
        assert_eq!(sk2.public(), pk);
        assert_eq!(PublicKey::parse(&pk.to_file_text()).unwrap(), pk);
        assert_eq!(PublicKey::parse(&pk.to_base64()).unwrap(), pk);
        assert!(pk.to_base64().starts_with("RW"));
        assert!(pk.to_file_text().contains(&pk.key_id()));
        // Another key among the trusted ones does not matter.
        let other = SecretKey::generate().unwrap().public();
        verify(&[other, pk], sig.as_bytes(), DATA).unwrap();
    }

    /// A signature made by minisign 0.11 (`minisign -G -W`, `minisign -S -m`) over DATA.
    #[test]
    fn minisign_made_signature_verifies() {
        let pk = PublicKey::parse(MINISIGN_PK).unwrap();
        let v = verify(std::slice::from_ref(&pk), MINISIGN_SIG.as_bytes(), DATA).unwrap();
        assert_eq!(v.key_id, pk.key_id());
        let sk = SecretKey::parse(MINISIGN_SK, "minisign.key").unwrap();
        assert_eq!(sk.public(), pk);
        let e = verify(&[pk], MINISIGN_SIG.as_bytes(), &b"other"[..]).unwrap_err();
        assert!(matches!(e, SignError::Mismatch { .. }), "{e}");
    }

    #[test]
    fn legacy_signature_verifies() {
        // "Ed": the whole message signed, no prehash.
        let sk = SecretKey::generate().unwrap();
        let sig = sk.key.sign(DATA).to_bytes();
        let trusted = "legacy";
        let mut gm = sig.to_vec();
        gm.extend_from_slice(trusted.as_bytes());
        let global = sk.key.sign(&gm).to_bytes();
        let mut raw = b"Ed".to_vec();
        raw.extend_from_slice(&sk.key_id);
        raw.extend_from_slice(&sig);
        let text = format!(
            "untrusted comment: x\n{}\ntrusted comment: {trusted}\n{}\n",
            B64.encode(raw),
            B64.encode(global)
        );
        verify(&[sk.public()], text.as_bytes(), DATA).unwrap();
        let e = verify(&[sk.public()], text.as_bytes(), &b"x"[..]).unwrap_err();
        assert!(matches!(e, SignError::Mismatch { .. }), "{e}");
    }

    #[test]
    fn tampered_byte_is_refused() {
        let (sk, sig) = signed();
        let mut data = DATA.to_vec();
        data[3] ^= 1;
        let e = verify(&[sk.public()], sig.as_bytes(), &data[..]).unwrap_err();
        assert!(matches!(e, SignError::Mismatch { .. }), "{e}");
        assert!(e.to_string().contains(&sk.public().key_id()), "{e}");
    }

    #[test]
    fn wrong_key_is_refused() {
        let (sk, sig) = signed();
        let other = SecretKey::generate().unwrap().public();
        let e = verify(std::slice::from_ref(&other), sig.as_bytes(), DATA).unwrap_err();
        let t = e.to_string();
        assert!(matches!(e, SignError::UnknownKey { .. }), "{t}");
        assert!(t.contains(&sk.public().key_id()), "{t}");
        assert!(t.contains(&other.key_id()), "{t}");
        // Same key id, different key (a forged id): the signature does not match.
        let mut forged = SecretKey::generate().unwrap();
        forged.key_id = sk.key_id;
        let e = verify(&[forged.public()], sig.as_bytes(), DATA).unwrap_err();
        assert!(matches!(e, SignError::Mismatch { .. }), "{e}");
    }

    #[test]
    fn truncated_and_malformed_signatures_are_refused() {
        let (sk, sig) = signed();
        let pk = [sk.public()];
        let lines: Vec<&str> = sig.lines().collect();
        let cut_b64 = &lines[1][..lines[1].len() - 8];
        let cases: Vec<(String, &str)> = vec![
            (String::new(), "untrusted comment"),
            (sig[..sig.len() / 2].to_string(), ""),
            (lines[..2].join("\n"), "trusted comment line is missing"),
            (lines[..3].join("\n"), "comment signature"),
            (
                format!("{}\n{cut_b64}\n{}\n{}\n", lines[0], lines[2], lines[3]),
                "signature line",
            ),
            (
                format!("{}\n@@notbase64@@\n{}\n{}\n", lines[0], lines[2], lines[3]),
                "not valid base64",
            ),
            (
                format!("{}\n{}\n{}\n!!\n", lines[0], lines[1], lines[2]),
                "not valid base64",
            ),
            (format!("{sig}extra line\n"), "more after"),
            ("x".repeat(MAX_SIG_BYTES + 1), "too big"),
        ];
        for (text, want) in cases {
            let e = verify(&pk, text.as_bytes(), DATA).unwrap_err();
            assert!(matches!(e, SignError::Malformed { .. }), "{text:?}: {e}");
            assert!(e.to_string().contains(want), "{text:?}: {e} (want {want})");
        }
        assert!(verify(&pk, &[0xff, 0xfe], DATA).is_err());
    }

    #[test]
    fn trusted_comment_tampering_is_refused() {
        let (sk, sig) = signed();
        let tampered = sig.replace("timestamp:1\t", "timestamp:2\t");
        assert_ne!(tampered, sig);
        let e = verify(&[sk.public()], tampered.as_bytes(), DATA).unwrap_err();
        assert!(matches!(e, SignError::CommentTampered { .. }), "{e}");
        // The untrusted comment is not signed: changing it is harmless.
        let relabelled = sig.replacen("signature from agent", "anything", 1);
        verify(&[sk.public()], relabelled.as_bytes(), DATA).unwrap();
    }

    #[test]
    fn bad_keys() {
        for (text, want) in [
            ("", "empty"),
            ("RWQ@@@", "base64"),
            ("RWQf6LRCGA9i53mlYecO4IzT51TGPpvW", "bytes"),
        ] {
            let e = PublicKey::parse(text).unwrap_err().to_string();
            assert!(e.contains(want), "{text}: {e}");
        }
        let sk = SecretKey::generate().unwrap();
        let mut raw = B64
            .decode(sk.to_file_text().lines().nth(1).unwrap())
            .unwrap();
        raw[100] ^= 1;
        let e = SecretKey::parse(&B64.encode(&raw), "k").unwrap_err();
        assert!(e.to_string().contains("checksum"), "{e}");
        raw[2..4].copy_from_slice(b"Sc");
        let e = SecretKey::parse(&B64.encode(&raw), "k").unwrap_err();
        assert!(matches!(e, SignError::EncryptedKey { .. }), "{e}");
    }

    const MINISIGN_PK: &str = "untrusted comment: minisign public key 8046F8A73E5A9038\nRWQ4kFo+p/hGgP/QEdPTF16RRrWUIJKJaia5ezkDHzk09Jbf7rJrIuBF\n";
    const MINISIGN_SK: &str = "untrusted comment: minisign encrypted secret key\nRWQAAEIyAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAOJBaPqf4RoBrcSvu7c35O8M46uDX4JnOKluGhgAY0Zvkh5SOh6nk9f/QEdPTF16RRrWUIJKJaia5ezkDHzk09Jbf7rJrIuBFAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA=\n";
    const MINISIGN_SIG: &str = "untrusted comment: signature from minisign secret key\nRUQ4kFo+p/hGgF73U/Y4eSBgtHGxhrXljJTrBnBtZZkuB+uUevFtvDq2icCXCv/XtCN6wKfy10k+nkBpW6yf7WAWWcCXnelIQQ8=\ntrusted comment: made by minisign\nITi/16N2Z8D2vOHWG3m9ByzhbRPNS1v+B/MrG6GZVbCalxyawF6c3RChdxZN2i3vyiZa9qWCF2zdSlG88OwgCQ==\n";
}
