//! Ansible Vault: `!vault` values and the AES256 vault format (1.1 and 1.2).
//!
//! A `!vault` value loads as a [`Vaulted`] object holding its ciphertext. It is decrypted
//! when a template reads it, with the run's vault secrets ([`set_secrets`]: the
//! `--vault-password-file`, or `ANSIBLE_VAULT_PASSWORD_FILE`); its plain text is data,
//! never templated (Ansible does not trust vaulted values for templating). Without a
//! secret that opens it, using it fails as Ansible fails ("Attempt to use undecryptable
//! variable"): the ciphertext never reaches a module, a file or the output.
//!
//! The format (ansible.parsing.vault, `VaultAES256`): a header line
//! `$ANSIBLE_VAULT;1.1;AES256` (1.2 adds `;VAULT_ID`), then hex lines that together are
//! the hex of `hex(salt) \n hex(hmac) \n hex(ciphertext)`. The keys are PBKDF2-HMAC-SHA256
//! of the password and salt, 10,000 rounds, 80 bytes: the AES-256 key, the HMAC-SHA256 key
//! and the CTR mode's initial counter. The plain text is PKCS#7 padded to 16 bytes.

use std::sync::{Arc, OnceLock};

use aes::cipher::{KeyIvInit, StreamCipher};
use hmac::{KeyInit, Mac};
use minijinja::Value;
use minijinja::value::{Object, ObjectRepr};

/// Why a vault text did not decrypt.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum VaultError {
    #[error("Attempting to decrypt but no vault secrets found")]
    NoSecrets,
    #[error("input is not vault encrypted data")]
    NotVault,
    #[error("the vault format is not valid: {0}")]
    Malformed(&'static str),
    #[error("unsupported vault cipher '{0}' (only AES256 is)")]
    Cipher(String),
    #[error("Decryption failed (no vault secrets were found that could decrypt)")]
    NoMatch,
}

static SECRETS: OnceLock<Vec<Vec<u8>>> = OnceLock::new();

/// The run's vault secrets (passwords), set once before anything loads; a second call
/// changes nothing and returns false.
pub fn set_secrets(secrets: Vec<Vec<u8>>) -> bool {
    SECRETS.set(secrets).is_ok()
}

fn secrets() -> &'static [Vec<u8>] {
    SECRETS.get().map(Vec::as_slice).unwrap_or(&[])
}

/// Whether `text` is vault-encrypted data (its first line is a vault header).
pub fn is_encrypted(text: &str) -> bool {
    text.trim_start().starts_with("$ANSIBLE_VAULT;")
}

/// The plain bytes of vault-encrypted `data` (decrypted with the run's secrets), or
/// `None` when `data` is not vault-encrypted ([`is_encrypted`]).
pub fn decrypt_if_encrypted(data: &[u8]) -> Option<Result<Vec<u8>, VaultError>> {
    let text = String::from_utf8_lossy(data);
    is_encrypted(&text).then(|| decrypt(&text))
}

/// Decrypt vault `text` with the run's secrets.
pub fn decrypt(text: &str) -> Result<Vec<u8>, VaultError> {
    decrypt_with(text, secrets())
}

/// Decrypt vault `text` with the first of `secrets` that opens it.
pub fn decrypt_with(text: &str, secrets: &[Vec<u8>]) -> Result<Vec<u8>, VaultError> {
    let mut lines = text.trim().lines().map(str::trim);
    let header = lines.next().ok_or(VaultError::NotVault)?;
    let fields: Vec<&str> = header.split(';').collect();
    if fields.first() != Some(&"$ANSIBLE_VAULT") || fields.len() < 3 {
        return Err(VaultError::NotVault);
    }
    if secrets.is_empty() {
        return Err(VaultError::NoSecrets);
    }
    if !matches!(fields[1], "1.1" | "1.2") {
        return Err(VaultError::Malformed("unknown vault format version"));
    }
    if fields[2].trim() != "AES256" {
        return Err(VaultError::Cipher(fields[2].trim().to_string()));
    }
    let body: String = lines.collect();
    let inner = unhex(&body).ok_or(VaultError::Malformed("the body is not hex"))?;
    let inner =
        String::from_utf8(inner).map_err(|_| VaultError::Malformed("the body is not text"))?;
    let mut parts = inner.split('\n');
    let (Some(salt), Some(mac), Some(data)) = (parts.next(), parts.next(), parts.next()) else {
        return Err(VaultError::Malformed("the body has fewer than three parts"));
    };
    let salt = unhex(salt.trim()).ok_or(VaultError::Malformed("the salt is not hex"))?;
    let mac = unhex(mac.trim()).ok_or(VaultError::Malformed("the HMAC is not hex"))?;
    let data = unhex(data.trim()).ok_or(VaultError::Malformed("the ciphertext is not hex"))?;
    for secret in secrets {
        let mut keys = [0u8; 80];
        pbkdf2::pbkdf2_hmac::<sha2::Sha256>(secret, &salt, 10_000, &mut keys);
        let (aes_key, rest) = keys.split_at(32);
        let (mac_key, iv) = rest.split_at(32);
        let Ok(mut check) = hmac::Hmac::<sha2::Sha256>::new_from_slice(mac_key) else {
            continue;
        };
        check.update(&data);
        if check.verify_slice(&mac).is_err() {
            continue;
        }
        let mut plain = data.clone();
        let Ok(mut cipher) = ctr::Ctr128BE::<aes::Aes256>::new_from_slices(aes_key, iv) else {
            continue;
        };
        cipher.apply_keystream(&mut plain);
        // PKCS#7 padding.
        let pad = plain.last().copied().unwrap_or(0) as usize;
        if pad == 0 || pad > 16 || pad > plain.len() {
            return Err(VaultError::Malformed("the padding is not valid"));
        }
        plain.truncate(plain.len() - pad);
        return Ok(plain);
    }
    Err(VaultError::NoMatch)
}

fn unhex(s: &str) -> Option<Vec<u8>> {
    if s.len() % 2 != 0 {
        return None;
    }
    (0..s.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(s.get(i..i + 2)?, 16).ok())
        .collect()
}

/// A `!vault` value: its ciphertext, decrypted once when first read.
pub struct Vaulted {
    ciphertext: String,
    plain: OnceLock<Result<Value, VaultError>>,
}

impl std::fmt::Debug for Vaulted {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // Never the plain text.
        f.write_str("Vaulted(..)")
    }
}

/// The plain texts that vaulted values decrypted to, by where their text lives: every
/// copy of such a value shares it, so `is vault_encrypted` still knows it after
/// decryption (a string with the same text made elsewhere is not one of them).
/// Each entry keeps the ciphertext too (`to_yaml(vault_behavior='keep_encrypted')`), and
/// a copy of the plain text, so that its text stays where it is (no other string can
/// come to live there while the entry is kept).
type DecryptedEntry = ((usize, usize), Arc<str>, Value);
static DECRYPTED: std::sync::Mutex<Vec<DecryptedEntry>> = std::sync::Mutex::new(Vec::new());

/// Whether `v` is the plain text of a decrypted `!vault` value (or a copy of it).
pub fn is_decrypted(v: &Value) -> bool {
    ciphertext_of(v).is_some()
}

/// Note `v` as the plain text of `ciphertext` (what [`Vaulted::plain`] does; for tests
/// that have no vault password).
#[cfg(test)]
pub(crate) fn note_decrypted(v: &Value, ciphertext: &str) {
    if let (Some(s), Ok(mut d)) = (v.as_str(), DECRYPTED.lock()) {
        d.push((
            (s.as_ptr() as usize, s.len()),
            Arc::from(ciphertext),
            v.clone(),
        ));
    }
}

/// The ciphertext of a decrypted `!vault` value's plain text (or a copy of it).
pub fn ciphertext_of(v: &Value) -> Option<Arc<str>> {
    let s = v.as_str()?;
    let key = (s.as_ptr() as usize, s.len());
    let d = DECRYPTED.lock().ok()?;
    d.iter()
        .find(|(k, _, _)| *k == key)
        .map(|(_, c, _)| c.clone())
}

static ANY_VAULTED: std::sync::atomic::AtomicBool = std::sync::atomic::AtomicBool::new(false);

/// Whether any `!vault` value was loaded in this process (results are checked for one
/// only then).
pub fn any_vaulted() -> bool {
    ANY_VAULTED.load(std::sync::atomic::Ordering::Relaxed)
}

impl Vaulted {
    pub fn new(ciphertext: String) -> Vaulted {
        ANY_VAULTED.store(true, std::sync::atomic::Ordering::Relaxed);
        Vaulted {
            ciphertext,
            plain: OnceLock::new(),
        }
    }

    /// A `!vault` value as a template value.
    pub fn value(ciphertext: String) -> Value {
        Value::from_object(Vaulted::new(ciphertext))
    }

    pub fn ciphertext(&self) -> &str {
        &self.ciphertext
    }

    /// The plain text, with the run's secrets: a string that is data (never
    /// templated), the same one each time.
    pub fn plain(&self) -> Result<Value, VaultError> {
        self.plain
            .get_or_init(|| {
                let text = decrypt_with(&self.ciphertext, secrets())
                    .map(|b| String::from_utf8_lossy(&b).into_owned())?;
                let v = Value::from_safe_string(text);
                if let (Some(s), Ok(mut d)) = (v.as_str(), DECRYPTED.lock()) {
                    d.push((
                        (s.as_ptr() as usize, s.len()),
                        Arc::from(self.ciphertext.as_str()),
                        v.clone(),
                    ));
                }
                Ok(v)
            })
            .clone()
    }

    /// The vaulted object behind a value, if it is one.
    pub fn of(v: &Value) -> Option<Arc<Vaulted>> {
        v.downcast_object::<Vaulted>()
    }

    /// Ansible's message for using a value that does not decrypt.
    pub fn undecryptable(e: &VaultError) -> String {
        format!("Attempt to use undecryptable variable: {e}.")
    }
}

thread_local! {
    static PRINTED_UNDECRYPTABLE: std::cell::RefCell<Option<VaultError>> = const { std::cell::RefCell::new(None) };
}

/// Why a vaulted value that was printed (turned into text) on this thread since the last
/// call did not decrypt; templates check it when a render ends.
pub fn take_printed_undecryptable() -> Option<VaultError> {
    PRINTED_UNDECRYPTABLE.with(|c| c.borrow_mut().take())
}

impl Object for Vaulted {
    fn repr(self: &Arc<Self>) -> ObjectRepr {
        ObjectRepr::Plain
    }

    fn render(self: &Arc<Self>, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self.plain() {
            Ok(p) => f.write_str(p.as_str().unwrap_or_default()),
            Err(e) => {
                // Never the ciphertext: the render that printed it fails when it ends.
                PRINTED_UNDECRYPTABLE.with(|c| *c.borrow_mut() = Some(e));
                Ok(())
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// `{{ "not trusted" }}` encrypted with the password `blarblar` (ansible-core's
    /// templating target).
    const SAMPLE: &str = "$ANSIBLE_VAULT;1.1;AES256
36306639316132393663356162643765396231396462623962373832643539306635356639366633
6234303731383636623165633330653435336130613361370a373931613335353762376433636263
35363536613933396532636430646337393932393166396133613666386433353932373063356235
3666336365616535610a636534333332633930326331353533626332363263363666373730386264
31643561353465613030343632663036313963363634663231393665316437646530
";

    #[test]
    fn decrypts_ansible_vault_1_1() {
        let plain = decrypt_with(SAMPLE, &[b"wrong".to_vec(), b"blarblar".to_vec()]).unwrap();
        assert_eq!(String::from_utf8(plain).unwrap(), "{{ \"not trusted\" }}");
        // Indented, as in a YAML block scalar.
        let indented: String = SAMPLE.lines().map(|l| format!("   {l}\n")).collect();
        assert!(decrypt_with(&indented, &[b"blarblar".to_vec()]).is_ok());
    }

    #[test]
    fn failures() {
        assert_eq!(decrypt_with(SAMPLE, &[]), Err(VaultError::NoSecrets));
        assert_eq!(
            decrypt_with(SAMPLE, &[b"nope".to_vec()]),
            Err(VaultError::NoMatch)
        );
        assert_eq!(
            decrypt_with("plain", &[b"x".to_vec()]),
            Err(VaultError::NotVault)
        );
        assert!(matches!(
            decrypt_with("$ANSIBLE_VAULT;1.1;AES256\nzz\n", &[b"x".to_vec()]),
            Err(VaultError::Malformed(_))
        ));
        assert!(matches!(
            decrypt_with("$ANSIBLE_VAULT;1.0;AES\n00\n", &[b"x".to_vec()]),
            Err(VaultError::Malformed(_))
        ));
        // A tampered ciphertext fails the HMAC check.
        let tampered = SAMPLE.replace("646530\n", "646531\n");
        assert_ne!(tampered, SAMPLE);
        assert!(decrypt_with(&tampered, &[b"blarblar".to_vec()]).is_err());
        assert!(is_encrypted("  $ANSIBLE_VAULT;1.2;AES256;dev\n"));
        assert!(!is_encrypted("ANSIBLE_VAULT"));
    }

    #[test]
    fn undecryptable_values_print_nothing() {
        let v = Vaulted::value(SAMPLE.to_string());
        assert!(Vaulted::of(&v).is_some());
        take_printed_undecryptable();
        assert_eq!(v.to_string(), "");
        assert_eq!(take_printed_undecryptable(), Some(VaultError::NoSecrets));
        assert_eq!(take_printed_undecryptable(), None);
    }
}
