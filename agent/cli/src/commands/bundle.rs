//! `agent bundle DIR -o FILE [--sign KEY]`: a reproducible bundle archive; prints its
//! sha256 (and signs it). `agent keygen -o PREFIX`: a key pair to sign bundles with.

use std::io::Write;
use std::os::unix::fs::OpenOptionsExt;
use std::path::{Path, PathBuf};

use anyhow::{Context, Result};

use agent_source::sign::SecretKey;

use crate::cli::{BundleArgs, KeygenArgs, exit};

pub fn run(args: &BundleArgs) -> Result<i32> {
    if !args.dir.is_dir() {
        anyhow::bail!("{}: not a directory", args.dir.display());
    }
    // Read the key first: a bad key leaves no unsigned bundle behind.
    let key = match &args.sign {
        Some(p) => Some(SecretKey::load(p)?),
        None => None,
    };
    let sha = agent_source::bundle::build(&args.dir, &args.output)?;
    println!("{sha}  {}", args.output.display());
    if let Some(key) = key {
        let name = args
            .output
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_default();
        let now = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.as_secs())
            .unwrap_or(0);
        let comment = args
            .trusted_comment
            .clone()
            .unwrap_or_else(|| format!("timestamp:{now}\tfile:{name}\thashed"));
        let f = std::fs::File::open(&args.output)
            .with_context(|| format!("reading {}", args.output.display()))?;
        let sig = key.sign(std::io::BufReader::new(f), &comment)?;
        let sig_path = with_suffix(&args.output, ".minisig");
        std::fs::write(&sig_path, sig)
            .with_context(|| format!("writing {}", sig_path.display()))?;
        println!(
            "signed by key {}: {}",
            key.public().key_id(),
            sig_path.display()
        );
    }
    Ok(exit::OK)
}

fn with_suffix(p: &Path, suffix: &str) -> PathBuf {
    let mut s = p.as_os_str().to_owned();
    s.push(suffix);
    PathBuf::from(s)
}

pub fn keygen(args: &KeygenArgs) -> Result<i32> {
    let sk = SecretKey::generate()?;
    let pk = sk.public();
    let key_path = with_suffix(&args.output, ".key");
    let pub_path = with_suffix(&args.output, ".pub");
    if !args.force {
        for p in [&key_path, &pub_path] {
            if p.exists() {
                anyhow::bail!("{} exists; --force replaces it", p.display());
            }
        }
    }
    for (path, text, mode) in [
        (&key_path, sk.to_file_text(), 0o600),
        (&pub_path, pk.to_file_text(), 0o644),
    ] {
        let mut opts = std::fs::OpenOptions::new();
        opts.write(true).mode(mode);
        if args.force {
            opts.create(true).truncate(true);
        } else {
            opts.create_new(true);
        }
        let mut f = opts
            .open(path)
            .with_context(|| format!("writing {}", path.display()))?;
        f.write_all(text.as_bytes())
            .and_then(|()| f.sync_all())
            .with_context(|| format!("writing {}", path.display()))?;
        if args.force {
            use std::os::unix::fs::PermissionsExt;
            std::fs::set_permissions(path, std::fs::Permissions::from_mode(mode))
                .with_context(|| format!("setting the mode of {}", path.display()))?;
        }
    }
    println!(
        "key id {}\nsecret key: {} (keep it private)\npublic key: {}\n\nPin it in /etc/agent/agent.toml:\n  trusted_keys = [\"{}\"]",
        pk.key_id(),
        key_path.display(),
        pub_path.display(),
        pk.to_base64()
    );
    Ok(exit::OK)
}
