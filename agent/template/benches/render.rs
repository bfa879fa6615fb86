//! Rendering benchmarks (issue 3).
//!
//! - `corpus`: every expression of tests/data/lib_corpus.json rendered through `Templar`
//!   (errors included, as the corpus expects some).
//! - `nginx_2000`: a generated 2,000-line nginx-style template (loops, conditionals,
//!   filters) over 50 sites, rendered with `Templar::render_file`.
//!
//! `RENDER_BENCH_DUMP=DIR cargo bench -p agent-template --bench render` also writes
//! DIR/site.conf.j2 and DIR/vars.json, to time real Ansible on the same input
//! (docs/performance.md, "Templating (issue 3)").

use std::hint::black_box;
use std::path::{Path, PathBuf};

use agent_template::{FileOptions, SearchPaths, Templar, Value, Vars};
use criterion::{Criterion, criterion_group, criterion_main};

fn data_dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/data")
}

/// The 40-line block for site `i`.
fn site_block(i: usize) -> String {
    format!(
        r#"{{# ---- site {i} ---- #}}
{{% set site = sites[{i}] %}}
server {{
    listen {{{{ site.port | default(80) }}}};
    server_name {{{{ site.names | join(' ') }}}};
{{% if site.ssl | default(false) | bool %}}
    listen 443 ssl http2;
    ssl_certificate /etc/ssl/certs/{{{{ site.name }}}}.crt;
    ssl_certificate_key /etc/ssl/private/{{{{ site.name }}}}.key;
    ssl_protocols {{{{ tls_protocols | join(' ') }}}};
{{% endif %}}
    root {{{{ site.root | default('/var/www/' ~ site.name) }}}};
    index {{{{ ['index.html', 'index.htm'] | join(' ') }}}};
    client_max_body_size {{{{ (site.max_body_mb | default(1)) | int }}}}m;
    access_log /var/log/nginx/{{{{ site.name | lower | regex_replace('[^a-z0-9]', '_') }}}}.access.log;
    error_log /var/log/nginx/{{{{ site.name | lower }}}}.error.log {{{{ 'debug' if site.debug else 'warn' }}}};
{{% for loc in site.locations %}}
    location {{{{ loc.path }}}} {{
{{% if loc.proxy is defined %}}
        proxy_pass http://{{{{ loc.proxy }}}};
        proxy_set_header Host $host;
        proxy_read_timeout {{{{ loc.timeout | default(60) }}}}s;
{{% else %}}
        try_files $uri $uri/ =404;
{{% endif %}}
{{% if loc.allow | default([]) | length > 0 %}}
{{% for net in loc.allow %}}
        allow {{{{ net }}}};
{{% endfor %}}
        deny all;
{{% endif %}}
    }}
{{% endfor %}}
    # backends: {{{{ site.backends | map(attribute='host') | unique | sort | join(', ') }}}}
    # weights: {{{{ site.backends | map(attribute='weight') | sum }}}}
    # enabled: {{{{ site.backends | selectattr('enabled') | list | length }}}} of {{{{ site.backends | length }}}}
    # tags: {{{{ site.tags | default({{}}) | dict2items | map(attribute='key') | join(',') | upper }}}}
    # id: {{{{ site.name | hash('md5') | truncate(12, true, '') }}}}
    add_header X-Site "{{{{ site.name | title }}}}" always;
    add_header X-Env "{{{{ env_name | default('prod') }}}}" always;
}}

"#
    )
}

/// The 2,000-line template: 50 site blocks of 40 lines.
fn nginx_template() -> String {
    (0..50).map(site_block).collect()
}

fn nginx_vars() -> serde_json::Value {
    let sites: Vec<serde_json::Value> = (0..50)
        .map(|i| {
            serde_json::json!({
                "name": format!("Site-{i}.example.com"),
                "names": [format!("site{i}.example.com"), format!("www.site{i}.example.com")],
                "port": 8000 + i,
                "ssl": i % 2 == 0,
                "debug": i % 7 == 0,
                "max_body_mb": format!("{}", 1 + i % 5),
                "locations": [
                    {"path": "/"},
                    {"path": "/api", "proxy": format!("api{i}"), "timeout": 30, "allow": ["10.0.0.0/8", "192.168.0.0/16"]},
                    {"path": "/static", "allow": []},
                ],
                "backends": (0..4).map(|b| serde_json::json!({
                    "host": format!("10.0.{i}.{}", b % 3), "weight": b + 1, "enabled": b != 2
                })).collect::<Vec<_>>(),
                "tags": {"team": "web", "tier": format!("t{}", i % 3)},
            })
        })
        .collect();
    serde_json::json!({
        "sites": sites,
        "tls_protocols": ["TLSv1.2", "TLSv1.3"],
        "env_name": "staging",
    })
}

fn corpus(c: &mut Criterion) {
    let text = std::fs::read_to_string(data_dir().join("lib_corpus.json")).expect("corpus");
    let text = text.replace("@DATA@", &data_dir().join("lib_files").to_string_lossy());
    let doc: serde_json::Value = serde_json::from_str(&text).expect("corpus json");
    let vars = Vars::new(vec![agent_template::filters::pyfmt::from_json_value(
        doc["vars"].clone(),
    )]);
    // Skip the lookups that run shell commands or sleep on I/O: they measure the OS.
    let exprs: Vec<String> = doc["cases"]
        .as_array()
        .expect("cases")
        .iter()
        .filter(|c| c.get("vars").is_none())
        .filter_map(|c| c["expr"].as_str())
        .filter(|e| !e.contains("'pipe'") && !e.contains("'lines'"))
        .map(|e| format!("{{{{ {e} }}}}"))
        .collect();
    let templar = Templar::new();
    c.bench_function(&format!("corpus_{}_exprs", exprs.len()), |b| {
        b.iter(|| {
            for e in &exprs {
                let _ = black_box(templar.render_str(e, &vars));
            }
        })
    });
}

fn core_corpus(c: &mut Criterion) {
    let text = std::fs::read_to_string(data_dir().join("core_corpus.json")).expect("corpus");
    let doc: serde_json::Value = serde_json::from_str(&text).expect("corpus json");
    let vars = Vars::new(vec![agent_template::filters::pyfmt::from_json_value(
        doc["vars"].clone(),
    )]);
    // every case, errors included, as benches/ansible_corpus.py times Ansible on it
    let cases: Vec<(bool, String)> = doc["cases"]
        .as_array()
        .expect("cases")
        .iter()
        .map(|c| {
            (
                c["kind"] == "c",
                c["src"].as_str().unwrap_or_default().to_string(),
            )
        })
        .collect();
    let templar = Templar::new();
    c.bench_function(&format!("core_corpus_{}_cases", cases.len()), |b| {
        b.iter(|| {
            for (cond, src) in &cases {
                if *cond {
                    let _ = black_box(templar.eval_condition(src, &vars));
                } else {
                    let _ = black_box(templar.render_str(src, &vars));
                }
            }
        })
    });
}

fn nginx(c: &mut Criterion) {
    let dir = tempfile::tempdir().expect("tempdir");
    let src = nginx_template();
    assert!(
        src.lines().count() >= 2000,
        "template has {} lines",
        src.lines().count()
    );
    let path = dir.path().join("site.conf.j2");
    std::fs::write(&path, &src).expect("write template");
    let json = nginx_vars();
    if let Ok(out) = std::env::var("RENDER_BENCH_DUMP") {
        let out = Path::new(&out);
        let _ = std::fs::create_dir_all(out);
        let _ = std::fs::write(out.join("site.conf.j2"), &src);
        let _ = std::fs::write(out.join("vars.json"), json.to_string());
    }
    let vars = Vars::new(vec![agent_template::filters::pyfmt::from_json_value(json)]);
    let templar = Templar::new();
    let search = SearchPaths {
        dirs: vec![dir.path().to_path_buf()],
    };
    let opts = FileOptions::default();
    let first = templar
        .render_file(&path, &vars, &search, &opts)
        .expect("the bench template renders");
    if let Ok(out) = std::env::var("RENDER_BENCH_DUMP") {
        let _ = std::fs::write(Path::new(&out).join("site.conf.agent"), &first);
    }
    c.bench_function("nginx_2000_lines", |b| {
        b.iter(|| black_box(templar.render_file(&path, &vars, &search, &opts)))
    });
    let _ = Value::from(());
}

criterion_group!(benches, corpus, core_corpus, nginx);
criterion_main!(benches);
