//! The ansible.utils IP filters (ipaddr, ipv4, ipv6, ipwrap, ipmath, ipsubnet, nthhost,
//! network_in_usable), as ansible.utils computes them on top of Python's netaddr: an
//! address or network is a version, an integer value and a prefix length; results are
//! the strings netaddr prints (IPv6 compacted as glibc's `inet_ntop`), `False` when a
//! query does not apply and `None` where the Python helper falls off its end.

use minijinja::value::{ValueKind, ValueOrKwargs};
use minijinja::{Environment, Error, State, Value};

use super::{Args, add, err, py_str, type_name};

const NS: &str = "ansible.utils";

pub(crate) fn register(env: &mut Environment<'static>) {
    add(env, NS, "ipaddr", f_ipaddr);
    add(env, NS, "ipv4", f_ipv4);
    add(env, NS, "ipv6", f_ipv6);
    add(env, NS, "ipwrap", f_ipwrap);
    add(env, NS, "ipmath", f_ipmath);
    add(env, NS, "ipsubnet", f_ipsubnet);
    add(env, NS, "nthhost", f_nthhost);
    add(env, NS, "network_in_usable", f_network_in_usable);
    // ansible.netcommon (shipped with the ansible package) routes these to ansible.utils
    add(env, "ansible.netcommon", "ipaddr", f_ipaddr);
    add(env, "ansible.netcommon", "ipv4", f_ipv4);
    add(env, "ansible.netcommon", "ipv6", f_ipv6);
}

/// An IPNetwork in netaddr's sense: the address as given plus a prefix length.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct IpNet {
    /// True for IPv6.
    pub v6: bool,
    /// The address (not masked).
    pub value: u128,
    /// The prefix length.
    pub prefix: u32,
}

impl IpNet {
    fn width(&self) -> u32 {
        if self.v6 { 128 } else { 32 }
    }
    fn max(&self) -> u128 {
        if self.v6 { u128::MAX } else { u32::MAX as u128 }
    }
    fn hostmask(&self) -> u128 {
        let bits = self.width() - self.prefix;
        if bits >= 128 {
            u128::MAX
        } else {
            (1u128 << bits) - 1
        }
    }
    fn netmask(&self) -> u128 {
        self.max() ^ self.hostmask()
    }
    fn network(&self) -> u128 {
        self.value & self.netmask()
    }
    fn last(&self) -> u128 {
        self.value | self.hostmask()
    }
    fn broadcast(&self) -> Option<u128> {
        if self.width() - self.prefix <= 1 {
            None
        } else {
            Some(self.last())
        }
    }
    /// Number of addresses, saturating at u128::MAX for ::/0.
    fn size(&self) -> u128 {
        self.hostmask().saturating_add(1)
    }
    fn addr(&self, value: u128) -> String {
        fmt_addr(self.v6, value)
    }
    fn ip(&self) -> String {
        self.addr(self.value)
    }
    fn cidr(&self) -> IpNet {
        IpNet {
            value: self.network(),
            ..*self
        }
    }
    /// Whether the whole of `other` lies within `self` (same version).
    fn contains(&self, other: &IpNet) -> bool {
        self.v6 == other.v6 && other.network() >= self.network() && other.last() <= self.last()
    }
    fn contains_ip(&self, v6: bool, ip: u128) -> bool {
        self.v6 == v6 && ip >= self.network() && ip <= self.last()
    }
}

impl std::fmt::Display for IpNet {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}/{}", self.ip(), self.prefix)
    }
}

/// Format an address as netaddr does (IPv6 through glibc's inet_ntop rules).
pub fn fmt_addr(v6: bool, value: u128) -> String {
    if !v6 {
        let b = (value as u32).to_be_bytes();
        return format!("{}.{}.{}.{}", b[0], b[1], b[2], b[3]);
    }
    let words: Vec<u16> = (0..8).map(|i| (value >> (112 - 16 * i)) as u16).collect();
    // Longest run of zero words (length >= 2), the first on ties.
    let (mut best, mut best_len) = (usize::MAX, 0usize);
    let mut i = 0;
    while i < 8 {
        if words[i] == 0 {
            let start = i;
            while i < 8 && words[i] == 0 {
                i += 1;
            }
            if i - start > best_len {
                best = start;
                best_len = i - start;
            }
        } else {
            i += 1;
        }
    }
    if best_len < 2 {
        best = usize::MAX;
    }
    let mut out = String::new();
    let mut i = 0;
    while i < 8 {
        if i == best {
            out.push(':');
            if i == 0 {
                out.push(':');
            }
            i += best_len;
            if i == 8 {
                break;
            }
            continue;
        }
        // Embedded IPv4: ::a.b.c.d and ::ffff:a.b.c.d.
        if i == 6 && best == 0 && (best_len == 6 || (best_len == 5 && words[5] == 0xffff)) {
            let v4 = (value & 0xffff_ffff) as u32;
            out.push_str(&fmt_addr(false, v4 as u128));
            return out;
        }
        out.push_str(&format!("{:x}", words[i]));
        if i < 7 {
            out.push(':');
        }
        i += 1;
    }
    out
}

fn parse_v4(s: &str) -> Option<u128> {
    let parts: Vec<&str> = s.split('.').collect();
    if parts.len() != 4 {
        return None;
    }
    let mut v: u128 = 0;
    for p in parts {
        if p.is_empty() || p.len() > 3 || !p.bytes().all(|b| b.is_ascii_digit()) {
            return None;
        }
        if p.len() > 1 && p.starts_with('0') {
            return None;
        }
        let n: u128 = p.parse().ok()?;
        if n > 255 {
            return None;
        }
        v = (v << 8) | n;
    }
    Some(v)
}

fn parse_v6(s: &str) -> Option<u128> {
    s.parse::<std::net::Ipv6Addr>().ok().map(u128::from)
}

/// Parse an address: (is_v6, value).
fn parse_addr(s: &str) -> Option<(bool, u128)> {
    if let Some(v) = parse_v4(s) {
        return Some((false, v));
    }
    parse_v6(s).map(|v| (true, v))
}

/// The prefix length a netmask or hostmask stands for.
fn mask_prefix(mask: u128, width: u32) -> Option<u32> {
    let max = if width == 128 {
        u128::MAX
    } else {
        (1u128 << width) - 1
    };
    for p in 0..=width {
        let host = if width - p >= 128 {
            u128::MAX
        } else {
            (1u128 << (width - p)) - 1
        };
        let net = max ^ host;
        if mask == net || mask == host {
            return Some(p);
        }
    }
    None
}

/// `netaddr.IPNetwork(s)`.
pub fn parse_net(s: &str) -> Option<IpNet> {
    let (a, p) = match s.split_once('/') {
        Some((a, p)) => (a, Some(p)),
        None => (s, None),
    };
    let (v6, value) = parse_addr(a)?;
    let width = if v6 { 128 } else { 32 };
    let prefix = match p {
        None => width,
        Some(p) if !p.is_empty() && p.bytes().all(|b| b.is_ascii_digit()) => {
            let n: u32 = p.parse().ok()?;
            if n > width {
                return None;
            }
            n
        }
        Some(p) if !v6 => mask_prefix(parse_v4(p)?, 32)?,
        Some(_) => return None,
    };
    Some(IpNet { v6, value, prefix })
}

fn is_digits(s: &str) -> bool {
    !s.is_empty() && s.chars().all(|c| c.is_ascii_digit())
}

fn net(s: &str) -> IpNet {
    parse_net(s).unwrap_or(IpNet {
        v6: false,
        value: 0,
        prefix: 32,
    })
}

fn is_global(v6: bool, ip: u128) -> bool {
    let (not_reachable, exceptions): (&[&str], &[&str]) = if v6 {
        (
            &[
                "::1/128",
                "::/128",
                "::ffff:0:0/96",
                "64:ff9b:1::/48",
                "100::/64",
                "2001::/23",
                "2001:db8::/32",
                "2002::/16",
                "fc00::/7",
                "fe80::/10",
            ],
            &[
                "2001:1::1/128",
                "2001:1::2/128",
                "2001:3::/32",
                "2001:4:112::/48",
                "2001:20::/28",
                "2001:30::/28",
            ],
        )
    } else {
        (
            &[
                "0.0.0.0/8",
                "10.0.0.0/8",
                "100.64.0.0/10",
                "127.0.0.0/8",
                "169.254.0.0/16",
                "172.16.0.0/12",
                "192.0.0.0/24",
                "192.0.0.170/31",
                "192.0.2.0/24",
                "192.168.0.0/16",
                "198.18.0.0/15",
                "198.51.100.0/24",
                "203.0.113.0/24",
                "240.0.0.0/4",
                "255.255.255.255/32",
            ],
            &["192.0.0.9/32", "192.0.0.10/32"],
        )
    };
    !not_reachable.iter().any(|n| net(n).contains_ip(v6, ip))
        || exceptions.iter().any(|n| net(n).contains_ip(v6, ip))
}

fn multicast_net(v6: bool) -> IpNet {
    if v6 {
        net("ff00::/8")
    } else {
        net("224.0.0.0/4")
    }
}

fn is_loopback(v6: bool, ip: u128) -> bool {
    if v6 {
        ip == 1
    } else {
        net("127.0.0.0/8").contains_ip(false, ip)
    }
}

#[derive(Clone, Copy, PartialEq, Eq, Debug)]
enum VType {
    Address,
    Network,
}

/// A result of an ipaddr query.
#[derive(Debug, Clone, PartialEq)]
enum R {
    False,
    True,
    None,
    Str(String),
    Int(u128),
    /// The input value given back (the string or number the filter received).
    Input,
}

impl R {
    fn truthy(&self, input: &Value) -> bool {
        match self {
            R::False | R::None => false,
            R::True => true,
            R::Str(s) => !s.is_empty(),
            R::Int(i) => *i != 0,
            R::Input => input.is_true(),
        }
    }
    fn into_value(self, input: &Value) -> Value {
        match self {
            R::False => Value::from(false),
            R::True => Value::from(true),
            R::None => Value::from(()),
            R::Str(s) => Value::from(s),
            R::Int(i) => match i64::try_from(i) {
                Ok(n) => Value::from(n),
                Err(_) => Value::from(i),
            },
            R::Input => input.clone(),
        }
    }
}

fn first_last(v: &IpNet) -> Option<(u128, u128)> {
    let size = v.size();
    if size == 2 {
        Some((v.network(), v.last()))
    } else if size > 1 {
        Some((v.network() + 1, v.last() - 1))
    } else {
        None
    }
}

fn not_network(alias: &str) -> Error {
    let _ = alias;
    err("Not a network address")
}

/// The query functions of ipaddr; `Ok(None)` for an unknown query name.
fn run_query(
    q: &str,
    v: &IpNet,
    vtype: VType,
    alias: &str,
    cidr_list: Option<&IpNet>,
) -> Result<Option<R>, Error> {
    let size = v.size();
    let s = |x: String| R::Str(x);
    let is_net_addr = v.value == v.network();
    let r = match q {
        "" => match vtype {
            VType::Address => s(v.ip()),
            VType::Network => s(v.to_string()),
        },
        "cidr_lookup" => match cidr_list {
            Some(list) if list.contains(v) => R::Input,
            _ => R::None,
        },
        "address" | "ip" => {
            let plain = size == 1 || !is_net_addr || v.broadcast().is_none();
            if plain || v.v6 { s(v.ip()) } else { R::None }
        }
        "address/prefix" | "gateway" | "gw" | "host/prefix" | "hostnet" | "router" => {
            if size > 2 && (v.value == v.network() || Some(v.value) == v.broadcast()) {
                R::False
            } else {
                s(format!("{}/{}", v.ip(), v.prefix))
            }
        }
        "bool" => R::True,
        "broadcast" => match v.broadcast() {
            Some(b) if size > 2 => s(v.addr(b)),
            _ => R::None,
        },
        "cidr" => s(v.to_string()),
        "first_usable" => match vtype {
            VType::Address => return Err(not_network(alias)),
            VType::Network => {
                if size == 2 {
                    s(v.addr(v.network()))
                } else if size > 1 {
                    s(v.addr(v.network() + 1))
                } else {
                    R::None
                }
            }
        },
        "last_usable" => match vtype {
            VType::Address => return Err(not_network(alias)),
            VType::Network => match first_last(v) {
                Some((_, l)) => s(v.addr(l)),
                None => R::None,
            },
        },
        "next_usable" | "previous_usable" => match vtype {
            VType::Address => return Err(not_network(alias)),
            VType::Network => match first_last(v) {
                Some((f, l)) => {
                    let n = if q == "next_usable" {
                        v.value.checked_add(1)
                    } else {
                        v.value.checked_sub(1)
                    };
                    match n {
                        Some(n) if n >= f && n <= l => s(v.addr(n)),
                        _ => R::None,
                    }
                }
                None => R::None,
            },
        },
        "range_usable" => match vtype {
            VType::Address => return Err(not_network(alias)),
            VType::Network => match first_last(v) {
                Some((f, l)) => s(format!("{}-{}", v.addr(f), v.addr(l))),
                None => R::None,
            },
        },
        "peer" => match vtype {
            VType::Address => return Err(not_network(alias)),
            VType::Network => {
                if size == 2 {
                    s(v.addr(v.value ^ 1))
                } else if size == 4 {
                    match v.value % 4 {
                        0 => return Err(err("Network address of /30 has no peer")),
                        3 => return Err(err("Broadcast address of /30 has no peer")),
                        _ => s(v.addr(v.value ^ 3)),
                    }
                } else {
                    return Err(err("Not a point-to-point network"));
                }
            }
        },
        "host" => {
            if size == 1 {
                s(v.to_string())
            } else if !is_net_addr || v.broadcast().is_none() {
                s(format!("{}/{}", v.ip(), v.prefix))
            } else {
                R::None
            }
        }
        "hostmask" | "wildcard" => s(v.addr(v.hostmask())),
        "int" => match vtype {
            VType::Address => R::Int(v.value),
            VType::Network => s(format!("{}/{}", v.value, v.prefix)),
        },
        "ip/prefix" => {
            if size == 2 || (size > 1 && !is_net_addr) {
                s(format!("{}/{}", v.ip(), v.prefix))
            } else {
                R::None
            }
        }
        "ip_netmask" => {
            if size == 2 || (size > 1 && !is_net_addr) {
                s(format!("{} {}", v.ip(), v.addr(v.netmask())))
            } else {
                R::None
            }
        }
        "ipv4" | "v4" => {
            if v.v6 {
                let conv = if v.value <= u32::MAX as u128 {
                    Some(v.value)
                } else if v.value <= 0xFFFF_FFFF_FFFF {
                    Some(v.value - 0xFFFF_0000_0000)
                } else {
                    None
                };
                match conv {
                    Some(a) if v.prefix >= 96 => {
                        s(format!("{}/{}", fmt_addr(false, a), v.prefix - 96))
                    }
                    _ => R::False,
                }
            } else {
                R::Input
            }
        }
        "ipv6" | "v6" => {
            if v.v6 {
                R::Input
            } else {
                s(format!(
                    "{}/{}",
                    fmt_addr(true, 0xFFFF_0000_0000 + v.value),
                    v.prefix + 96
                ))
            }
        }
        "link-local" => {
            let ll = if v.v6 {
                net("fe80::/10")
            } else {
                net("169.254.0.0/16")
            };
            if ll.contains_ip(v.v6, v.value) {
                R::Input
            } else {
                R::None
            }
        }
        "lo" | "loopback" => {
            if is_loopback(v.v6, v.value) {
                R::Input
            } else {
                R::None
            }
        }
        "multicast" => {
            if multicast_net(v.v6).contains(v) {
                R::Input
            } else {
                R::None
            }
        }
        "unicast" => {
            if !multicast_net(v.v6).contains(v) {
                R::Input
            } else {
                R::None
            }
        }
        "net" => {
            if size > 1 && is_net_addr {
                s(format!("{}/{}", v.addr(v.network()), v.prefix))
            } else {
                R::None
            }
        }
        "netmask" => s(v.addr(v.netmask())),
        "network" | "network_id" => s(v.addr(v.network())),
        "network/prefix" | "subnet" => s(v.cidr().to_string()),
        "network_netmask" => s(format!("{} {}", v.addr(v.network()), v.addr(v.netmask()))),
        "network_wildcard" => s(format!("{} {}", v.addr(v.network()), v.addr(v.hostmask()))),
        "prefix" => R::Int(v.prefix as u128),
        "private" => {
            if !is_global(v.v6, v.value) {
                R::Input
            } else {
                R::None
            }
        }
        "public" => {
            let ip = IpNet {
                prefix: v.width(),
                ..*v
            };
            let netmask = {
                let x = (v.value ^ v.max()).wrapping_add(1);
                x & x.wrapping_sub(1) == 0
            };
            let hostmask = {
                let x = v.value.wrapping_add(1);
                x & x.wrapping_sub(1) == 0
            };
            if !multicast_net(v.v6).contains(&ip)
                && is_global(v.v6, v.value)
                && !is_loopback(v.v6, v.value)
                && !netmask
                && !hostmask
            {
                R::Input
            } else {
                R::None
            }
        }
        "revdns" => s(revdns(v.v6, v.value)),
        "size" => R::Int(size),
        "size_usable" => R::Int(match size {
            1 => 0,
            2 => 2,
            n => n - 2,
        }),
        "type" => {
            if size == 1 || !is_net_addr {
                s("address".into())
            } else {
                s("network".into())
            }
        }
        "version" => R::Int(if v.v6 { 6 } else { 4 }),
        "wrap" => {
            if v.v6 {
                match vtype {
                    VType::Address => s(format!("[{}]", v.ip())),
                    VType::Network => s(format!("[{}]/{}", v.ip(), v.prefix)),
                }
            } else {
                R::Input
            }
        }
        _ => return Ok(None),
    };
    Ok(Some(r))
}

fn revdns(v6: bool, ip: u128) -> String {
    if v6 {
        let hex = format!("{ip:032x}");
        let mut parts: Vec<String> = hex.chars().rev().map(|c| c.to_string()).collect();
        parts.push("ip6.arpa.".into());
        parts.join(".")
    } else {
        let b = (ip as u32).to_be_bytes();
        format!("{}.{}.{}.{}.in-addr.arpa.", b[3], b[2], b[1], b[0])
    }
}

/// Python `str(value).isdigit()` for an int or string input.
fn digits_of(value: &Value) -> Option<String> {
    let s = if value.kind() == ValueKind::Number && value.is_integer() {
        value.to_string()
    } else if let Some(s) = value.as_str() {
        s.to_string()
    } else {
        return None;
    };
    is_digits(&s).then_some(s)
}

/// ipaddr for a single (non-list) value; returns the result and the value ipaddr ended
/// up holding (`R::Input` means that value).
fn ipaddr_one(
    value: &Value,
    query: &str,
    version: Option<i64>,
    alias: &str,
) -> Result<(R, Value), Error> {
    if !value.is_true() || (value.kind() == ValueKind::Bool) {
        return Ok((R::False, value.clone()));
    }
    let mut input = value.clone();
    let (v, vtype) = if let Some(d) = digits_of(value) {
        let n: u128 = match d.parse() {
            Ok(n) => n,
            Err(_) => return Ok((R::False, input)),
        };
        let v = if version != Some(6) && n <= u32::MAX as u128 {
            IpNet {
                v6: false,
                value: n,
                prefix: 32,
            }
        } else {
            IpNet {
                v6: true,
                value: n,
                prefix: 128,
            }
        };
        input = Value::from(v.to_string());
        (v, VType::Address)
    } else {
        let s = py_str(value);
        match parse_net(&s) {
            Some(v) => {
                let vt = if s.split('/').count() == 2 {
                    VType::Network
                } else {
                    VType::Address
                };
                (v, vt)
            }
            None => {
                let Some((a, p)) = s.split_once('/') else {
                    return Ok((R::False, input));
                };
                let (Ok(a), Ok(p)) = (a.trim().parse::<u128>(), p.trim().parse::<u32>()) else {
                    return Ok((R::False, input));
                };
                let v = if a <= u32::MAX as u128 && p <= 32 {
                    IpNet {
                        v6: false,
                        value: a,
                        prefix: p,
                    }
                } else if p <= 128 {
                    IpNet {
                        v6: true,
                        value: a,
                        prefix: p,
                    }
                } else {
                    return Ok((R::False, input));
                };
                input = Value::from(v.to_string());
                (v, VType::Network)
            }
        }
    };
    // A query that is itself a network: membership test.
    let mut q = query.to_string();
    let mut cidr_list = None;
    if !q.is_empty() && (!is_known_query(&q) || q == "cidr_lookup") && !is_digits(&q) {
        let (r, _) = ipaddr_one(&Value::from(q.clone()), "network", None, alias)?;
        if r.truthy(&Value::UNDEFINED)
            && let Some(n) = parse_net(&q)
        {
            cidr_list = Some(n.cidr());
            q = "cidr_lookup".into();
        }
    }
    if let Some(ver) = version
        && ver != 0
        && ver != if v.v6 { 6 } else { 4 }
    {
        return Ok((R::False, input));
    }
    match run_query(&q, &v, vtype, alias, cidr_list.as_ref())? {
        Some(r) => Ok((r, input)),
        None => {
            if q.trim().parse::<f64>().is_ok() {
                let r = if v.size() == 1 {
                    match vtype {
                        VType::Address => R::Str(v.ip()),
                        VType::Network => R::Str(v.to_string()),
                    }
                } else {
                    // netaddr indexes the network by int(query): the nth address.
                    match q.trim().parse::<i128>() {
                        Ok(i) => nth(&v, i)
                            .map(|a| R::Str(format!("{}/{}", v.addr(a), v.prefix)))
                            .unwrap_or(R::False),
                        Err(_) => R::False,
                    }
                };
                Ok((r, input))
            } else {
                Err(err(format!("{alias}: unknown filter type: {q}")))
            }
        }
    }
}

fn is_known_query(q: &str) -> bool {
    let probe = IpNet {
        v6: false,
        value: 0x0a00_0001,
        prefix: 24,
    };
    !matches!(run_query(q, &probe, VType::Network, "", None), Ok(None))
}

/// `ipaddr(value, query, version)` on any input, lists included.
fn ipaddr(value: &Value, query: &str, version: Option<i64>, alias: &str) -> Result<Value, Error> {
    if super::is_seq(value) {
        let mut out = Vec::new();
        for item in value.try_iter()? {
            let (r, input) = ipaddr_one(&item, query, version, "ipaddr")?;
            if r.truthy(&input) {
                out.push(r.into_value(&input));
            }
        }
        return Ok(Value::from(out));
    }
    let (r, input) = ipaddr_one(value, query, version, alias)?;
    Ok(r.into_value(&input))
}

fn check_type(fname: &str, value: &Value, allow_bool: bool) -> Result<(), Error> {
    let ok = value.as_str().is_some()
        || super::is_seq(value)
        || (value.kind() == ValueKind::Number && value.is_integer())
        || value.kind() == ValueKind::Bool && (allow_bool || fname != "ipwrap");
    if ok {
        Ok(())
    } else {
        Err(err(format!(
            "Unrecognized type <class '{}'> for {fname} filter <value>",
            type_name(value)
        )))
    }
}

fn query_arg(a: &Args, i: usize) -> String {
    match a.get(i) {
        None => String::new(),
        Some(v) if v.is_none() => String::new(),
        Some(v) => py_str(v),
    }
}

fn f_ipaddr(_: &State, value: Value, rest: &[ValueOrKwargs]) -> Result<Value, Error> {
    let a = Args::parse("ipaddr", rest, &["query", "version", "alias"], false)?;
    check_type("ipaddr", &value, true)?;
    let version = match a.some(1) {
        Some(v) => Some(super::to_int(v).ok_or_else(|| err("ipaddr: version must be an integer"))?),
        None => None,
    };
    let alias = a.string(2, "ipaddr");
    ipaddr(&value, &query_arg(&a, 0), version, &alias)
}

fn f_ipv4(_: &State, value: Value, rest: &[ValueOrKwargs]) -> Result<Value, Error> {
    let a = Args::parse("ipv4", rest, &["query"], false)?;
    check_type("ipv4", &value, true)?;
    ipaddr(&value, &query_arg(&a, 0), Some(4), "ipv4")
}

fn f_ipv6(_: &State, value: Value, rest: &[ValueOrKwargs]) -> Result<Value, Error> {
    let a = Args::parse("ipv6", rest, &["query"], false)?;
    check_type("ipv6", &value, true)?;
    ipaddr(&value, &query_arg(&a, 0), Some(6), "ipv6")
}

fn wrap_one(item: &Value, query: &str) -> Value {
    match ipaddr_one(item, query, None, "ipwrap") {
        Ok((r, input)) if r.truthy(&input) => {
            let got = r.into_value(&input);
            match ipaddr_one(&got, "wrap", None, "ipwrap") {
                Ok((w, inp)) => w.into_value(&inp),
                Err(_) => item.clone(),
            }
        }
        _ => item.clone(),
    }
}

fn f_ipwrap(_: &State, value: Value, rest: &[ValueOrKwargs]) -> Result<Value, Error> {
    let a = Args::parse("ipwrap", rest, &["query"], false)?;
    check_type("ipwrap", &value, true)?;
    let query = query_arg(&a, 0);
    if super::is_seq(&value) {
        let items: Vec<Value> = value
            .try_iter()?
            .map(|item| wrap_one(&item, &query))
            .collect();
        return Ok(Value::from(items));
    }
    Ok(wrap_one(&value, &query))
}

fn f_ipmath(_: &State, value: Value, rest: &[ValueOrKwargs]) -> Result<Value, Error> {
    let a = Args::parse("ipmath", rest, &["amount"], false)?;
    let amount_v = a.req("ipmath", 0, "amount")?;
    let text = py_str(&value);
    let parsed = if text.contains('/') {
        parse_net(&text).map(|n| (n.v6, n.value))
    } else {
        parse_addr(&text)
    };
    let Some((v6, ip)) = parsed else {
        return Err(err(format!(
            "You must pass a valid IP address; {text} is invalid"
        )));
    };
    let amount = super::to_int(amount_v).filter(|_| {
        amount_v.is_number()
            || amount_v
                .as_str()
                .is_some_and(|s| s.trim().parse::<i64>().is_ok())
    });
    let Some(amount) = amount else {
        return Err(err(format!(
            "You must pass an integer for arithmetic; {} is not a valid integer",
            py_str(amount_v)
        )));
    };
    let max = if v6 { u128::MAX } else { u32::MAX as u128 };
    let res = if amount >= 0 {
        ip.checked_add(amount as u128).filter(|r| *r <= max)
    } else {
        ip.checked_sub(amount.unsigned_abs() as u128)
    };
    match res {
        Some(r) => Ok(Value::from(fmt_addr(v6, r))),
        None => Err(err("result outside valid IP address boundary!")),
    }
}

/// Normalise an address or network to its CIDR (`ipaddr(x, 'cidr'|'subnet')`).
fn normalised(value: &Value) -> Result<Option<IpNet>, Error> {
    let (t, input) = ipaddr_one(value, "type", None, "ipaddr")?;
    let q = match t {
        R::Str(ref s) if s == "address" => "cidr",
        R::Str(ref s) if s == "network" => "subnet",
        _ => return Ok(None),
    };
    let (r, _) = ipaddr_one(value, q, None, "ipaddr")?;
    let _ = input;
    Ok(match r {
        R::Str(s) => parse_net(&s),
        _ => None,
    })
}

fn f_ipsubnet(_: &State, value: Value, rest: &[ValueOrKwargs]) -> Result<Value, Error> {
    let a = Args::parse("ipsubnet", rest, &["query", "index"], false)?;
    let query = query_arg(&a, 0);
    let Some(n) = normalised(&value)? else {
        return Ok(Value::from(false));
    };
    let value_net = n.cidr();
    let vtype = if value_net.size() == 1 {
        "address"
    } else {
        "network"
    };
    if query.is_empty() {
        return Ok(Value::from(value_net.to_string()));
    }
    let total: i64 = if value_net.v6 { 128 } else { 32 };
    if is_digits(&query) {
        let q: i64 = query.parse().unwrap_or(i64::MAX);
        if q > total {
            return Ok(Value::from(false));
        }
        let supernet = |p: i64| {
            IpNet {
                prefix: p as u32,
                ..value_net
            }
            .cidr()
        };
        let prefix = value_net.prefix as i64;
        match a.some(1) {
            None => {
                if vtype == "address" {
                    if q >= prefix {
                        return Err(err("list index out of range"));
                    }
                    return Ok(Value::from(supernet(q).to_string()));
                }
                if q - prefix < 0 {
                    return Err(err(format!("Requested subnet size of {q} is invalid")));
                }
                return Ok(big_int(q - prefix));
            }
            Some(iv) => {
                let mut index = super::to_int(iv)
                    .ok_or_else(|| err(format!("invalid literal for int(): {}", py_str(iv))))?;
                if vtype == "address" {
                    if index > total + 1 - index || index < q - total {
                        return Ok(Value::from(false));
                    }
                    // The supernets from /q up to (not including) the address's prefix.
                    let count = prefix - q;
                    let i = if index < 0 { index + count } else { index };
                    if i < 0 || i >= count {
                        return Err(err("list index out of range"));
                    }
                    return Ok(Value::from(supernet(q + i).to_string()));
                }
                if q < prefix || q - prefix >= 127 {
                    return Ok(Value::from(false));
                }
                let subnets: i128 = 1i128 << (q - prefix);
                let mut idx = index as i128;
                if idx < 0 {
                    idx += subnets;
                }
                if idx < 0 || idx >= subnets {
                    return Ok(Value::from(false));
                }
                index = 0;
                let _ = index;
                let shift = (total - q) as u32;
                let add = if shift >= 128 {
                    0
                } else {
                    (idx as u128) << shift
                };
                let out = IpNet {
                    v6: value_net.v6,
                    value: value_net.network().wrapping_add(add),
                    prefix: q as u32,
                };
                return Ok(Value::from(out.to_string()));
            }
        }
    }
    // The query is a containing network: the position of value inside it (1-based).
    let Some(qn) = normalised(&Value::from(query.clone()))? else {
        return Err(err(format!(
            "You must pass a valid subnet or IP address; {query} is invalid"
        )));
    };
    let shift = |x: u128, p: u32| -> u128 {
        let s = total as u32 - p;
        if s >= 128 { 0 } else { x >> s }
    };
    if qn.v6 == value_net.v6 && shift(value_net.value, qn.prefix) == shift(qn.value, qn.prefix) {
        if value_net.prefix < qn.prefix {
            return Err(err("negative shift count"));
        }
        let bits = value_net.prefix - qn.prefix;
        let mask: u128 = if bits >= 128 {
            u128::MAX
        } else {
            (1u128 << bits) - 1
        };
        let host = total as u32 - value_net.prefix;
        let pos = if host >= 128 {
            0
        } else {
            (value_net.value >> host) & mask
        };
        return Ok(Value::from((pos + 1).to_string()));
    }
    Err(err(format!(
        "{} is not in the subnet {}",
        value_net.cidr(),
        qn.cidr()
    )))
}

/// 2**n as a string-free integer value.
fn big_int(n: i64) -> Value {
    if n < 63 {
        Value::from((1i64 << n).to_string())
    } else if n < 128 {
        Value::from((1u128 << n).to_string())
    } else {
        Value::from(format!("2**{n}"))
    }
}

/// `IPNetwork[i]`: the i-th address of the network, negative from the end.
fn nth(n: &IpNet, i: i128) -> Option<u128> {
    let size = n.size();
    if i >= 0 {
        ((i as u128) < size).then(|| n.network() + i as u128)
    } else {
        let back = i.unsigned_abs();
        (back <= size).then(|| n.last() + 1 - back)
    }
}

fn f_nthhost(_: &State, value: Value, rest: &[ValueOrKwargs]) -> Result<Value, Error> {
    let a = Args::parse("nthhost", rest, &["query"], false)?;
    let query = query_arg(&a, 0);
    let Some(n) = normalised(&value).ok().flatten() else {
        return Ok(Value::from(false));
    };
    if query.is_empty() {
        return Ok(Value::from(false));
    }
    let Ok(i) = query.trim().parse::<i128>() else {
        return Ok(Value::from(false));
    };
    match nth(&n, i) {
        Some(a) => Ok(Value::from(n.addr(a))),
        None if i >= 0 => Ok(Value::from(false)),
        None => Err(err("index out range for address range size!")),
    }
}

fn f_network_in_usable(_: &State, value: Value, rest: &[ValueOrKwargs]) -> Result<Value, Error> {
    let a = Args::parse("network_in_usable", rest, &["test"], false)?;
    let test = a.req("network_in_usable", 0, "test")?.clone();
    let v = normalised(&value)?;
    let w = normalised(&test)?;
    let (Some(v), Some(w)) = (v, w) else {
        return Err(err("network_in_usable: not a valid address or network"));
    };
    let (vf, vl) = match first_last(&v) {
        Some(fl) => fl,
        None => (v.value, v.value),
    };
    let (wf, wl) = if w.size() > 1 {
        (w.network(), w.broadcast().unwrap_or(w.value))
    } else {
        (w.value, w.value)
    };
    Ok(Value::from(
        v.v6 == w.v6 && vf <= wf && wf <= vl && vf <= wl && wl <= vl,
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn eval(expr: &str) -> Value {
        let env = crate::filters::tests::env();
        env.compile_expression(expr).unwrap().eval(()).unwrap()
    }

    #[test]
    fn formats_ipv6_like_inet_ntop() {
        assert_eq!(fmt_addr(true, 1), "::1");
        assert_eq!(fmt_addr(true, 0), "::");
        assert_eq!(fmt_addr(true, 0x0102_0304), "::1.2.3.4");
        assert_eq!(fmt_addr(true, 0xffff_0102_0304), "::ffff:1.2.3.4");
        let v = parse_v6("1:0:0:2:0:0:3:4").unwrap();
        assert_eq!(fmt_addr(true, v), "1::2:0:0:3:4");
    }

    #[test]
    fn basic_queries() {
        assert_eq!(
            eval("'192.168.1.5/24' | ipaddr('network')").to_string(),
            "192.168.1.0"
        );
        assert_eq!(
            eval("'192.168.1.5/24' | ansible.utils.ipaddr('netmask')").to_string(),
            "255.255.255.0"
        );
        assert_eq!(
            eval("'192.168.1.5/24' | ipaddr('prefix')").as_i64(),
            Some(24)
        );
        assert!(!eval("'nope' | ipaddr").is_true());
        assert_eq!(eval("['10.0.0.1', 'x', '::1'] | ipv4").len(), Some(1));
        assert_eq!(
            eval("'10.0.0.1' | ansible.utils.ipmath(5)").to_string(),
            "10.0.0.6"
        );
        assert_eq!(
            eval("'10.0.0.0/24' | ansible.utils.nthhost(5)").to_string(),
            "10.0.0.5"
        );
        assert_eq!(eval("'::1' | ansible.utils.ipwrap").to_string(), "[::1]");
    }

    #[test]
    fn bad_input_is_an_error_not_a_panic() {
        let env = crate::filters::tests::env();
        for e in [
            "{} | ipaddr",
            "'x' | ipaddr('bogus')",
            "'1.2.3.4' | ansible.utils.ipmath('x')",
            "'::' | ansible.utils.ipsubnet('0', 1)",
        ] {
            let _ = env.compile_expression(e).unwrap().eval(());
        }
    }
}
