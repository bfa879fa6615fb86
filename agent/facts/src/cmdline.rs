//! `cmdline` collector (cmdline.py): /proc/cmdline as `cmdline` (last value wins) and
//! `proc_cmdline` (repeated keys become lists).

use serde_json::Value;

use crate::util::read;
use crate::{Ctx, Facts};

pub fn collect(ctx: &mut Ctx<'_>) -> Facts {
    ctx.cache.get_or("cmdline", || {
        let mut f = Facts::new();
        if let Some(data) = read("/proc/cmdline") {
            f.insert("cmdline".into(), Value::Object(parse(&data, false)));
            f.insert("proc_cmdline".into(), Value::Object(parse(&data, true)));
        }
        f
    })
}

/// `shlex.split(data, posix=False)`: whitespace-separated words, quoted parts kept whole
/// (quotes included).
fn split(data: &str) -> Vec<String> {
    let mut out = Vec::new();
    let mut cur = String::new();
    let mut quote: Option<char> = None;
    let mut in_word = false;
    for c in data.chars() {
        match quote {
            Some(q) => {
                cur.push(c);
                if c == q {
                    quote = None;
                }
            }
            None if c.is_whitespace() => {
                if in_word {
                    out.push(std::mem::take(&mut cur));
                    in_word = false;
                }
            }
            None => {
                if c == '"' || c == '\'' {
                    quote = Some(c);
                }
                cur.push(c);
                in_word = true;
            }
        }
    }
    if in_word {
        out.push(cur);
    }
    out
}

pub fn parse(data: &str, lists: bool) -> Facts {
    let mut m = Facts::new();
    for piece in split(data) {
        match piece.split_once('=') {
            None => {
                m.insert(piece, Value::Bool(true));
            }
            Some((k, v)) => {
                if lists && let Some(old) = m.get_mut(k) {
                    match old {
                        Value::Array(a) => a.push(Value::from(v)),
                        other => {
                            let prev = other.take();
                            *other = Value::Array(vec![prev, Value::from(v)]);
                        }
                    }
                } else {
                    m.insert(k.to_string(), Value::from(v));
                }
            }
        }
    }
    m
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn kernel_cmdline() {
        let d = "BOOT_IMAGE=/vmlinuz root=UUID=abc ro quiet console=tty0 console=ttyS0,115200 x=\"a b\"";
        let c = parse(d, false);
        assert_eq!(c["root"], "UUID=abc");
        assert_eq!(c["ro"], true);
        assert_eq!(c["console"], "ttyS0,115200");
        assert_eq!(c["x"], "\"a b\"");
        let p = parse(d, true);
        assert_eq!(p["console"], serde_json::json!(["tty0", "ttyS0,115200"]));
    }
}
