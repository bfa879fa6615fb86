//! Download progress: a bar on a terminal (indicatif), plain log lines otherwise
//! (under systemd, in CI).

use std::io::IsTerminal;

pub struct Progress {
    bar: Option<indicatif::ProgressBar>,
    what: String,
    done: u64,
}

/// A progress reporter for downloading `what` (`total` bytes when known).
pub fn bar(enabled: bool, total: Option<u64>, what: &str) -> Progress {
    let bar = (enabled && std::io::stderr().is_terminal()).then(|| {
        let b = match total {
            Some(t) => indicatif::ProgressBar::new(t),
            None => indicatif::ProgressBar::new_spinner(),
        };
        if let Ok(style) = indicatif::ProgressStyle::with_template(
            "{msg} [{bar:30}] {bytes}/{total_bytes} {bytes_per_sec}",
        ) {
            b.set_style(style.progress_chars("=> "));
        }
        b.set_message(what.to_string());
        b
    });
    if bar.is_none() {
        tracing::info!(
            "downloading {what}{}",
            total.map(|t| format!(" ({t} bytes)")).unwrap_or_default()
        );
    }
    Progress {
        bar,
        what: what.to_string(),
        done: 0,
    }
}

impl Progress {
    pub fn advance(&mut self, n: u64) {
        self.done += n;
        if let Some(b) = &self.bar {
            b.inc(n);
        }
    }

    pub fn finish(self) {
        match self.bar {
            Some(b) => b.finish_and_clear(),
            None => tracing::info!("downloaded {} ({} bytes)", self.what, self.done),
        }
    }
}
