//! Test helpers (feature `test-utils`) for this crate's tests and the tests of the
//! services that run it: the settings of a test instance, and starting one.

use common::http::ServiceHandle;

use crate::Settings;

/// A test instance's settings: a free loopback port, its own database and Redis
/// prefix where it uses them, the test token, reporting off.
pub fn settings() -> Settings {
    common::testing::init_tracing();
    common::testing::service_settings()
}

/// Starts a test instance with `tweak` applied to its settings.
pub async fn spawn(tweak: impl FnOnce(&mut Settings)) -> anyhow::Result<ServiceHandle> {
    let mut s = settings();
    tweak(&mut s);
    crate::build(s).await
}
