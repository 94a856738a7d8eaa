//! Captures everything the test process logs, so tests can assert that no
//! secret ever reaches a log line.
//!
//! nextest runs each test in its own process, so one global subscriber per
//! test is what we want: it sees the control plane's, the edge's and the
//! proxy's logs at every level down to TRACE.

use std::io::Write;
use std::sync::{Arc, Mutex, OnceLock};

use tracing_subscriber::fmt::MakeWriter;
use tracing_subscriber::layer::SubscriberExt as _;
use tracing_subscriber::util::SubscriberInitExt as _;
use tracing_subscriber::{EnvFilter, Layer as _};

/// A handle on the captured log text.
#[derive(Clone, Default)]
pub struct LogCapture(Arc<Mutex<Vec<u8>>>);

impl LogCapture {
    /// Everything logged so far.
    pub fn text(&self) -> String {
        String::from_utf8_lossy(&self.0.lock().unwrap()).into_owned()
    }
}

/// Appends log output to the shared buffer.
pub struct CaptureWriter(Arc<Mutex<Vec<u8>>>);

impl Write for CaptureWriter {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.0.lock().unwrap().extend_from_slice(buf);
        Ok(buf.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

impl<'a> MakeWriter<'a> for LogCapture {
    type Writer = CaptureWriter;
    fn make_writer(&'a self) -> Self::Writer {
        CaptureWriter(self.0.clone())
    }
}

/// Installs (once per process) a TRACE-level subscriber writing to memory and
/// returns the capture. Returns `None` if another subscriber was installed first.
pub fn capture() -> Option<LogCapture> {
    static CAPTURE: OnceLock<Option<LogCapture>> = OnceLock::new();
    CAPTURE
        .get_or_init(|| {
            let capture = LogCapture::default();
            // The same propagation set-up as the binary without an exporter, so `traceparent`
            // flows upstream: its propagator, no OpenTelemetry layer, contexts the edge makes.
            let config =
                gatehouse::telemetry::TelemetryConfig::from_env("gatehouse-test", &Default::default())
                    .ok()?;
            gatehouse::telemetry::install_tracer_provider(&config).ok()?;
            let filter = EnvFilter::new("trace,h2=info,hyper=info,hyper_util=info,tower=info,rustls=info");
            let fmt = tracing_subscriber::fmt::layer().with_writer(capture.clone()).with_ansi(false);
            let installed = tracing_subscriber::registry().with(fmt.with_filter(filter)).try_init().is_ok();
            gatehouse_data_plane::proxy::trace::set_own_context(installed);
            installed.then_some(capture)
        })
        .clone()
}
