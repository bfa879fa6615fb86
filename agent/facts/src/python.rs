//! `python` collector (python.py). No Python runs on the host: the facts describe a fixed
//! CPython 3.12.1 so that roles testing `ansible_python.version.major` keep working.

use serde_json::json;

use crate::{Ctx, Facts};

pub fn collect(_ctx: &mut Ctx<'_>) -> Facts {
    let mut f = Facts::new();
    f.insert(
        "python".into(),
        json!({
            "executable": "/usr/bin/python3",
            "has_sslcontext": true,
            "type": "cpython",
            "version": {"major": 3, "micro": 1, "minor": 12, "releaselevel": "final", "serial": 0},
            "version_info": [3, 12, 1, "final", 0]
        }),
    );
    f
}
