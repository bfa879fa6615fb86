//! moto's server (a local stand-in for S3 and SSM) on loopback, for the suites that need
//! AWS: installed by `tests/setup-moto` into `$MOTO_VENV` (default ~/.cache/agent/moto).

use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// Where moto and boto3 are installed.
pub fn venv() -> PathBuf {
    std::env::var_os("MOTO_VENV")
        .map(PathBuf::from)
        .unwrap_or_else(|| {
            PathBuf::from(std::env::var("HOME").unwrap_or_else(|_| "/root".into()))
                .join(".cache/agent/moto")
        })
}

/// Is moto installed?
pub fn installed() -> bool {
    venv().join("bin/moto_server").exists()
}

/// A running moto server; stopped when dropped.
pub struct Moto {
    child: Child,
    pub port: u16,
    pub region: String,
}

impl Drop for Moto {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Moto {
    /// Start moto's server on a free loopback port; boto3 snippets use `region`.
    pub fn start(region: &str) -> Result<Moto, String> {
        let bin = venv().join("bin/moto_server");
        if !bin.exists() {
            return Err(format!(
                "moto is not installed in {} (run tests/setup-moto)",
                venv().display()
            ));
        }
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .and_then(|l| l.local_addr())
            .map(|a| a.port())
            .map_err(|e| format!("no free port: {e}"))?;
        let child = Command::new(bin)
            .args(["-H", "127.0.0.1", "-p", &port.to_string()])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .map_err(|e| format!("start moto: {e}"))?;
        let moto = Moto {
            child,
            port,
            region: region.to_string(),
        };
        let t0 = Instant::now();
        while std::net::TcpStream::connect(("127.0.0.1", port)).is_err() {
            if t0.elapsed() > Duration::from_secs(30) {
                return Err("moto did not start within 30 s".into());
            }
            std::thread::sleep(Duration::from_millis(100));
        }
        Ok(moto)
    }

    pub fn url(&self) -> String {
        format!("http://127.0.0.1:{}", self.port)
    }

    /// Run a boto3 snippet (`s3` and `ssm` clients ready) against this server; its stdout.
    pub fn boto(&self, code: &str) -> Result<String, String> {
        let script = format!(
            "import boto3\nkw=dict(endpoint_url='{}', region_name='{}', aws_access_key_id='t', aws_secret_access_key='t')\ns3=boto3.client('s3', **kw)\nssm=boto3.client('ssm', **kw)\n{code}\n",
            self.url(),
            self.region
        );
        let o = Command::new(venv().join("bin/python"))
            .arg("-c")
            .arg(&script)
            .output()
            .map_err(|e| format!("python: {e}"))?;
        if !o.status.success() {
            return Err(format!(
                "boto3 failed: {}\n{script}",
                String::from_utf8_lossy(&o.stderr)
            ));
        }
        Ok(String::from_utf8_lossy(&o.stdout).trim().to_string())
    }
}
