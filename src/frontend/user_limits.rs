//! Per-user limits (`max_connections`, `max_qps`/`burst`/`limit_wait_ms` in `[[users]]`):
//! a partner system that floods the proxy gets its own errors (1203 at login, 1226 per
//! statement) while other users go on as before. The counts are process-wide, so a user's
//! limit holds across every worker thread.

use std::collections::HashMap;
use std::num::NonZeroU32;
use std::sync::atomic::{AtomicU32, AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use governor::clock::{Clock, DefaultClock};
use governor::{DefaultDirectRateLimiter, Quota, RateLimiter};

use crate::config::server::UserConfig;
use crate::error::Error;

/// The limits of every user that has any, built once from the server config.
#[derive(Default)]
pub struct UserLimiters {
    by_user: HashMap<String, Arc<UserLimiter>>,
}

impl UserLimiters {
    pub fn new(users: &[UserConfig]) -> Self {
        let by_user = users
            .iter()
            .filter(|u| u.limits.max_connections.is_some() || u.limits.max_qps.is_some())
            .map(|u| (u.name.clone(), Arc::new(UserLimiter::new(u))))
            .collect();
        UserLimiters { by_user }
    }

    /// Admits a new session of `user`: `None` for a user without limits (nothing to count),
    /// an error past its `max_connections`.
    pub fn admit(&self, user: &str) -> Result<Option<UserSession>, Error> {
        let Some(limiter) = self.by_user.get(user) else {
            return Ok(None);
        };
        limiter.admit_connection().map(Some)
    }

    /// Every limited user, for the metrics.
    pub fn all(&self) -> impl Iterator<Item = &Arc<UserLimiter>> {
        self.by_user.values()
    }
}

/// One user's counters and token bucket.
pub struct UserLimiter {
    pub user: String,
    max_connections: Option<u32>,
    rate: Option<Rate>,
    connections: AtomicU32,
    pub refused_logins: AtomicU64,
    /// Statements that waited for a token and got one, and that got 1226.
    pub delayed_statements: AtomicU64,
    pub limited_statements: AtomicU64,
}

struct Rate {
    bucket: DefaultDirectRateLimiter,
    max_qps: u32,
    burst: u32,
    wait: Duration,
}

impl UserLimiter {
    fn new(u: &UserConfig) -> Self {
        let l = &u.limits;
        let rate = l.max_qps.and_then(NonZeroU32::new).map(|qps| {
            let burst = NonZeroU32::new(l.burst).unwrap_or(qps);
            Rate {
                bucket: RateLimiter::direct(Quota::per_second(qps).allow_burst(burst)),
                max_qps: qps.get(),
                burst: burst.get(),
                wait: l.limit_wait,
            }
        });
        UserLimiter {
            user: u.name.clone(),
            max_connections: l.max_connections,
            rate,
            connections: AtomicU32::new(0),
            refused_logins: AtomicU64::new(0),
            delayed_statements: AtomicU64::new(0),
            limited_statements: AtomicU64::new(0),
        }
    }

    pub fn connections(&self) -> u32 {
        self.connections.load(Ordering::Relaxed)
    }

    fn admit_connection(self: &Arc<Self>) -> Result<UserSession, Error> {
        let max = self.max_connections.unwrap_or(u32::MAX);
        let admitted = self
            .connections
            .fetch_update(Ordering::AcqRel, Ordering::Acquire, |n| {
                (n < max).then_some(n + 1)
            });
        match admitted {
            Ok(_) => Ok(UserSession(self.clone())),
            Err(_) => {
                self.refused_logins.fetch_add(1, Ordering::Relaxed);
                Err(Error::TooManyUserConnections {
                    user: self.user.clone(),
                    max,
                })
            }
        }
    }

    /// Takes a token for one statement, waiting up to `limit_wait_ms` for it.
    pub async fn admit_statement(&self) -> Result<(), Error> {
        let Some(rate) = &self.rate else {
            return Ok(());
        };
        let clock = DefaultClock::default();
        let started = Instant::now();
        let mut waited = false;
        loop {
            let next = match rate.bucket.check() {
                Ok(()) => {
                    if waited {
                        self.delayed_statements.fetch_add(1, Ordering::Relaxed);
                    }
                    return Ok(());
                }
                Err(not_until) => not_until.wait_time_from(clock.now()),
            };
            let spent = started.elapsed();
            if spent + next > rate.wait {
                self.limited_statements.fetch_add(1, Ordering::Relaxed);
                return Err(Error::UserLimitReached {
                    user: self.user.clone(),
                    max_qps: rate.max_qps,
                    burst: rate.burst,
                    waited_ms: spent.as_millis() as u64,
                });
            }
            waited = true;
            tokio::time::sleep(next).await;
        }
    }
}

/// A session counted against its user's `max_connections` until dropped.
pub struct UserSession(Arc<UserLimiter>);

impl UserSession {
    pub fn limiter(&self) -> &Arc<UserLimiter> {
        &self.0
    }
}

impl Drop for UserSession {
    fn drop(&mut self) {
        self.0.connections.fetch_sub(1, Ordering::AcqRel);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::server::UserLimits;

    fn user(limits: UserLimits) -> UserConfig {
        UserConfig {
            limits,
            ..UserConfig::new("partner", "pw")
        }
    }

    #[test]
    fn logins_past_max_connections_get_1203_and_a_slot_comes_back_on_drop() {
        let limiters = UserLimiters::new(&[user(UserLimits {
            max_connections: Some(2),
            ..UserLimits::default()
        })]);
        let a = limiters.admit("partner").unwrap();
        let _b = limiters.admit("partner").unwrap();
        let refused = limiters.admit("partner").err().unwrap();
        assert_eq!(refused.code(), 1203);
        assert!(refused.to_string().contains("'partner'"), "{refused}");
        drop(a);
        assert!(limiters.admit("partner").unwrap().is_some());
        assert!(limiters.admit("someone else").unwrap().is_none());
    }

    #[tokio::test]
    async fn statements_past_the_burst_get_1226_without_waiting() {
        let limiters = UserLimiters::new(&[user(UserLimits {
            max_qps: Some(1),
            burst: 3,
            ..UserLimits::default()
        })]);
        let session = limiters.admit("partner").unwrap().unwrap();
        for _ in 0..3 {
            session.limiter().admit_statement().await.unwrap();
        }
        let e = session.limiter().admit_statement().await.unwrap_err();
        assert_eq!(e.code(), 1226);
        assert!(e.to_string().contains("'partner'") && e.to_string().contains("max_qps"));
    }
}
