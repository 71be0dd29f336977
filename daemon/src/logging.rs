//! The process's log: the configured level and format, and the HTTP layer's own complaints
//! about connections kept to debug. It logs at ERROR every request it cannot parse (answered
//! 400 or 431 before any handler sees it) and every connection that ends in an I/O error or a
//! timeout: anyone can cause those, and at ERROR they would let anyone fill the error log.
//! Unparseable requests are counted instead (`s3gate_malformed_requests_total`); the events
//! are shown when the configured level reaches debug.

use tracing::field::{Field, Visit};
use tracing::level_filters::LevelFilter;
use tracing::{Event, Level, Metadata, Subscriber};
use tracing_subscriber::filter::{filter_fn, FilterFn, Filtered};
use tracing_subscriber::layer::{Context, Layered, SubscriberExt};
use tracing_subscriber::util::SubscriberInitExt;
use tracing_subscriber::{EnvFilter, Layer, Registry};

use s3gate_config::{Config, LogFormat};

pub(crate) fn init(config: &Config) {
    let filter = EnvFilter::try_new(&config.log.level).unwrap_or_else(|_| EnvFilter::new("info"));
    let fmt = tracing_subscriber::fmt::layer().with_writer(std::io::stderr);
    match config.log.format {
        LogFormat::Json => install(fmt.json(), filter),
        LogFormat::Text => install(
            fmt.with_ansi(std::io::IsTerminal::is_terminal(&std::io::stderr())),
            filter,
        ),
    }
}

fn install<L>(fmt: L, filter: EnvFilter)
where
    L: Layer<Layered<Filtered<ClientFaults, FilterFn, Registry>, Registry>> + Send + Sync + 'static,
{
    tracing_subscriber::registry()
        .with(ClientFaults::layer(&filter))
        .with(fmt.with_filter(filter))
        .init();
}

/// Counts the HTTP layer's events about unparseable requests, and keeps its events about
/// client faults out of the log unless the log shows debug.
pub(crate) struct ClientFaults {
    show: bool,
}

impl ClientFaults {
    /// The layer, seeing only the HTTP layer's events (the others are never built for it).
    pub(crate) fn layer<S: Subscriber>(filter: &EnvFilter) -> Filtered<ClientFaults, FilterFn, S> {
        let faults = ClientFaults {
            show: filter
                .max_level_hint()
                .is_some_and(|l| l >= LevelFilter::DEBUG),
        };
        faults.with_filter(filter_fn(from_dispatcher))
    }
}

/// Where the HTTP layer reports a connection's end.
fn from_dispatcher(meta: &Metadata<'_>) -> bool {
    *meta.level() == Level::ERROR && meta.target() == "actix_http::h1::dispatcher"
}

/// The `message` of an event.
#[derive(Default)]
struct Message(String);

impl Visit for Message {
    fn record_debug(&mut self, field: &Field, value: &dyn std::fmt::Debug) {
        if field.name() == "message" {
            self.0 = format!("{value:?}");
        }
    }
}

impl<S: Subscriber> Layer<S> for ClientFaults {
    fn event_enabled(&self, event: &Event<'_>, _: Context<'_, S>) -> bool {
        if !from_dispatcher(event.metadata()) {
            return true;
        }
        let mut message = Message::default();
        event.record(&mut message);
        // "stream error: request parse error: …", "stream error: I/O error: …": a connection
        // that ended because of what its client sent or did not send.
        let Some(why) = message.0.strip_prefix("stream error: ") else {
            return true;
        };
        if why.starts_with("request parse error") {
            s3gate_s3api::note_malformed_request();
        }
        self.show
    }
}

#[cfg(test)]
mod tests {
    use std::io::Write;
    use std::sync::{Arc, Mutex};

    use super::*;

    #[derive(Clone, Default)]
    struct Captured(Arc<Mutex<Vec<u8>>>);

    impl Write for Captured {
        fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
            self.0.lock().unwrap().extend_from_slice(buf);
            Ok(buf.len())
        }
        fn flush(&mut self) -> std::io::Result<()> {
            Ok(())
        }
    }

    fn logged(level: &str, emit: impl FnOnce()) -> String {
        let out = Captured::default();
        let writer = out.clone();
        let filter = EnvFilter::new(level);
        let subscriber = tracing_subscriber::registry()
            .with(ClientFaults::layer(&filter))
            .with(
                tracing_subscriber::fmt::layer()
                    .with_writer(move || writer.clone())
                    .with_ansi(false)
                    .with_filter(filter),
            );
        tracing::subscriber::with_default(subscriber, emit);
        let text = String::from_utf8_lossy(&out.0.lock().unwrap()).into_owned();
        text
    }

    fn client_faults() {
        tracing::error!(
            target: "actix_http::h1::dispatcher",
            "stream error: request parse error: invalid Header provided"
        );
        tracing::error!(
            target: "actix_http::h1::dispatcher",
            "stream error: I/O error: connection reset by peer"
        );
        tracing::error!(
            target: "actix_http::h1::dispatcher",
            "Response payload stream error: disk failed"
        );
        tracing::error!(target: "s3gate::vfs", "a real error");
    }

    /// Unparseable requests and dropped connections stay out of an info log and are counted;
    /// the server's own errors, and the HTTP layer's other errors, are logged as before.
    #[test]
    fn client_faults_are_counted_and_kept_to_debug() {
        let before = s3gate_s3api::malformed_requests();
        let info = logged("info", client_faults);
        assert!(!info.contains("request parse error"), "{info}");
        assert!(!info.contains("connection reset"), "{info}");
        assert!(info.contains("Response payload stream error"), "{info}");
        assert!(info.contains("a real error"), "{info}");
        assert!(s3gate_s3api::malformed_requests() > before);
        let debug = logged("debug", client_faults);
        assert!(debug.contains("request parse error"), "{debug}");
        assert!(debug.contains("connection reset"), "{debug}");
    }
}
