//! `date_time` collector (date_time.py): local time from the zone in TZ or /etc/localtime
//! (TZif), UTC for the iso8601 forms, Python's strftime formats.

use std::time::{SystemTime, UNIX_EPOCH};

use serde_json::Value;

use crate::{Ctx, Facts};

pub fn collect(_ctx: &mut Ctx<'_>) -> Facts {
    let now = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap_or_default();
    let zone = local_zone();
    let mut f = Facts::new();
    f.insert(
        "date_time".into(),
        Value::Object(date_time(now.as_secs() as i64, now.subsec_micros(), &zone)),
    );
    f
}

/// A time zone: the offset and abbreviation in effect at a time, and tzname[1].
#[derive(Debug, Clone, PartialEq)]
pub struct Zone {
    /// (transition time, ttinfo index), ascending.
    transitions: Vec<(i64, usize)>,
    /// (utc offset, is_dst, abbreviation)
    types: Vec<(i64, bool, String)>,
}

impl Zone {
    pub fn utc() -> Zone {
        Zone {
            transitions: Vec::new(),
            types: vec![(0, false, "UTC".into())],
        }
    }

    fn info_at(&self, t: i64) -> (i64, bool, String) {
        let idx = match self.transitions.iter().rposition(|(at, _)| *at <= t) {
            Some(i) => self.transitions[i].1,
            // Before the first transition: the first non-DST type (RFC 8536 says type 0).
            None => self.types.iter().position(|x| !x.1).unwrap_or(0),
        };
        self.types
            .get(idx)
            .cloned()
            .unwrap_or((0, false, "UTC".into()))
    }

    /// Python's time.tzname[1]: the name in effect on 1 January or 1 July of `year`,
    /// whichever has the larger UTC offset (July when equal).
    fn dst_name(&self, year: i64) -> String {
        let jan = days_from_civil(year, 1, 1) * 86400;
        let jul = days_from_civil(year, 7, 1) * 86400;
        let (jo, _, jn) = self.info_at(jan);
        let (uo, _, un) = self.info_at(jul);
        if jo > uo { jn } else { un }
    }
}

/// The zone named by TZ (a zoneinfo name, optionally with ':'), else /etc/localtime,
/// else UTC.
pub fn local_zone() -> Zone {
    if let Ok(tz) = std::env::var("TZ") {
        let name = tz.trim_start_matches(':');
        let path = if name.starts_with('/') {
            name.to_string()
        } else {
            format!("/usr/share/zoneinfo/{name}")
        };
        if let Some(z) = std::fs::read(path).ok().and_then(|b| parse_tzif(&b)) {
            return z;
        }
        if name == "UTC" || name == "UTC0" || name.is_empty() {
            return Zone::utc();
        }
    }
    std::fs::read("/etc/localtime")
        .ok()
        .and_then(|b| parse_tzif(&b))
        .unwrap_or_else(Zone::utc)
}

fn be32(b: &[u8], at: usize) -> Option<i64> {
    let s = b.get(at..at + 4)?;
    Some(i32::from_be_bytes([s[0], s[1], s[2], s[3]]) as i64)
}

fn be64(b: &[u8], at: usize) -> Option<i64> {
    let s = b.get(at..at + 8)?;
    let mut a = [0u8; 8];
    a.copy_from_slice(s);
    Some(i64::from_be_bytes(a))
}

/// A TZif file (RFC 8536), using the 64-bit block when present. Times after the last
/// transition keep the last type (the POSIX footer rule is not evaluated).
pub fn parse_tzif(b: &[u8]) -> Option<Zone> {
    if b.get(0..4)? != b"TZif" {
        return None;
    }
    let version = *b.get(4)?;
    let header = |at: usize| -> Option<[usize; 6]> {
        let mut h = [0usize; 6];
        for (i, v) in h.iter_mut().enumerate() {
            *v = be32(b, at + 20 + i * 4)? as usize;
        }
        Some(h)
    };
    let h1 = header(0)?;
    let [isutcnt, isstdcnt, leapcnt, timecnt, typecnt, charcnt] = h1;
    let v1_len = timecnt * 4 + timecnt + typecnt * 6 + charcnt + leapcnt * 8 + isstdcnt + isutcnt;
    let (start, tsize, h) = if version >= b'2' {
        let at = 44 + v1_len;
        (at, 8usize, header(at)?)
    } else {
        (0, 4usize, h1)
    };
    let [_, _, _, timecnt, typecnt, charcnt] = h;
    let mut p = start + 44;
    let mut times = Vec::with_capacity(timecnt);
    for i in 0..timecnt {
        times.push(if tsize == 8 {
            be64(b, p + i * 8)?
        } else {
            be32(b, p + i * 4)?
        });
    }
    p += timecnt * tsize;
    let idx: Vec<usize> = b.get(p..p + timecnt)?.iter().map(|x| *x as usize).collect();
    p += timecnt;
    let mut raw_types = Vec::with_capacity(typecnt);
    for i in 0..typecnt {
        let at = p + i * 6;
        raw_types.push((be32(b, at)?, *b.get(at + 4)? != 0, *b.get(at + 5)? as usize));
    }
    p += typecnt * 6;
    let chars = b.get(p..p + charcnt)?;
    let types = raw_types
        .into_iter()
        .map(|(off, dst, ai)| {
            let s = chars.get(ai..).unwrap_or_default();
            let end = s.iter().position(|c| *c == 0).unwrap_or(s.len());
            (off, dst, String::from_utf8_lossy(&s[..end]).into_owned())
        })
        .collect();
    Some(Zone {
        transitions: times.into_iter().zip(idx).collect(),
        types,
    })
}

/// Days since 1970-01-01 to (year, month, day).
pub fn civil_from_days(z: i64) -> (i64, u32, u32) {
    let z = z + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36524 - doe / 146_096) / 365;
    let y = yoe + era * 400;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = (doy - (153 * mp + 2) / 5 + 1) as u32;
    let m = if mp < 10 { mp + 3 } else { mp - 9 } as u32;
    (if m <= 2 { y + 1 } else { y }, m, d)
}

pub fn days_from_civil(y: i64, m: u32, d: u32) -> i64 {
    let y = if m <= 2 { y - 1 } else { y };
    let era = y.div_euclid(400);
    let yoe = y.rem_euclid(400);
    let m = m as i64;
    let doy = (153 * (if m > 2 { m - 3 } else { m + 9 }) + 2) / 5 + d as i64 - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146_097 + doe - 719_468
}

const WEEKDAYS: [&str; 7] = [
    "Sunday",
    "Monday",
    "Tuesday",
    "Wednesday",
    "Thursday",
    "Friday",
    "Saturday",
];

struct Broken {
    y: i64,
    mo: u32,
    d: u32,
    h: i64,
    mi: i64,
    s: i64,
    wday: i64,
    yday: i64,
}

fn broken(t: i64) -> Broken {
    let days = t.div_euclid(86400);
    let rem = t.rem_euclid(86400);
    let (y, mo, d) = civil_from_days(days);
    Broken {
        y,
        mo,
        d,
        h: rem / 3600,
        mi: rem % 3600 / 60,
        s: rem % 60,
        wday: (days + 4).rem_euclid(7),
        yday: days - days_from_civil(y, 1, 1),
    }
}

pub fn date_time(epoch: i64, micros: u32, zone: &Zone) -> Facts {
    let (offset, _, abbr) = zone.info_at(epoch);
    let l = broken(epoch + offset);
    let u = broken(epoch);
    let weeknumber = (l.yday + 7 - (l.wday + 6) % 7) / 7;
    let sign = if offset < 0 { '-' } else { '+' };
    let tz_offset = format!(
        "{sign}{:02}{:02}",
        offset.abs() / 3600,
        offset.abs() % 3600 / 60
    );
    let mut f = Facts::new();
    let mut put = |k: &str, v: String| {
        f.insert(k.to_string(), Value::from(v));
    };
    put("date", format!("{:04}-{:02}-{:02}", l.y, l.mo, l.d));
    put("day", format!("{:02}", l.d));
    put("epoch", epoch.to_string());
    put("epoch_int", epoch.to_string());
    put("hour", format!("{:02}", l.h));
    put(
        "iso8601",
        format!(
            "{:04}-{:02}-{:02}T{:02}:{:02}:{:02}Z",
            u.y, u.mo, u.d, u.h, u.mi, u.s
        ),
    );
    put(
        "iso8601_basic",
        format!(
            "{:04}{:02}{:02}T{:02}{:02}{:02}{:06}",
            l.y, l.mo, l.d, l.h, l.mi, l.s, micros
        ),
    );
    put(
        "iso8601_basic_short",
        format!(
            "{:04}{:02}{:02}T{:02}{:02}{:02}",
            l.y, l.mo, l.d, l.h, l.mi, l.s
        ),
    );
    put(
        "iso8601_micro",
        format!(
            "{:04}-{:02}-{:02}T{:02}:{:02}:{:02}.{:06}Z",
            u.y, u.mo, u.d, u.h, u.mi, u.s, micros
        ),
    );
    put("minute", format!("{:02}", l.mi));
    put("month", format!("{:02}", l.mo));
    put("second", format!("{:02}", l.s));
    put("time", format!("{:02}:{:02}:{:02}", l.h, l.mi, l.s));
    put("tz", abbr);
    put("tz_dst", zone.dst_name(l.y));
    put("tz_offset", tz_offset);
    put("weekday", WEEKDAYS[l.wday as usize % 7].to_string());
    put("weekday_number", l.wday.to_string());
    put("weeknumber", format!("{weeknumber:02}"));
    put("year", format!("{:04}", l.y));
    f
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn civil_round_trip() {
        assert_eq!(civil_from_days(0), (1970, 1, 1));
        assert_eq!(civil_from_days(20_000), (2024, 10, 4));
        assert_eq!(days_from_civil(2024, 10, 4), 20_000);
    }

    #[test]
    fn utc_values() {
        // 2026-11-29T18:31:33.933006Z, a Sunday in week 47.
        let f = date_time(1_795_977_093, 933_006, &Zone::utc());
        assert_eq!(f["date"], "2026-11-29");
        assert_eq!(f["weekday"], "Sunday");
        assert_eq!(f["weekday_number"], "0");
        assert_eq!(f["weeknumber"], "47");
        assert_eq!(f["iso8601_micro"], "2026-11-29T18:31:33.933006Z");
        assert_eq!(f["iso8601_basic"], "20261129T183133933006");
        assert_eq!(f["iso8601_basic_short"], "20261129T183133");
        assert_eq!(f["tz"], "UTC");
        assert_eq!(f["tz_dst"], "UTC");
        assert_eq!(f["tz_offset"], "+0000");
        assert_eq!(f["epoch"], "1795977093");
    }

    #[test]
    fn zone_with_dst() {
        // Hand-made zone: CET from the start, CEST from 2026-03-29T01:00Z to 2026-10-25T01:00Z.
        let z = Zone {
            transitions: vec![(1_774_746_000, 1), (1_792_890_000, 0)],
            types: vec![(3600, false, "CET".into()), (7200, true, "CEST".into())],
        };
        let f = date_time(1_782_000_000, 0, &z); // 2026-06-21
        assert_eq!(f["tz"], "CEST");
        assert_eq!(f["tz_offset"], "+0200");
        assert_eq!(f["tz_dst"], "CEST");
        let f = date_time(1_795_977_093, 0, &z);
        assert_eq!(f["tz"], "CET");
        assert_eq!(f["hour"], "19");
        assert_eq!(f["tz_dst"], "CEST");
    }

    #[test]
    fn reads_system_tzif() {
        if let Ok(b) = std::fs::read("/usr/share/zoneinfo/Europe/Berlin") {
            let z = parse_tzif(&b);
            assert!(z.is_some());
        }
        assert!(parse_tzif(b"nope").is_none());
    }
}
