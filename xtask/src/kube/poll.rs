//! How the waits on the cluster look again: soon at first (a quick rollout
//! or check is seen at once), then less and less often up to a cap. Each look
//! starts kubectl (about 70 ms of CPU, and the API server's share): looking
//! every second (teardowns every 0.3-0.5 s), the node suite's waits were about
//! a quarter of its 1513 kubectl calls (1383 in all with this, docs/speed-tried.md).

use std::time::Duration;

/// The pause before the next look.
#[derive(Debug, Clone)]
pub struct Backoff {
    next: Duration,
    max: Duration,
}

impl Backoff {
    /// `first`, then half as long again each time, at most `max`.
    pub fn new(first: Duration, max: Duration) -> Backoff {
        Backoff { next: first.min(max), max }
    }

    /// The cluster's waits (rollouts, smoke checks, `preview down`): 0.5 s, then
    /// up to 2 s, so a change is still seen within 2 s and Ctrl-C within 2 s.
    pub fn cluster() -> Backoff {
        Backoff::new(Duration::from_millis(500), Duration::from_secs(2))
    }

    /// The pause to take now; the next one is longer.
    pub fn step(&mut self) -> Duration {
        let now = self.next;
        self.next = (self.next * 3 / 2).min(self.max);
        now
    }

    /// Sleep the pause to take now.
    pub fn sleep(&mut self) {
        std::thread::sleep(self.step());
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_pauses_grow_by_half_up_to_the_cap() {
        let mut b = Backoff::cluster();
        let ms: Vec<u128> = (0..6).map(|_| b.step().as_millis()).collect();
        assert_eq!(ms, [500, 750, 1125, 1687, 2000, 2000]);
        let mut capped = Backoff::new(Duration::from_secs(5), Duration::from_secs(1));
        assert_eq!(capped.step(), Duration::from_secs(1));
    }

    #[test]
    fn a_two_minute_wait_looks_far_fewer_times_than_once_a_second() {
        let mut b = Backoff::cluster();
        let (mut waited, mut looks) = (Duration::ZERO, 0);
        while waited < Duration::from_secs(120) {
            waited += b.step();
            looks += 1;
        }
        assert!((60..=64).contains(&looks), "{looks} looks");
    }
}
