//! Injected faults (`--fault`): a flaky control plane on demand, for resilience tests and
//! drills. A rule is `SCOPE=ACTION[xTIMES][@PROBABILITY]`, where SCOPE is a `--forbid` scope
//! (`VERB:RESOURCE[:NAMESPACE[/NAME]]`) and ACTION one of:
//!
//! | action | the matching request |
//! |---|---|
//! | `500`, `502`, `503`, `504`, `409` | is answered with that status, unprocessed |
//! | `429` or `429+N` | is answered 429 with `Retry-After: N` (default 1), unprocessed |
//! | `delay+MS` | is processed, and answered MS milliseconds late |
//! | `reset` | is processed, then the connection is cut halfway through the response body |
//! | `timeout` | is never answered (nor processed) |
//!
//! `xTIMES` limits a rule to its first TIMES matches; `@P` makes it fire with probability P
//! (0 to 1) per match, drawn from a generator seeded by `--fault-seed`: the same seed and the
//! same order of requests give the same faults. The first rule that fires wins.

use std::str::FromStr;
use std::sync::Mutex;
use std::time::Duration;

use super::error::SandboxError;
use super::forbid::Forbid;

/// What happens to a request a rule matches.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Action {
    /// Answered with this status, unprocessed.
    Status(u16),
    /// Answered 429 with `Retry-After` seconds, unprocessed.
    TooManyRequests { retry_after: u64 },
    /// Processed, answered late.
    Delay(Duration),
    /// Processed, then the response is cut off mid-body.
    Reset,
    /// Never answered.
    Timeout,
}

/// One `--fault` rule.
#[derive(Clone, Debug, PartialEq)]
pub struct Fault {
    pub scope: Forbid,
    pub action: Action,
    /// Fires at most this many times.
    pub times: Option<u32>,
    /// Fires with this probability per matching request.
    pub probability: f64,
}

fn invalid(rule: &str, message: impl Into<String>) -> SandboxError {
    SandboxError::Fault {
        rule: rule.to_string(),
        message: message.into(),
    }
}

fn action(rule: &str, s: &str) -> Result<Action, SandboxError> {
    let number = |v: &str, what: &str| {
        v.parse::<u64>()
            .map_err(|_| invalid(rule, format!("{what} must be a whole number, not {v:?}")))
    };
    Ok(match s.split_once('+') {
        None if s == "reset" => Action::Reset,
        None if s == "timeout" => Action::Timeout,
        None if s == "429" => Action::TooManyRequests { retry_after: 1 },
        None if matches!(s, "500" | "502" | "503" | "504" | "409") => {
            Action::Status(s.parse().unwrap_or(500))
        }
        Some(("429", n)) => Action::TooManyRequests {
            retry_after: number(n, "Retry-After")?,
        },
        Some(("delay", ms)) => Action::Delay(Duration::from_millis(number(ms, "the delay")?)),
        _ => {
            return Err(invalid(
                rule,
                format!("unknown action {s:?}: expected 500, 502, 503, 504, 409, 429[+SECONDS], delay+MS, reset or timeout"),
            ))
        }
    })
}

impl FromStr for Fault {
    type Err = SandboxError;

    fn from_str(rule: &str) -> Result<Fault, SandboxError> {
        let (scope, rest) = rule
            .split_once('=')
            .ok_or_else(|| invalid(rule, "expected SCOPE=ACTION, e.g. list:secrets=503"))?;
        let scope: Forbid = scope
            .parse()
            .map_err(|e: SandboxError| invalid(rule, e.to_string()))?;
        let (rest, probability) = match rest.split_once('@') {
            Some((r, p)) => {
                let p: f64 = p
                    .parse()
                    .ok()
                    .filter(|p| (0.0..=1.0).contains(p))
                    .ok_or_else(|| {
                        invalid(rule, format!("probability {p:?} is not between 0 and 1"))
                    })?;
                (r, p)
            }
            None => (rest, 1.0),
        };
        let (act, times) = match rest.split_once('x') {
            Some((a, n)) => {
                let n: u32 = n.parse().map_err(|_| {
                    invalid(rule, format!("xTIMES must be a whole number, not {n:?}"))
                })?;
                (a, Some(n))
            }
            None => (rest, None),
        };
        Ok(Fault {
            scope,
            action: action(rule, act)?,
            times,
            probability,
        })
    }
}

/// The rules and their state: how often each fired, and the random generator.
#[derive(Debug)]
pub struct Faults {
    rules: Vec<Fault>,
    state: Mutex<State>,
}

#[derive(Debug)]
struct State {
    fired: Vec<u32>,
    rng: u64,
}

impl Faults {
    pub fn new(rules: Vec<Fault>, seed: u64) -> Faults {
        let fired = vec![0; rules.len()];
        Faults {
            rules,
            state: Mutex::new(State {
                fired,
                // splitmix64 of the seed: any seed (0 included) gives a good start.
                rng: splitmix(seed),
            }),
        }
    }

    /// The fault for a request, if a rule fires.
    pub fn decide(
        &self,
        verb: &str,
        resource: &str,
        namespace: Option<&str>,
        name: Option<&str>,
    ) -> Option<Action> {
        if self.rules.is_empty() {
            return None;
        }
        let mut state = self.state.lock().unwrap_or_else(|p| p.into_inner());
        for (i, rule) in self.rules.iter().enumerate() {
            if !rule.scope.matches(verb, resource, namespace, name) {
                continue;
            }
            if rule.times.is_some_and(|t| state.fired[i] >= t) {
                continue;
            }
            if rule.probability < 1.0 {
                state.rng = splitmix(state.rng);
                let draw = (state.rng >> 11) as f64 / (1u64 << 53) as f64;
                if draw >= rule.probability {
                    continue;
                }
            }
            state.fired[i] += 1;
            return Some(rule.action);
        }
        None
    }
}

fn splitmix(x: u64) -> u64 {
    let mut z = x.wrapping_add(0x9e37_79b9_7f4a_7c15);
    z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
    z ^ (z >> 31)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rules_parse_and_fire_as_written() {
        let f: Fault = "list:secrets:gloo-mesh=429+2x3".parse().unwrap();
        assert_eq!(f.action, Action::TooManyRequests { retry_after: 2 });
        assert_eq!(f.times, Some(3));
        assert_eq!(
            "create:secrets=delay+250".parse::<Fault>().unwrap().action,
            Action::Delay(Duration::from_millis(250))
        );
        for bad in [
            "list:secrets",
            "list:secrets=418",
            "x:secrets=503",
            "get:secrets=503@2",
            "get:secrets=503xa",
        ] {
            assert!(bad.parse::<Fault>().is_err(), "{bad}");
        }
        let faults = Faults::new(
            vec![
                "get:secrets:gloo-mesh/a=503x2".parse().unwrap(),
                "*:secrets=reset@0.5".parse().unwrap(),
            ],
            7,
        );
        let a = || faults.decide("get", "secrets", Some("gloo-mesh"), Some("a"));
        assert_eq!(a(), Some(Action::Status(503)));
        assert_eq!(a(), Some(Action::Status(503)));
        // Then only the coin-flip rule: about half of many requests, the same for a seed.
        let draws: Vec<bool> = (0..400).map(|_| a().is_some()).collect();
        let n = draws.iter().filter(|d| **d).count();
        assert!((150..250).contains(&n), "{n}");
        let again = Faults::new(vec!["*:secrets=reset@0.5".parse().unwrap()], 7);
        let replay: Vec<bool> = (0..400)
            .map(|_| {
                again
                    .decide("get", "secrets", Some("gloo-mesh"), Some("a"))
                    .is_some()
            })
            .collect();
        assert_eq!(draws, replay, "the same seed, the same faults");
        assert_eq!(faults.decide("list", "namespaces", None, None), None);
    }
}
