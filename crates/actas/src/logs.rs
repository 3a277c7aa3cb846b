//! The process's own log: lines on standard error that never fail, as text
//! (colours only on a terminal) or as JSON objects, one per line.
//!
//! A log line that cannot be written (a full disk behind a redirected
//! stderr, a closed pipe) is dropped and counted, never raised: the fmt
//! layer's own error report is off, because it goes through `eprintln!`,
//! which panics when stderr fails and would take down whichever task was
//! logging (the database writer logs every failed commit). When writing
//! works again, one line tells how many were lost.

use std::io::Write;
use std::sync::atomic::{AtomicU64, Ordering};

use tracing_subscriber::fmt::MakeWriter;

/// How log lines are written.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, clap::ValueEnum)]
pub enum LogFormat {
    /// Plain lines for people; colours only when standard error is a
    /// terminal.
    #[default]
    Text,
    /// One JSON object per line, for a log collector: `timestamp`, `level`,
    /// `target`, the event's fields (`message`, ...) and the request's
    /// (`request_id`, `method`, `path`) flattened in.
    Json,
}

impl LogFormat {
    /// The name the flag, the environment and the config file use.
    pub fn as_str(self) -> &'static str {
        match self {
            LogFormat::Text => "text",
            LogFormat::Json => "json",
        }
    }

    /// Reads a name of [`LogFormat::as_str`].
    pub fn parse(name: &str) -> Option<LogFormat> {
        match name {
            "text" => Some(LogFormat::Text),
            "json" => Some(LogFormat::Json),
            _ => None,
        }
    }
}

/// Where spans go besides the log: an OpenTelemetry collector.
#[derive(Debug, Clone, PartialEq)]
pub struct Traces {
    /// The collector's OTLP/HTTP address (`http://collector:4318`); spans
    /// are sent as JSON to its `/v1/traces`.
    pub endpoint: String,
    /// The share of traces kept, from 0 to 1, decided at each trace's root.
    pub sample_ratio: f64,
}

impl Traces {
    /// The traces URL: the address as given when it names `/v1/traces`.
    fn url(&self) -> String {
        let base = self.endpoint.trim_end_matches('/');
        if base.ends_with("/v1/traces") {
            base.to_string()
        } else {
            format!("{base}/v1/traces")
        }
    }
}

/// Sends the spans still buffered when it is dropped (at the process's end).
pub struct Flush(Option<opentelemetry_sdk::trace::SdkTracerProvider>);

impl Drop for Flush {
    fn drop(&mut self) {
        if let Some(provider) = self.0.take() {
            let _ = provider.shutdown();
        }
    }
}

/// Installs the global subscriber: `filter` (an `EnvFilter`, already
/// checked by the configuration), written to standard error by [`Stderr`]
/// in `format`, and every span sent to `traces` when given. Keep the
/// answer until the process ends: dropping it sends the last spans.
pub fn init(filter: &str, format: LogFormat, traces: Option<&Traces>) -> anyhow::Result<Flush> {
    use std::io::IsTerminal;
    use tracing_subscriber::layer::SubscriberExt;
    use tracing_subscriber::util::SubscriberInitExt;
    use tracing_subscriber::Layer;

    let filter = tracing_subscriber::EnvFilter::new(filter);
    let fmt = tracing_subscriber::fmt::layer().with_writer(Stderr::default()).log_internal_errors(false);
    let fmt = match format {
        LogFormat::Text => fmt.with_ansi(std::io::stderr().is_terminal()).boxed(),
        LogFormat::Json => fmt.json().flatten_event(true).with_current_span(false).with_span_list(true).boxed(),
    };
    let provider = traces.map(tracer_provider).transpose()?;
    let otel = provider.as_ref().map(|p| {
        use opentelemetry::trace::TracerProvider as _;
        tracing_opentelemetry::layer().with_tracer(p.tracer("actas"))
    });
    tracing_subscriber::registry().with(filter).with(fmt).with(otel).try_init()?;
    Ok(Flush(provider))
}

fn tracer_provider(t: &Traces) -> anyhow::Result<opentelemetry_sdk::trace::SdkTracerProvider> {
    use opentelemetry_otlp::{Protocol, WithExportConfig};
    use opentelemetry_sdk::trace::Sampler;
    let exporter = opentelemetry_otlp::SpanExporter::builder()
        .with_http()
        .with_protocol(Protocol::HttpJson)
        .with_endpoint(t.url())
        .build()
        .map_err(|e| anyhow::anyhow!("traces.otlp_endpoint {}: {e}", t.endpoint))?;
    let resource = opentelemetry_sdk::Resource::builder()
        .with_service_name("actas")
        .with_attribute(opentelemetry::KeyValue::new("service.version", env!("CARGO_PKG_VERSION")))
        .build();
    Ok(opentelemetry_sdk::trace::SdkTracerProvider::builder()
        .with_batch_exporter(exporter)
        .with_sampler(Sampler::ParentBased(Box::new(Sampler::TraceIdRatioBased(t.sample_ratio))))
        .with_resource(resource)
        .build())
}

/// Standard error as a log sink whose writes always succeed.
#[derive(Debug, Default)]
pub struct Stderr {
    lost: AtomicU64,
}

impl Stderr {
    fn write_line(&self, out: &mut impl Write, line: &[u8]) {
        let lost = self.lost.load(Ordering::Relaxed);
        if lost > 0 {
            let note = format!("actas: {lost} log lines were lost: standard error could not be written\n");
            if out.write_all(note.as_bytes()).is_ok() {
                self.lost.fetch_sub(lost, Ordering::Relaxed);
            }
        }
        if out.write_all(line).and_then(|()| out.flush()).is_err() {
            self.lost.fetch_add(1, Ordering::Relaxed);
        }
    }
}

/// One log line, written when the formatter is done with it.
pub struct Line<'a> {
    sink: &'a Stderr,
    out: std::io::StderrLock<'static>,
    buf: Vec<u8>,
}

impl Write for Line<'_> {
    fn write(&mut self, b: &[u8]) -> std::io::Result<usize> {
        self.buf.extend_from_slice(b);
        Ok(b.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

impl Drop for Line<'_> {
    fn drop(&mut self) {
        if !self.buf.is_empty() {
            self.sink.write_line(&mut self.out, &self.buf);
        }
    }
}

impl<'a> MakeWriter<'a> for Stderr {
    type Writer = Line<'a>;

    fn make_writer(&'a self) -> Line<'a> {
        Line { sink: self, out: std::io::stderr().lock(), buf: Vec::new() }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A writer that fails while `full` is set.
    struct Disk {
        full: bool,
        written: Vec<u8>,
    }

    impl Write for Disk {
        fn write(&mut self, b: &[u8]) -> std::io::Result<usize> {
            if self.full {
                return Err(std::io::Error::other("No space left on device"));
            }
            self.written.extend_from_slice(b);
            Ok(b.len())
        }

        fn flush(&mut self) -> std::io::Result<()> {
            Ok(())
        }
    }

    #[test]
    fn lines_that_cannot_be_written_are_counted_and_told_once_writing_works() {
        let sink = Stderr::default();
        let mut disk = Disk { full: true, written: Vec::new() };
        sink.write_line(&mut disk, b"one\n");
        sink.write_line(&mut disk, b"two\n");
        assert_eq!(sink.lost.load(Ordering::Relaxed), 2);
        disk.full = false;
        sink.write_line(&mut disk, b"three\n");
        assert_eq!(sink.lost.load(Ordering::Relaxed), 0);
        let text = String::from_utf8(disk.written).unwrap();
        assert_eq!(text, "actas: 2 log lines were lost: standard error could not be written\nthree\n");
    }
}
