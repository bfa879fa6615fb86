//! A limit on `*` repetition.
//!
//! minijinja repeats a string or a list up to 100 million times, and a repeated list is
//! lazy: `['x'] * 5002 * 5002 ~ 1` makes a 25-million-item list that the `~` then walks,
//! and `[['x'] * 1000000] * 1000000` is a trillion items that cost nothing until they are
//! printed. No fuel is spent on either (found by fuzzing). The templates' own operator
//! cannot be hooked, so every `L * R` in a template's source is rewritten into a call of
//! `__agent_mul(L, R)` (found with minijinja's own parser, so precedence and nesting are
//! exactly the compiler's), which refuses a product larger than [`MAX_REPEAT_SIZE`] and
//! otherwise multiplies with minijinja's own operator.

use std::borrow::Cow;
use std::sync::LazyLock;

use minijinja::machinery::ast::{self, CallArg, Expr, Stmt};
use minijinja::syntax::SyntaxConfig;
use minijinja::value::ValueKind;
use minijinja::{Environment, Error, ErrorKind, Value};

/// The largest result of `*` on a string or a list: counted as one per byte of a string
/// and one per item of a list or a dict, inner lists and strings included.
pub const MAX_REPEAT_SIZE: usize = 10_000_000;

/// The name of the function `*` is rewritten into.
pub(crate) const MUL_FUNCTION: &str = "__agent_mul";

/// `src` with each `L * R` rewritten into `__agent_mul((L), (R))`; unchanged when it has
/// no `*`, or does not parse (compiling it reports the error).
pub(crate) fn guard_repeats<'s>(src: &'s str, syntax: &SyntaxConfig) -> Cow<'s, str> {
    if !src.contains('*') {
        return Cow::Borrowed(src);
    }
    let Ok(tree) = minijinja::machinery::parse(src, "<template>", syntax.clone()) else {
        return Cow::Borrowed(src);
    };
    let mut walked = Found::default();
    stmt(&tree, &mut walked);
    // Each node's left operand ends just before its `*`: find that sign.
    let mut found = Vec::with_capacity(walked.muls.len());
    for (start, left_end, end) in walked.muls {
        let star = src
            .get(left_end..end)
            .and_then(|rest| rest.find('*'))
            .map(|i| left_end + i);
        match star {
            Some(star) if start <= star && star < end => found.push(Mul { start, star, end }),
            // spans not as expected: leave the source alone rather than break it
            _ => return Cow::Borrowed(src),
        }
    }
    if found.is_empty() {
        return Cow::Borrowed(src);
    }
    // outermost first where several start at the same place (`a * b * c`)
    found.sort_by_key(|m| (m.start, std::cmp::Reverse(m.end)));
    let mut out = String::with_capacity(src.len() + found.len() * 24);
    emit(src, 0, src.len(), &found, &mut out);
    // a rewrite that does not parse would turn a working template into a broken one
    if minijinja::machinery::parse(&out, "<template>", syntax.clone()).is_err() {
        return Cow::Borrowed(src);
    }
    Cow::Owned(out)
}

/// [`guard_repeats`] for an owned source: the same `String` back when nothing changes.
pub(crate) fn guard_repeats_owned(src: String, syntax: &SyntaxConfig) -> String {
    match guard_repeats(&src, syntax) {
        Cow::Borrowed(_) => src,
        Cow::Owned(guarded) => guarded,
    }
}

/// One `*` in the source: the whole expression's start and end and the sign's offset.
struct Mul {
    start: usize,
    star: usize,
    end: usize,
}

/// Copy `src[from..to]` into `out` with the multiplications inside it rewritten.
fn emit(src: &str, from: usize, to: usize, muls: &[Mul], out: &mut String) {
    let mut pos = from;
    let first = muls.partition_point(|m| m.start < from);
    for m in &muls[first..] {
        if m.start >= to {
            break;
        }
        // nested in one already written, or reaching past this range
        if m.start < pos || m.end > to {
            continue;
        }
        out.push_str(&src[pos..m.start]);
        out.push_str(MUL_FUNCTION);
        out.push_str("((");
        emit(src, m.start, m.star, muls, out);
        out.push_str("), (");
        emit(src, m.star + 1, m.end, muls, out);
        out.push_str("))");
        pos = m.end;
    }
    out.push_str(&src[pos..to]);
}

/// What a walk of a template's tree finds.
#[derive(Default)]
struct Found {
    /// Each `*`: the whole expression's start, its left operand's end, its end.
    muls: Vec<(usize, usize, usize)>,
    /// The first keyword argument given twice in one call (`f(a=1, a=2)`).
    repeated_kwarg: Option<String>,
}

/// The first keyword argument that one call, filter or test of `src` gives twice
/// (`lookup('vars', 'x', default='', default='')`). Jinja2 compiles a call to a Python
/// call, and Python refuses such a call when it compiles it ("keyword argument
/// repeated"), so the template fails whether or not the call runs; minijinja would keep
/// the last value. `None` also when `src` does not parse (compiling it reports that).
pub(crate) fn repeated_kwarg(src: &str, syntax: &SyntaxConfig) -> Option<String> {
    if !may_repeat_kwarg(src) {
        return None;
    }
    let tree = minijinja::machinery::parse(src, "<template>", syntax.clone()).ok()?;
    let mut found = Found::default();
    stmt(&tree, &mut found);
    found.repeated_kwarg
}

/// Whether some name is followed by a lone `=` twice in `src` (a cheap test before
/// parsing: most templates have no `=` at all).
fn may_repeat_kwarg(src: &str) -> bool {
    let b = src.as_bytes();
    let mut names: Vec<&[u8]> = Vec::new();
    for (i, &c) in b.iter().enumerate() {
        if c != b'=' || b.get(i + 1) == Some(&b'=') {
            continue;
        }
        let mut end = i;
        while end > 0 && b[end - 1] == b' ' {
            end -= 1;
        }
        if end > 0 && matches!(b[end - 1], b'=' | b'!' | b'<' | b'>') {
            continue;
        }
        let mut start = end;
        while start > 0 && (b[start - 1].is_ascii_alphanumeric() || b[start - 1] == b'_') {
            start -= 1;
        }
        if start == end {
            continue;
        }
        let name = &b[start..end];
        if names.contains(&name) {
            return true;
        }
        names.push(name);
    }
    false
}

fn stmts(body: &[Stmt<'_>], found: &mut Found) {
    for s in body {
        stmt(s, found);
    }
}

fn stmt(s: &Stmt<'_>, found: &mut Found) {
    match s {
        Stmt::Template(t) => stmts(&t.children, found),
        Stmt::EmitExpr(e) => expr(&e.expr, found),
        Stmt::EmitRaw(_) => {}
        Stmt::ForLoop(f) => {
            expr(&f.target, found);
            expr(&f.iter, found);
            if let Some(e) = &f.filter_expr {
                expr(e, found);
            }
            stmts(&f.body, found);
            stmts(&f.else_body, found);
        }
        Stmt::IfCond(c) => {
            expr(&c.expr, found);
            stmts(&c.true_body, found);
            stmts(&c.false_body, found);
        }
        Stmt::WithBlock(w) => {
            for (target, value) in &w.assignments {
                expr(target, found);
                expr(value, found);
            }
            stmts(&w.body, found);
        }
        Stmt::Set(s) => {
            expr(&s.target, found);
            expr(&s.expr, found);
        }
        Stmt::SetBlock(s) => {
            expr(&s.target, found);
            if let Some(e) = &s.filter {
                expr(e, found);
            }
            stmts(&s.body, found);
        }
        Stmt::AutoEscape(a) => {
            expr(&a.enabled, found);
            stmts(&a.body, found);
        }
        Stmt::FilterBlock(f) => {
            expr(&f.filter, found);
            stmts(&f.body, found);
        }
        Stmt::Block(b) => stmts(&b.body, found),
        Stmt::Import(i) => {
            expr(&i.expr, found);
            expr(&i.name, found);
        }
        Stmt::FromImport(i) => {
            expr(&i.expr, found);
            for (name, alias) in &i.names {
                expr(name, found);
                if let Some(a) = alias {
                    expr(a, found);
                }
            }
        }
        Stmt::Extends(e) => expr(&e.name, found),
        Stmt::Include(i) => expr(&i.name, found),
        Stmt::Macro(m) => macro_decl(m, found),
        Stmt::CallBlock(c) => {
            call(&c.call, found);
            macro_decl(&c.macro_decl, found);
        }
        Stmt::Continue(_) | Stmt::Break(_) => {}
        Stmt::Do(d) => call(&d.call, found),
    }
}

fn macro_decl(m: &ast::Macro<'_>, found: &mut Found) {
    for e in m.args.iter().chain(&m.defaults) {
        expr(e, found);
    }
    stmts(&m.body, found);
}

fn call(c: &ast::Call<'_>, found: &mut Found) {
    expr(&c.expr, found);
    args(&c.args, found);
}

fn args(list: &[CallArg<'_>], found: &mut Found) {
    if found.repeated_kwarg.is_none() {
        let mut seen: Vec<&str> = Vec::new();
        for a in list {
            if let CallArg::Kwarg(name, _) = a {
                if seen.contains(name) {
                    found.repeated_kwarg = Some(name.to_string());
                    break;
                }
                seen.push(name);
            }
        }
    }
    for a in list {
        match a {
            CallArg::Pos(e)
            | CallArg::Kwarg(_, e)
            | CallArg::PosSplat(e)
            | CallArg::KwargSplat(e) => expr(e, found),
        }
    }
}

fn expr(e: &Expr<'_>, found: &mut Found) {
    match e {
        Expr::Var(_) | Expr::Const(_) => {}
        Expr::Slice(s) => {
            expr(&s.expr, found);
            for part in [&s.start, &s.stop, &s.step].into_iter().flatten() {
                expr(part, found);
            }
        }
        Expr::UnaryOp(u) => expr(&u.expr, found),
        Expr::BinOp(b) => {
            if matches!(b.op, ast::BinOpKind::Mul) {
                let span = e.span();
                found.muls.push((
                    span.start_offset as usize,
                    b.left.span().end_offset as usize,
                    span.end_offset as usize,
                ));
            }
            expr(&b.left, found);
            expr(&b.right, found);
        }
        Expr::Compare(c) => {
            expr(&c.expr, found);
            for op in &c.ops {
                expr(&op.expr, found);
            }
        }
        Expr::IfExpr(i) => {
            expr(&i.test_expr, found);
            expr(&i.true_expr, found);
            if let Some(f) = &i.false_expr {
                expr(f, found);
            }
        }
        Expr::Filter(f) => {
            if let Some(e) = &f.expr {
                expr(e, found);
            }
            args(&f.args, found);
        }
        Expr::Test(t) => {
            expr(&t.expr, found);
            args(&t.args, found);
        }
        Expr::GetAttr(g) => expr(&g.expr, found),
        Expr::GetItem(g) => {
            expr(&g.expr, found);
            expr(&g.subscript_expr, found);
        }
        Expr::Call(c) => call(c, found),
        Expr::List(l) => l.items.iter().for_each(|e| expr(e, found)),
        Expr::Tuple(t) => t.items.iter().for_each(|e| expr(e, found)),
        Expr::Map(m) => m.keys.iter().chain(&m.values).for_each(|e| expr(e, found)),
    }
}

/// `a * b` as minijinja computes it, after refusing a repetition over [`MAX_REPEAT_SIZE`].
pub(crate) fn mul(a: Value, b: Value) -> Result<Value, Error> {
    // An undefined operand fails as minijinja's operator would: with an error that
    // remembers where the value came from, so the message names it (`'x' is undefined`).
    for operand in [&a, &b] {
        if operand.is_undefined() {
            return Err(match i64::try_from(operand.clone()) {
                Err(e) => e,
                Ok(_) => Error::from(ErrorKind::UndefinedError),
            });
        }
    }
    check(&a, &b)?;
    static PLAIN: LazyLock<Environment<'static>> = LazyLock::new(Environment::new);
    static PRODUCT: LazyLock<Option<minijinja::Expression<'static, 'static>>> =
        LazyLock::new(|| PLAIN.compile_expression("a * b").ok());
    let Some(product) = PRODUCT.as_ref() else {
        return Err(Error::new(
            ErrorKind::InvalidOperation,
            "* is not available",
        ));
    };
    product
        .eval(minijinja::context! { a, b })
        .map_err(|e| Error::new(e.kind(), e.detail().unwrap_or("* failed").to_string()))
}

fn check(a: &Value, b: &Value) -> Result<(), Error> {
    let repeatable = |v: &Value| {
        matches!(
            v.kind(),
            ValueKind::String | ValueKind::Seq | ValueKind::Iterable | ValueKind::Bytes
        )
    };
    let (repeated, count) = match (repeatable(a), repeatable(b)) {
        (true, false) => (a, b),
        (false, true) => (b, a),
        _ => return Ok(()),
    };
    let Ok(n) = i64::try_from(count.clone()) else {
        // not an integer: minijinja's operator says why
        return Ok(());
    };
    if n <= 1 {
        return Ok(());
    }
    let budget = MAX_REPEAT_SIZE / usize::try_from(n).unwrap_or(usize::MAX);
    if size_within(repeated, budget).is_none() {
        return Err(Error::new(
            ErrorKind::InvalidOperation,
            format!(
                "repeating a value {n} times would make more than {MAX_REPEAT_SIZE} items and characters (the limit of *)"
            ),
        ));
    }
    Ok(())
}

/// The size of a value (one per byte of a string, one per item of a list or dict plus the
/// items' own sizes), or `None` when it is over `budget`. Stops counting at the budget, so
/// a huge lazy list costs no more than the budget to measure.
fn size_within(v: &Value, budget: usize) -> Option<usize> {
    let mut left = budget;
    measure(v, &mut left, 0)?;
    Some(budget - left)
}

fn measure(v: &Value, left: &mut usize, depth: usize) -> Option<()> {
    let take = |left: &mut usize, n: usize| -> Option<()> {
        *left = left.checked_sub(n)?;
        Some(())
    };
    match v.kind() {
        ValueKind::String => take(left, v.as_str().map_or(0, str::len)),
        ValueKind::Bytes => take(left, v.as_bytes().map_or(0, <[u8]>::len)),
        ValueKind::Seq | ValueKind::Iterable | ValueKind::Map if depth < 64 => {
            let is_map = v.kind() == ValueKind::Map;
            for item in v.try_iter().ok()? {
                take(left, 1)?;
                measure(&item, left, depth + 1)?;
                if is_map {
                    let value = v.get_item(&item).unwrap_or_default();
                    measure(&value, left, depth + 1)?;
                }
            }
            Some(())
        }
        _ => take(left, 1),
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn repeated_keyword_arguments() {
        let syntax = SyntaxConfig::default();
        let rep = |src: &str| repeated_kwarg(src, &syntax);
        assert_eq!(
            rep("{{ lookup('vars', 'v', default='', default='') }}").as_deref(),
            Some("default")
        );
        assert_eq!(
            rep("{{ 1 if true else f(a=1, b=2, a=3) }}").as_deref(),
            Some("a")
        );
        assert_eq!(
            rep("{{ x | map('default', d=1, d=2) }}").as_deref(),
            Some("d")
        );
        assert_eq!(rep("{{ x is f(a=1, a = 2) }}").as_deref(), Some("a"));
        // Different calls, assignments and comparisons are not repeats.
        assert_eq!(rep("{{ f(a=1) ~ g(a=2) }}"), None);
        assert_eq!(rep("{% set a = 1 %}{% set a = 2 %}{{ a == a }}"), None);
        assert_eq!(rep("{{ dict(a=1, b=2) }}"), None);
        assert_eq!(
            rep("{{ f(a=1, a=2"),
            None,
            "does not parse: compiling reports it"
        );
        assert!(!may_repeat_kwarg(
            "{{ a == 1 and a != 2 and a <= 3 and a >= 4 }}"
        ));
        assert!(!may_repeat_kwarg("plain text"));
        assert!(may_repeat_kwarg("f(a=1, a =2)"));
    }

    use super::*;

    fn rewrite(src: &str) -> String {
        guard_repeats(src, &SyntaxConfig::default()).into_owned()
    }

    #[test]
    fn multiplications_become_calls_with_the_compilers_precedence() {
        assert_eq!(rewrite("{{ a + b }}"), "{{ a + b }}");
        assert_eq!(rewrite("{{ a * b }}"), "{{ __agent_mul((a ), ( b)) }}");
        assert_eq!(
            rewrite("{{ a * b * c }}"),
            "{{ __agent_mul((__agent_mul((a ), ( b)) ), ( c)) }}"
        );
        assert_eq!(
            rewrite("{{ (a + b) * -c|int ** 2 }}"),
            "{{ __agent_mul(((a + b) ), ( -c|int ** 2)) }}"
        );
        assert_eq!(
            rewrite("{{ x|f(2 * y) ~ '*' }}"),
            "{{ x|f(__agent_mul((2 ), ( y))) ~ '*' }}"
        );
        assert_eq!(
            rewrite("{% for i in range(n * 2) %}{{ i }}{% endfor %}"),
            "{% for i in range(__agent_mul((n ), ( 2))) %}{{ i }}{% endfor %}"
        );
        // no multiplication, or not a template that parses: unchanged
        assert_eq!(rewrite("{{ a ** 2 }} * 3"), "{{ a ** 2 }} * 3");
        assert_eq!(rewrite("{{ a * }}"), "{{ a * }}");
    }

    /// `{{ expr }}` rendered, or the error's text; long output is cut (a failure
    /// message must not print a million items).
    fn eval(expr: &str) -> Result<String, String> {
        let mut env = Environment::new();
        env.add_function(MUL_FUNCTION, mul);
        let src = format!("{{{{ {expr} }}}}");
        let src = guard_repeats(&src, &SyntaxConfig::default()).into_owned();
        env.render_str(&src, ())
            .map(|s| s.chars().take(200).collect())
            .map_err(|e| e.to_string())
    }

    #[test]
    fn products_are_minijinjas_and_huge_repetitions_fail() {
        assert_eq!(eval("6 * 7").unwrap(), "42");
        assert_eq!(eval("'ab' * 3").unwrap(), "ababab");
        assert_eq!(eval("2 * [1] | length").unwrap(), "2");
        assert_eq!(eval("('=' * 80) | length").unwrap(), "80");
        assert_eq!(eval("1.5 * 2").unwrap(), "3.0");
        assert_eq!(eval("(['a'] * 2) ~ ''").unwrap(), "['a', 'a']");
        assert!(eval("'a' * 'b'").is_err());
        for huge in [
            "['x'] * 5002 * 5002 ~ 1",
            "[['x'] * 1000000] * 1000000",
            "'x' * 100000000",
            "3 * ('x' * 4000000)",
        ] {
            let err = eval(huge).expect_err(huge);
            assert!(err.contains("(the limit of *)"), "{huge}: {err}");
        }
        assert_eq!(eval("(['x'] * 1000000) | length").unwrap(), "1000000");
    }
}
