use minijinja::Value;

/// How to emit: `to_yaml` is PyYAML's default flow style; `to_nice_yaml` is block
/// style with `indent` (default 4) and sorted keys off.
#[derive(Debug, Clone)]
pub struct EmitOptions {
    pub indent: usize,
    /// `default_flow_style=None` (to_yaml) versus `False` (to_nice_yaml).
    pub nice: bool,
    pub sort_keys: bool,
    pub width: usize,
    pub explicit_start: bool,
}

impl Default for EmitOptions {
    fn default() -> Self {
        EmitOptions {
            indent: 2,
            nice: false,
            sort_keys: false,
            width: 80,
            explicit_start: false,
        }
    }
}

/// Write a value as PyYAML's `yaml.dump(..., Dumper=AnsibleDumper, allow_unicode=True)` would.
pub fn emit(value: &Value, opts: &EmitOptions) -> String {
    let _ = (value, opts);
    String::new()
}

/// Python's `repr()` of a float (`1.0`, `1e+16`, `1e-05`, `inf`, `nan`).
pub(crate) fn py_float_repr(f: f64) -> String {
    if f.is_nan() {
        return "nan".into();
    }
    if f.is_infinite() {
        return if f > 0.0 { "inf".into() } else { "-inf".into() };
    }
    if f == 0.0 {
        return if f.is_sign_negative() {
            "-0.0".into()
        } else {
            "0.0".into()
        };
    }
    // Shortest round-trip digits, in scientific form: "d.ddddde[-]x".
    let sci = format!("{f:e}");
    let (mant, exp) = sci.split_once('e').unwrap_or((&sci, "0"));
    let exp: i32 = exp.parse().unwrap_or(0);
    let neg = mant.starts_with('-');
    let digits: String = mant.chars().filter(char::is_ascii_digit).collect();
    let sign = if neg { "-" } else { "" };
    if (-4..16).contains(&exp) {
        let n = digits.len() as i32;
        if exp >= 0 {
            let int_len = (exp + 1) as usize;
            if digits.len() <= int_len {
                let zeros = "0".repeat(int_len - digits.len());
                format!("{sign}{digits}{zeros}.0")
            } else {
                format!("{sign}{}.{}", &digits[..int_len], &digits[int_len..])
            }
        } else {
            let _ = n;
            let zeros = "0".repeat((-exp - 1) as usize);
            format!("{sign}0.{zeros}{digits}")
        }
    } else {
        let m = if digits.len() > 1 {
            format!("{}.{}", &digits[..1], &digits[1..])
        } else {
            digits.clone()
        };
        let esign = if exp < 0 { '-' } else { '+' };
        format!("{sign}{m}e{esign}{:02}", exp.abs())
    }
}
