//! Shadow bans as Synapse applies them: before any other check, a shadow-banned user's
//! invite, message or state event waits a random while and is answered as if it had
//! worked, and nothing is sent.

use std::time::Duration;

use rand::Rng;

use crate::config::LimitsConfig;

/// Sleeps a random time in `limits.shadow_ban_delay_ms` (Synapse's 1–10 s by default),
/// so the answer's timing does not tell the user they are shadow-banned.
pub(crate) async fn delay(limits: &LimitsConfig) {
    let [low, high] = limits.shadow_ban_delay_ms;
    let millis = if low < high { rand::rng().random_range(low..=high) } else { low };
    tokio::time::sleep(Duration::from_millis(millis)).await;
}
