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
