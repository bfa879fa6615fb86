//! DMI facts (hardware/linux.py `get_dmi_facts`) from /sys/devices/virtual/dmi/id; "NA"
//! for every key when DMI is absent (Ansible would try dmidecode; not run here).

use serde_json::Value;

use crate::Facts;
use crate::util::{exists, read};

const FORM_FACTOR: [&str; 37] = [
    "Unknown",
    "Other",
    "Unknown",
    "Desktop",
    "Low Profile Desktop",
    "Pizza Box",
    "Mini Tower",
    "Tower",
    "Portable",
    "Laptop",
    "Notebook",
    "Hand Held",
    "Docking Station",
    "All In One",
    "Sub Notebook",
    "Space-saving",
    "Lunch Box",
    "Main Server Chassis",
    "Expansion Chassis",
    "Sub Chassis",
    "Bus Expansion Chassis",
    "Peripheral Chassis",
    "RAID Chassis",
    "Rack Mount Chassis",
    "Sealed-case PC",
    "Multi-system",
    "CompactPCI",
    "AdvancedTCA",
    "Blade",
    "Blade Enclosure",
    "Tablet",
    "Convertible",
    "Detachable",
    "IoT Gateway",
    "Embedded PC",
    "Mini PC",
    "Stick PC",
];

const DMI: [(&str, &str); 18] = [
    ("bios_date", "bios_date"),
    ("bios_vendor", "bios_vendor"),
    ("bios_version", "bios_version"),
    ("board_asset_tag", "board_asset_tag"),
    ("board_name", "board_name"),
    ("board_serial", "board_serial"),
    ("board_vendor", "board_vendor"),
    ("board_version", "board_version"),
    ("chassis_asset_tag", "chassis_asset_tag"),
    ("chassis_serial", "chassis_serial"),
    ("chassis_vendor", "chassis_vendor"),
    ("chassis_version", "chassis_version"),
    ("form_factor", "chassis_type"),
    ("product_name", "product_name"),
    ("product_serial", "product_serial"),
    ("product_uuid", "product_uuid"),
    ("product_version", "product_version"),
    ("system_vendor", "sys_vendor"),
];

pub fn collect() -> Facts {
    let dir = "/sys/devices/virtual/dmi/id";
    let present = exists(format!("{dir}/product_name"));
    dmi_facts(&|file: &str| {
        if present {
            read(format!("{dir}/{file}"))
        } else {
            None
        }
    })
}

pub fn dmi_facts(read: &dyn Fn(&str) -> Option<String>) -> Facts {
    let mut f = Facts::new();
    for (key, file) in DMI {
        let v = match read(file) {
            Some(data) if key == "form_factor" => match data.parse::<usize>() {
                Ok(n) => FORM_FACTOR
                    .get(n)
                    .map(|s| s.to_string())
                    .unwrap_or_else(|| format!("unknown ({data})")),
                Err(_) => format!("unknown ({data})"),
            },
            Some(data) => data,
            None => "NA".into(),
        };
        f.insert(key.into(), Value::from(v));
    }
    f
}

#[cfg(test)]
mod tests {
    #[test]
    fn dmi_values() {
        let f = super::dmi_facts(&|f| match f {
            "chassis_type" => Some("23".into()),
            "sys_vendor" => Some("Amazon EC2".into()),
            _ => None,
        });
        assert_eq!(f["form_factor"], "Rack Mount Chassis");
        assert_eq!(f["system_vendor"], "Amazon EC2");
        assert_eq!(f["bios_date"], "NA");
    }
}
