//! The token service's own series, in the gateway's one registry.

use portcullis_engine::metrics::registered;
use prometheus::{IntCounterVec, Opts};
use std::sync::LazyLock;

/// Browser sign-ins by result: `success`, `failure` (wrong name or password), `limited`
/// (refused by the failed-login limit), `upstream_failure` (the OpenID provider refused or
/// could not be reached). A rising `failure` or `limited` is a guessing run.
pub static SIGN_INS: LazyLock<IntCounterVec> = LazyLock::new(|| {
    registered(
        IntCounterVec::new(
            Opts::new("portcullis_sign_ins_total", "Browser sign-ins by result."),
            &["result"],
        )
        .expect("valid metric"),
    )
});

/// Counts one sign-in attempt.
pub fn count_sign_in(result: &'static str) {
    SIGN_INS.with_label_values(&[result]).inc();
}
