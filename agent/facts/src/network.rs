//! `network` collector (network/linux.py): interfaces from /sys/class/net, addresses from
//! getifaddrs (IPv4 labels, broadcast, netmask) and /proc/net/if_inet6 (IPv6 scope and
//! prefix), default_ipv4 / default_ipv6 from /proc/net/route and /proc/net/ipv6_route (the
//! route `ip route get` would pick and the interface address it would use as source),
//! locally_reachable_ips from /proc/net/fib_trie and the local IPv6 routes. `ethtool`
//! features and timestamping are not collected.

use std::collections::HashMap;
use std::net::{Ipv4Addr, Ipv6Addr};
use std::path::Path;

use serde_json::Value;

use crate::util::{exists, read, read_raw};
use crate::{Ctx, Facts};

const ROUTE_TARGET_V4: Ipv4Addr = Ipv4Addr::new(8, 8, 8, 8);
const ROUTE_TARGET_V6: Ipv6Addr = Ipv6Addr::new(0x2404, 0x6800, 0x400a, 0x800, 0, 0, 0, 0x1012);

/// One address as `ip addr` lists it.
#[derive(Debug, Clone, PartialEq)]
pub enum Addr {
    V4 {
        device: String,
        label: String,
        address: Ipv4Addr,
        prefix: u32,
        broadcast: Option<Ipv4Addr>,
    },
    V6 {
        device: String,
        address: Ipv6Addr,
        prefix: u32,
        scope: String,
    },
}

fn mask_prefix(bytes: &[u8]) -> u32 {
    bytes.iter().map(|b| b.count_ones()).sum()
}

/// /proc/net/if_inet6: address → (prefix, scope name).
pub fn parse_if_inet6(text: &str) -> HashMap<(String, Ipv6Addr), (u32, String)> {
    let mut m = HashMap::new();
    for line in text.lines() {
        let f: Vec<&str> = line.split_whitespace().collect();
        if f.len() < 6 {
            continue;
        }
        let Some(addr) = hex_v6(f[0]) else { continue };
        let prefix = u32::from_str_radix(f[2], 16).unwrap_or(128);
        let scope = match u32::from_str_radix(f[3], 16).unwrap_or(0) & 0xf0 {
            0x00 => "global",
            0x10 => "host",
            0x20 => "link",
            0x40 => "site",
            _ => "global",
        };
        m.insert((f[5].to_string(), addr), (prefix, scope.to_string()));
    }
    m
}

fn hex_v6(s: &str) -> Option<Ipv6Addr> {
    if s.len() != 32 {
        return None;
    }
    u128::from_str_radix(s, 16).ok().map(Ipv6Addr::from)
}

fn scope_of(a: &Ipv6Addr) -> &'static str {
    let s = a.segments();
    if a.is_loopback() {
        "host"
    } else if s[0] & 0xffc0 == 0xfe80 {
        "link"
    } else if s[0] & 0xffc0 == 0xfec0 {
        "site"
    } else {
        "global"
    }
}

/// Addresses from getifaddrs, in the kernel's order.
fn addresses() -> Vec<Addr> {
    let inet6 = parse_if_inet6(&read_raw("/proc/net/if_inet6").unwrap_or_default());
    let mut out = Vec::new();
    let Ok(ifs) = nix::ifaddrs::getifaddrs() else {
        return out;
    };
    for ifa in ifs {
        let Some(addr) = ifa.address else { continue };
        if let Some(sin) = addr.as_sockaddr_in() {
            let address = sin.ip();
            let ptp = ifa.destination.is_some()
                && ifa
                    .flags
                    .contains(nix::net::if_::InterfaceFlags::IFF_POINTOPOINT);
            let prefix = if ptp {
                32
            } else {
                ifa.netmask
                    .as_ref()
                    .and_then(|m| m.as_sockaddr_in())
                    .map(|m| mask_prefix(&m.ip().octets()))
                    .unwrap_or(32)
            };
            let broadcast = if ptp {
                None
            } else {
                ifa.broadcast
                    .as_ref()
                    .and_then(|b| b.as_sockaddr_in())
                    .map(|b| b.ip())
            };
            let label = ifa.interface_name.clone();
            let device = label.split(':').next().unwrap_or_default().to_string();
            out.push(Addr::V4 {
                device,
                label,
                address,
                prefix,
                broadcast,
            });
        } else if let Some(sin6) = addr.as_sockaddr_in6() {
            let address = sin6.ip();
            let device = ifa.interface_name.clone();
            let (prefix, scope) = inet6
                .get(&(device.clone(), address))
                .cloned()
                .unwrap_or_else(|| {
                    let p = ifa
                        .netmask
                        .as_ref()
                        .and_then(|m| m.as_sockaddr_in6())
                        .map(|m| mask_prefix(&m.ip().octets()))
                        .unwrap_or(128);
                    (p, scope_of(&address).to_string())
                });
            out.push(Addr::V6 {
                device,
                address,
                prefix,
                scope,
            });
        }
    }
    out
}

/// A route from /proc/net/route or /proc/net/ipv6_route.
#[derive(Debug, Clone, PartialEq)]
pub struct Route<A> {
    pub iface: String,
    pub dest: A,
    pub prefix: u32,
    pub gateway: Option<A>,
    pub metric: u64,
    pub reject: bool,
}

const RTF_UP: u32 = 0x1;
const RTF_GATEWAY: u32 = 0x2;
const RTF_REJECT: u32 = 0x200;

pub fn parse_route(text: &str) -> Vec<Route<Ipv4Addr>> {
    let le = |s: &str| {
        u32::from_str_radix(s, 16)
            .ok()
            .map(|v| Ipv4Addr::from(v.swap_bytes()))
    };
    text.lines()
        .skip(1)
        .filter_map(|l| {
            let f: Vec<&str> = l.split_whitespace().collect();
            if f.len() < 8 {
                return None;
            }
            let flags = u32::from_str_radix(f[3], 16).ok()?;
            if flags & RTF_UP == 0 {
                return None;
            }
            let gw = le(f[2])?;
            Some(Route {
                iface: f[0].to_string(),
                dest: le(f[1])?,
                prefix: mask_prefix(&le(f[7])?.octets()),
                gateway: (flags & RTF_GATEWAY != 0 && !gw.is_unspecified()).then_some(gw),
                metric: f[6].parse().ok()?,
                reject: flags & RTF_REJECT != 0,
            })
        })
        .collect()
}

pub fn parse_ipv6_route(text: &str) -> Vec<Route<Ipv6Addr>> {
    text.lines()
        .filter_map(|l| {
            let f: Vec<&str> = l.split_whitespace().collect();
            if f.len() < 10 {
                return None;
            }
            let flags = u32::from_str_radix(f[8], 16).ok()?;
            if flags & RTF_UP == 0 {
                return None;
            }
            let gw = hex_v6(f[4])?;
            Some(Route {
                iface: f[9].to_string(),
                dest: hex_v6(f[0])?,
                prefix: u32::from_str_radix(f[1], 16).ok()?,
                gateway: (!gw.is_unspecified()).then_some(gw),
                metric: u64::from_str_radix(f[5], 16).ok()?,
                reject: flags & RTF_REJECT != 0,
            })
        })
        .collect()
}

fn in_net4(a: Ipv4Addr, net: Ipv4Addr, prefix: u32) -> bool {
    let mask = if prefix == 0 {
        0
    } else {
        u32::MAX << (32 - prefix.min(32))
    };
    u32::from(a) & mask == u32::from(net) & mask
}

fn in_net6(a: Ipv6Addr, net: Ipv6Addr, prefix: u32) -> bool {
    let mask = if prefix == 0 {
        0
    } else {
        u128::MAX << (128 - prefix.min(128))
    };
    u128::from(a) & mask == u128::from(net) & mask
}

/// The route `ip route get` picks: longest prefix, then lowest metric (None when it is
/// a reject route: `ip` then fails and Ansible reports {}).
pub fn lookup<A: Copy>(
    routes: &[Route<A>],
    target: A,
    contains: impl Fn(A, A, u32) -> bool,
) -> Option<&Route<A>> {
    let best = routes
        .iter()
        .filter(|r| contains(target, r.dest, r.prefix))
        .max_by(|a, b| a.prefix.cmp(&b.prefix).then(b.metric.cmp(&a.metric)))?;
    (!best.reject).then_some(best)
}

/// (interface, source address, gateway) for 8.8.8.8.
pub fn default_v4(
    routes: &[Route<Ipv4Addr>],
    addrs: &[Addr],
) -> Option<(String, Option<Ipv4Addr>, Option<Ipv4Addr>)> {
    let r = lookup(routes, ROUTE_TARGET_V4, in_net4)?;
    let primaries: Vec<(Ipv4Addr, u32)> = primary_v4(addrs, &r.iface);
    let towards = r.gateway.unwrap_or(ROUTE_TARGET_V4);
    let src = primaries
        .iter()
        .find(|(a, p)| in_net4(towards, *a, *p))
        .or_else(|| primaries.iter().find(|(a, _)| !a.is_loopback()))
        .or(primaries.first())
        .map(|(a, _)| *a);
    Some((r.iface.clone(), src, r.gateway))
}

/// (interface, source address, gateway) for Ansible's IPv6 probe address.
pub fn default_v6(
    routes: &[Route<Ipv6Addr>],
    addrs: &[Addr],
) -> Option<(String, Option<Ipv6Addr>, Option<Ipv6Addr>)> {
    let r = lookup(routes, ROUTE_TARGET_V6, in_net6)?;
    let src = addrs.iter().find_map(|a| match a {
        Addr::V6 {
            device,
            address,
            scope,
            ..
        } if *device == r.iface && scope == "global" => Some(*address),
        _ => None,
    });
    Some((r.iface.clone(), src, r.gateway))
}

/// Primary IPv4 addresses of a device: those not in the subnet of an earlier address of
/// the same device (the kernel makes those secondary).
fn primary_v4(addrs: &[Addr], dev: &str) -> Vec<(Ipv4Addr, u32)> {
    let mut out: Vec<(Ipv4Addr, u32)> = Vec::new();
    for a in addrs {
        if let Addr::V4 {
            device,
            address,
            prefix,
            ..
        } = a
            && device == dev
            && !out
                .iter()
                .any(|(o, p)| *p == *prefix && in_net4(*address, *o, *p))
        {
            out.push((*address, *prefix));
        }
    }
    out
}

fn netmask(prefix: u32) -> Ipv4Addr {
    Ipv4Addr::from(if prefix == 0 {
        0
    } else {
        u32::MAX << (32 - prefix.min(32))
    })
}

fn v4_dict(address: Ipv4Addr, prefix: u32, broadcast: Option<Ipv4Addr>) -> Facts {
    let mask = netmask(prefix);
    let mut m = Facts::new();
    m.insert("address".into(), Value::from(address.to_string()));
    m.insert(
        "broadcast".into(),
        Value::from(broadcast.map(|b| b.to_string()).unwrap_or_default()),
    );
    m.insert("netmask".into(), Value::from(mask.to_string()));
    m.insert(
        "network".into(),
        Value::from(Ipv4Addr::from(u32::from(address) & u32::from(mask)).to_string()),
    );
    m.insert("prefix".into(), Value::from(prefix.to_string()));
    m
}

fn interface_type(t: &str) -> &'static str {
    match t {
        "1" => "ether",
        "32" => "infiniband",
        "512" => "ppp",
        "772" => "loopback",
        "65534" => "tunnel",
        _ => "unknown",
    }
}

fn first_word_of(path: &Path) -> Value {
    Value::from(crate::util::first_word(&read(path).unwrap_or_default()))
}

/// The /sys/class/net part of one interface.
fn sys_interface(path: &Path, device: &str) -> (Facts, Option<String>) {
    let mut d = Facts::new();
    d.insert("device".into(), Value::from(device));
    let mut mac = None;
    if path.join("address").exists() {
        let m = read(path.join("address")).unwrap_or_default();
        if !m.is_empty() && m != "00:00:00:00:00:00" {
            d.insert("macaddress".into(), Value::from(m.clone()));
            mac = Some(m);
        }
    }
    if let Some(mtu) = read(path.join("mtu")).and_then(|m| m.parse::<i64>().ok()) {
        d.insert("mtu".into(), Value::from(mtu));
    }
    if path.join("operstate").exists() {
        d.insert(
            "active".into(),
            Value::Bool(read(path.join("operstate")).as_deref() != Some("down")),
        );
    }
    let module = path.join("device/driver/module");
    if module.exists()
        && let Ok(real) = std::fs::canonicalize(&module)
        && let Some(n) = real.file_name()
    {
        d.insert(
            "module".into(),
            Value::from(n.to_string_lossy().into_owned()),
        );
    }
    if path.join("type").exists() {
        let t = read(path.join("type")).unwrap_or_default();
        d.insert("type".into(), Value::from(interface_type(&t)));
    }
    if path.join("bridge").exists() {
        d.insert("type".into(), Value::from("bridge"));
        let mut members: Vec<Value> = std::fs::read_dir(path.join("brif"))
            .map(|rd| {
                rd.flatten()
                    .map(|e| Value::from(e.file_name().to_string_lossy().into_owned()))
                    .collect()
            })
            .unwrap_or_default();
        members.sort_by(|a, b| a.as_str().cmp(&b.as_str()));
        d.insert("interfaces".into(), Value::Array(members));
        if path.join("bridge/bridge_id").exists() {
            d.insert(
                "id".into(),
                Value::from(read(path.join("bridge/bridge_id")).unwrap_or_default()),
            );
        }
        if path.join("bridge/stp_state").exists() {
            d.insert(
                "stp".into(),
                Value::Bool(read(path.join("bridge/stp_state")).as_deref() == Some("1")),
            );
        }
    }
    if path.join("bonding").exists() {
        d.insert("type".into(), Value::from("bonding"));
        d.insert(
            "slaves".into(),
            Value::Array(
                read(path.join("bonding/slaves"))
                    .unwrap_or_default()
                    .split_whitespace()
                    .map(Value::from)
                    .collect(),
            ),
        );
        d.insert("mode".into(), first_word_of(&path.join("bonding/mode")));
        d.insert("miimon".into(), first_word_of(&path.join("bonding/miimon")));
        d.insert(
            "lacp_rate".into(),
            first_word_of(&path.join("bonding/lacp_rate")),
        );
        if let Some(p) = read(path.join("bonding/primary")) {
            d.insert("primary".into(), Value::from(p));
            if path.join("bonding/all_slaves_active").exists() {
                d.insert(
                    "all_slaves_active".into(),
                    Value::Bool(
                        read(path.join("bonding/all_slaves_active")).as_deref() == Some("1"),
                    ),
                );
            }
        }
    }
    if path.join("bonding_slave").exists() {
        d.insert(
            "perm_macaddress".into(),
            Value::from(read(path.join("bonding_slave/perm_hwaddr")).unwrap_or_default()),
        );
    }
    if path.join("device").exists()
        && let Ok(l) = std::fs::read_link(path.join("device"))
        && let Some(n) = l.file_name()
    {
        d.insert(
            "pciid".into(),
            Value::from(n.to_string_lossy().into_owned()),
        );
    }
    if path.join("speed").exists()
        && let Some(s) = read(path.join("speed")).and_then(|s| s.parse::<i64>().ok())
    {
        d.insert("speed".into(), Value::from(s));
    }
    if let Some(flags) = read(path.join("flags"))
        && let Ok(v) = i64::from_str_radix(flags.trim_start_matches("0x"), 16)
    {
        d.insert("promisc".into(), Value::Bool(v & 0x100 > 0));
    }
    (d, mac)
}

fn push(m: &mut Facts, key: &str, v: Value) {
    let e = m.entry(key).or_insert_with(|| Value::Array(Vec::new()));
    if let Value::Array(a) = e {
        a.push(v);
    }
}

pub fn collect(_ctx: &mut Ctx<'_>) -> Facts {
    let addrs = addresses();
    let mut devices: Vec<String> = std::fs::read_dir("/sys/class/net")
        .map(|rd| {
            rd.flatten()
                .filter(|e| e.path().is_dir())
                .map(|e| e.file_name().to_string_lossy().into_owned())
                .collect()
        })
        .unwrap_or_default();
    devices.sort();
    let routes4 = parse_route(&read_raw("/proc/net/route").unwrap_or_default());
    let routes6 = parse_ipv6_route(&read_raw("/proc/net/ipv6_route").unwrap_or_default());
    let mut default_ipv4 = Facts::new();
    let mut default_ipv6 = Facts::new();
    if let Some((iface, src, gw)) = default_v4(&routes4, &addrs) {
        default_ipv4.insert("interface".into(), Value::from(iface));
        if let Some(s) = src {
            default_ipv4.insert("address".into(), Value::from(s.to_string()));
        }
        if let Some(g) = gw {
            default_ipv4.insert("gateway".into(), Value::from(g.to_string()));
        }
    }
    if exists("/proc/net/if_inet6")
        && let Some((iface, src, gw)) = default_v6(&routes6, &addrs)
    {
        default_ipv6.insert("interface".into(), Value::from(iface));
        if let Some(s) = src {
            default_ipv6.insert("address".into(), Value::from(s.to_string()));
        }
        if let Some(g) = gw {
            default_ipv6.insert("gateway".into(), Value::from(g.to_string()));
        }
    }
    let d4_addr = default_ipv4
        .get("address")
        .and_then(Value::as_str)
        .map(String::from);
    let d6_addr = default_ipv6
        .get("address")
        .and_then(Value::as_str)
        .map(String::from);
    let mut interfaces: Vec<(String, Facts)> = Vec::new();
    let get = |ifs: &mut Vec<(String, Facts)>, name: &str| -> usize {
        if let Some(i) = ifs.iter().position(|(n, _)| n == name) {
            i
        } else {
            ifs.push((name.to_string(), Facts::new()));
            ifs.len() - 1
        }
    };
    let mut all4 = Vec::new();
    let mut all6 = Vec::new();
    for device in &devices {
        let (d, mac) = sys_interface(&Path::new("/sys/class/net").join(device), device);
        let di = get(&mut interfaces, device);
        interfaces[di].1 = d;
        let mtu = interfaces[di].1.get("mtu").cloned().unwrap_or(Value::Null);
        let itype = interfaces[di]
            .1
            .get("type")
            .cloned()
            .unwrap_or(Value::from("unknown"));
        let primaries = primary_v4(&addrs, device);
        // Primary addresses, then secondary ones, as Ansible's two `ip addr show` calls.
        for secondary in [false, true] {
            for a in &addrs {
                let Addr::V4 {
                    device: dv,
                    label,
                    address,
                    prefix,
                    broadcast,
                } = a
                else {
                    continue;
                };
                if dv != device {
                    continue;
                }
                let is_primary = primaries.contains(&(*address, *prefix));
                if is_primary == secondary {
                    continue;
                }
                let entry = Value::Object(v4_dict(*address, *prefix, *broadcast));
                if label != device {
                    let li = get(&mut interfaces, label);
                    interfaces[li].1 = Facts::new();
                }
                let li = get(&mut interfaces, label);
                if !secondary && !interfaces[li].1.contains_key("ipv4") {
                    interfaces[li].1.insert("ipv4".into(), entry.clone());
                } else {
                    push(&mut interfaces[li].1, "ipv4_secondaries", entry.clone());
                }
                if secondary {
                    let di = get(&mut interfaces, device);
                    if !interfaces[di].1.contains_key("ipv4_secondaries") {
                        interfaces[di]
                            .1
                            .insert("ipv4_secondaries".into(), Value::Array(Vec::new()));
                    }
                    if label != device {
                        push(&mut interfaces[di].1, "ipv4_secondaries", entry.clone());
                    }
                }
                if d4_addr.as_deref() == Some(address.to_string().as_str()) {
                    if let Value::Object(e) = &entry {
                        for k in ["broadcast", "netmask", "network", "prefix"] {
                            if let Some(v) = e.get(k) {
                                default_ipv4.insert(k.into(), v.clone());
                            }
                        }
                    }
                    default_ipv4.insert(
                        "macaddress".into(),
                        Value::from(mac.clone().unwrap_or_default()),
                    );
                    default_ipv4.insert("mtu".into(), mtu.clone());
                    default_ipv4.insert("type".into(), itype.clone());
                    default_ipv4.insert("alias".into(), Value::from(label.as_str()));
                }
                if !address.is_loopback() {
                    all4.push(Value::from(address.to_string()));
                }
            }
        }
        for a in &addrs {
            let Addr::V6 {
                device: dv,
                address,
                prefix,
                scope,
            } = a
            else {
                continue;
            };
            if dv != device {
                continue;
            }
            let mut e = Facts::new();
            e.insert("address".into(), Value::from(address.to_string()));
            e.insert("prefix".into(), Value::from(prefix.to_string()));
            e.insert("scope".into(), Value::from(scope.as_str()));
            let di = get(&mut interfaces, device);
            push(&mut interfaces[di].1, "ipv6", Value::Object(e));
            if d6_addr.as_deref() == Some(address.to_string().as_str()) {
                default_ipv6.insert("prefix".into(), Value::from(prefix.to_string()));
                default_ipv6.insert("scope".into(), Value::from(scope.as_str()));
                default_ipv6.insert(
                    "macaddress".into(),
                    Value::from(mac.clone().unwrap_or_default()),
                );
                default_ipv6.insert("mtu".into(), mtu.clone());
                default_ipv6.insert("type".into(), itype.clone());
            }
            if !address.is_loopback() {
                all6.push(Value::from(address.to_string()));
            }
        }
    }
    let mut f = Facts::new();
    let mut names = Vec::new();
    for (name, mut d) in interfaces {
        let name = name.replace(':', "_");
        d.sort_keys();
        names.push(Value::from(name.clone()));
        f.insert(name, Value::Object(d));
    }
    f.insert("interfaces".into(), Value::Array(names));
    default_ipv4.sort_keys();
    default_ipv6.sort_keys();
    f.insert("default_ipv4".into(), Value::Object(default_ipv4));
    f.insert("default_ipv6".into(), Value::Object(default_ipv6));
    f.insert("all_ipv4_addresses".into(), Value::Array(all4));
    f.insert("all_ipv6_addresses".into(), Value::Array(all6));
    let (l4, l6) = locally_reachable(
        &read_raw("/proc/net/fib_trie").unwrap_or_default(),
        &read_raw("/proc/net/ipv6_route").unwrap_or_default(),
    );
    let mut lr = Facts::new();
    lr.insert(
        "ipv4".into(),
        Value::Array(l4.into_iter().map(Value::from).collect()),
    );
    lr.insert(
        "ipv6".into(),
        Value::Array(l6.into_iter().map(Value::from).collect()),
    );
    f.insert("locally_reachable_ips".into(), Value::Object(lr));
    f
}

/// `ip route show table local` "local" entries: from the Local section of fib_trie
/// ("/N host LOCAL" leaves; /32 printed bare) and the RTF_LOCAL IPv6 routes.
pub fn locally_reachable(fib_trie: &str, ipv6_route: &str) -> (Vec<String>, Vec<String>) {
    let mut v4: Vec<String> = Vec::new();
    let section = match fib_trie.find("Local:") {
        Some(i) => &fib_trie[i..],
        None => fib_trie,
    };
    let mut last_addr: Option<String> = None;
    for line in section.lines() {
        let t = line.trim();
        if let Some(a) = t.strip_prefix("|-- ") {
            last_addr = Some(a.trim().to_string());
        } else if let Some(rest) = t.strip_prefix('/') {
            let w: Vec<&str> = rest.split_whitespace().collect();
            if w.len() >= 3
                && w[2] == "LOCAL"
                && let Some(a) = &last_addr
            {
                let s = if w[0] == "32" {
                    a.clone()
                } else {
                    format!("{a}/{}", w[0])
                };
                if !v4.contains(&s) {
                    v4.push(s);
                }
            }
        }
    }
    let mut v6: Vec<String> = Vec::new();
    for line in ipv6_route.lines() {
        let f: Vec<&str> = line.split_whitespace().collect();
        if f.len() < 10 {
            continue;
        }
        let flags = u32::from_str_radix(f[8], 16).unwrap_or(0);
        if flags & 0x8000_0000 == 0 {
            continue;
        }
        if let (Some(a), Ok(p)) = (hex_v6(f[0]), u32::from_str_radix(f[1], 16)) {
            let s = if p == 128 {
                a.to_string()
            } else {
                format!("{a}/{p}")
            };
            if !v6.contains(&s) {
                v6.push(s);
            }
        }
    }
    (v4, v6)
}

#[cfg(test)]
mod tests {
    use super::*;

    const ROUTE: &str = "Iface\tDestination\tGateway \tFlags\tRefCnt\tUse\tMetric\tMask\t\tMTU\tWindow\tIRTT\neth0\t00000000\t010200C0\t0003\t0\t0\t0\t00000000\t0\t0\t0\neth0\t000200C0\t00000000\t0001\t0\t0\t0\t00FFFFFF\t0\t0\t0\n";

    const IPV6_ROUTE: &str = "fd000000000000000000000000000000 40 00000000000000000000000000000000 00 00000000000000000000000000000000 00000100 00000001 00000000 00000001     eth0
00000000000000000000000000000000 00 00000000000000000000000000000000 00 fd000000000000000000000000000001 00000400 00000003 00000000 00000003     eth0
00000000000000000000000000000001 80 00000000000000000000000000000000 00 00000000000000000000000000000000 00000000 00000002 00000000 80200001       lo
fd000000000000000000000000000002 80 00000000000000000000000000000000 00 00000000000000000000000000000000 00000000 00000003 00000000 80200001     eth0
00000000000000000000000000000000 00 00000000000000000000000000000000 00 00000000000000000000000000000000 ffffffff 00000001 00000000 00200200       lo
";

    fn addrs() -> Vec<Addr> {
        vec![
            Addr::V4 {
                device: "lo".into(),
                label: "lo".into(),
                address: Ipv4Addr::new(127, 0, 0, 1),
                prefix: 8,
                broadcast: None,
            },
            Addr::V4 {
                device: "eth0".into(),
                label: "eth0".into(),
                address: Ipv4Addr::new(192, 0, 2, 2),
                prefix: 24,
                broadcast: Some(Ipv4Addr::new(192, 0, 2, 255)),
            },
            Addr::V4 {
                device: "eth0".into(),
                label: "eth0:1".into(),
                address: Ipv4Addr::new(192, 0, 2, 9),
                prefix: 24,
                broadcast: None,
            },
            Addr::V6 {
                device: "eth0".into(),
                address: "fd00::2".parse().unwrap_or(Ipv6Addr::LOCALHOST),
                prefix: 64,
                scope: "global".into(),
            },
        ]
    }

    #[test]
    fn route_table_v4() {
        let r = parse_route(ROUTE);
        assert_eq!(r.len(), 2);
        assert_eq!(r[0].gateway, Some(Ipv4Addr::new(192, 0, 2, 1)));
        assert_eq!(r[1].prefix, 24);
        let (iface, src, gw) = default_v4(&r, &addrs()).unwrap_or_default();
        assert_eq!(iface, "eth0");
        assert_eq!(src, Some(Ipv4Addr::new(192, 0, 2, 2)));
        assert_eq!(gw, Some(Ipv4Addr::new(192, 0, 2, 1)));
        // Secondary in the same subnet is not primary.
        assert_eq!(
            primary_v4(&addrs(), "eth0"),
            vec![(Ipv4Addr::new(192, 0, 2, 2), 24)]
        );
    }

    #[test]
    fn route_table_v6() {
        let r = parse_ipv6_route(IPV6_ROUTE);
        let (iface, src, gw) = default_v6(&r, &addrs()).unwrap_or_default();
        assert_eq!(iface, "eth0");
        assert_eq!(src.map(|a| a.to_string()).as_deref(), Some("fd00::2"));
        assert_eq!(gw.map(|a| a.to_string()).as_deref(), Some("fd00::1"));
        // Only the reject route: no default.
        let only_reject: Vec<_> = r.into_iter().filter(|x| x.iface == "lo").collect();
        assert!(default_v6(&only_reject, &addrs()).is_none());
    }

    #[test]
    fn no_default_route() {
        let r = parse_route(
            "Iface\tDestination\tGateway \tFlags\tRefCnt\tUse\tMetric\tMask\t\tMTU\tWindow\tIRTT\neth0\t000200C0\t00000000\t0001\t0\t0\t0\t00FFFFFF\t0\t0\t0\n",
        );
        assert!(default_v4(&r, &addrs()).is_none());
    }

    #[test]
    fn local_ips() {
        let trie = "Main:\n  +-- 0.0.0.0/0 3 0 5\n     |-- 10.9.9.9\n        /32 host LOCAL\nLocal:\n  +-- 0.0.0.0/0 3 0 5\n     +-- 127.0.0.0/8 2 0 2\n           |-- 127.0.0.0\n              /8 host LOCAL\n           |-- 127.0.0.1\n              /32 host LOCAL\n        |-- 127.255.255.255\n           /32 link BROADCAST\n           |-- 192.0.2.2\n              /32 host LOCAL\n";
        let (v4, v6) = locally_reachable(trie, IPV6_ROUTE);
        assert_eq!(v4, vec!["127.0.0.0/8", "127.0.0.1", "192.0.2.2"]);
        assert_eq!(v6, vec!["::1", "fd00::2"]);
    }

    #[test]
    fn inet6_scopes() {
        let m = parse_if_inet6(
            "fe8000000000000000fc00fffe000001 04 40 20 80     eth0\n00000000000000000000000000000001 01 80 10 80       lo\n",
        );
        assert_eq!(
            m.get(&("lo".to_string(), Ipv6Addr::LOCALHOST)),
            Some(&(128, "host".to_string()))
        );
    }

    #[test]
    fn v4_dict_values() {
        let d = v4_dict(Ipv4Addr::new(127, 0, 0, 1), 8, None);
        assert_eq!(d["netmask"], "255.0.0.0");
        assert_eq!(d["network"], "127.0.0.0");
        assert_eq!(d["prefix"], "8");
        assert_eq!(d["broadcast"], "");
    }
}
