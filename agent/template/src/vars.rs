//! The variable scope seen by a render: a minijinja object over the [`Vars`] layers that
//! renders templated values when they are read (Ansible's lazy templating).
//!
//! A name is looked up in the layers, highest precedence first. A raw value holding a
//! template (in a string, or anywhere inside a list or dict) is rendered with the same
//! scope, so variables may refer to other variables. Results are cached for the life of
//! the scope (one render call). A variable that refers to itself, directly or through
//! others, fails with Ansible's "Recursive loop detected" error; chains of lazy variables
//! are bounded by [`MAX_LAZY_DEPTH`].

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use minijinja::Value;
use minijinja::value::{Enumerator, Object, ObjectRepr};

use crate::{Templar, TemplateError, Vars};

/// How many lazy variables may be resolving inside one another at once.
pub const MAX_LAZY_DEPTH: usize = 64;

/// What went wrong while resolving a lazy variable, kept until the render returns.
#[derive(Debug, Default)]
struct ScopeState {
    cache: HashMap<String, Value>,
    resolving: Vec<String>,
    /// A failure that is not an undefined value: it fails the whole render.
    fatal: Option<TemplateError>,
    /// Why a lazy variable came out undefined (the innermost message).
    undefined: Option<TemplateError>,
}

pub(crate) struct Scope {
    templar: Templar,
    layers: Vec<Value>,
    state: Mutex<ScopeState>,
}

impl std::fmt::Debug for Scope {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Scope")
            .field("layers", &self.layers.len())
            .finish()
    }
}

impl Scope {
    /// This scope with `layer` above its layers (a fresh cache).
    pub(crate) fn with_layer(&self, layer: Value) -> Arc<Scope> {
        let mut layers = Vec::with_capacity(self.layers.len() + 1);
        layers.push(layer);
        layers.extend(self.layers.iter().cloned());
        Arc::new(Scope {
            templar: self.templar.clone(),
            layers,
            state: Mutex::new(ScopeState::default()),
        })
    }

    pub(crate) fn new(templar: &Templar, vars: &Vars) -> Arc<Scope> {
        Arc::new(Scope {
            templar: templar.clone(),
            layers: vars.layers.clone(),
            state: Mutex::new(ScopeState::default()),
        })
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, ScopeState> {
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// The raw (unrendered) value of a name, from the first layer that has it.
    pub(crate) fn raw(&self, name: &str) -> Option<Value> {
        let key = Value::from(name);
        self.layers.iter().find_map(|layer| {
            if layer.is_undefined() || layer.is_none() {
                return None;
            }
            layer.get_item(&key).ok().filter(|v| !v.is_undefined())
        })
    }

    /// The rendered value of a name, or `None` when it is undefined (or failed; the
    /// failure is recorded and reported when the render returns).
    pub(crate) fn lookup(self: &Arc<Self>, name: &str) -> Option<Value> {
        {
            let st = self.lock();
            if let Some(v) = st.cache.get(name) {
                return Some(v.clone());
            }
            // The render has failed already (a recursion, say): resolve nothing more, so
            // that a template reading a failing variable several times, at every level of
            // a long chain, cannot take exponential time.
            if st.fatal.is_some() {
                return None;
            }
        }
        let raw = self.raw(name)?;
        // A `!vault` variable: its plain text when a secret opens it, else the vaulted
        // value itself, which fails only where it is used (`unvault` can still open it).
        if let Some(vaulted) = agent_yaml::vault::Vaulted::of(&raw) {
            let v = match vaulted.plain() {
                Ok(p) => p,
                Err(_) => {
                    crate::note_undecryptable_read();
                    raw
                }
            };
            self.lock().cache.insert(name.to_string(), v.clone());
            return Some(v);
        }
        if !crate::needs_templating(&raw) {
            // remember it, so big plain values (facts) are scanned once per render
            self.lock().cache.insert(name.to_string(), raw.clone());
            return Some(raw);
        }
        // A list or dict with templates inside: rendered item by item, as templates
        // reach them (Ansible's lazy containers); whole when it leaves the templates.
        if crate::is_plain_container(&raw) {
            let v = Lazy::value(raw, self);
            self.lock().cache.insert(name.to_string(), v.clone());
            return Some(v);
        }
        {
            let mut st = self.lock();
            if st.resolving.iter().any(|n| n == name) || st.resolving.len() >= MAX_LAZY_DEPTH {
                let chain = st.resolving.join(" -> ");
                if st.fatal.is_none() {
                    st.fatal = Some(TemplateError::new(format!(
                        "Recursive loop detected in template: maximum recursion depth exceeded \
                         (variable '{name}' refers to itself through: {chain} -> {name})"
                    )));
                }
                return None;
            }
            st.resolving.push(name.to_string());
        }
        let result = self.templar.template_value_scoped(&raw, self, false);
        let mut st = self.lock();
        st.resolving.pop();
        match result {
            Ok(v) if !v.is_undefined() => {
                st.cache.insert(name.to_string(), v.clone());
                Some(v)
            }
            Ok(_) => None,
            Err(e) if e.undefined => {
                if st.undefined.is_none() {
                    st.undefined = Some(e);
                }
                None
            }
            Err(e) => {
                if st.fatal.is_none() {
                    st.fatal = Some(TemplateError {
                        message: format!("Error while resolving variable '{name}': {}", e.message),
                        ..e
                    });
                }
                None
            }
        }
    }

    /// A failure recorded while resolving a lazy variable, which fails the render.
    pub(crate) fn take_fatal(&self) -> Option<TemplateError> {
        self.lock().fatal.take()
    }

    /// Why the last lazy variable came out undefined, if one did.
    pub(crate) fn take_undefined(&self) -> Option<TemplateError> {
        self.lock().undefined.take()
    }
}

thread_local! {
    /// How many [`Lazy`] containers exist on this thread: while any do, a render's
    /// result is checked for them ([`materialize`]).
    static LAZY_LIVE: std::cell::Cell<usize> = const { std::cell::Cell::new(0) };
}

/// Whether a [`Lazy`] container may be inside a render's result.
pub(crate) fn lazy_live() -> bool {
    LAZY_LIVE.with(|c| c.get() > 0)
}

/// A variable's list or dict that holds templates, rendered item by item as templates
/// reach its items, each once (Ansible's lazy containers: `top_level.key1` does not render
/// the sibling `key2`, nor run its lookups). Items that are lists or dicts with templates
/// are lazy too. A render's result never holds one: [`materialize`] renders the rest.
pub(crate) struct Lazy {
    raw: Value,
    scope: std::sync::Weak<Scope>,
    done: Mutex<HashMap<Value, Value>>,
}

impl std::fmt::Debug for Lazy {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Lazy").field("raw", &self.raw).finish()
    }
}

impl Lazy {
    fn value(raw: Value, scope: &Arc<Scope>) -> Value {
        LAZY_LIVE.with(|c| c.set(c.get() + 1));
        Value::from_object(Lazy {
            raw,
            scope: Arc::downgrade(scope),
            done: Mutex::new(HashMap::new()),
        })
    }

    fn is_seq(&self) -> bool {
        self.raw.kind() == minijinja::value::ValueKind::Seq
    }

    /// The rendered item under `key` (an index for a list), or `None` when there is no
    /// such item or it failed (the failure is recorded in the scope).
    fn item(&self, key: &Value) -> Option<Value> {
        if let Some(v) = self.done.lock().unwrap_or_else(|e| e.into_inner()).get(key) {
            return Some(v.clone());
        }
        let raw = crate::plain_item(&self.raw, key)?;
        let scope = self.scope.upgrade()?;
        let v = if !crate::needs_templating(&raw) {
            raw
        } else if crate::is_plain_container(&raw) {
            Lazy::value(raw, &scope)
        } else {
            // An item that reads itself (`a: {k: "{{ a.k }}"}`), directly or through
            // others, is a recursion like a variable's (each read is a new render, so
            // minijinja's own limit never trips).
            let marker = format!("{:p}[{key}]", self as *const Lazy);
            {
                let mut st = scope.lock();
                if st.resolving.contains(&marker) || st.resolving.len() >= MAX_LAZY_DEPTH {
                    if st.fatal.is_none() {
                        st.fatal = Some(TemplateError::new(format!(
                            "Recursive loop detected in template: maximum recursion depth \
                             exceeded (an item refers to itself through: {})",
                            st.resolving.join(" -> ")
                        )));
                    }
                    return None;
                }
                st.resolving.push(marker);
            }
            let rendered = scope.templar.template_value_scoped(&raw, &scope, false);
            scope.lock().resolving.pop();
            match rendered {
                Ok(v) => v,
                Err(e) if e.undefined => {
                    let mut st = scope.lock();
                    if st.undefined.is_none() {
                        st.undefined = Some(e);
                    }
                    return Some(Value::UNDEFINED);
                }
                Err(e) => {
                    let mut st = scope.lock();
                    if st.fatal.is_none() {
                        st.fatal = Some(e);
                    }
                    return None;
                }
            }
        };
        self.done
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .insert(key.clone(), v.clone());
        Some(v)
    }
}

impl Drop for Lazy {
    fn drop(&mut self) {
        LAZY_LIVE.with(|c| c.set(c.get().saturating_sub(1)));
    }
}

impl Object for Lazy {
    fn repr(self: &Arc<Self>) -> ObjectRepr {
        if self.is_seq() {
            ObjectRepr::Seq
        } else {
            ObjectRepr::Map
        }
    }

    fn get_value(self: &Arc<Self>, key: &Value) -> Option<Value> {
        self.item(key)
    }

    fn enumerate(self: &Arc<Self>) -> Enumerator {
        if self.is_seq() {
            Enumerator::Seq(self.raw.len().unwrap_or(0))
        } else {
            Enumerator::Values(
                self.raw
                    .try_iter()
                    .map(Iterator::collect)
                    .unwrap_or_default(),
            )
        }
    }

    fn enumerator_len(self: &Arc<Self>) -> Option<usize> {
        self.raw.len()
    }
}

/// `v` with every [`Lazy`] container in it rendered whole (what leaves the templates is
/// plain data). A failure of an item is the render's failure.
pub(crate) fn materialize(v: &Value, depth: usize) -> Result<Value, TemplateError> {
    if depth > MAX_LAZY_DEPTH {
        return Err(TemplateError::new(
            "Recursive loop detected in template: maximum recursion depth exceeded (a \
             variable's list or dict holds itself)",
        ));
    }
    let lazy = v.downcast_object::<Lazy>();
    let plain = crate::is_plain_container(v);
    if lazy.is_none() && !plain {
        return Ok(v.clone());
    }
    let failed = |lazy: &Lazy| {
        lazy.scope
            .upgrade()
            .and_then(|s| s.take_fatal())
            .unwrap_or_else(|| TemplateError::new("a lazy variable could not be rendered"))
    };
    // An item that came out undefined fails what leaves the templates, as a whole
    // container rendered at once fails.
    let defined = |lazy: &Lazy, item: Value| {
        if !item.is_undefined() || crate::keeping_undefined() {
            return Ok(item);
        }
        let why = lazy.scope.upgrade().and_then(|s| s.take_undefined());
        Err(why.unwrap_or_else(|| TemplateError {
            undefined: true,
            ..TemplateError::new("an undefined value is part of the result")
        }))
    };
    if v.kind() == minijinja::value::ValueKind::Seq {
        let len = v.len().unwrap_or(0);
        let mut out = Vec::with_capacity(len);
        for i in 0..len {
            let item = match &lazy {
                Some(l) => defined(l, l.item(&Value::from(i)).ok_or_else(|| failed(l))?)?,
                None => v.get_item(&Value::from(i)).unwrap_or_default(),
            };
            out.push(materialize(&item, depth + 1)?);
        }
        return Ok(Value::from(out));
    }
    let keys: Vec<Value> = v.try_iter().map(Iterator::collect).unwrap_or_default();
    let mut out = indexmap::IndexMap::with_capacity(keys.len());
    for k in keys {
        let item = match &lazy {
            Some(l) => defined(l, l.item(&k).ok_or_else(|| failed(l))?)?,
            None => v.get_item(&k).unwrap_or_default(),
        };
        out.insert(k, materialize(&item, depth + 1)?);
    }
    Ok(Value::from_object(out))
}

/// The name under which a render's context hands out the scope itself (not an
/// identifier, so templates cannot name it); lookups use it to reach the layers.
pub(crate) const SCOPE_KEY: &str = "\u{1}scope";

impl Scope {
    /// Every variable name, from all layers, highest precedence first, each once.
    pub(crate) fn names(&self) -> Vec<String> {
        let mut seen = std::collections::HashSet::new();
        let mut out = Vec::new();
        for layer in &self.layers {
            if layer.kind() != minijinja::value::ValueKind::Map {
                continue;
            }
            let Ok(keys) = layer.try_iter() else {
                continue;
            };
            for key in keys {
                if let Some(name) = key.as_str()
                    && !seen.contains(name)
                {
                    seen.insert(name.to_string());
                    out.push(name.to_string());
                }
            }
        }
        out
    }

    /// The templar and the layers, for renders that start from this scope's variables
    /// (the `template` lookup).
    pub(crate) fn parts(&self) -> (Templar, Vars) {
        (self.templar.clone(), Vars::new(self.layers.clone()))
    }

    /// The scope behind a render's context value, if it is one.
    pub(crate) fn from_context(v: &Value) -> Option<Arc<Scope>> {
        v.downcast_object::<Scope>()
    }
}

impl Object for Scope {
    fn repr(self: &Arc<Self>) -> ObjectRepr {
        ObjectRepr::Map
    }

    fn get_value(self: &Arc<Self>, key: &Value) -> Option<Value> {
        let name = key.as_str()?;
        if name == SCOPE_KEY {
            return Some(Value::from_dyn_object(self.clone()));
        }
        match self.lookup(name) {
            Some(v) => Some(v),
            // Ansible's (deprecated) `vars`: every variable, templated when read
            None if name == "vars" && self.raw(name).is_none() => {
                Some(Value::from_dyn_object(self.clone()))
            }
            None => None,
        }
    }

    fn enumerate(self: &Arc<Self>) -> Enumerator {
        Enumerator::Values(self.names().into_iter().map(Value::from).collect())
    }
}
