//! ansible.builtin mathstuff filters (set theory, math, human sizes, itertools) and
//! Jinja2's `min`/`max`/`unique` semantics.
//!
//! Ansible's set filters go through Python `set`, whose order is the hash-table order.
//! For integers that order is deterministic and reproduced here by emulating CPython's
//! set table; for other hashable values (strings: randomised hashes) first-occurrence
//! order is used; unhashable items (dicts, lists) take Ansible's ordered fallback.

use minijinja::value::ValueOrKwargs;
use minijinja::{Environment, Error, State, Value};

use super::{
    Args, add, as_bool, err, is_map, is_seq, list_of, map_items, py_cmp, py_eq, py_iter, py_repr,
    py_str, split_args, to_f64, type_name,
};

const NS: &str = "ansible.builtin";

pub(crate) fn register(env: &mut Environment<'static>) {
    add(env, NS, "unique", unique_filter);
    add(env, NS, "union", |_, a, r| setop("union", a, r));
    add(env, NS, "intersect", |_, a, r| setop("intersect", a, r));
    add(env, NS, "difference", |_, a, r| setop("difference", a, r));
    add(env, NS, "symmetric_difference", |_, a, r| {
        setop("symmetric_difference", a, r)
    });
    add(env, NS, "min", |_, a, r| minmax("min", a, r));
    add(env, NS, "max", |_, a, r| minmax("max", a, r));
    add(env, NS, "log", log);
    add(env, NS, "pow", pow);
    add(env, NS, "root", root);
    add(env, NS, "human_readable", human_readable);
    add(env, NS, "human_to_bytes", human_to_bytes_filter);
    add(env, NS, "rekey_on_member", rekey_on_member);
    add(env, NS, "zip", zip);
    add(env, NS, "zip_longest", zip_longest);
    add(env, NS, "product", product);
    add(env, NS, "combinations", combinations);
    add(env, NS, "permutations", permutations);
}

// ---------------------------------------------------------------- CPython set emulation

const LINEAR_PROBES: usize = 9;
const PERTURB_SHIFT: u32 = 5;

#[derive(Clone)]
enum Slot {
    Empty,
    Dummy,
    Active(i64, Value),
}

/// A CPython `set` of integers, kept in its real table order.
#[derive(Clone)]
struct PySet {
    table: Vec<Slot>,
    fill: usize,
    used: usize,
}

/// Python's `hash()` of an int-like value, or `None` if the value is not int-like.
fn int_hash(v: &Value) -> Option<i64> {
    let i = if let Some(b) = as_bool(v) {
        b as i64
    } else if v.is_integer() {
        v.as_i64()?
    } else {
        return None;
    };
    const P: i64 = (1 << 61) - 1;
    let h = if i >= 0 {
        i % P
    } else {
        -((-(i as i128) % P as i128) as i64)
    };
    Some(if h == -1 { -2 } else { h })
}

impl PySet {
    fn new() -> PySet {
        PySet {
            table: vec![Slot::Empty; 8],
            fill: 0,
            used: 0,
        }
    }

    fn mask(&self) -> usize {
        self.table.len() - 1
    }

    fn from_list(items: &[Value]) -> Option<PySet> {
        let mut s = PySet::new();
        for v in items {
            s.add(int_hash(v)?, v.clone());
        }
        Some(s)
    }

    fn entries(&self) -> Vec<(i64, Value)> {
        self.table
            .iter()
            .filter_map(|s| match s {
                Slot::Active(h, v) => Some((*h, v.clone())),
                _ => None,
            })
            .collect()
    }

    fn find(&self, hash: i64, v: &Value) -> Option<usize> {
        let mask = self.mask();
        let mut perturb = hash as u64;
        let mut i = (hash as u64 as usize) & mask;
        loop {
            let probes = if i + LINEAR_PROBES <= mask {
                LINEAR_PROBES
            } else {
                0
            };
            for j in 0..=probes {
                match &self.table[i + j] {
                    Slot::Empty => return None,
                    Slot::Active(h, x) if *h == hash && py_eq(x, v) => return Some(i + j),
                    _ => {}
                }
            }
            perturb >>= PERTURB_SHIFT;
            i = (i
                .wrapping_mul(5)
                .wrapping_add(1)
                .wrapping_add(perturb as usize))
                & mask;
        }
    }

    fn contains(&self, hash: i64, v: &Value) -> bool {
        self.find(hash, v).is_some()
    }

    fn add(&mut self, hash: i64, v: Value) {
        let mask = self.mask();
        let mut perturb = hash as u64;
        let mut i = (hash as u64 as usize) & mask;
        let mut freeslot = None;
        loop {
            let probes = if i + LINEAR_PROBES <= mask {
                LINEAR_PROBES
            } else {
                0
            };
            for j in 0..=probes {
                match &self.table[i + j] {
                    Slot::Empty => {
                        if let Some(f) = freeslot {
                            self.used += 1;
                            self.table[f] = Slot::Active(hash, v);
                            return;
                        }
                        self.fill += 1;
                        self.used += 1;
                        self.table[i + j] = Slot::Active(hash, v);
                        if self.fill * 5 >= mask * 3 {
                            let n = if self.used > 50000 {
                                self.used * 2
                            } else {
                                self.used * 4
                            };
                            self.resize(n);
                        }
                        return;
                    }
                    Slot::Active(h, x) if *h == hash && py_eq(x, &v) => return,
                    Slot::Dummy if freeslot.is_none() => freeslot = Some(i + j),
                    _ => {}
                }
            }
            perturb >>= PERTURB_SHIFT;
            i = (i
                .wrapping_mul(5)
                .wrapping_add(1)
                .wrapping_add(perturb as usize))
                & mask;
        }
    }

    fn insert_clean(table: &mut [Slot], hash: i64, v: Value) {
        let mask = table.len() - 1;
        let mut perturb = hash as u64;
        let mut i = (hash as u64 as usize) & mask;
        loop {
            if matches!(table[i], Slot::Empty) {
                table[i] = Slot::Active(hash, v);
                return;
            }
            if i + LINEAR_PROBES <= mask {
                for j in 1..=LINEAR_PROBES {
                    if matches!(table[i + j], Slot::Empty) {
                        table[i + j] = Slot::Active(hash, v);
                        return;
                    }
                }
            }
            perturb >>= PERTURB_SHIFT;
            i = (i
                .wrapping_mul(5)
                .wrapping_add(1)
                .wrapping_add(perturb as usize))
                & mask;
        }
    }

    fn resize(&mut self, minused: usize) {
        let mut newsize = 8;
        while newsize <= minused {
            newsize <<= 1;
        }
        let old = std::mem::replace(&mut self.table, vec![Slot::Empty; newsize]);
        self.fill = self.used;
        for s in old {
            if let Slot::Active(h, v) = s {
                PySet::insert_clean(&mut self.table, h, v);
            }
        }
    }

    fn discard(&mut self, hash: i64, v: &Value) -> bool {
        match self.find(hash, v) {
            Some(i) => {
                self.table[i] = Slot::Dummy;
                self.used -= 1;
                true
            }
            None => false,
        }
    }

    /// `set_merge(self, other)`.
    fn merge(&mut self, other: &PySet) {
        if (self.fill + other.used) * 5 >= self.mask() * 3 {
            self.resize((self.used + other.used) * 2);
        }
        if self.fill == 0 && self.mask() == other.mask() && other.fill == other.used {
            self.table = other.table.clone();
            self.fill = other.fill;
            self.used = other.used;
            return;
        }
        if self.fill == 0 {
            self.fill = other.used;
            self.used = other.used;
            for (h, v) in other.entries() {
                PySet::insert_clean(&mut self.table, h, v);
            }
            return;
        }
        for (h, v) in other.entries() {
            self.add(h, v);
        }
    }

    fn copy(&self) -> PySet {
        let mut s = PySet::new();
        s.merge(self);
        s
    }

    fn values(&self) -> Vec<Value> {
        self.entries().into_iter().map(|(_, v)| v).collect()
    }
}

fn set_union(a: &PySet, b: &PySet) -> PySet {
    let mut r = a.copy();
    r.merge(b);
    r
}

fn set_intersection(a: &PySet, b: &PySet) -> PySet {
    let (so, other) = if b.used > a.used { (b, a) } else { (a, b) };
    let mut r = PySet::new();
    for (h, v) in other.entries() {
        if so.contains(h, &v) {
            r.add(h, v);
        }
    }
    r
}

fn set_difference(a: &PySet, b: &PySet) -> PySet {
    if (a.used >> 2) > b.used {
        let mut r = a.copy();
        for (h, v) in b.entries() {
            r.discard(h, &v);
        }
        return r;
    }
    let mut r = PySet::new();
    for (h, v) in a.entries() {
        if !b.contains(h, &v) {
            r.add(h, v);
        }
    }
    r
}

fn set_symmetric_difference(a: &PySet, b: &PySet) -> PySet {
    let mut r = b.copy();
    for (h, v) in a.entries() {
        if !r.discard(h, &v) {
            r.add(h, v);
        }
    }
    r
}

// ---------------------------------------------------------------- set filters

fn contains(l: &[Value], x: &Value) -> bool {
    l.iter().any(|e| py_eq(e, x))
}

fn dedup(items: Vec<Value>) -> Vec<Value> {
    let mut out: Vec<Value> = Vec::new();
    for x in items {
        if !contains(&out, &x) {
            out.push(x);
        }
    }
    out
}

fn setop(name: &str, a: Value, rest: &[ValueOrKwargs]) -> Result<Value, Error> {
    let args = Args::parse(name, rest, &["b"], false)?;
    let b = args.req(name, 0, "b")?;
    let la = py_iter(&a)?;
    let lb = py_iter(b)?;
    if let (Some(sa), Some(sb)) = (PySet::from_list(&la), PySet::from_list(&lb)) {
        let r = match name {
            "union" => set_union(&sa, &sb),
            "intersect" => set_intersection(&sa, &sb),
            "difference" => set_difference(&sa, &sb),
            _ => set_symmetric_difference(&sa, &sb),
        };
        return Ok(Value::from(r.values()));
    }
    let out = match name {
        "union" => dedup(la.into_iter().chain(lb).collect()),
        "intersect" => dedup(la.into_iter().filter(|x| contains(&lb, x)).collect()),
        "difference" => dedup(la.into_iter().filter(|x| !contains(&lb, x)).collect()),
        _ => {
            let isect: Vec<Value> = la.iter().filter(|x| contains(&lb, x)).cloned().collect();
            dedup(la.into_iter().chain(lb).collect())
                .into_iter()
                .filter(|x| !contains(&isect, x))
                .collect()
        }
    };
    Ok(Value::from(out))
}

/// Jinja2's attribute lookup for `attribute=` (dotted paths, integer parts index lists).
pub(crate) fn get_attribute(v: &Value, attr: &Value) -> Value {
    let Some(path) = attr.as_str() else {
        return v.get_item(attr).unwrap_or_default();
    };
    let mut cur = v.clone();
    for part in path.split('.') {
        let next = if let Ok(i) = part.parse::<i64>() {
            let n = cur.get_item(&Value::from(i)).unwrap_or_default();
            if n.is_undefined() {
                cur.get_attr(part).unwrap_or_default()
            } else {
                n
            }
        } else {
            cur.get_attr(part).unwrap_or_default()
        };
        cur = next;
    }
    cur
}

fn ignore_case(v: Value, case_sensitive: bool) -> Value {
    if !case_sensitive && let Some(s) = v.as_str() {
        return Value::from(s.to_lowercase());
    }
    v
}

fn unique_filter(_: &State, a: Value, rest: &[ValueOrKwargs]) -> Result<Value, Error> {
    let args = Args::parse("unique", rest, &["case_sensitive", "attribute"], false)?;
    let cs = args.truthy(0, false);
    // Ansible refuses to fall back to its own version only for `case_sensitive=False`
    // itself (Python's `is False`) or a truthy `attribute`.
    let cs_false = args.some(0).is_some_and(|v| as_bool(v) == Some(false));
    // Jinja2 uses any attribute that is not None (`attribute=0` is `item[0]`); Ansible's
    // refusal to fall back looks at its truth.
    let attr = args
        .some(1)
        .filter(|v| !v.is_none() && !v.is_undefined())
        .cloned();
    let attr_true = attr.as_ref().is_some_and(|v| v.is_true());
    let items = py_iter(&a)?;
    let keys: Vec<Value> = items
        .iter()
        .map(|it| match &attr {
            Some(at) => get_attribute(it, at),
            None => it.clone(),
        })
        .collect();
    // Jinja2's `unique` keeps a set of keys: a dict or list key is unhashable, which makes
    // Ansible fall back to its own list-based version (or fail if that cannot honour the
    // parameters).
    if keys.iter().any(|k| is_map(k) || is_seq(k)) {
        if cs_false || attr_true {
            return Err(err(
                "Jinja2's unique filter failed and we cannot fall back to Ansible's version as it does not support the parameters supplied.",
            ));
        }
        let mut out: Vec<Value> = Vec::new();
        for it in items {
            if !contains(&out, &it) {
                out.push(it);
            }
        }
        return Ok(Value::from(out));
    }
    let mut seen: Vec<Value> = Vec::new();
    let mut out = Vec::new();
    for (it, key) in items.into_iter().zip(keys) {
        let key = ignore_case(key, cs);
        if !contains(&seen, &key) {
            seen.push(key);
            out.push(it);
        }
    }
    Ok(Value::from(out))
}

fn minmax(name: &str, a: Value, rest: &[ValueOrKwargs]) -> Result<Value, Error> {
    let args = Args::parse(name, rest, &["case_sensitive", "attribute"], false)?;
    let cs = args.truthy(0, false);
    let attr = args.some(1).cloned();
    let items = py_iter(&a)?;
    let mut best: Option<(Value, Value)> = None;
    for it in items {
        let key = match &attr {
            Some(at) => get_attribute(&it, at),
            None => it.clone(),
        };
        let key = ignore_case(key, cs);
        best = match best {
            None => Some((key, it)),
            Some((bk, bv)) => {
                let o = py_cmp(&key, &bk)?;
                let better = if name == "min" { o.is_lt() } else { o.is_gt() };
                if better {
                    Some((key, it))
                } else {
                    Some((bk, bv))
                }
            }
        };
    }
    match best {
        Some((_, v)) => Ok(v),
        None => Ok(Value::UNDEFINED),
    }
}

// ---------------------------------------------------------------- math

fn num(name: &str, v: &Value) -> Result<f64, Error> {
    to_f64(v).ok_or_else(|| err(format!("{name}() can only be used on numbers")))
}

fn log(_: &State, x: Value, rest: &[ValueOrKwargs]) -> Result<Value, Error> {
    let a = Args::parse("log", rest, &["base"], false)?;
    let x = num("log", &x)?;
    if x <= 0.0 {
        return Err(err("math domain error"));
    }
    let r = match a.some(0) {
        None => x.ln(),
        Some(b) => {
            let b = num("log", b)?;
            if b == 10.0 {
                x.log10()
            } else {
                if b <= 0.0 || b == 1.0 {
                    return Err(err("math domain error"));
                }
                x.ln() / b.ln()
            }
        }
    };
    Ok(Value::from(r))
}

fn pow(_: &State, x: Value, rest: &[ValueOrKwargs]) -> Result<Value, Error> {
    let a = Args::parse("pow", rest, &["y"], false)?;
    let y = num("pow", a.req("pow", 0, "y")?)?;
    Ok(Value::from(num("pow", &x)?.powf(y)))
}

fn root(_: &State, x: Value, rest: &[ValueOrKwargs]) -> Result<Value, Error> {
    let a = Args::parse("root", rest, &["base"], false)?;
    let x = to_f64(&x).ok_or_else(|| err("root() can only be used on numbers"))?;
    let base = match a.some(0) {
        Some(b) => to_f64(b).ok_or_else(|| err("root() can only be used on numbers"))?,
        None => 2.0,
    };
    if base == 2.0 {
        if x < 0.0 {
            return Err(err("root() can only be used on numbers"));
        }
        return Ok(Value::from(x.sqrt()));
    }
    Ok(Value::from(x.powf(1.0 / base)))
}

const SIZE_RANGES: [(&str, f64); 9] = [
    ("Y", 1208925819614629174706176.0),
    ("Z", 1180591620717411303424.0),
    ("E", 1152921504606846976.0),
    ("P", 1125899906842624.0),
    ("T", 1099511627776.0),
    ("G", 1073741824.0),
    ("M", 1048576.0),
    ("K", 1024.0),
    ("B", 1.0),
];

/// `bytes_to_human(size, isbits, unit)`.
pub fn bytes_to_human(size: f64, isbits: bool, unit: Option<&str>) -> String {
    let base = if isbits { "bits" } else { "Bytes" };
    let mut chosen = ("B", 1.0);
    for (suffix, limit) in SIZE_RANGES {
        chosen = (suffix, limit);
        let hit = match unit {
            None => size >= limit,
            Some(u) => u.to_uppercase().starts_with(suffix),
        };
        if hit {
            break;
        }
    }
    let (suffix, limit) = chosen;
    let suffix = if limit != 1.0 {
        format!("{suffix}{}", &base[..1])
    } else {
        base.to_string()
    };
    format!("{:.2} {suffix}", size / limit)
}

fn human_readable(_: &State, v: Value, rest: &[ValueOrKwargs]) -> Result<Value, Error> {
    let a = Args::parse("human_readable", rest, &["isbits", "unit"], false)?;
    let size = to_f64(&v)
        .or_else(|| {
            v.as_str()
                .and_then(|s| s.trim().parse().ok())
                .filter(|_| false)
        })
        .ok_or_else(|| err("human_readable() failed on bad input"))?;
    let unit = a.some(1).map(py_str);
    Ok(Value::from(bytes_to_human(
        size,
        a.truthy(0, false),
        unit.as_deref(),
    )))
}

/// Python's `round()` (half to even) to an integer.
fn round_half_even(x: f64) -> f64 {
    let r = x.round();
    if (x - x.trunc()).abs() == 0.5 {
        2.0 * (x / 2.0).round()
    } else {
        r
    }
}

/// `human_to_bytes(number, default_unit, isbits)`.
pub fn human_to_bytes(
    number: &str,
    default_unit: Option<&str>,
    isbits: bool,
) -> Result<i64, String> {
    let s = number;
    let t = s.trim_end();
    let digits_end = t
        .char_indices()
        .find(|(_, c)| !(c.is_ascii_digit() || *c == '.'))
        .map(|(i, _)| i)
        .unwrap_or(t.len());
    let numpart = &t[..digits_end];
    let unitpart = t[digits_end..].trim_start();
    let valid_num = {
        let parts: Vec<&str> = numpart.split('.').collect();
        !numpart.is_empty()
            && parts.len() <= 2
            && parts.last().is_some_and(|p| !p.is_empty())
            && parts.iter().all(|p| p.chars().all(|c| c.is_ascii_digit()))
    };
    if !valid_num
        || !unitpart.chars().all(|c| c.is_ascii_alphabetic())
        || t.starts_with(char::is_whitespace)
    {
        return Err(format!(
            "human_to_bytes() can't interpret following string: {s}"
        ));
    }
    let n: f64 = numpart
        .parse()
        .map_err(|_| format!("human_to_bytes() can't interpret following string: {s}"))?;
    let unit = if unitpart.is_empty() {
        default_unit.map(str::to_string)
    } else {
        Some(unitpart.to_string())
    };
    let Some(unit) = unit else {
        return Ok(round_half_even(n) as i64);
    };
    let range_key = unit
        .chars()
        .next()
        .map(|c| c.to_ascii_uppercase())
        .unwrap_or('B');
    let Some((_, limit)) = SIZE_RANGES.iter().find(|(k, _)| k.starts_with(range_key)) else {
        return Err(format!(
            "human_to_bytes() failed to convert {s} (unit = {unit}). The suffix must be one of Y, Z, E, P, T, G, M, K, B"
        ));
    };
    let (unit_class, unit_class_name) = if isbits { ('b', "bit") } else { ('B', "byte") };
    if unit.chars().count() > 1 {
        let expect = if range_key == 'B' {
            format!("expect {unit_class} or {unit_class_name}")
        } else {
            format!("expect {range_key}{unit_class} or {range_key}")
        };
        let names = [
            ('B', "byte", "bit"),
            ('K', "kilobyte", "kilobit"),
            ('M', "megabyte", "megabit"),
            ('G', "gigabyte", "gigabit"),
            ('T', "terabyte", "terabit"),
            ('P', "petabyte", "petabit"),
            ('E', "exabyte", "exabit"),
            ('Z', "zetabyte", "zetabit"),
            ('Y', "yottabyte", "yottabit"),
        ];
        let (_, bytename, bitname) = names
            .iter()
            .find(|(k, _, _)| *k == range_key)
            .copied()
            .unwrap_or(('B', "byte", "bit"));
        let long = if isbits { bitname } else { bytename };
        let short = format!("{range_key}{unit_class}");
        let short = if range_key == 'B' {
            unit_class.to_string()
        } else {
            short
        };
        if unit.to_lowercase() != long && unit != short {
            return Err(format!(
                "human_to_bytes() failed to convert {s}. Value is not a valid string ({expect})"
            ));
        }
    }
    Ok(round_half_even(n * limit) as i64)
}

fn human_to_bytes_filter(_: &State, v: Value, rest: &[ValueOrKwargs]) -> Result<Value, Error> {
    let a = Args::parse("human_to_bytes", rest, &["default_unit", "isbits"], false)?;
    let unit = a.some(0).map(py_str);
    human_to_bytes(&py_str(&v), unit.as_deref(), a.truthy(1, false))
        .map(Value::from)
        .map_err(|_| err("human_to_bytes() can't interpret the input"))
}

fn rekey_on_member(_: &State, data: Value, rest: &[ValueOrKwargs]) -> Result<Value, Error> {
    let a = Args::parse("rekey_on_member", rest, &["key", "duplicates"], false)?;
    let key = a.req("rekey_on_member", 0, "key")?.clone();
    let dup = a.string(1, "error");
    if dup != "error" && dup != "overwrite" {
        return Err(err(format!(
            "duplicates parameter to rekey_on_member has unknown value {}",
            super::pyfmt::str_repr(&dup)
        )));
    }
    let items: Vec<Value> = if is_map(&data) {
        map_items(&data)
            .unwrap_or_default()
            .into_iter()
            .map(|(_, v)| v)
            .collect()
    } else if is_seq(&data) {
        list_of(&data).unwrap_or_default()
    } else {
        return Err(err("Type is not a valid list, set, or dict"));
    };
    let mut out: indexmap::IndexMap<Value, Value> = indexmap::IndexMap::new();
    for it in items {
        if !is_map(&it) {
            return Err(err("List item is not a valid dict"));
        }
        let k = it.get_item(&key).unwrap_or_default();
        if k.is_undefined() {
            return Err(err(format!("Key {} was not found.", py_repr(&key))));
        }
        if out.get(&k).is_some_and(|v| v.is_true()) {
            if dup == "error" {
                return Err(err(format!(
                    "Key {} is not unique, cannot convert to dict.",
                    py_repr(&k)
                )));
            }
            out.insert(k, it);
        } else {
            out.insert(k, it);
        }
    }
    Ok(Value::from_pairs(out))
}

// ---------------------------------------------------------------- itertools

fn iterables(first: Value, pos: Vec<Value>) -> Result<Vec<Vec<Value>>, Error> {
    let mut out = vec![py_iter(&first)?];
    for p in pos {
        out.push(py_iter(&p)?);
    }
    Ok(out)
}

fn zip(_: &State, a: Value, rest: &[ValueOrKwargs]) -> Result<Value, Error> {
    let (pos, kw) = split_args(rest);
    if let Some((k, _)) = kw.iter().find(|(k, _)| k != "strict") {
        return Err(err(format!(
            "zip() got an unexpected keyword argument '{k}'"
        )));
    }
    let lists = iterables(a, pos)?;
    let n = lists.iter().map(Vec::len).min().unwrap_or(0);
    Ok(Value::from(
        (0..n)
            .map(|i| Value::from(lists.iter().map(|l| l[i].clone()).collect::<Vec<_>>()))
            .collect::<Vec<_>>(),
    ))
}

fn zip_longest(_: &State, a: Value, rest: &[ValueOrKwargs]) -> Result<Value, Error> {
    let (pos, kw) = split_args(rest);
    let mut fill = Value::from(());
    for (k, v) in kw {
        if k == "fillvalue" {
            fill = v;
        } else {
            return Err(err(format!(
                "zip_longest() got an unexpected keyword argument '{k}'"
            )));
        }
    }
    let lists = iterables(a, pos)?;
    let n = lists.iter().map(Vec::len).max().unwrap_or(0);
    Ok(Value::from(
        (0..n)
            .map(|i| {
                Value::from(
                    lists
                        .iter()
                        .map(|l| l.get(i).cloned().unwrap_or_else(|| fill.clone()))
                        .collect::<Vec<_>>(),
                )
            })
            .collect::<Vec<_>>(),
    ))
}

fn product(_: &State, a: Value, rest: &[ValueOrKwargs]) -> Result<Value, Error> {
    let (pos, kw) = split_args(rest);
    let mut repeat = 1;
    for (k, v) in kw {
        if k == "repeat" {
            repeat = super::to_int(&v).unwrap_or(1).max(0) as usize;
        } else {
            return Err(err(format!(
                "product() got an unexpected keyword argument '{k}'"
            )));
        }
    }
    let lists = iterables(a, pos)?;
    let mut pools = Vec::new();
    for _ in 0..repeat {
        pools.extend(lists.iter().cloned());
    }
    let mut result: Vec<Vec<Value>> = vec![vec![]];
    for pool in pools {
        let mut next = Vec::new();
        for r in &result {
            for x in &pool {
                let mut t = r.clone();
                t.push(x.clone());
                next.push(t);
            }
        }
        result = next;
        if result.len() > 1_000_000 {
            return Err(err("product() result too large"));
        }
    }
    Ok(Value::from(
        result.into_iter().map(Value::from).collect::<Vec<_>>(),
    ))
}

fn combos(pool: &[Value], r: usize, start: usize, cur: &mut Vec<Value>, out: &mut Vec<Value>) {
    if cur.len() == r {
        out.push(Value::from(cur.clone()));
        return;
    }
    for i in start..pool.len() {
        cur.push(pool[i].clone());
        combos(pool, r, i + 1, cur, out);
        cur.pop();
    }
}

fn perms(
    pool: &[Value],
    r: usize,
    used: &mut Vec<bool>,
    cur: &mut Vec<Value>,
    out: &mut Vec<Value>,
) {
    if cur.len() == r {
        out.push(Value::from(cur.clone()));
        return;
    }
    for i in 0..pool.len() {
        if used[i] {
            continue;
        }
        used[i] = true;
        cur.push(pool[i].clone());
        perms(pool, r, used, cur, out);
        cur.pop();
        used[i] = false;
    }
}

fn combinations(_: &State, a: Value, rest: &[ValueOrKwargs]) -> Result<Value, Error> {
    let args = Args::parse("combinations", rest, &["r"], false)?;
    let r = args.req("combinations", 0, "r")?;
    let r = super::to_int(r).ok_or_else(|| {
        err(format!(
            "'{}' object cannot be interpreted as an integer",
            type_name(r)
        ))
    })?;
    if r < 0 {
        return Err(err("r must be non-negative"));
    }
    let pool = py_iter(&a)?;
    let mut out = Vec::new();
    if r as usize <= pool.len() {
        combos(&pool, r as usize, 0, &mut Vec::new(), &mut out);
    }
    Ok(Value::from(out))
}

fn permutations(_: &State, a: Value, rest: &[ValueOrKwargs]) -> Result<Value, Error> {
    let args = Args::parse("permutations", rest, &["r"], false)?;
    let pool = py_iter(&a)?;
    let r = match args.some(0) {
        None => pool.len() as i64,
        Some(v) => super::to_int(v).ok_or_else(|| err("Expected int as r"))?,
    };
    if r < 0 {
        return Err(err("r must be non-negative"));
    }
    let mut out = Vec::new();
    if r as usize <= pool.len() && pool.len() <= 10 {
        perms(
            &pool,
            r as usize,
            &mut vec![false; pool.len()],
            &mut Vec::new(),
            &mut out,
        );
    } else if pool.len() > 10 {
        return Err(err("permutations() result too large"));
    }
    Ok(Value::from(out))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn eval(expr: &str) -> Value {
        let env = crate::filters::tests::env();
        env.compile_expression(expr).unwrap().eval(()).unwrap()
    }

    #[test]
    fn int_sets_in_cpython_order() {
        assert_eq!(
            py_repr(&eval("[3, 1, 2] | union([9, 0])")),
            "[0, 1, 2, 3, 9]"
        );
        assert_eq!(py_repr(&eval("[-1, -2, 5] | union([0])")), "[0, 5, -1, -2]");
        assert_eq!(
            py_repr(&eval("[30, 10, 20, 8] | difference([10])")),
            "[8, 20, 30]"
        );
        assert_eq!(
            py_repr(&eval("[{'a': 1}, {'a': 1}, 2] | unique")),
            "[{'a': 1}, 2]"
        );
    }

    #[test]
    fn human_sizes() {
        assert_eq!(bytes_to_human(1048576.0, false, None), "1.00 MB");
        assert_eq!(bytes_to_human(10.0, false, None), "10.00 Bytes");
        assert_eq!(human_to_bytes("1.5K", None, false).unwrap(), 1536);
        assert_eq!(human_to_bytes("10 MB", None, false).unwrap(), 10485760);
        assert!(human_to_bytes("10 Mb", None, false).is_err());
        assert_eq!(human_to_bytes("2.5", None, false).unwrap(), 2);
    }
}
