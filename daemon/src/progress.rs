//! Shows how far long work has come while it runs: the first fill of an index, an index
//! rebuild, a write-back of the whole cache. On a terminal an admin command draws a bar (a
//! spinner while the total is unknown); elsewhere, and always for the server (whose terminal is
//! its log), a line every few seconds, only once the work has taken that long.

use std::sync::Arc;
use std::time::Duration;

use tokio::time::Instant;

use indicatif::{ProgressBar, ProgressStyle};
use s3gate_vfs::{Phase, Progress, ProgressNow};

/// Where progress goes.
#[derive(Clone, Copy)]
pub(crate) enum Show {
    /// An admin command: a bar when stderr is a terminal, else lines on stderr.
    Command,
    /// The server: lines in its log.
    Log,
}

/// Shows `progress` until [`Shown::finish`].
pub(crate) struct Shown {
    stop: tokio::sync::oneshot::Sender<()>,
    task: tokio::task::JoinHandle<()>,
}

/// How often a line is written where no bar can be drawn.
const LINE_EVERY: Duration = Duration::from_secs(5);
const BAR_TICK: Duration = Duration::from_millis(100);

pub(crate) fn show(progress: Arc<Progress>, how: Show) -> Shown {
    let bar = matches!(how, Show::Command) && std::io::IsTerminal::is_terminal(&std::io::stderr());
    let (stop, mut stopped) = tokio::sync::oneshot::channel();
    let task = tokio::spawn(async move {
        let mut shown = match bar {
            true => Shower::Bar(None),
            false => Shower::Lines {
                since: None,
                last: None,
            },
        };
        let mut tick = tokio::time::interval(if bar {
            BAR_TICK
        } else {
            Duration::from_secs(1)
        });
        loop {
            tokio::select! {
                _ = &mut stopped => break,
                _ = tick.tick() => {
                    if let Some(text) = shown.update(progress.now()) {
                        line(how, &text);
                    }
                }
            }
        }
        shown.update(None);
    });
    Shown { stop, task }
}

impl Shown {
    /// Stops showing (a bar is cleared).
    pub(crate) async fn finish(self) {
        let _ = self.stop.send(());
        let _ = self.task.await;
    }
}

enum Shower {
    /// The bar of the phase being shown.
    Bar(Option<(Phase, ProgressBar)>),
    /// When the phase being shown started, and when its last line was written.
    Lines {
        since: Option<(Phase, Instant)>,
        last: Option<Instant>,
    },
}

impl Shower {
    /// Shows `now`; returns the line to write, when lines are written and one is due.
    fn update(&mut self, now: Option<ProgressNow>) -> Option<String> {
        match self {
            Shower::Bar(shown) => {
                if shown.as_ref().map(|(p, _)| *p) != now.map(|n| n.phase) {
                    if let Some((_, bar)) = shown.take() {
                        bar.finish_and_clear();
                    }
                    *shown = now.map(|n| (n.phase, new_bar(n)));
                }
                if let (Some((_, bar)), Some(n)) = (shown.as_ref(), now) {
                    if let Some(total) = n.total {
                        bar.set_length(total);
                    }
                    bar.set_position(n.done);
                }
                None
            }
            Shower::Lines { since, last } => {
                let Some(n) = now else {
                    *since = None;
                    return None;
                };
                let started = match since {
                    Some((p, t)) if *p == n.phase => *t,
                    _ => {
                        *since = Some((n.phase, Instant::now()));
                        *last = None;
                        return None;
                    }
                };
                let due = last.unwrap_or(started) + LINE_EVERY;
                if Instant::now() < due {
                    return None;
                }
                *last = Some(Instant::now());
                let (doing, unit) = what(n.phase);
                let of = n.total.map(|t| format!(" of {t}")).unwrap_or_default();
                Some(format!("{doing}: {}{of} {unit}", n.done))
            }
        }
    }
}

fn what(phase: Phase) -> (&'static str, &'static str) {
    match phase {
        Phase::Scan => ("scanning the remote", "files"),
        Phase::WriteBack => ("uploading the write cache", "objects"),
    }
}

fn new_bar(n: ProgressNow) -> ProgressBar {
    let (doing, unit) = what(n.phase);
    let (bar, template) = match n.total {
        Some(total) => (
            ProgressBar::new(total),
            format!("{doing} [{{bar:30}}] {{pos}}/{{len}} {unit} ({{eta}} left)"),
        ),
        None => (
            ProgressBar::new_spinner(),
            format!("{{spinner}} {doing}: {{pos}} {unit} ({{per_sec}})"),
        ),
    };
    if let Ok(style) = ProgressStyle::with_template(&template) {
        bar.set_style(style.progress_chars("=> "));
    }
    bar.enable_steady_tick(BAR_TICK);
    bar
}

fn line(how: Show, text: &str) {
    match how {
        Show::Log => tracing::info!("{text}"),
        Show::Command => eprintln!("s3gate: {text}"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(phase: Phase, done: u64, total: Option<u64>) -> Option<ProgressNow> {
        Some(ProgressNow { phase, done, total })
    }

    #[tokio::test(start_paused = true)]
    async fn lines_come_only_once_work_is_long_and_then_every_few_seconds() {
        let mut s = Shower::Lines {
            since: None,
            last: None,
        };
        assert_eq!(s.update(at(Phase::Scan, 10, None)), None, "just started");
        tokio::time::advance(Duration::from_secs(4)).await;
        assert_eq!(
            s.update(at(Phase::Scan, 900, None)),
            None,
            "short work says nothing"
        );
        tokio::time::advance(Duration::from_secs(1)).await;
        assert_eq!(
            s.update(at(Phase::Scan, 1200, None)).as_deref(),
            Some("scanning the remote: 1200 files")
        );
        tokio::time::advance(Duration::from_secs(2)).await;
        assert_eq!(
            s.update(at(Phase::Scan, 1500, None)),
            None,
            "not again so soon"
        );
        tokio::time::advance(Duration::from_secs(3)).await;
        assert!(s.update(at(Phase::Scan, 1800, None)).is_some());
        // A new phase starts its own clock, and says its total.
        assert_eq!(s.update(at(Phase::WriteBack, 0, Some(7))), None);
        tokio::time::advance(LINE_EVERY).await;
        assert_eq!(
            s.update(at(Phase::WriteBack, 3, Some(7))).as_deref(),
            Some("uploading the write cache: 3 of 7 objects")
        );
        assert_eq!(s.update(None), None);
    }
}
