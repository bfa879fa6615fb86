//! community.general filters roles use most: json_query (JMESPath, through the
//! `jmespath` crate), dict_kv and from_csv (Python's `csv.DictReader` with the excel,
//! excel-tab and unix dialects and the delimiter/skipinitialspace/strict overrides).

use minijinja::value::ValueOrKwargs;
use minijinja::{Environment, Error, State, Value};

use super::pyfmt::from_json_value;
use super::{Args, add, err, py_str};

const NS: &str = "community.general";

pub(crate) fn register(env: &mut Environment<'static>) {
    add(env, NS, "json_query", f_json_query);
    add(env, NS, "dict_kv", f_dict_kv);
    add(env, NS, "from_csv", f_from_csv);
}

/// `json_query(data, expr)`: evaluate a JMESPath expression on the data.
pub fn json_query(data: &Value, expr: &str) -> Result<Value, Error> {
    let search_err = |e: &dyn std::fmt::Display| {
        err(format!(
            "Error in jmespath.search in json_query filter plugin:\n{e}"
        ))
    };
    let expr = legacy_literals(expr);
    let compiled = jmespath::compile(&expr)
        .map_err(|e| err(format!("JMESPathError in json_query filter plugin:\n{e}")))?;
    let json = serde_json::to_value(data).map_err(|e| search_err(&e))?;
    let input_has_floats = has_floats(&json);
    let var: jmespath::Variable = serde_json::from_value(json).map_err(|e| search_err(&e))?;
    let found = compiled
        .search(var)
        .map_err(|e| err(format!("JMESPathError in json_query filter plugin:\n{e}")))?;
    let mut out = serde_json::to_value(&*found).map_err(|e| search_err(&e))?;
    // The crate computes sum/abs/ceil/floor in f64 where Python's jmespath keeps ints:
    // integral results are ints unless floats were involved (input floats, avg()).
    if !input_has_floats && !expr.contains("avg(") {
        integral_floats_to_ints(&mut out);
    }
    Ok(from_json_value(out))
}

fn has_floats(v: &serde_json::Value) -> bool {
    match v {
        serde_json::Value::Number(n) => n.is_f64(),
        serde_json::Value::Array(a) => a.iter().any(has_floats),
        serde_json::Value::Object(m) => m.values().any(has_floats),
        _ => false,
    }
}

fn integral_floats_to_ints(v: &mut serde_json::Value) {
    match v {
        serde_json::Value::Number(n) => {
            if let Some(f) = n
                .as_f64()
                .filter(|f| n.is_f64() && f.fract() == 0.0 && f.abs() < 9.0e15)
            {
                *n = serde_json::Number::from(f as i64);
            }
        }
        serde_json::Value::Array(a) => a.iter_mut().for_each(integral_floats_to_ints),
        serde_json::Value::Object(m) => m.values_mut().for_each(integral_floats_to_ints),
        _ => {}
    }
}

/// Python's jmespath reads a backtick literal that is not JSON as a string (its
/// deprecated legacy form, `` `dev` ``); rewrite those as JSON strings for the crate.
fn legacy_literals(expr: &str) -> String {
    let mut out = String::with_capacity(expr.len());
    let mut chars = expr.chars().peekable();
    let mut quote: Option<char> = None;
    while let Some(c) = chars.next() {
        if let Some(q) = quote {
            out.push(c);
            if c == '\\' {
                if let Some(n) = chars.next() {
                    out.push(n);
                }
            } else if c == q {
                quote = None;
            }
            continue;
        }
        if c == '\'' || c == '"' {
            quote = Some(c);
            out.push(c);
            continue;
        }
        if c != '`' {
            out.push(c);
            continue;
        }
        let mut lit = String::new();
        let mut closed = false;
        while let Some(n) = chars.next() {
            if n == '\\' && chars.peek() == Some(&'`') {
                lit.push('`');
                chars.next();
            } else if n == '`' {
                closed = true;
                break;
            } else {
                lit.push(n);
            }
        }
        let body = if closed && serde_json::from_str::<serde_json::Value>(&lit).is_err() {
            serde_json::Value::String(lit.trim_start().to_string()).to_string()
        } else {
            lit
        };
        out.push('`');
        out.push_str(&body.replace('`', "\\`"));
        if closed {
            out.push('`');
        }
    }
    out
}

fn f_json_query(_: &State, value: Value, rest: &[ValueOrKwargs]) -> Result<Value, Error> {
    let a = Args::parse("json_query", rest, &["expr"], false)?;
    let expr = py_str(a.req("json_query", 0, "expr")?);
    json_query(&value, &expr)
}

fn f_dict_kv(_: &State, value: Value, rest: &[ValueOrKwargs]) -> Result<Value, Error> {
    let a = Args::parse("dict_kv", rest, &["key"], false)?;
    let key = a.req("dict_kv", 0, "key")?.clone();
    Ok(Value::from_pairs(vec![(key, value)]))
}

/// A CSV dialect as Python's csv module reads it.
#[derive(Debug, Clone)]
pub struct Dialect {
    /// Field separator.
    pub delimiter: char,
    /// Quote character.
    pub quotechar: char,
    /// Skip spaces right after a delimiter.
    pub skipinitialspace: bool,
    /// Raise on bad quoting instead of reading on.
    pub strict: bool,
}

impl Dialect {
    /// A dialect by name (`excel`, `excel-tab`, `unix`).
    pub fn named(name: &str) -> Option<Dialect> {
        let base = Dialect {
            delimiter: ',',
            quotechar: '"',
            skipinitialspace: false,
            strict: false,
        };
        match name {
            "excel" | "unix" => Some(base),
            "excel-tab" => Some(Dialect {
                delimiter: '\t',
                ..base
            }),
            _ => None,
        }
    }
}

/// Parse CSV text into rows of fields, as `csv.reader` does.
pub fn parse_csv(text: &str, d: &Dialect) -> Result<Vec<Vec<String>>, Error> {
    #[derive(PartialEq)]
    enum S {
        StartRecord,
        StartField,
        InField,
        InQuoted,
        QuoteInQuoted,
    }
    let mut rows = Vec::new();
    let mut row: Vec<String> = Vec::new();
    let mut field = String::new();
    let mut state = S::StartRecord;
    let mut chars = text.chars().peekable();
    let mut line = 1usize;
    while let Some(c) = chars.next() {
        let eol = c == '\n' || c == '\r';
        match state {
            S::StartRecord | S::StartField if eol => {
                if state == S::StartField {
                    row.push(std::mem::take(&mut field));
                }
                if c == '\r' && chars.peek() == Some(&'\n') {
                    chars.next();
                }
                rows.push(std::mem::take(&mut row));
                state = S::StartRecord;
                line += 1;
            }
            S::StartRecord | S::StartField => {
                if c == d.quotechar {
                    state = S::InQuoted;
                } else if c == d.delimiter {
                    row.push(String::new());
                    state = S::StartField;
                } else if c == ' ' && d.skipinitialspace {
                    state = S::StartField;
                } else {
                    field.push(c);
                    state = S::InField;
                }
            }
            S::InField => {
                if eol {
                    row.push(std::mem::take(&mut field));
                    if c == '\r' && chars.peek() == Some(&'\n') {
                        chars.next();
                    }
                    rows.push(std::mem::take(&mut row));
                    state = S::StartRecord;
                    line += 1;
                } else if c == d.delimiter {
                    row.push(std::mem::take(&mut field));
                    state = S::StartField;
                } else {
                    field.push(c);
                }
            }
            S::InQuoted => {
                if c == d.quotechar {
                    state = S::QuoteInQuoted;
                } else {
                    field.push(c);
                }
            }
            S::QuoteInQuoted => {
                if c == d.quotechar {
                    field.push(c);
                    state = S::InQuoted;
                } else if c == d.delimiter {
                    row.push(std::mem::take(&mut field));
                    state = S::StartField;
                } else if eol {
                    row.push(std::mem::take(&mut field));
                    if c == '\r' && chars.peek() == Some(&'\n') {
                        chars.next();
                    }
                    rows.push(std::mem::take(&mut row));
                    state = S::StartRecord;
                    line += 1;
                } else if d.strict {
                    return Err(err(format!(
                        "Unable to process file: '{}' expected after '{}'",
                        d.delimiter, d.quotechar
                    )));
                } else {
                    field.push(c);
                    state = S::InField;
                }
            }
        }
    }
    match state {
        S::StartRecord => {}
        S::InQuoted if d.strict => {
            let _ = line;
            return Err(err("Unable to process file: unexpected end of data"));
        }
        _ => {
            row.push(field);
            rows.push(row);
        }
    }
    Ok(rows)
}

fn f_from_csv(_: &State, value: Value, rest: &[ValueOrKwargs]) -> Result<Value, Error> {
    let a = Args::parse(
        "from_csv",
        rest,
        &[
            "dialect",
            "fieldnames",
            "delimiter",
            "skipinitialspace",
            "strict",
        ],
        false,
    )?;
    let name = a.string(0, "excel");
    let mut d = Dialect::named(&name).ok_or_else(|| {
        err(format!(
            "Dialect '{name}' is not supported by your version of python."
        ))
    })?;
    if let Some(delim) = a.some(2) {
        let s = py_str(delim);
        let mut it = s.chars();
        match (it.next(), it.next()) {
            (Some(c), None) => d.delimiter = c,
            _ => {
                return Err(err(
                    "Unable to create custom dialect: \"delimiter\" must be a 1-character string",
                ));
            }
        }
    }
    if let Some(v) = a.some(3) {
        d.skipinitialspace = v.is_true();
    }
    if let Some(v) = a.some(4) {
        d.strict = v.is_true();
    }
    let text = py_str(&value);
    let text = text.strip_prefix('\u{feff}').unwrap_or(&text);
    let rows = parse_csv(text, &d)?;
    let mut rows = rows.into_iter().filter(|r| !r.is_empty());
    let fields: Vec<Value> = match a.some(1) {
        Some(f) => super::py_iter(f)?,
        None => match rows.next() {
            Some(r) => r.into_iter().map(Value::from).collect(),
            None => return Ok(Value::from(Vec::<Value>::new())),
        },
    };
    let mut out = Vec::new();
    for r in rows {
        let mut pairs: Vec<(Value, Value)> = Vec::new();
        for (i, k) in fields.iter().enumerate() {
            let v = r
                .get(i)
                .map(|s| Value::from(s.as_str()))
                .unwrap_or(Value::from(()));
            pairs.retain(|(pk, _)| pk != k);
            pairs.push((k.clone(), v));
        }
        if r.len() > fields.len() {
            let extra: Vec<Value> = r[fields.len()..]
                .iter()
                .map(|s| Value::from(s.as_str()))
                .collect();
            pairs.push((Value::from(()), Value::from(extra)));
        }
        out.push(Value::from_pairs(pairs));
    }
    Ok(Value::from(out))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn eval(expr: &str) -> Result<Value, Error> {
        let env = crate::filters::tests::env();
        env.compile_expression(expr).unwrap().eval(())
    }

    #[test]
    fn jmespath_queries() {
        let v = eval("[{'a': 1}, {'a': 2}] | json_query('[].a')").unwrap();
        assert_eq!(v.to_string(), "[1, 2]");
        let v = eval("{'x': {'y': 'z'}} | community.general.json_query('x.y')").unwrap();
        assert_eq!(v.as_str(), Some("z"));
        assert!(eval("{} | json_query('[')").is_err());
        let v = eval("[{'g': ['dev']}, {'g': []}] | json_query('[?contains(g, `dev`)]')").unwrap();
        assert_eq!(v.len(), Some(1));
        assert_eq!(
            eval("[1, 2] | json_query('sum(@)')").unwrap().as_i64(),
            Some(3)
        );
    }

    #[test]
    fn csv_quoting() {
        let d = Dialect::named("excel").unwrap();
        let rows = parse_csv("a,\"b,c\",\"d\"\"e\"\r\n\n1,2", &d).unwrap();
        assert_eq!(rows[0], vec!["a", "b,c", "d\"e"]);
        assert!(rows[1].is_empty());
        assert_eq!(rows[2], vec!["1", "2"]);
    }

    #[test]
    fn from_csv_and_dict_kv() {
        let v = eval("'a,b\\n1,2\\n3' | community.general.from_csv").unwrap();
        assert_eq!(v.len(), Some(2));
        assert_eq!(
            eval("'v' | community.general.dict_kv('k')")
                .unwrap()
                .to_string(),
            "{'k': 'v'}"
        );
        assert!(eval("'a' | community.general.from_csv(dialect='nope')").is_err());
        // Ansible knows these by their FQCN only
        let env = crate::filters::tests::env();
        assert!(
            env.compile_expression("'v' | dict_kv('k')")
                .unwrap()
                .eval(())
                .is_err()
        );
    }
}
