//! Where `log` records go: logcat on Android, os_log on Apple (feature `oslog`), stderr elsewhere.

/// How much Ember (and tract, its model runtime) logs.
#[derive(Debug, Clone, Copy, PartialEq, Eq, uniffi::Enum)]
pub enum LogLevel {
    /// Nothing.
    Off,
    /// Failures only.
    Error,
    /// Also suspicious conditions.
    Warn,
    /// Also index builds and opens.
    Info,
    /// Also per-call details.
    Debug,
}

impl From<LogLevel> for log::LevelFilter {
    fn from(l: LogLevel) -> Self {
        match l {
            LogLevel::Off => log::LevelFilter::Off,
            LogLevel::Error => log::LevelFilter::Error,
            LogLevel::Warn => log::LevelFilter::Warn,
            LogLevel::Info => log::LevelFilter::Info,
            LogLevel::Debug => log::LevelFilter::Debug,
        }
    }
}

/// Send log records to the platform's log (logcat, os_log, or stderr) at `level` and above.
/// The first call installs the logger; later calls only change the level.
#[uniffi::export]
pub fn init_logging(level: LogLevel) {
    let filter: log::LevelFilter = level.into();
    install(filter);
    log::set_max_level(filter);
}

#[cfg(target_os = "android")]
fn install(filter: log::LevelFilter) {
    android_logger::init_once(android_logger::Config::default().with_tag("ember").with_max_level(filter));
}

#[cfg(all(target_vendor = "apple", feature = "oslog"))]
fn install(filter: log::LevelFilter) {
    // Fails only when a logger is already installed, which is what we want to keep.
    let _ = oslog::OsLogger::new("org.example.ember").level_filter(filter).init();
}

#[cfg(not(any(target_os = "android", all(target_vendor = "apple", feature = "oslog"))))]
fn install(_filter: log::LevelFilter) {
    // Fails only when the app installed its own logger, which then receives our records.
    let _ = log::set_logger(&Stderr);
}

#[cfg(not(any(target_os = "android", all(target_vendor = "apple", feature = "oslog"))))]
struct Stderr;

#[cfg(not(any(target_os = "android", all(target_vendor = "apple", feature = "oslog"))))]
impl log::Log for Stderr {
    fn enabled(&self, metadata: &log::Metadata<'_>) -> bool {
        metadata.level() <= log::max_level()
    }

    fn log(&self, record: &log::Record<'_>) {
        if self.enabled(record.metadata()) {
            eprintln!("ember {} {}: {}", record.level(), record.target(), record.args());
        }
    }

    fn flush(&self) {}
}
