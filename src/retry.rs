//! Trying again: the one loop behind everything that waits for something to come free — a
//! run's file lock, SQLite's write lock, a webhook receiver that is down or busy.

use std::time::{Duration, Instant};

/// When the attempts end.
#[derive(Debug, Clone, Copy)]
enum Limit {
    Attempts(u32),
    Within(Duration),
}

/// How many attempts, and the pauses between them: each pause twice the one before, from
/// `first` up to `cap`. No jitter: the waiters that could collide (runs of one file, writers
/// of one journal) are already ordered by the lock they wait for.
#[derive(Debug, Clone, Copy)]
pub struct Backoff {
    limit: Limit,
    first: Duration,
    cap: Duration,
    /// The longest pause the other side may ask for; asking for more ends the attempts.
    patience: Duration,
}

/// Why one attempt did not succeed.
#[derive(Debug)]
pub enum Failed<E> {
    /// Another attempt, after the next pause, may succeed.
    Retry(E),
    /// Another attempt may succeed after the pause the other side asked for (`Retry-After`).
    RetryAfter(E, Duration),
    /// No further attempt can help.
    Stop(E),
}

/// How the attempts ended without success.
#[derive(Debug)]
pub enum GaveUp<E> {
    /// An attempt said no other could help.
    Stopped(E),
    /// Every attempt allowed was made, or the time ran out; `last` is the last one's error.
    Exhausted { last: E, attempts: u32 },
    /// The other side asked for a pause longer than the backoff's patience.
    TooLong { last: E, asked: Duration },
}

impl<E> GaveUp<E> {
    /// The error of the attempt that ended it, however it ended.
    pub fn into_error(self) -> E {
        match self {
            GaveUp::Stopped(e) | GaveUp::Exhausted { last: e, .. } | GaveUp::TooLong { last: e, .. } => e,
        }
    }
}

impl Backoff {
    /// At most `attempts` attempts (one at least).
    pub fn attempts(attempts: u32) -> Backoff {
        Backoff::new(Limit::Attempts(attempts.max(1)))
    }

    /// Attempts until `limit` has passed since the first (zero: just the one). The last pause
    /// is cut short to end at the limit, where one more attempt is made.
    pub fn within(limit: Duration) -> Backoff {
        Backoff::new(Limit::Within(limit))
    }

    fn new(limit: Limit) -> Backoff {
        Backoff { limit, first: Duration::ZERO, cap: Duration::ZERO, patience: Duration::MAX }
    }

    /// Pauses from `first`, doubling, up to `cap`.
    pub fn pauses(self, first: Duration, cap: Duration) -> Backoff {
        Backoff { first, cap, ..self }
    }

    /// A pause the other side asks for that is longer than `longest` ends the attempts.
    pub fn patience(self, longest: Duration) -> Backoff {
        Backoff { patience: longest, ..self }
    }

    /// Calls `attempt` with its number (from 1) until it succeeds, says stop, or the limit is
    /// reached, pausing in between.
    pub fn run<T, E>(&self, mut attempt: impl FnMut(u32) -> Result<T, Failed<E>>) -> Result<T, GaveUp<E>> {
        let started = Instant::now();
        let mut pause = self.first;
        let mut made = 0;
        loop {
            made += 1;
            let (last, asked) = match attempt(made) {
                Ok(value) => return Ok(value),
                Err(Failed::Stop(e)) => return Err(GaveUp::Stopped(e)),
                Err(Failed::Retry(e)) => (e, None),
                Err(Failed::RetryAfter(e, asked)) => (e, Some(asked)),
            };
            let wait = match self.limit {
                Limit::Attempts(most) if made >= most => {
                    return Err(GaveUp::Exhausted { last, attempts: made });
                }
                Limit::Attempts(_) => asked.unwrap_or(pause),
                Limit::Within(limit) => match limit.checked_sub(started.elapsed()).filter(|l| !l.is_zero()) {
                    None => return Err(GaveUp::Exhausted { last, attempts: made }),
                    Some(left) => asked.unwrap_or(pause).min(left),
                },
            };
            if let Some(asked) = asked.filter(|a| *a > self.patience) {
                return Err(GaveUp::TooLong { last, asked });
            }
            std::thread::sleep(wait);
            pause = pause.saturating_mul(2).min(self.cap);
        }
    }

    /// The longest all pauses together can last: what a caller adds to the attempts' own
    /// time to know how long the whole can take.
    pub fn longest_pauses(&self) -> Duration {
        match self.limit {
            Limit::Within(limit) => limit,
            Limit::Attempts(most) => {
                let mut pause = self.first;
                let mut total = Duration::ZERO;
                for _ in 1..most {
                    total = total.saturating_add(pause.max(self.patience));
                    pause = pause.saturating_mul(2).min(self.cap);
                }
                total
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const MS: Duration = Duration::from_millis(1);

    #[test]
    fn stops_after_the_attempts_allowed_with_the_last_error() {
        let mut seen = Vec::new();
        let tried = Backoff::attempts(3).pauses(MS, MS).run(|n| -> Result<(), _> {
            seen.push(n);
            Err(Failed::Retry(n))
        });
        assert!(matches!(tried, Err(GaveUp::Exhausted { last: 3, attempts: 3 })), "{tried:?}");
        assert_eq!(seen, [1, 2, 3]);
    }

    #[test]
    fn a_stop_ends_at_once_and_a_success_is_returned() {
        let stopped = Backoff::attempts(5).run(|n| -> Result<(), _> { Err(Failed::Stop(n)) });
        assert!(matches!(stopped, Err(GaveUp::Stopped(1))), "{stopped:?}");
        let done = Backoff::attempts(5).run(|n| if n < 2 { Err(Failed::Retry(())) } else { Ok(n) });
        assert_eq!(done.ok(), Some(2));
    }

    #[test]
    fn a_time_limit_ends_with_an_attempt_at_the_limit_and_zero_makes_one() {
        let limit = MS * 100;
        let started = Instant::now();
        let mut last = Duration::ZERO;
        let tried = Backoff::within(limit).pauses(MS * 60, MS * 60).run(|_| -> Result<(), _> {
            last = started.elapsed();
            Err(Failed::Retry(()))
        });
        // Attempts at 0 and 60 ms, then a pause cut short to end at the limit, and one more.
        assert!(matches!(tried, Err(GaveUp::Exhausted { attempts: 2.., .. })), "{tried:?}");
        assert!(last >= limit && last < limit + Duration::from_secs(2), "the last attempt at {last:?}");
        let once = Backoff::within(Duration::ZERO)
            .pauses(MS, MS)
            .run(|n| -> Result<(), _> { Err(Failed::Retry(n)) });
        assert!(matches!(once, Err(GaveUp::Exhausted { attempts: 1, .. })), "{once:?}");
    }

    #[test]
    fn an_asked_pause_replaces_the_backoff_unless_it_is_too_long() {
        let started = Instant::now();
        let backoff =
            Backoff::attempts(2).pauses(Duration::from_secs(60), Duration::from_secs(60)).patience(MS * 30);
        let mut asked = |n| if n == 1 { Err(Failed::RetryAfter((), MS * 20)) } else { Ok(()) };
        assert!(backoff.run(&mut asked).is_ok());
        assert!(started.elapsed() < Duration::from_secs(5), "waited {:?}", started.elapsed());
        let too_long = backoff.run(|_| -> Result<(), _> { Err(Failed::RetryAfter((), MS * 31)) });
        assert!(matches!(too_long, Err(GaveUp::TooLong { asked, .. }) if asked == MS * 31), "{too_long:?}");
    }

    #[test]
    fn the_longest_pauses_count_the_patience_for_each_pause() {
        let backoff = Backoff::attempts(4).pauses(MS * 10, MS * 25).patience(MS * 15);
        // Pauses of 10, 20, 25 ms, each of which may be an asked 15 ms instead.
        assert_eq!(backoff.longest_pauses(), MS * (15 + 20 + 25));
        assert_eq!(Backoff::attempts(1).longest_pauses(), Duration::ZERO);
    }
}
