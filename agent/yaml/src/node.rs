use std::fmt;

use minijinja::Value;

/// A 1-based line and column in a source file.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, PartialOrd, Ord, Hash)]
pub struct Pos {
    pub line: usize,
    pub col: usize,
}

impl fmt::Display for Pos {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}:{}", self.line, self.col)
    }
}

/// One YAML node with its resolved (YAML 1.1) value and where it started.
#[derive(Debug, Clone, PartialEq)]
pub struct Node {
    pub pos: Pos,
    pub kind: Kind,
}

/// The resolved value of a node.
#[derive(Debug, Clone, PartialEq)]
pub enum Kind {
    Null,
    Bool(bool),
    Int(i64),
    Float(f64),
    Str(String),
    /// A string tagged `!unsafe`: never templated.
    Unsafe(String),
    /// A `!vault` tagged value (its ciphertext; see [`crate::vault`]).
    Vault(String),
    Seq(Vec<Node>),
    /// Mapping entries in document order, merge keys (`<<`) already applied.
    Map(Vec<(Node, Node)>),
}

impl Node {
    /// The mapping value for a string key, if this is a mapping that has it.
    pub fn get(&self, key: &str) -> Option<&Node> {
        match &self.kind {
            Kind::Map(entries) => entries
                .iter()
                .find(|(k, _)| matches!(&k.kind, Kind::Str(s) if s == key))
                .map(|(_, v)| v),
            _ => None,
        }
    }

    pub fn as_str(&self) -> Option<&str> {
        match &self.kind {
            Kind::Str(s) | Kind::Unsafe(s) => Some(s),
            _ => None,
        }
    }

    pub fn as_map(&self) -> Option<&[(Node, Node)]> {
        match &self.kind {
            Kind::Map(m) => Some(m),
            _ => None,
        }
    }

    pub fn as_seq(&self) -> Option<&[Node]> {
        match &self.kind {
            Kind::Seq(s) => Some(s),
            _ => None,
        }
    }

    pub fn is_null(&self) -> bool {
        matches!(self.kind, Kind::Null)
    }

    /// A short name of the node's type, as Python would call it (for error messages).
    pub fn type_name(&self) -> &'static str {
        match self.kind {
            Kind::Null => "NoneType",
            Kind::Bool(_) => "bool",
            Kind::Int(_) => "int",
            Kind::Float(_) => "float",
            Kind::Str(_) | Kind::Unsafe(_) | Kind::Vault(_) => "str",
            Kind::Seq(_) => "list",
            Kind::Map(_) => "dict",
        }
    }

    /// Convert to a template value. Mappings keep their order. `!unsafe` strings become
    /// safe-marked strings (see `agent_template` for how they are kept from templating).
    pub fn to_value(&self) -> Value {
        match &self.kind {
            Kind::Null => Value::from(()),
            Kind::Bool(b) => Value::from(*b),
            Kind::Int(i) => Value::from(*i),
            Kind::Float(f) => Value::from(*f),
            Kind::Str(s) => Value::from(s.as_str()),
            Kind::Unsafe(s) => Value::from_safe_string(s.clone()),
            Kind::Vault(s) => crate::vault::Vaulted::value(s.clone()),
            Kind::Seq(items) => Value::from(items.iter().map(Node::to_value).collect::<Vec<_>>()),
            Kind::Map(entries) => Value::from(
                entries
                    .iter()
                    .map(|(k, v)| (k.to_value(), v.to_value()))
                    .collect::<indexmap::IndexMap<Value, Value>>(),
            ),
        }
    }
}
