//! `ssh_pub_keys` collector (ssh_pub_keys.py).

use serde_json::Value;

use crate::util::read;
use crate::{Ctx, Facts};

pub fn collect(_ctx: &mut Ctx<'_>) -> Facts {
    let mut f = Facts::new();
    for dir in ["/etc/ssh", "/etc/openssh", "/etc"] {
        for algo in ["dsa", "rsa", "ecdsa", "ed25519"] {
            let name = format!("ssh_host_key_{algo}_public");
            if f.contains_key(&name) {
                return f;
            }
            if let Some(data) = read(format!("{dir}/ssh_host_{algo}_key.pub")) {
                let mut w = data.split_whitespace();
                if let (Some(t), Some(k)) = (w.next(), w.next()) {
                    f.insert(name.clone(), Value::from(k));
                    f.insert(format!("{name}_keytype"), Value::from(t));
                }
            }
        }
    }
    f
}
