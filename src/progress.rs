//! Progress of a batch for whoever watches it: a bar with counts on stderr when stderr is a
//! terminal (indicatif), and in CI logs one plain line per image as it finishes, with no
//! control characters. Never on stdout, which is the command's output.

use std::io::{IsTerminal, Write};
use std::sync::Mutex;

use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};

use crate::report::{Outcome, Status};

/// How a batch's progress is shown.
pub struct Progress {
    bar: Option<ProgressBar>,
    state: Mutex<Counts>,
}

#[derive(Default)]
struct Counts {
    done: usize,
    total: usize,
    created: usize,
    existing: usize,
    failed: usize,
    /// Set by [`Progress::start_fixed`]: later `start` calls (one per chunk) keep the total.
    fixed: bool,
}

impl Progress {
    /// A bar when stderr is a terminal that can draw one (TERM set, not `dumb`), plain lines
    /// otherwise.
    pub fn for_stderr() -> Progress {
        let bar = std::io::stderr()
            .is_terminal()
            .then(|| ProgressBar::with_draw_target(Some(0), ProgressDrawTarget::stderr()))
            .filter(|bar| !bar.is_hidden())
            .inspect(|bar| {
                let style = ProgressStyle::with_template("{bar:30} {pos}/{len} {msg} [{elapsed}]")
                    .unwrap_or_else(|_| ProgressStyle::default_bar());
                bar.set_style(style);
            });
        Progress {
            bar,
            state: Mutex::new(Counts::default()),
        }
    }

    /// The batch holds `total` manifests.
    pub fn start(&self, total: usize) {
        if self.counts().fixed {
            return;
        }
        self.counts().total = total;
        if let Some(bar) = &self.bar {
            bar.set_length(total as u64);
        }
    }

    /// The whole job holds `total` manifests, run as several batches (`rotate --rate`).
    pub fn start_fixed(&self, total: usize) {
        self.start(total);
        self.counts().fixed = true;
    }

    /// One manifest finished (signed, found, or failed).
    pub fn finished(&self, outcome: &Outcome) {
        let mut counts = self.counts();
        counts.done += 1;
        match outcome.status {
            Status::Created | Status::WouldCreate => counts.created += 1,
            Status::Existing => counts.existing += 1,
            Status::Failed => counts.failed += 1,
        }
        let summary = format!(
            "created {}, existing {}, failed {}",
            counts.created, counts.existing, counts.failed
        );
        match &self.bar {
            Some(bar) => {
                bar.set_position(counts.done as u64);
                bar.set_message(summary);
                // set_position draws at most once per few ms; a fast batch would show nothing.
                bar.tick();
            }
            None => {
                let line = format!(
                    "binauthz-attest: [{}/{}] {}\n",
                    counts.done,
                    counts.total,
                    plain(&outcome.line())
                );
                // A log line that cannot be written is not worth failing the batch for.
                let _ = std::io::stderr().write_all(line.as_bytes());
            }
        }
    }

    /// The batch is over: the bar stays, showing the final counts.
    pub fn end(&self) {
        if let Some(bar) = &self.bar {
            bar.finish();
        }
    }

    fn counts(&self) -> std::sync::MutexGuard<'_, Counts> {
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }
}

/// `text` without control characters, so a log line stays one line and moves no cursor.
fn plain(text: &str) -> String {
    text.chars()
        .map(|c| if c.is_control() { ' ' } else { c })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn log_lines_carry_no_control_characters() {
        assert_eq!(plain("a\nb\r\x1b[2Kc\t"), "a b  [2Kc ");
    }
}
