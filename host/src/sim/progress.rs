//! Progress reporting: a bar with epoch, accuracy and ETA on a terminal; one plain line per
//! epoch otherwise (logs, CI, pipes).

use std::io::IsTerminal;

use indicatif::{ProgressBar, ProgressStyle};

use crate::record::EpochMetrics;

pub struct Progress {
    bar: Option<ProgressBar>,
    quiet: bool,
}

impl Progress {
    pub fn new(epochs: u32, done: u32, quiet: bool) -> Progress {
        let bar = (!quiet && std::io::stderr().is_terminal()).then(|| {
            let bar = ProgressBar::new(epochs as u64);
            bar.set_style(
                ProgressStyle::with_template("{bar:30} epoch {pos}/{len} {msg} [{elapsed_precise}, ETA {eta}]").expect("valid template"),
            );
            bar.set_position(done as u64);
            bar
        });
        Progress { bar, quiet }
    }

    pub fn epoch(&mut self, m: &EpochMetrics, epochs: u32) {
        let acc = m.accuracy_mean.map_or("-".to_string(), |a| format!("{:.2}%", a * 100.0));
        let cons = m.consensus_error.map_or("-".to_string(), |c| format!("{c:.2e}"));
        let line = format!(
            "acc {acc}  consensus {cons}  loss {}  agg {:.2} ms{}",
            m.train_loss.map_or("-".to_string(), |l| format!("{l:.3}")),
            m.agg_ms_median,
            if m.diverged { "  DIVERGED" } else { "" }
        );
        match &self.bar {
            Some(bar) => {
                bar.set_message(line);
                bar.inc(1);
            }
            None if !self.quiet => eprintln!(
                "epoch {}/{epochs}  {line}  [train {:.1}s agg {:.1}s eval {:.1}s]",
                m.epoch, m.time_train_s, m.time_aggregate_s, m.time_eval_s
            ),
            None => {}
        }
    }

    pub fn finish(&self) {
        if let Some(bar) = &self.bar {
            bar.finish();
        }
    }
}
