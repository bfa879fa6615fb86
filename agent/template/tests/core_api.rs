//! Behaviour of the templating core through the public API.

use agent_template::{FileOptions, SearchPaths, Templar, Value, Vars};

fn vars() -> Vars {
    let v: serde_json::Value = serde_json::json!({
        "a": 1, "s": "hello", "lst": [1, 2, 3], "d": {"k": "v", "n": null}, "b": true,
        "ref": "{{ a + 1 }}", "nested": {"x": "{{ s }}", "y": ["{{ a }}"]},
        "loopy": "{{ loopy }}", "l1": "{{ l2 }}", "l2": "{{ l1 }}", "f": "false",
        "bad": "{{ nosuch }}", "chain": "{{ ref * 10 }}"
    });
    let mut layers = vec![Value::from_pairs([("a", Value::from(5))])];
    layers[0] = Value::from_pairs([("top", Value::from("T"))]);
    layers.push(Value::from(minijinja::value::Serde(&v)));
    Vars::new(layers)
}

fn r(s: &str) -> Result<String, String> {
    Templar::new()
        .render_str(s, &vars())
        .map(|v| format!("{}:{}", v.kind(), agent_template::py_repr(&v)))
        .map_err(|e| e.message)
}

#[test]
fn native_types() {
    assert_eq!(r("{{ a }}").unwrap(), "number:1");
    assert_eq!(r("{{ a }}\n").unwrap(), "number:1");
    assert_eq!(r(" {{ a }} ").unwrap(), "string:' 1 '");
    assert_eq!(r("{{ lst }}").unwrap(), "sequence:[1, 2, 3]");
    assert_eq!(r("x{{ lst }}").unwrap(), "string:'x[1, 2, 3]'");
    assert_eq!(r("x{{ b }}").unwrap(), "string:'xTrue'");
    assert_eq!(r("x{{ d }}").unwrap(), "string:\"x{'k': 'v', 'n': None}\"");
    assert_eq!(r("x{{ none }}").unwrap(), "string:'x'");
    assert_eq!(r("{{ a }}{{ a }}").unwrap(), "string:'11'");
    assert_eq!(r("plain").unwrap(), "string:'plain'");
    assert_eq!(r("x{{ a }}\n\n").unwrap(), "string:'x1\\n\\n'");
}

#[test]
fn lazy_and_recursion() {
    assert_eq!(r("{{ ref }}").unwrap(), "number:2");
    assert_eq!(r("{{ chain }}").unwrap(), "number:20");
    assert_eq!(r("{{ nested }}").unwrap(), "map:{'x': 'hello', 'y': [1]}");
    let e = r("{{ loopy }}").unwrap_err();
    assert!(e.contains("Recursive loop detected"), "{e}");
    let e = r("{{ l1 }}").unwrap_err();
    assert!(e.contains("Recursive loop detected"), "{e}");
    let e = r("{{ bad }}").unwrap_err();
    assert!(e.contains("'nosuch' is undefined"), "{e}");
    assert_eq!(r("{{ bad | default('z') }}").unwrap(), "string:'z'");
}

#[test]
fn undefined() {
    assert!(r("{{ foo }}").unwrap_err().contains("'foo' is undefined"));
    assert!(r("x{{ foo }}").unwrap_err().contains("'foo' is undefined"));
    assert!(
        r("{{ foo.bar }}")
            .unwrap_err()
            .contains("'foo' is undefined")
    );
    assert_eq!(r("{{ foo.bar | default(1) }}").unwrap(), "number:1");
    let e = r("{{ d.zz }}").unwrap_err();
    assert!(
        e.contains("object of type 'dict' has no attribute 'zz'"),
        "{e}"
    );
    assert_eq!(r("{{ d.zz.yy | default(2) }}").unwrap(), "number:2");
    assert_eq!(r("{{ d.zz is defined }}").unwrap(), "bool:False");
    assert_eq!(r("{{ foo.bar is defined }}").unwrap(), "bool:False");
}

#[test]
fn python_methods_and_percent() {
    assert_eq!(r("{{ '%s-%d' % (s, a) }}").unwrap(), "string:'hello-1'");
    assert_eq!(r("x{{ \"%s\" % s }}").unwrap(), "string:'xhello'");
    assert_eq!(r("{{ s.startswith(('h', 'x')) }}").unwrap(), "bool:True");
    assert_eq!(
        r("{{ 'a,b,c'.split(',', 1) }}").unwrap(),
        "sequence:['a', 'b,c']"
    );
    assert_eq!(
        r("{{ d.items() | list }}").unwrap(),
        "sequence:[['k', 'v'], ['n', None]]"
    );
    assert_eq!(r("{{ d.get('zz', 3) }}").unwrap(), "number:3");
}

#[test]
fn conditions() {
    let t = Templar::new();
    let v = vars();
    assert!(t.eval_condition("a == 1", &v).unwrap());
    assert!(t.eval_condition("b", &v).unwrap());
    assert!(!t.eval_condition("not b", &v).unwrap());
    assert!(t.eval_condition("{{ b }}", &v).unwrap());
    let e = t.eval_condition("f", &v).unwrap_err().message;
    assert!(e.contains("Conditionals must have a boolean result"), "{e}");
    let e = t.eval_condition("foo", &v).unwrap_err().message;
    assert!(e.contains("'foo' is undefined"), "{e}");
    assert!(t.eval_condition("foo is not defined", &v).unwrap());
}

#[test]
fn limits() {
    let e = r("{% for i in range(100000) %}{% for j in range(100000) %}{% endfor %}{% endfor %}")
        .unwrap_err();
    assert!(e.contains("too many operations"), "{e}");
    let e = r("{% macro f(n) %}{{ f(n + 1) }}{% endmacro %}{{ f(0) }}").unwrap_err();
    assert!(!e.is_empty());
}

#[test]
fn template_value_recursive_and_unsafe() {
    let t = Templar::new();
    let v = Value::from_pairs([(
        "{{ s }}",
        Value::from(vec![
            Value::from("{{ a }}"),
            Value::from_safe_string("{{ a }}".into()),
        ]),
    )]);
    let out = t.template_value(&v, &vars()).unwrap();
    assert_eq!(agent_template::py_repr(&out), "{'hello': [1, '{{ a }}']}");
}

#[test]
fn files() {
    let dir = tempfile::tempdir().unwrap();
    let tdir = dir.path().join("templates");
    std::fs::create_dir_all(&tdir).unwrap();
    std::fs::write(tdir.join("inc.j2"), "included {{ s }}").unwrap();
    let main = tdir.join("main.j2");
    std::fs::write(
        &main,
        "{% if b %}\nyes\n{% endif %}\n{% include 'inc.j2' %}\n{{ ansible_managed }}\n",
    )
    .unwrap();
    let t = Templar::new();
    let search = SearchPaths {
        dirs: vec![dir.path().to_path_buf()],
    };
    let out = t
        .render_file(&main, &vars(), &search, &FileOptions::default())
        .unwrap();
    // trim_blocks also eats the newline after `{% include %}`, as in Jinja2
    assert_eq!(out, "yes\nincluded helloAnsible managed\n");

    std::fs::write(
        &main,
        "#jinja2: variable_start_string: '[[', variable_end_string: ']]'\n[[ a ]] {{ a }}\n",
    )
    .unwrap();
    let out = t
        .render_file(&main, &vars(), &search, &FileOptions::default())
        .unwrap();
    assert_eq!(out, "1 {{ a }}\n");

    std::fs::write(&main, "line1\n{{ nosuch }}\n").unwrap();
    let e = t
        .render_file(&main, &vars(), &search, &FileOptions::default())
        .unwrap_err();
    assert!(e.message.contains("'nosuch' is undefined"), "{}", e.message);
    assert_eq!(e.line, Some(2));
    assert_eq!(e.file.as_deref(), Some(main.as_path()));
}

#[test]
fn lazy_scope_lists_its_variables() {
    // every layer, highest precedence first, each name once; nothing is rendered
    // (the self-referencing `loopy` and `bad` do not fail the lookup)
    assert_eq!(
        r("{{ query('varnames', '^(top|a|ref|l1)$') }}").unwrap(),
        "sequence:['top', 'a', 'ref', 'l1']"
    );
    assert_eq!(r("{{ lookup('vars', 'ref') }}").unwrap(), "number:2");
    assert_eq!(r("{{ vars['chain'] }}").unwrap(), "number:20");
    assert_eq!(r("{{ 'top' in vars }}").unwrap(), "bool:True");
}

#[test]
fn template_lookup_renders_lazy_variables() {
    let dir = tempfile::tempdir().unwrap();
    let tdir = dir.path().join("templates");
    std::fs::create_dir_all(&tdir).unwrap();
    std::fs::write(
        tdir.join("t.j2"),
        "{{ ref }}-{{ extra | default('none') }}\n",
    )
    .unwrap();
    let mut v = vars();
    v.layers.push(Value::from_pairs([(
        "ansible_search_path",
        Value::from(vec![Value::from(dir.path().to_string_lossy().into_owned())]),
    )]));
    let t = Templar::new();
    let out = t
        .render_str("{{ lookup('template', 't.j2') }}", &v)
        .unwrap();
    assert_eq!(out.as_str(), Some("2-none\n"));
    let out = t
        .render_str(
            "{{ lookup('template', 't.j2', template_vars={'extra': 'x', 'ref': 9}) }}",
            &v,
        )
        .unwrap();
    assert_eq!(out.as_str(), Some("9-x\n"));
}

#[test]
fn template_lookup_is_native_through_macros() {
    // Jinja2's native concat, which Ansible's template lookup uses: a file whose only
    // output is one value gives the value; a macro whose body prints only one value
    // returns that value (the template target's json_macro.j2)
    let dir = tempfile::tempdir().unwrap();
    let tdir = dir.path().join("templates");
    std::fs::create_dir_all(&tdir).unwrap();
    for (name, body) in [
        (
            "macro.j2",
            "{% macro m() %}{{ {\"foo\":\"bar\"} }}{% endmacro %}\n{{ m() }}\n",
        ),
        ("num.j2", "{{ 40 + 2 }}\n"),
        (
            "text.j2",
            "{% macro m() %}a{{ 1 }}{% endmacro %}{{ m() }}\n",
        ),
        (
            "twice.j2",
            "{% macro m() %}{{ 1 }}{% endmacro %}{{ m() }}{{ m() }}\n",
        ),
    ] {
        std::fs::write(tdir.join(name), body).unwrap();
    }
    let mut v = vars();
    v.layers.push(Value::from_pairs([(
        "ansible_search_path",
        Value::from(vec![Value::from(dir.path().to_string_lossy().into_owned())]),
    )]));
    let t = Templar::new();
    let get = |src: &str| t.render_str(src, &v).unwrap();
    assert_eq!(
        get("{{ lookup('template', 'macro.j2')['foo'] }}").as_str(),
        Some("bar")
    );
    assert_eq!(get("{{ lookup('template', 'num.j2') }}").as_i64(), Some(42));
    assert_eq!(
        get("{{ lookup('template', 'text.j2') }}").as_str(),
        Some("a1\n")
    );
    assert_eq!(
        get("{{ lookup('template', 'twice.j2') }}").as_str(),
        Some("11\n")
    );
    // a filter on the macro's result gives text, as in Ansible
    std::fs::write(
        tdir.join("trim.j2"),
        "{% macro m() %}\n  {{ 42 }}\n{% endmacro %}{{ m() | trim }}\n",
    )
    .unwrap();
    assert_eq!(
        get("{{ lookup('template', 'trim.j2') }}").as_str(),
        Some("42\n")
    );
    // inline templates keep minijinja's text result of a macro (docs/compat.md)
    assert_eq!(
        get("{% macro m() %}{{ 42 }}{% endmacro %}{{ m() | trim }}").as_str(),
        Some("42")
    );
}

#[test]
fn undefined_input_fails_filters_and_tests() {
    for src in [
        "{{ nosuch | int }}",
        "{{ nosuch is none }}",
        "{{ nosuch | to_json }}",
        "{{ nosuch | e }}",
        "{{ lst | join(nosuch) }}",
        "{{ lst | map('default', nosuch) | list }}",
        "{{ nosuch is ansible.builtin.string }}",
    ] {
        let e = r(src).unwrap_err();
        assert!(e.starts_with("'nosuch' is undefined"), "{src}: {e}");
    }
    assert_eq!(r("{{ nosuch | default(1) | int }}").unwrap(), "number:1");
    assert_eq!(r("{{ 1 | default(nosuch) }}").unwrap(), "number:1");
    assert_eq!(r("{{ nosuch is undefined }}").unwrap(), "bool:True");
    assert_eq!(
        r("{{ nosuch is ansible.builtin.defined }}").unwrap(),
        "bool:False"
    );
    assert_eq!(
        r("{{ nosuch | type_debug }}").unwrap(),
        "string:'UndefinedMarker'"
    );
    let e = r("{{ d.zz | int }}").unwrap_err();
    assert!(
        e.starts_with("object of type 'dict' has no attribute 'zz'"),
        "{e}"
    );
}

#[test]
fn attribute_filters_need_the_attribute() {
    for src in [
        "{{ [{'a': 1}, {'b': 2}] | groupby('a', default=0) }}",
        "{{ [{'a': 1}, {'b': 2}] | map(attribute='a') | list }}",
        "{{ [{'a': 1}, {'b': 2}] | sum(attribute='a') }}",
    ] {
        let e = r(src).unwrap_err();
        assert!(
            e.contains("object of type 'dict' has no attribute 'a'"),
            "{src}: {e}"
        );
    }
    assert_eq!(
        r("{{ [{'a': 1}, {'b': 2}] | map(attribute='a', default=0) | list }}").unwrap(),
        "sequence:[1, 0]"
    );
    assert_eq!(
        r("{{ [{'a': 1}, {'b': 2}] | selectattr('a', 'defined') | list }}").unwrap(),
        "sequence:[{'a': 1}]"
    );
}

#[test]
fn collection_filters_by_fqcn_only() {
    let e = r("{{ 'a' | dict_kv('b') }}").unwrap_err();
    assert!(e.starts_with("No filter named 'dict_kv'."), "{e}");
    assert!(r("{{ '10.0.0.1' | ipwrap }}").is_err());
    assert_eq!(r("{{ '10.0.0.1' | ipaddr }}").unwrap(), "string:'10.0.0.1'");
    assert_eq!(
        r("{{ '10.0.0.1' | ansible.netcommon.ipv4 }}").unwrap(),
        "string:'10.0.0.1'"
    );
    assert_eq!(r("{{ d | json_query('k') }}").unwrap(), "string:'v'");
}

/// Templates of plain text and `{{ name }}` are rendered without compiling them (a fast
/// path): they must give what the full path gives (`(name)` takes the full path).
#[test]
fn simple_templates_match_the_full_path() {
    let cases = [
        "{{ a }}",
        "{{ s }}",
        "{{a}}",
        "x{{ a }}",
        "{{ a }}/y",
        "{{ a }}{{ a }}",
        "{{ s }}-{{ a }}",
        "{{ lst }}",
        "x{{ lst }}",
        "{{ d }}",
        "x{{ d }}",
        "{{ b }}",
        "x{{ b }}",
        "{{ f }}",
        "{{ ref }}",
        "x{{ ref }}",
        "{{ chain }}",
        "{{ nested }}",
        "x{{ nested }}",
        "{{ top }}",
        "é{{ s }}é",
        "}}{{ a }}}",
        "{{ foo }}",
        "x{{ foo }}",
        "{{ bad }}",
        "x{{ bad }}",
        "{{ loopy }}",
        "x{{ l1 }}",
        "{{ d }}%s",
        "{ {{ a }} }",
    ];
    for c in cases {
        let full = c.replace("{{ ", "{{ (").replace(" }}", ") }}");
        let full = if c == "{{a}}" {
            "{{ (a) }}".to_string()
        } else {
            full
        };
        assert_ne!(c, full, "the full-path twin of {c} must differ");
        // errors name the template: the twin's error names the original
        let twin = r(&full).map_err(|e| e.replace(&full, c));
        assert_eq!(r(c), twin, "{c} vs {full}");
    }
    // names that are not plain variables take the full path
    assert_eq!(r("x{{ true }}").unwrap(), "string:'xTrue'");
    assert_eq!(r("x{{ none }}").unwrap(), "string:'x'");
    assert!(Templar::new().check_syntax("{{ out }}/d1").is_ok());
    assert!(Templar::new().check_syntax("{{ out }/d1").is_err());
}

#[test]
fn multiplication_keeps_its_errors_and_limits_repetition() {
    // `*` runs through the repetition guard; what it reports stays the same
    assert_eq!(r("{{ a * 2 }}").unwrap(), "number:2");
    assert_eq!(r("{{ chain }}").unwrap(), "number:20");
    assert_eq!(r("{{ '-' * 3 }}").unwrap(), "string:'---'");
    assert_eq!(r("x{{ [a] * 2 }}").unwrap(), "string:'x[1, 1]'");
    let e = r("{{ nosuch * 2 }}").unwrap_err();
    assert!(e.contains("'nosuch' is undefined"), "{e}");
    let e = r("{{ 2 * d.zz }}").unwrap_err();
    assert!(e.contains("has no attribute 'zz'"), "{e}");
    let e = r("{{ ['x'] * 5002 * 5002 ~ 1 }}").unwrap_err();
    assert!(e.contains("(the limit of *)"), "{e}");
    // a template file gets the same guard
    let e = Templar::new()
        .render_file_source(
            std::path::Path::new("/nonexistent/t.j2"),
            "{{ '=' * 4 }}\n{{ [[1] * 100000] * 100000 }}\n",
            &vars(),
            &SearchPaths::default(),
            &FileOptions::default(),
        )
        .unwrap_err();
    assert!(e.message.contains("(the limit of *)"), "{}", e.message);
}

/// Ansible 2.19's trust model: a template's computed text is never templated again and
/// is never a conditional's expression; a variable's own value keeps its trust.
#[test]
fn computed_strings_are_not_trusted() {
    let t = Templar::new();
    let v = Vars::new(vec![Value::from(minijinja::value::Serde(
        &serde_json::json!({
            "printed": "{{ '{{ 1 + 1 }}' }}",
            "outer": "{{ printed }}",
            "check": "1 == 1",
            "alias": "{{ check }}",
            "checks": ["1 == 1"],
            "s": "text",
        }),
    ))]);
    let trusted = |src: &str| {
        let out = t.render_str(src, &v).unwrap();
        (out.to_string(), !out.is_safe())
    };
    // computed text is data: shown as it is, not rendered again through a variable
    assert_eq!(trusted("{{ printed }}"), ("{{ 1 + 1 }}".into(), false));
    assert_eq!(trusted("{{ outer }}"), ("{{ 1 + 1 }}".into(), false));
    assert_eq!(trusted("x{{ s }}"), ("xtext".into(), false));
    assert_eq!(trusted("{{ s | upper }}"), ("TEXT".into(), false));
    assert_eq!(trusted("{{ 'const' }}"), ("const".into(), false));
    // a variable's own value (or a part of one) keeps its trust
    assert_eq!(trusted("{{ s }}"), ("text".into(), true));
    assert_eq!(trusted("{{ (s) }}"), ("text".into(), true));
    assert_eq!(trusted("{{ checks[0] }}"), ("1 == 1".into(), true));
    assert_eq!(trusted("{{ alias }}"), ("1 == 1".into(), true));
    let items = t
        .render_str("{{ checks | map('trim') | list }}", &v)
        .unwrap();
    assert!(items.get_item(&Value::from(0)).unwrap().is_safe());
    // conditionals: a trusted string may be the expression (indirection); text a
    // template computed may not
    assert!(t.eval_condition("{{ check }}", &v).unwrap());
    assert!(t.eval_condition("{{ alias }}", &v).unwrap());
    for c in [
        "{{ check | trim }}",
        "{{ 'a' }} == {{ 'b' }}",
        "{{ printed }}",
    ] {
        let e = t.eval_condition(c, &v).unwrap_err();
        assert_eq!(e.message, agent_template::UNTRUSTED, "{c}");
    }
    let e = t.eval_condition("{{ '' }}", &v).unwrap_err();
    assert_eq!(e.message, agent_template::EMPTY_CONDITIONAL);
    // an expression with an embedded template is still the playbook's own
    assert!(t.eval_condition("s == \"te{{ 'xt' }}\"", &v).unwrap());
}

#[test]
fn select_with_an_unknown_test_names_it() {
    // Jinja2 reads the missing attribute as undefined and then fails on the test name.
    let e = r(r#"{{ [{}] | selectattr("failed", "asdf ", true) }}"#).unwrap_err();
    assert!(e.contains("No test named 'asdf '."), "{e}");
    let e = r(r#"{{ [1] | select("nope") | list }}"#).unwrap_err();
    assert!(e.contains("No test named 'nope'."), "{e}");
    // A known test still reads the attribute as before.
    let e = r(r#"{{ [{}] | selectattr("failed", "==", true) | list }}"#).unwrap_err();
    assert!(e.contains("has no attribute 'failed'"), "{e}");
}

#[test]
fn lookup_arguments() {
    // A dict's values that are template constants are rendered, as a list's items are.
    assert_eq!(
        r("{{ lookup('dict', {'key': '{{ 1 }}'}) }}").unwrap(),
        "map:{'key': 'key', 'value': 1}"
    );
    // An undefined option fails the lookup with the variable's name...
    let e = r("{{ lookup('first_found', files=bad) }}").unwrap_err();
    assert!(e.contains("'nosuch' is undefined"), "{e}");
    // ... except env's `default`, which may be undefined.
    assert!(r("{{ lookup('env', 'AGENT_NO_SUCH_VAR', default=undef()) }}").is_err());
}

#[test]
fn keeping_undefined_values_in_containers() {
    let t = Templar::new();
    let v = Value::from(vec![Value::from("{{ nosuch }}x"), Value::from("{{ s }}")]);
    assert!(t.template_value(&v, &vars()).is_err());
    let kept = t.template_value_keeping_undefined(&v, &vars()).unwrap();
    let items: Vec<Value> = kept.try_iter().unwrap().collect();
    assert!(items[0].is_undefined());
    assert_eq!(items[1].as_str(), Some("hello"));
    let lit = Value::from("{{ [{'files': nosuch}] }}");
    assert!(t.template_value(&lit, &vars()).is_err());
    assert!(t.template_value_keeping_undefined(&lit, &vars()).is_ok());
    // The mode ends with the call.
    assert!(t.template_value(&v, &vars()).is_err());
}

/// `{{ "not trusted" }}` encrypted with the password `blarblar`.
const VAULTED: &str = "$ANSIBLE_VAULT;1.1;AES256
36306639316132393663356162643765396231396462623962373832643539306635356639366633
6234303731383636623165633330653435336130613361370a373931613335353762376433636263
35363536613933396532636430646337393932393166396133613666386433353932373063356235
3666336365616535610a636534333332633930326331353533626332363263363666373730386264
31643561353465613030343632663036313963363634663231393665316437646530
";

#[test]
fn vault_values_without_a_secret() {
    // This test binary sets no vault secrets: a `!vault` value does not decrypt.
    let vaulted = agent_yaml::vault::Vaulted::value(VAULTED.to_string());
    let vars = Vars::new(vec![Value::from_pairs([
        ("secret", vaulted.clone()),
        ("nested", Value::from_pairs([("deeper", vaulted.clone())])),
        ("ref", Value::from("{{ secret }}")),
    ])]);
    let t = Templar::new();
    let render = |s: &str| t.render_str(s, &vars).map_err(|e| e.message);
    for bad in [
        "{{ secret }}",
        "x{{ secret }}",
        "{{ [secret] }}",
        "{{ nested | to_json }}",
        "{{ {'k': ref} | to_json }}",
        "{{ secret | upper }}",
    ] {
        let e = render(bad).unwrap_err();
        assert!(
            e.contains("Attempt to use undecryptable variable: Attempting to decrypt but no vault secrets found"),
            "{bad}: {e}"
        );
        assert!(!e.contains("ANSIBLE_VAULT"), "{bad}: {e}");
    }
    // A value given straight to a module (no template in it) is refused too.
    let e = t
        .template_value(&Value::from_pairs([("content", vaulted)]), &vars)
        .unwrap_err();
    assert!(
        e.message.contains("undecryptable variable"),
        "{}",
        e.message
    );
    // `unvault` opens it with the secret given; the plain text is data, not a template.
    let v = render("{{ secret | unvault('blarblar') }}").unwrap();
    assert_eq!(v.as_str(), Some("{{ \"not trusted\" }}"));
    let e = render("{{ secret | unvault('wrong') }}").unwrap_err();
    assert!(e.contains("Unable to decrypt."), "{e}");
    assert_eq!(
        render("{{ 'plain' | unvault('x') }}").unwrap().as_str(),
        Some("plain")
    );
    assert_eq!(
        render("{{ secret is vault_encrypted }}")
            .unwrap()
            .to_string(),
        "True"
    );
}

#[test]
fn containers_render_lazily() {
    let v: serde_json::Value = serde_json::json!({
        "top": "{{ mid }}", "mid": "{{ low }}",
        "low": {"key1": "static", "key2": {"deep": "{{ 1 / 0 }}"}, "key3": "{{ s }}"},
        "s": "hello", "lst": ["{{ s }}", "{{ nosuch }}"],
        "eq": {"r": "{{ s }}"}, "selfish": ["{{ selfish }}"],
    });
    let vars = Vars::new(vec![Value::from(minijinja::value::Serde(&v))]);
    let t = Templar::new();
    let render = |s: &str| {
        t.render_str(s, &vars)
            .map(|v| agent_template::py_repr(&v))
            .map_err(|e| e.message)
    };
    // Only what a template reaches is rendered: key2's division never runs.
    assert_eq!(render("{{ top.key1 }}").unwrap(), "'static'");
    assert_eq!(render("{{ low.key3 | upper }}").unwrap(), "'HELLO'");
    assert_eq!(render("{{ lst[0] }}").unwrap(), "'hello'");
    assert_eq!(render("{{ lst[-2] }}").unwrap(), "'hello'");
    assert_eq!(
        render("{{ low | length }} {{ lst | length }}").unwrap(),
        "'3 2'"
    );
    assert_eq!(render("{{ eq == {'r': 'hello'} }}").unwrap(), "True");
    assert_eq!(
        render("{{ eq | to_json }}").unwrap(),
        "'{\"r\": \"hello\"}'"
    );
    assert_eq!(render("{{ low.key2 | type_debug }}").unwrap(), "'dict'");
    // What leaves the templates is whole: every part renders, and fails as it would.
    let e = render("{{ top }}").unwrap_err();
    assert!(e.contains("division by zero"), "{e}");
    let e = render("{{ lst }}").unwrap_err();
    assert!(e.contains("'nosuch' is undefined"), "{e}");
    assert_eq!(render("{{ eq }}").unwrap(), "{'r': 'hello'}");
    let e = render("{{ selfish }}").unwrap_err();
    assert!(e.contains("Recursive loop detected"), "{e}");
    // template_value gives plain data too.
    let whole = t
        .template_value(&Value::from_pairs([("x", Value::from("{{ eq }}"))]), &vars)
        .unwrap();
    assert_eq!(agent_template::py_repr(&whole), "{'x': {'r': 'hello'}}");
}

#[test]
fn lazy_items_that_read_themselves_fail_instead_of_crashing() {
    let v: serde_json::Value = serde_json::json!({
        "a": {"k": "{{ a.k }}"},
        "p": {"x": "{{ q.y }}"}, "q": {"y": "{{ p.x }}"},
        "u": {"k": "{{ nope }}", "ok": 1},
    });
    let vars = Vars::new(vec![Value::from(minijinja::value::Serde(&v))]);
    let t = Templar::new();
    for src in ["{{ a.k }}", "{{ p.x }}", "{{ a }}"] {
        let e = t.render_str(src, &vars).unwrap_err().message;
        assert!(e.contains("Recursive loop detected"), "{src}: {e}");
    }
    // A lazy dict printed into text fails on its undefined part (never prints "").
    let e = t.render_str("x {{ u }}", &vars).unwrap_err().message;
    assert!(e.contains("'nope' is undefined"), "{e}");
    // Its defined parts still read, and a default covers the undefined one.
    assert_eq!(t.render_str("{{ u.ok }}", &vars).unwrap().to_string(), "1");
    assert_eq!(
        t.render_str("{{ u.k | default('d') }}", &vars)
            .unwrap()
            .as_str(),
        Some("d")
    );
}

#[test]
fn vault_values_in_template_files_fail_where_printed() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("t.j2");
    std::fs::write(&path, "pw={{ secret }}\n").unwrap();
    let vaulted = agent_yaml::vault::Vaulted::value(VAULTED.to_string());
    let vars = Vars::new(vec![Value::from_pairs([("secret", vaulted)])]);
    let t = Templar::new();
    let e = t
        .render_file(
            &path,
            &vars,
            &SearchPaths::default(),
            &FileOptions::default(),
        )
        .unwrap_err();
    assert!(
        e.message.contains("undecryptable variable"),
        "{}",
        e.message
    );
    // Nothing is left over for the next render.
    assert_eq!(t.render_str("{{ 1 }}", &vars).unwrap().to_string(), "1");
    // A vault-encrypted template file without a password does not render.
    std::fs::write(&path, VAULTED).unwrap();
    let e = t
        .render_file(
            &path,
            &vars,
            &SearchPaths::default(),
            &FileOptions::default(),
        )
        .unwrap_err();
    assert!(
        e.message.contains("vault-encrypted and did not decrypt"),
        "{}",
        e.message
    );
}

/// Ansible 2.19+: a filter given an undefined value or argument gives that undefined back
/// (it fails where the result is used, naming the variable); `default` and `is defined`
/// see it.
#[test]
fn filters_give_back_undefined_input() {
    assert_eq!(r("{{ (nd | upper) is undefined }}").unwrap(), "bool:True");
    assert_eq!(
        r("{{ (nd | map('upper')) is undefined }}").unwrap(),
        "bool:True"
    );
    assert_eq!(r("{{ (nd | int) is defined }}").unwrap(), "bool:False");
    assert_eq!(
        r("{{ ('a' | regex_replace('a', nd)) is undefined }}").unwrap(),
        "bool:True"
    );
    assert_eq!(
        r("{{ nd | upper | default('dflt') }}").unwrap(),
        "string:'dflt'"
    );
    assert_eq!(r("{{ nd | length | default(0) }}").unwrap(), "number:0");
    let e = r("{{ nd | upper | lower }}").unwrap_err();
    assert!(e.contains("'nd' is undefined"), "{e}");
    let e = r("{{ (nd | int) > 2 }}").unwrap_err();
    assert!(e.contains("'nd' is undefined"), "{e}");
    // An undefined item fails a join (it would print as nothing).
    let e = r("{{ [1, nd] | map('string') | join(',') }}").unwrap_err();
    assert!(e.contains("undefined"), "{e}");
    // Jinja2's replace with a count.
    assert_eq!(
        r("{{ 'aaa' | replace('a', 'b', 2) }}").unwrap(),
        "string:'bba'"
    );
    assert_eq!(
        r("{{ 'aaa' | replace('a', 'b', count=1) }}").unwrap(),
        "string:'baa'"
    );
    assert_eq!(
        r("{{ 'abc' | replace('', '-') }}").unwrap(),
        "string:'-a-b-c-'"
    );
    assert!(r("{{ ('x' * 1000000) | replace('', 'yyyyyyyyyyyy') }}").is_err());
}

/// ansible-core's internal finalize filter gives plain lists and dicts; groupby's pairs
/// have the attributes `grouper` and `list`.
#[test]
fn protomatter_finalize_and_groupby_pairs() {
    let g = "[{'k': 1, 'n': 'a'}, {'k': 2, 'n': 'b'}] | groupby('k')";
    assert_eq!(
        r(&format!("{{{{ ({g} | ansible._protomatter.finalize) == [[1, [{{'k': 1, 'n': 'a'}}]], [2, [{{'k': 2, 'n': 'b'}}]]] }}}}")).unwrap(),
        "bool:True"
    );
    assert_eq!(
        r(&format!("{{{{ {g} | map('attr', 'grouper') | list }}}}")).unwrap(),
        "sequence:[1, 2]"
    );
    assert_eq!(
        r("{{ {'a': [1]} | ansible._protomatter.finalize }}").unwrap(),
        "map:{'a': [1]}"
    );
    // A dict's keys are not attributes.
    assert_eq!(
        r("{{ ({'a': 1} | attr('a')) is undefined }}").unwrap(),
        "bool:True"
    );
}

/// A parenthesized value's attribute chain reaches `default` / `is defined` when the
/// value is undefined, as a variable's does.
#[test]
fn group_chains_reach_default() {
    for (e, want) in [
        ("{{ (nd).x[0] | default('a') }}", "string:'a'"),
        ("{{ (nd | upper).x | default('a') }}", "string:'a'"),
        ("{{ ('k' | extract(nd)).x | default('a') }}", "string:'a'"),
        ("{{ (nd | upper)['x'] | default('a') }}", "string:'a'"),
        ("{{ ({'x': [5]}).x[0] | default('a') }}", "number:5"),
        ("{{ ({'x': [5]}).x.0 | default('a') }}", "number:5"),
        ("{{ ({'x': 1}).x.y is defined }}", "bool:False"),
        (
            "{{ 'a' if (nd | upper).x is defined else 'b' }}",
            "string:'b'",
        ),
        ("{{ lst | map('string') | join(',') }}", "string:'1,2,3'"),
        // Chains inside the group are guarded too.
        ("{{ (nd.b | default({})).c | default(1) }}", "number:1"),
        ("{{ (nd.b | d([]))[0] | d('') }}", "string:''"),
        ("{{ (d[nd.x | default('k')]).y | default(2) }}", "number:2"),
    ] {
        assert_eq!(r(e).as_deref(), Ok(want), "{e}");
    }
    // Used otherwise, the undefined value still fails.
    let e = r("{{ (nd | upper).x }}").unwrap_err();
    assert!(e.contains("'nd' is undefined"), "{e}");
}

/// PyYAML's `default_style` and `canonical` for strings (recorded from PyYAML 6).
#[test]
fn to_yaml_styles_for_strings() {
    for (e, want) in [
        (
            "{{ 'thing' | to_yaml(default_style='|') }}",
            "|-\n  thing\n",
        ),
        (
            "{{ 'thing' | to_yaml(default_style='>') }}",
            ">-\n  thing\n",
        ),
        ("{{ 'thing' | to_yaml(default_style='\"') }}", "\"thing\"\n"),
        ("{{ 'thing' | to_yaml(default_style=\"'\") }}", "'thing'\n"),
        (
            "{{ 'thing' | to_yaml(canonical=True) }}",
            "---\n!!str \"thing\"\n",
        ),
        (
            "{{ 'a\nb\n' | to_yaml(default_style='|') }}",
            "|\n  a\n  b\n",
        ),
        (
            "{{ 'a\nb' | to_yaml(default_style='>') }}",
            ">-\n  a\n\n  b\n",
        ),
        (
            "{{ 'a\nb\n' | to_yaml(canonical=True) }}",
            "---\n!!str \"a\\nb\\n\"\n",
        ),
    ] {
        let got = Templar::new().render_str(e, &vars()).map_err(|e| e.message);
        assert_eq!(
            got.as_ref()
                .map(|v| v.as_str().unwrap_or("?").to_string())
                .as_deref(),
            Ok(want),
            "{e}"
        );
    }
    assert!(r("{{ 1 | to_yaml(default_style='|') }}").is_err());
}
