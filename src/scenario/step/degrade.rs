//! `degrade`: a lossy, slow or narrow link for a node or between it and chosen peers (a
//! fault undone by removing exactly its netfilter rules and its traffic-control qdisc).

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use super::{Call, CheckCx, StepKind, StepResult, StepRunner};
use crate::duration::HumanDuration;
use crate::scenario::refs::TargetRef;

/// Degrade the network of `target`: packet loss (iptables' `statistic` match, both
/// directions), a bandwidth limit (`tc` htb, what the node sends), latency and jitter
/// (`tc netem`, refused on a node whose kernel has no `sch_netem`). With `peers`, only
/// traffic between `target` and those nodes; SSH is never degraded.
#[derive(Clone, Debug, Deserialize, Serialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct DegradeStep {
    /// The node(s) whose link is degraded.
    pub target: String,
    /// Only traffic to and from these targets (default: all but loopback and SSH).
    #[serde(default)]
    pub peers: Vec<String>,
    /// Probability that a packet is dropped, in each direction (0.1 = 10 %).
    #[serde(default)]
    pub loss: Option<f64>,
    /// Bandwidth of what the node sends: `512kbit`, `10mbit`, `1gbit`.
    #[serde(default)]
    pub rate: Option<String>,
    /// Added latency of what the node sends (needs `sch_netem` in the node's kernel).
    #[serde(default)]
    pub delay: Option<HumanDuration>,
    /// Jitter around `delay` (needs `delay`).
    #[serde(default)]
    pub jitter: Option<HumanDuration>,
    /// A name for the fault.
    #[serde(default)]
    pub id: Option<String>,
}

/// `rate` in kbit/s: a number with `kbit`, `mbit` or `gbit` (at least 8 kbit: slower
/// would starve the node's SSH replies behind the queue).
pub(crate) fn rate_kbit(rate: &str) -> Result<u64, String> {
    let r = rate.trim().to_ascii_lowercase();
    let (num, mul) = if let Some(n) = r.strip_suffix("kbit") {
        (n, 1)
    } else if let Some(n) = r.strip_suffix("mbit") {
        (n, 1_000)
    } else if let Some(n) = r.strip_suffix("gbit") {
        (n, 1_000_000)
    } else {
        return Err(format!(
            "rate {rate:?}: write a whole number with kbit, mbit or gbit (`512kbit`, `10mbit`)"
        ));
    };
    let n: u64 = num
        .trim()
        .parse()
        .map_err(|_| format!("rate {rate:?}: {num:?} is not a whole number"))?;
    let k = n.saturating_mul(mul);
    if !(8..=100_000_000).contains(&k) {
        return Err(format!("rate {rate:?}: accepted from 8kbit to 100gbit"));
    }
    Ok(k)
}

pub(crate) struct Degrade;

impl StepKind for Degrade {
    const NAME: &'static str = "degrade";
    #[cfg(test)]
    const SAMPLE: &'static str = "{target: t, loss: 0.1}";
    type Body = DegradeStep;

    fn id(s: &DegradeStep) -> Option<&str> {
        s.id.as_deref()
    }

    fn is_fault(_s: &DegradeStep) -> bool {
        true
    }

    fn node_needs(s: &DegradeStep) -> Vec<(&str, super::NodeNeed)> {
        if s.delay.is_some() || s.jitter.is_some() {
            vec![(s.target.as_str(), super::NodeNeed::Netem)]
        } else {
            Vec::new()
        }
    }

    fn is_fault_event(_s: &DegradeStep) -> bool {
        true
    }

    fn targets(s: &DegradeStep) -> Vec<TargetRef<'_>> {
        let mut out = vec![TargetRef::new("target", &s.target)];
        for (i, p) in s.peers.iter().enumerate() {
            out.push(TargetRef::new(&format!("peers[{i}]"), p));
        }
        out
    }

    fn check<'a>(s: &'a DegradeStep, cx: &mut CheckCx<'a, '_>) {
        if s.loss.is_none() && s.rate.is_none() && s.delay.is_none() {
            let at = cx.base.clone();
            cx.c.err(
                &at,
                "a degrade step needs at least one of `loss`, `rate`, `delay`".into(),
                None,
            );
        }
        if let Some(l) = s.loss
            && !(l > 0.0 && l < 1.0)
        {
            let at = cx.base.key("loss");
            cx.c.err(
                &at,
                format!("loss {l} is not a probability between 0 and 1 (exclusive)"),
                Some("0.1 drops 10 % of the packets; to drop all, use `partition`".into()),
            );
        }
        if let Some(r) = &s.rate
            && let Err(e) = rate_kbit(r)
        {
            let at = cx.base.key("rate");
            cx.c.err(&at, e, None);
        }
        if s.jitter.is_some() && s.delay.is_none() {
            cx.zero("jitter", "`jitter` needs `delay`");
        }
        if s.delay.is_some_and(|d| d.0.is_zero()) {
            cx.zero("delay", "`delay` must not be zero");
        }
        if s.peers.contains(&s.target) {
            let at = cx.base.key("peers");
            cx.c.err(&at, "the target cannot be its own peer".into(), None);
        }
    }

    fn describe(s: &DegradeStep) -> String {
        let mut what = Vec::new();
        if let Some(l) = s.loss {
            what.push(format!("{} % loss", l * 100.0));
        }
        if let Some(r) = &s.rate {
            what.push(format!("rate {r}"));
        }
        if let Some(d) = &s.delay {
            match &s.jitter {
                Some(j) => what.push(format!("delay {d} ± {j}")),
                None => what.push(format!("delay {d}")),
            }
        }
        let mut out = format!("degrade {} ({})", s.target, what.join(", "));
        if !s.peers.is_empty() {
            out.push_str(&format!(" towards {}", s.peers.join(", ")));
        }
        out
    }

    async fn execute<R: StepRunner>(_s: &DegradeStep, call: Call<'_>, run: &mut R) -> StepResult {
        run.fault(call.step, call.rec).await
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rates_parse_in_kbit_and_bad_ones_say_why() {
        assert_eq!(rate_kbit("512kbit"), Ok(512));
        assert_eq!(rate_kbit("10mbit"), Ok(10_000));
        assert_eq!(rate_kbit("1Gbit"), Ok(1_000_000));
        assert!(
            rate_kbit("10mb")
                .unwrap_err()
                .contains("kbit, mbit or gbit")
        );
        assert!(rate_kbit("1.5mbit").unwrap_err().contains("whole number"));
        assert!(rate_kbit("1kbit").unwrap_err().contains("from 8kbit"));
    }
}
