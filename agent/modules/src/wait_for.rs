//! The `wait_for` module: wait (bounded) for a path to appear or go away, optionally
//! for a regex in the file, or for a TCP port to open or close — the way roles wait for
//! an EBS volume (`wait_for: path=/dev/xvdf`). Never changes anything; like Ansible's
//! (which lacks check mode support), check mode skips it.

use std::net::{TcpStream, ToSocketAddrs};
use std::path::Path;
use std::time::{Duration, Instant};

use regex::bytes::Regex;

use crate::spec::{Arg, Args, Def};
use crate::{Ctx, Module, ModuleError, Plan, ResultMap, Value};

pub struct WaitFor;

const SPEC: &[Arg] = &[
    Arg::str("host").default(Def::Str("127.0.0.1")),
    Arg::int("timeout").default(Def::Int(300)),
    Arg::int("connect_timeout").default(Def::Int(5)),
    Arg::int("delay").default(Def::Int(0)),
    Arg::int("port"),
    Arg::list("active_connection_states"),
    Arg::path("path"),
    Arg::str("search_regex"),
    Arg::str("state")
        .default(Def::Str("started"))
        .choices(&["absent", "drained", "present", "started", "stopped"]),
    Arg::list("exclude_hosts"),
    Arg::int("sleep").default(Def::Int(1)),
    Arg::str("msg"),
];

/// How the wait ended.
#[derive(Debug)]
pub enum Observed {
    Skipped,
    Done {
        elapsed: u64,
        groups: Vec<Option<String>>,
        groupdict: Vec<(String, Option<String>)>,
    },
    Failed {
        msg: String,
        elapsed: u64,
    },
}

fn secs(args: &Args, name: &str) -> u64 {
    args.int(name).unwrap_or(0).max(0) as u64
}

fn connect(host: &str, port: u16, timeout: Duration) -> Option<TcpStream> {
    let addrs = (host, port).to_socket_addrs().ok()?;
    addrs
        .into_iter()
        .find_map(|a| TcpStream::connect_timeout(&a, timeout.max(Duration::from_millis(1))).ok())
}

/// Read from the connection until `re` matches what was received, the peer closes it or
/// `end` passes.
fn read_until(s: &TcpStream, re: &Regex, end: Instant) -> bool {
    use std::io::Read;
    let mut data = Vec::new();
    let mut buf = [0u8; 1024];
    while Instant::now() < end {
        let left = end.saturating_duration_since(Instant::now());
        if s.set_read_timeout(Some(left.max(Duration::from_millis(1))))
            .is_err()
        {
            return false;
        }
        let mut r = s;
        match r.read(&mut buf) {
            Ok(0) => return false,
            Ok(n) => {
                data.extend_from_slice(&buf[..n]);
                if re.is_match(&data) {
                    return true;
                }
            }
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
            Err(_) => return false,
        }
    }
    false
}

/// The first regex match in the file: its groups and named groups.
type Found = (Vec<Option<String>>, Vec<(String, Option<String>)>);

fn search(path: &Path, re: &Regex) -> Option<Found> {
    let data = std::fs::read(path).ok()?;
    let caps = re.captures(&data)?;
    let text = |m: Option<regex::bytes::Match<'_>>| {
        m.map(|m| String::from_utf8_lossy(m.as_bytes()).into_owned())
    };
    let groups = (1..caps.len()).map(|i| text(caps.get(i))).collect();
    let named = re
        .capture_names()
        .flatten()
        .map(|n| (n.to_string(), text(caps.name(n))))
        .collect();
    Some((groups, named))
}

impl Module for WaitFor {
    const SPECS: &'static [&'static [Arg]] = &[SPEC];
    type Observed = Observed;
    type Op = ();

    fn observe(args: &Args, ctx: &Ctx<'_>) -> Result<Observed, ModuleError> {
        let state = args.str("state").unwrap_or("started");
        let path = args.string("path");
        let port = args.int("port");
        let fail0 = |m: &str| Err(ModuleError::new(m).with("elapsed", 0));
        if port.is_some() && path.is_some() {
            return fail0("port and path parameter can not both be passed to wait_for");
        }
        if path.is_some() && state == "stopped" {
            return fail0(
                "state=stopped should only be used for checking a port in the wait_for module",
            );
        }
        if path.is_some() && state == "drained" {
            return fail0(
                "state=drained should only be used for checking a port in the wait_for module",
            );
        }
        if args.is_set("exclude_hosts") && state != "drained" {
            return fail0("exclude_hosts should only be with state=drained");
        }
        let re = match args.str("search_regex") {
            Some(r) => Some(
                regex::bytes::RegexBuilder::new(r)
                    .multi_line(true)
                    .build()
                    .map_err(|e| ModuleError::new(format!("Invalid regular expression: {e}")))?,
            ),
            None => None,
        };
        if ctx.check_mode {
            return Ok(Observed::Skipped);
        }
        if state == "drained" {
            return Err(ModuleError::new(
                "state=drained is not supported by the agent's wait_for",
            ));
        }
        let start = Instant::now();
        let timeout = Duration::from_secs(secs(args, "timeout"));
        let sleep = Duration::from_secs(secs(args, "sleep"));
        let connect_timeout = Duration::from_secs(secs(args, "connect_timeout"));
        let host = args.string("host").unwrap_or_else(|| "127.0.0.1".into());
        std::thread::sleep(Duration::from_secs(secs(args, "delay")));
        let done = |groups, groupdict| Observed::Done {
            elapsed: start.elapsed().as_secs(),
            groups,
            groupdict,
        };
        let failed = |msg: String| Observed::Failed {
            msg: args.string("msg").unwrap_or(msg),
            elapsed: start.elapsed().as_secs(),
        };
        let port = port.and_then(|p| u16::try_from(p).ok());
        if port.is_none() && path.is_none() {
            std::thread::sleep(timeout);
            return Ok(done(Vec::new(), Vec::new()));
        }
        let end = start + timeout;
        let absent = matches!(state, "absent" | "stopped");
        while Instant::now() < end {
            if let Some(p) = &path {
                let p = Path::new(p);
                if absent {
                    if !p.exists() {
                        return Ok(done(Vec::new(), Vec::new()));
                    }
                } else {
                    match std::fs::metadata(p) {
                        Ok(_) => match &re {
                            None => return Ok(done(Vec::new(), Vec::new())),
                            Some(re) => {
                                if let Some((g, gd)) = search(p, re) {
                                    return Ok(done(g, gd));
                                }
                            }
                        },
                        Err(e) if e.kind() != std::io::ErrorKind::NotFound => {
                            let why = e
                                .raw_os_error()
                                .map(|n| nix::errno::Errno::from_raw(n).desc().to_string())
                                .unwrap_or_else(|| e.to_string());
                            return Ok(failed(format!("Failed to stat {}, {why}", p.display())));
                        }
                        Err(_) => {}
                    }
                }
            } else if let Some(port) = port {
                let left = end.saturating_duration_since(Instant::now());
                let conn = connect(&host, port, connect_timeout.min(left));
                match (absent, conn, &re) {
                    (true, None, _) => return Ok(done(Vec::new(), Vec::new())),
                    (false, Some(_), None) => return Ok(done(Vec::new(), Vec::new())),
                    (false, Some(c), Some(re)) if read_until(&c, re, end) => {
                        return Ok(done(Vec::new(), Vec::new()));
                    }
                    _ => {}
                }
            }
            std::thread::sleep(sleep.min(end.saturating_duration_since(Instant::now())));
        }
        let what = match (&path, port, absent) {
            (Some(p), _, true) => format!("Timeout when waiting for {p} to be absent."),
            (Some(p), _, false) => match args.str("search_regex") {
                Some(r) => format!("Timeout when waiting for search string {r} in {p}"),
                None => format!("Timeout when waiting for file {p}"),
            },
            (None, Some(port), true) => format!("Timeout when waiting for {host}:{port} to stop."),
            (None, Some(port), false) => match args.str("search_regex") {
                Some(r) => format!("Timeout when waiting for search string {r} in {host}:{port}"),
                None => format!("Timeout when waiting for {host}:{port}"),
            },
            _ => String::new(),
        };
        Ok(failed(what))
    }

    fn plan(args: &Args, o: &Observed, _ctx: &Ctx<'_>) -> Result<Plan<()>, ModuleError> {
        let mut plan = Plan::default();
        match o {
            Observed::Skipped => {
                plan.set("changed", false);
                plan.set("skipped", true);
                plan.set(
                    "msg",
                    "remote module (wait_for) does not support check mode",
                );
            }
            Observed::Failed { msg, elapsed } => {
                return Err(ModuleError::new(msg.clone()).with("elapsed", *elapsed));
            }
            Observed::Done {
                elapsed,
                groups,
                groupdict,
            } => {
                let opt =
                    |v: &Option<String>| v.as_deref().map(Value::from).unwrap_or(Value::from(()));
                let none = || Value::from(());
                plan.set("state", args.str("state").unwrap_or("started"));
                plan.set("port", args.get("port").cloned().unwrap_or_else(none));
                plan.set(
                    "search_regex",
                    args.get("search_regex").cloned().unwrap_or_else(none),
                );
                plan.set(
                    "match_groups",
                    Value::from(groups.iter().map(opt).collect::<Vec<_>>()),
                );
                plan.set(
                    "match_groupdict",
                    Value::from_pairs(
                        groupdict
                            .iter()
                            .map(|(k, v)| (k.clone(), opt(v)))
                            .collect::<indexmap::IndexMap<String, Value>>(),
                    ),
                );
                plan.set("path", args.get("path").cloned().unwrap_or_else(none));
                plan.set("elapsed", *elapsed);
                // AnsibleModule adds the path's facts (state, owner, mode...) to results
                // naming an existing path.
                if let Some(p) = args.str("path")
                    && Path::new(p).exists()
                {
                    plan.result.extend(crate::host::fs::path_info(Path::new(p)));
                }
            }
        }
        Ok(plan)
    }

    fn apply(
        _args: &Args,
        _o: Observed,
        _plan: &Plan<()>,
        _ctx: &Ctx<'_>,
    ) -> Result<ResultMap, ModuleError> {
        Ok(ResultMap::new())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use indexmap::IndexMap;

    fn run(pairs: &[(&str, Value)], check: bool) -> Result<ResultMap, ModuleError> {
        let raw: IndexMap<String, Value> = pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.clone()))
            .collect();
        crate::testctx::with_ctx(check, |ctx| crate::run::<WaitFor>("wait_for", &raw, ctx))
    }

    #[test]
    fn present_absent_and_timeout() {
        let d = tempfile::tempdir().unwrap();
        let f = d.path().join("dev");
        let fv = Value::from(f.display().to_string());
        std::fs::write(&f, "size=42 name=vol\n").unwrap();
        let r = run(&[("path", fv.clone())], false).unwrap();
        assert_eq!(r.get("changed"), Some(&Value::from(false)));
        assert_eq!(r.get("elapsed"), Some(&Value::from(0)));
        let r = run(
            &[
                ("path", fv.clone()),
                ("search_regex", Value::from(r"size=(\d+) name=(?P<n>\w+)")),
            ],
            false,
        )
        .unwrap();
        assert_eq!(
            r.get("match_groups").map(|v| v.to_string()),
            Some("['42', 'vol']".to_string())
        );
        assert_eq!(
            r.get("match_groupdict").map(|v| v.to_string()),
            Some("{'n': 'vol'}".to_string())
        );
        let e = run(
            &[
                ("path", fv.clone()),
                ("state", Value::from("absent")),
                ("timeout", Value::from(1)),
            ],
            false,
        )
        .unwrap_err();
        assert_eq!(
            e.msg,
            format!("Timeout when waiting for {} to be absent.", f.display())
        );
        let gone = Value::from(d.path().join("none").display().to_string());
        assert!(
            run(
                &[("path", gone.clone()), ("state", Value::from("absent"))],
                false
            )
            .is_ok()
        );
        let e = run(&[("path", gone), ("timeout", Value::from(0))], false).unwrap_err();
        assert!(
            e.msg.starts_with("Timeout when waiting for file "),
            "{}",
            e.msg
        );
        let r = run(&[("path", fv)], true).unwrap();
        assert_eq!(r.get("skipped"), Some(&Value::from(true)));
    }

    #[test]
    fn port_open_closed_and_banner() {
        let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let port = l.local_addr().unwrap().port();
        let t = std::thread::spawn(move || {
            for s in l.incoming().take(2) {
                use std::io::Write;
                let _ = s.and_then(|mut s| s.write_all(b"SSH-2.0-test\r\n"));
            }
        });
        let p = Value::from(i64::from(port));
        assert!(run(&[("port", p.clone()), ("timeout", Value::from(3))], false).is_ok());
        let r = run(
            &[
                ("port", p.clone()),
                ("search_regex", Value::from("OpenSSH|SSH-2")),
                ("timeout", Value::from(3)),
            ],
            false,
        );
        assert!(r.is_ok(), "{r:?}");
        t.join().unwrap();
        // Nobody listens any more: stopped succeeds at once.
        let r = run(&[("port", p), ("state", Value::from("stopped"))], false).unwrap();
        assert_eq!(r.get("state"), Some(&Value::from("stopped")));
    }

    #[test]
    fn argument_conflicts() {
        let e = run(
            &[("path", Value::from("/x")), ("port", Value::from(22))],
            false,
        )
        .unwrap_err();
        assert_eq!(
            e.msg,
            "port and path parameter can not both be passed to wait_for"
        );
    }
}
