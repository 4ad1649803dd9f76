//! Capped exponential backoff with jitter, for restarting failed fetchers and retrying
//! failed requests. Jitter spreads thousands of tenants that failed together (a broker
//! outage) so they do not all come back in the same second.

use std::time::Duration;

use rand::Rng;

#[derive(Debug, Clone)]
pub struct Backoff {
    pub initial: Duration,
    pub max: Duration,
    attempt: u32,
}

impl Backoff {
    pub fn new(initial: Duration, max: Duration) -> Self {
        Self {
            initial,
            max,
            attempt: 0,
        }
    }

    /// The next delay: `initial * 2^attempt`, capped at `max`, minus up to 20 % jitter.
    pub fn next_delay(&mut self) -> Duration {
        let base = self
            .initial
            .saturating_mul(1u32 << self.attempt.min(20))
            .min(self.max);
        self.attempt = self.attempt.saturating_add(1);
        let jitter = rand::thread_rng().gen_range(0.0..0.2);
        base.mul_f64(1.0 - jitter)
    }

    pub fn attempts(&self) -> u32 {
        self.attempt
    }

    pub fn reset(&mut self) {
        self.attempt = 0;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn doubles_up_to_the_cap_and_resets() {
        let mut b = Backoff::new(Duration::from_secs(1), Duration::from_secs(60));
        let d: Vec<Duration> = (0..10).map(|_| b.next_delay()).collect();
        assert!(d[0] <= Duration::from_secs(1) && d[0] >= Duration::from_millis(800));
        assert!(d[3] <= Duration::from_secs(8) && d[3] >= Duration::from_millis(6400));
        assert!(d[9] <= Duration::from_secs(60) && d[9] >= Duration::from_secs(48));
        b.reset();
        assert!(b.next_delay() <= Duration::from_secs(1));
    }
}
