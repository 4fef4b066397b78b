//! A failed HTTP request in a few words, for one-line messages (the etcd and HAProxy
//! clients; Patroni's client has its own error type).

/// "no answer in time", "connection refused or unreachable", or reqwest's own words.
pub(crate) fn short(e: &reqwest::Error) -> String {
    if e.is_timeout() {
        "no answer in time".into()
    } else if e.is_connect() {
        "connection refused or unreachable".into()
    } else {
        e.to_string()
    }
}
