//! The geometry of a scenario's timeline chart: one lane per node, coloured by role, with
//! event markers and write-unavailability bands. The template only draws what this
//! computes, so the chart logic is testable without a browser.
//!
//! `observations` are state *changes* per (node, source): the runner drops consecutive
//! identical samples, so a state lasts until the next observation of the same node and
//! source, or until the end of the scenario.

use std::collections::BTreeMap;

use chrono::{DateTime, Utc};
use serde::Serialize;

use super::fmt;
use crate::results::{EventKind, Observation, ObservationSource, ScenarioResult, WorkloadResult};

const WIDTH: f64 = 1000.0;
// Room for a lane label such as "HAProxy · primary".
const X0: f64 = 152.0;
const X1: f64 = 984.0;
const MARKER_ROW_Y: [f64; 2] = [12.0, 30.0];
const LANES_TOP: f64 = 44.0;
const LANE_H: f64 = 24.0;
const SQL_GAP: f64 = 2.0;
const SQL_H: f64 = 6.0;
const LANE_STEP: f64 = LANE_H + SQL_GAP + SQL_H + 12.0;
const WRITES_H: f64 = 16.0;
/// Minimum width (px) for a segment to carry its label inside.
const LABEL_MIN_W: f64 = 58.0;

/// A chart ready to draw.
#[derive(Debug, Serialize)]
pub(crate) struct Chart {
    pub width: f64,
    pub height: f64,
    pub x0: f64,
    pub x1: f64,
    pub lanes_top: f64,
    pub lanes_bottom: f64,
    pub axis_y: f64,
    pub lanes: Vec<Lane>,
    pub writes: Option<WritesLane>,
    pub ticks: Vec<Tick>,
    pub markers: Vec<Marker>,
    pub gaps: Vec<Band>,
    /// Time of x0, for the caption.
    pub start: String,
    /// Span covered, for the caption.
    pub span: String,
}

/// One node's lane.
#[derive(Debug, Serialize)]
pub(crate) struct Lane {
    pub node: String,
    pub y: f64,
    pub h: f64,
    pub label_y: f64,
    pub sql_y: f64,
    pub sql_h: f64,
    pub segments: Vec<Segment>,
    pub sql: Vec<Segment>,
    pub has_rest: bool,
}

/// The workload lane: which server took writes, and the longest gap.
#[derive(Debug, Serialize)]
pub(crate) struct WritesLane {
    pub y: f64,
    pub h: f64,
    pub label_y: f64,
    pub segments: Vec<Segment>,
}

/// A coloured stretch of a lane.
#[derive(Debug, Serialize)]
pub(crate) struct Segment {
    pub x: f64,
    pub w: f64,
    /// CSS class (`leader`, `replica`, `starting`, `stopped`, `unreachable`, `unknown`,
    /// `sql-rw`, `sql-ro`, `sql-down`, `w-ok`).
    pub class: &'static str,
    /// Short text drawn inside when wide enough.
    pub label: String,
    pub show_label: bool,
    pub text_x: f64,
    /// Tooltip: what, from when to when.
    pub title: String,
}

/// An axis tick.
#[derive(Debug, Serialize)]
pub(crate) struct Tick {
    pub x: f64,
    pub label: String,
}

/// An event marker (numbered; the legend under the chart lists them).
#[derive(Debug, Serialize)]
pub(crate) struct Marker {
    pub n: usize,
    pub x: f64,
    pub cy: f64,
    pub class: &'static str,
    pub kind: &'static str,
    pub node: String,
    pub clock: String,
    pub offset: String,
    pub description: String,
}

/// A write-unavailability window drawn across all lanes.
#[derive(Debug, Serialize)]
pub(crate) struct Band {
    pub x: f64,
    pub w: f64,
    pub label: String,
    pub label_x: f64,
    pub title: String,
}

struct Scale {
    t0: DateTime<Utc>,
    span: f64,
}

impl Scale {
    fn x(&self, t: DateTime<Utc>) -> f64 {
        let s = (t - self.t0).num_milliseconds() as f64 / 1000.0;
        (X0 + (X1 - X0) * (s / self.span)).clamp(X0, X1)
    }
    fn offset(&self, t: DateTime<Utc>) -> String {
        let s = (t - self.t0).num_milliseconds() as f64 / 1000.0;
        format!("+{s:.1} s")
    }
}

/// Builds the chart, or `None` when there is nothing to draw (a skipped scenario).
pub(crate) fn chart(s: &ScenarioResult, node_order: &[String]) -> Option<Chart> {
    let mut t0 = s.started_at;
    let mut t1 = s.finished_at;
    for t in s
        .observations
        .iter()
        .map(|o| o.at)
        .chain(s.events.iter().map(|e| e.at))
    {
        t0 = t0.min(t);
        t1 = t1.max(t);
    }
    if s.observations.is_empty() && s.events.is_empty() {
        return None;
    }
    let span = fmt::between(t0, t1);
    if span < 0.5 {
        return None;
    }
    let sc = Scale { t0, span };

    let (lanes, mut y) = node_lanes(s, node_order, t1, &sc);
    let mut gaps = Vec::new();
    let writes = s.workload.as_ref().map(|w| {
        let (lane, gap) = writes_lane(w, &sc, y);
        gaps.extend(gap);
        y += WRITES_H + 12.0;
        lane
    });
    let lanes_bottom = y - 8.0;
    let markers = event_markers(s, &sc);

    let axis_y = lanes_bottom + 6.0;
    Some(Chart {
        width: WIDTH,
        height: axis_y + 22.0,
        x0: X0,
        x1: X1,
        lanes_top: LANES_TOP - 4.0,
        lanes_bottom,
        axis_y,
        lanes,
        writes,
        ticks: ticks(span),
        markers,
        gaps,
        start: fmt::clock(t0),
        span: fmt::secs(span),
    })
}

/// One lane per node, in inventory order and then any other node that was observed, and
/// the height below the last one.
fn node_lanes(
    s: &ScenarioResult,
    node_order: &[String],
    t1: DateTime<Utc>,
    sc: &Scale,
) -> (Vec<Lane>, f64) {
    // etcd members get lanes of their own, after the nodes (a colocated member shares its
    // host with a Patroni node, not its lane).
    // HAProxy's servers are shown a lane per pool (which servers are UP), not per server.
    let pools = haproxy_pools(&s.observations);
    let mut by_node: BTreeMap<String, Vec<&Observation>> = BTreeMap::new();
    for o in s
        .observations
        .iter()
        .filter(|o| o.source != ObservationSource::Haproxy)
        .chain(&pools)
    {
        let lane = match o.source {
            ObservationSource::Etcd => format!("{ETCD_LANE}{}", o.node),
            ObservationSource::Haproxy => format!("{HAPROXY_LANE}{}", o.node),
            _ => o.node.clone(),
        };
        by_node.entry(lane).or_default().push(o);
    }
    let mut nodes: Vec<String> = node_order
        .iter()
        .filter(|n| by_node.contains_key(n.as_str()))
        .cloned()
        .collect();
    for n in by_node.keys() {
        if !nodes.contains(n) {
            nodes.push(n.clone());
        }
    }

    let mut lanes = Vec::new();
    let mut y = LANES_TOP;
    for node in nodes {
        let node = node.as_str();
        let mut obs = by_node.remove(node).unwrap_or_default();
        obs.sort_by_key(|o| o.at);
        let rest: Vec<&Observation> = obs
            .iter()
            .copied()
            .filter(|o| {
                matches!(
                    o.source,
                    ObservationSource::Rest | ObservationSource::Etcd | ObservationSource::Haproxy
                )
            })
            .collect();
        let segments = rest_segments(&rest, t1, sc, node);
        let sql = sql_segments(&obs, t1, sc, node);
        lanes.push(Lane {
            node: node.to_owned(),
            y,
            h: LANE_H,
            label_y: y + LANE_H / 2.0 + 4.0,
            sql_y: y + LANE_H + SQL_GAP,
            sql_h: SQL_H,
            has_rest: !rest.is_empty(),
            segments,
            sql,
        });
        y += LANE_STEP;
    }
    (lanes, y)
}

/// The lane of acknowledged writes (one segment per server and timeline, one for the
/// longest gap) at height `y`, and the gap's band across every lane.
fn writes_lane(w: &WorkloadResult, sc: &Scale, y: f64) -> (WritesLane, Option<Band>) {
    let mut gap = None;
    let mut segments: Vec<Segment> = w
        .servers
        .iter()
        .map(|sv| {
            segment(
                sc,
                sv.first,
                sv.last,
                "w-ok",
                format!("{} · TL {}", sv.server, sv.timeline),
                format!(
                    "writes acknowledged by {} on timeline {}: {} rows, {} → {}",
                    sv.server,
                    sv.timeline,
                    sv.rows,
                    fmt::clock(sv.first),
                    fmt::clock(sv.last)
                ),
            )
        })
        .collect();
    if let Some((a, b)) = w.max_gap {
        let secs = w.max_gap_seconds.unwrap_or_else(|| fmt::between(a, b));
        let label = format!("no writes {}", fmt::secs(secs));
        let title = format!(
            "longest gap between acknowledged writes: {} ({} → {})",
            fmt::secs(secs),
            fmt::clock(a),
            fmt::clock(b)
        );
        segments.push(segment(sc, a, b, "w-gap", label.clone(), title.clone()));
        let x = sc.x(a);
        let w = (sc.x(b) - x).max(2.0);
        gap = Some(Band {
            x,
            w,
            label_x: x + w / 2.0,
            label,
            title,
        });
    }
    let lane = WritesLane {
        y,
        h: WRITES_H,
        label_y: y + WRITES_H / 2.0 + 4.0,
        segments,
    };
    (lane, gap)
}

/// The numbered event markers (steps excepted), in two rows so that close events do not
/// hide each other.
fn event_markers(s: &ScenarioResult, sc: &Scale) -> Vec<Marker> {
    let mut markers = Vec::new();
    let mut last_x = [f64::NEG_INFINITY; 2];
    let mut events: Vec<_> = s
        .events
        .iter()
        .filter(|e| e.kind != EventKind::Step)
        .collect();
    events.sort_by_key(|e| e.at);
    for (i, e) in events.into_iter().enumerate() {
        let x = sc.x(e.at);
        // Two rows of numbered circles, so that close events do not hide each other.
        let row = if x - last_x[0] >= 20.0 {
            0
        } else if x - last_x[1] >= 20.0 {
            1
        } else if last_x[0] <= last_x[1] {
            0
        } else {
            1
        };
        last_x[row] = x;
        let (class, kind) = match e.kind {
            EventKind::Fault => ("m-fault", "fault"),
            EventKind::Undo => ("m-undo", "undo"),
            EventKind::Operation => ("m-op", "operation"),
            EventKind::NewLeader => ("m-leader", "new leader"),
            EventKind::Recovered => ("m-recovered", "recovered"),
            EventKind::Step => ("m-step", "step"),
            EventKind::Reset => ("m-fault", "cluster reset"),
            EventKind::WatchdogReset => ("m-fault", "watchdog reset"),
            EventKind::DeadmanFired => ("m-undo", "switch fired"),
        };
        markers.push(Marker {
            n: i + 1,
            x,
            cy: MARKER_ROW_Y[row],
            class,
            kind,
            node: e.node.clone().unwrap_or_default(),
            clock: fmt::clock(e.at),
            offset: sc.offset(e.at),
            description: e.description.clone(),
        });
    }
    markers
}

fn segment(
    sc: &Scale,
    from: DateTime<Utc>,
    to: DateTime<Utc>,
    class: &'static str,
    label: String,
    title: String,
) -> Segment {
    let x = sc.x(from);
    let w = (sc.x(to) - x).max(1.0);
    // Rough text width at 11px: about 6.2 px per character.
    let show_label = w >= LABEL_MIN_W.max(label.chars().count() as f64 * 6.2 + 8.0);
    Segment {
        x,
        w,
        class,
        show_label,
        text_x: x + w / 2.0,
        label,
        title,
    }
}

/// The windows of a scenario during which no etcd member that answered was the leader
/// (from the etcd observer's samples; none when etcd was not observed).
pub(crate) fn etcd_leaderless(s: &ScenarioResult) -> Vec<(DateTime<Utc>, DateTime<Utc>)> {
    let mut obs: Vec<&Observation> = s
        .observations
        .iter()
        .filter(|o| o.source == ObservationSource::Etcd)
        .collect();
    obs.sort_by_key(|o| o.at);
    let mut latest: BTreeMap<&str, bool> = BTreeMap::new();
    let mut out = Vec::new();
    let mut since: Option<DateTime<Utc>> = None;
    for (i, o) in obs.iter().enumerate() {
        latest.insert(&o.node, o.reachable && o.role.as_deref() == Some("leader"));
        // One poll answers every member at the same instant: judge after the last of them.
        if obs.get(i + 1).is_some_and(|n| n.at == o.at) {
            continue;
        }
        let led = latest.values().any(|l| *l);
        match (led, since) {
            (false, None) => since = Some(o.at),
            (true, Some(a)) => {
                out.push((a, o.at));
                since = None;
            }
            _ => {}
        }
    }
    if let Some(a) = since {
        out.push((a, s.finished_at.max(a)));
    }
    out
}

/// How an etcd member's lane is named.
const ETCD_LANE: &str = "etcd · ";

/// Class and label of an etcd member's own status.
fn etcd_state(o: &Observation) -> (&'static str, String) {
    match (o.reachable, o.role.as_deref()) {
        (false, _) => ("unreachable", "etcd silent".to_owned()),
        (true, Some("leader")) => ("leader", "etcd leader".to_owned()),
        (true, Some(_)) => ("replica", "etcd follower".to_owned()),
        (true, None) => ("stopped", "no etcd leader".to_owned()),
    }
}

const HAPROXY_LANE: &str = "HAProxy · ";

/// Class and label of a pool built by [`haproxy_pools`].
fn haproxy_state(o: &Observation) -> (&'static str, String) {
    match (o.reachable, o.state.as_deref()) {
        (false, _) => ("unreachable", "stats silent".to_owned()),
        (true, None | Some("")) => ("stopped", "no server UP".to_owned()),
        (true, Some(up)) => ("replica", format!("UP: {up}")),
    }
}

/// One observation per HAProxy pool each time its set of UP servers changed, `state`
/// naming them (from the per-server samples; an unanswered stats page marks every pool
/// unreachable).
fn haproxy_pools(obs: &[Observation]) -> Vec<Observation> {
    let mut sorted: Vec<&Observation> = obs
        .iter()
        .filter(|o| o.source == ObservationSource::Haproxy)
        .collect();
    sorted.sort_by_key(|o| o.at);
    // pool -> server -> UP
    let mut status: BTreeMap<String, BTreeMap<String, bool>> = BTreeMap::new();
    let mut shown: BTreeMap<String, (bool, String)> = BTreeMap::new();
    let mut out = Vec::new();
    let mut silent = false;
    let mut error = None;
    for (i, o) in sorted.iter().enumerate() {
        if !o.node.contains('/') {
            // The page's own sample: answered or not.
            silent = !o.reachable;
            error = o.error.clone();
        } else if let Some((pool, server)) = o.node.split_once('/') {
            let up = o.state.as_deref().is_some_and(|s| s.starts_with("UP"));
            status
                .entry(pool.to_owned())
                .or_default()
                .insert(server.to_owned(), up);
        }
        // Judge each poll after its last sample (one poll stamps every server alike).
        if sorted.get(i + 1).is_some_and(|n| n.at == o.at) {
            continue;
        }
        for (pool, servers) in &status {
            let up: Vec<&str> = servers
                .iter()
                .filter(|(_, u)| **u)
                .map(|(s, _)| s.as_str())
                .collect();
            let now = (!silent, up.join(" "));
            if shown.get(pool) != Some(&now) {
                out.push(Observation {
                    at: o.at,
                    node: pool.clone(),
                    source: ObservationSource::Haproxy,
                    reachable: now.0,
                    state: Some(now.1.clone()),
                    error: error.clone(),
                    ..Default::default()
                });
                shown.insert(pool.clone(), now);
            }
        }
    }
    out
}

/// Role class and label of a REST observation.
fn rest_state(o: &Observation) -> (&'static str, String) {
    if !o.reachable {
        return ("unreachable", "unreachable".to_owned());
    }
    let state = o.state.as_deref().unwrap_or("").to_ascii_lowercase();
    let role = o.role.as_deref().unwrap_or("").to_ascii_lowercase();
    let tl = o.timeline.map(|t| format!(" · TL {t}")).unwrap_or_default();
    match state.as_str() {
        "stopped" | "crashed" | "start failed" | "restart failed" | "stop failed" | "failed" => {
            return ("stopped", state.clone());
        }
        "starting"
        | "stopping"
        | "restarting"
        | "creating replica"
        | "promoting"
        | "demoting"
        | "initializing new cluster"
        | "running custom bootstrap script" => {
            return ("starting", state.clone());
        }
        _ => {}
    }
    match role.as_str() {
        "leader" | "primary" | "master" | "standby_leader" => ("leader", format!("{role}{tl}")),
        "replica" | "sync_standby" | "standby" => ("replica", format!("{role}{tl}")),
        "" => (
            "unknown",
            if state.is_empty() {
                "unknown".to_owned()
            } else {
                state
            },
        ),
        _ => ("unknown", role),
    }
}

/// A run of identical state: from, to, class, label, detail for the tooltip.
type Run = (DateTime<Utc>, DateTime<Utc>, &'static str, String, String);

fn rest_segments(
    rest: &[&Observation],
    end: DateTime<Utc>,
    sc: &Scale,
    node: &str,
) -> Vec<Segment> {
    let mut runs: Vec<Run> = Vec::new();
    for (i, o) in rest.iter().enumerate() {
        let to = rest.get(i + 1).map_or(end, |n| n.at);
        if to <= o.at && i + 1 < rest.len() {
            continue;
        }
        let (class, label) = match o.source {
            ObservationSource::Etcd => etcd_state(o),
            ObservationSource::Haproxy => haproxy_state(o),
            _ => rest_state(o),
        };
        let detail = match (&o.error, &o.state) {
            (Some(e), _) if !o.reachable && o.source == ObservationSource::Haproxy => {
                format!("HAProxy's stats page silent: {e}")
            }
            (_, _) if o.source == ObservationSource::Haproxy => format!("HAProxy {label}"),
            (Some(e), _) if !o.reachable && o.source == ObservationSource::Etcd => {
                format!("etcd member silent: {e}")
            }
            (_, _) if o.source == ObservationSource::Etcd => format!(
                "{label}{}",
                o.cluster_leader
                    .as_deref()
                    .map(|l| format!(" (leader {l})"))
                    .unwrap_or_default()
            ),
            (Some(e), _) if !o.reachable => format!("REST unreachable: {e}"),
            (_, Some(st)) => format!(
                "role {}, state {st}{}",
                o.role.as_deref().unwrap_or("?"),
                o.timeline
                    .map(|t| format!(", timeline {t}"))
                    .unwrap_or_default()
            ),
            _ => label.clone(),
        };
        // Merge with the previous run when nothing visible changed (e.g. only the lag).
        if let Some(last) = runs.last_mut()
            && last.2 == class
            && last.3 == label
        {
            last.1 = to;
            continue;
        }
        runs.push((o.at, to, class, label, detail));
    }
    runs.into_iter()
        .map(|(a, b, class, label, detail)| {
            let title = format!(
                "{node}: {detail}, {} → {} ({})",
                fmt::clock(a),
                fmt::clock(b),
                fmt::secs(fmt::between(a, b))
            );
            segment(sc, a, b, class, label, title)
        })
        .collect()
}

/// SQL reachability: over TCP, or over SSH through the local socket. When both exist, the
/// best answer wins (a node that is writable over SSH but unreachable over TCP is
/// writable: that is exactly the split-brain case an auditor must see).
fn sql_segments(obs: &[&Observation], end: DateTime<Utc>, sc: &Scale, node: &str) -> Vec<Segment> {
    let sql: Vec<&Observation> = obs
        .iter()
        .copied()
        .filter(|o| matches!(o.source, ObservationSource::Sql | ObservationSource::SqlSsh))
        .collect();
    let mut tcp: Option<&Observation> = None;
    let mut ssh: Option<&Observation> = None;
    let mut runs: Vec<(DateTime<Utc>, DateTime<Utc>, &'static str, &'static str)> = Vec::new();
    for (i, o) in sql.iter().enumerate() {
        match o.source {
            ObservationSource::SqlSsh => ssh = Some(o),
            _ => tcp = Some(o),
        }
        let to = sql.get(i + 1).map_or(end, |n| n.at);
        // Samples taken at the same instant (TCP and SSH) make one state, not two.
        if to <= o.at && i + 1 < sql.len() {
            continue;
        }
        let rank = |x: Option<&Observation>| match x {
            Some(o) if o.reachable && o.in_recovery == Some(false) => 3,
            Some(o) if o.reachable => 2,
            Some(_) => 1,
            None => 0,
        };
        let best = rank(tcp).max(rank(ssh));
        let via_ssh = rank(ssh) > rank(tcp);
        let (class, what) = match best {
            3 if via_ssh => ("sql-rw", "writable (reached over SSH only)"),
            3 => ("sql-rw", "writable"),
            2 if via_ssh => ("sql-ro", "read-only (reached over SSH only)"),
            2 => ("sql-ro", "read-only (in recovery)"),
            _ => ("sql-down", "not answering SQL"),
        };
        if let Some(last) = runs.last_mut()
            && last.2 == class
            && last.3 == what
        {
            last.1 = to;
            continue;
        }
        runs.push((o.at, to, class, what));
    }
    runs.into_iter()
        .map(|(a, b, class, what)| {
            let title = format!(
                "{node}: PostgreSQL {what}, {} → {} ({})",
                fmt::clock(a),
                fmt::clock(b),
                fmt::secs(fmt::between(a, b))
            );
            let mut seg = segment(sc, a, b, class, String::new(), title);
            seg.show_label = false;
            seg
        })
        .collect()
}

fn ticks(span: f64) -> Vec<Tick> {
    const STEPS: [f64; 12] = [
        1.0, 2.0, 5.0, 10.0, 15.0, 30.0, 60.0, 120.0, 300.0, 600.0, 1800.0, 3600.0,
    ];
    let step = STEPS
        .iter()
        .copied()
        .find(|st| span / st <= 12.0)
        .unwrap_or(3600.0);
    let mut out = Vec::new();
    let mut t = 0.0;
    while t <= span + 1e-9 {
        let label = if step >= 60.0 || span >= 120.0 {
            format!("{}:{:02}", (t / 60.0).floor(), (t % 60.0).round())
        } else {
            format!("{t:.0} s")
        };
        out.push(Tick {
            x: X0 + (X1 - X0) * (t / span),
            label,
        });
        t += step;
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    use crate::report::test_fixture as fixture;

    #[test]
    fn etcd_members_get_lanes_of_their_own_and_leaderless_windows_are_found() {
        let mut r = fixture("failed-run");
        let s = &mut r.scenarios[0];
        let t = |secs: i64| s.started_at + chrono::Duration::seconds(secs);
        let etcd = |at, node: &str, role: Option<&str>, reachable| Observation {
            at,
            node: node.into(),
            source: ObservationSource::Etcd,
            reachable,
            role: role.map(str::to_owned),
            ..Default::default()
        };
        let (a, b, c, d) = (t(1), t(2), t(3), t(4));
        s.finished_at = s.finished_at.max(t(5));
        s.observations.extend([
            etcd(a, "e2", Some("follower"), true),
            etcd(a, "e1", Some("leader"), true),
            // The leader goes silent; the other answers with no leader until it leads.
            etcd(b, "e1", None, false),
            etcd(c, "e2", None, true),
            etcd(d, "e2", Some("leader"), true),
        ]);
        assert_eq!(etcd_leaderless(s), vec![(b, d)]);
        let chart = chart(s, &[]).expect("a chart");
        let lane = chart
            .lanes
            .iter()
            .find(|l| l.node == "etcd · e2")
            .expect("a lane for etcd member e2");
        let labels: Vec<&str> = lane.segments.iter().map(|g| g.label.as_str()).collect();
        assert_eq!(labels, ["etcd follower", "no etcd leader", "etcd leader"]);
        assert!(chart.lanes.iter().all(|l| l.node != "e2"));
    }

    #[test]
    fn switchover_lanes_show_roles_over_time() {
        let r = fixture("failed-run");
        let s = r
            .scenarios
            .iter()
            .find(|s| s.id == "ops-switchover")
            .unwrap();
        let order: Vec<String> = r.cluster.nodes.iter().map(|n| n.name.clone()).collect();
        let c = chart(s, &order).unwrap();
        let names: Vec<&str> = c.lanes.iter().map(|l| l.node.as_str()).collect();
        assert_eq!(names, ["pg1", "pg2", "pg3"]);
        let pg1: Vec<&str> = c.lanes[0].segments.iter().map(|s| s.class).collect();
        assert_eq!(
            pg1,
            ["leader", "starting", "stopped", "starting", "stopped"]
        );
        let pg2: Vec<&str> = c.lanes[1]
            .segments
            .iter()
            .map(|s| s.label.as_str())
            .collect();
        assert_eq!(pg2, ["replica · TL 1", "leader · TL 2"]);
        // The last segment lasts until the end of the scenario.
        let last = c.lanes[1].segments.last().unwrap();
        assert!((last.x + last.w - X1).abs() < 0.01);
        // Segments tile the lane without overlap.
        for w in c.lanes[0].segments.windows(2) {
            assert!((w[0].x + w[0].w - w[1].x).abs() < 0.01);
        }
        assert_eq!(c.markers.len(), 2);
        assert_eq!(c.markers[1].kind, "new leader");
        assert_eq!(c.gaps.len(), 1);
        assert!(c.writes.is_some());
    }

    #[test]
    fn sql_over_ssh_wins_over_tcp() {
        let r = fixture("failed-run");
        let mut s = r.scenarios[0].clone();
        let t = s
            .observations
            .iter()
            .find(|o| o.node == "pg1" && !o.reachable)
            .unwrap()
            .at;
        s.observations.push(Observation {
            at: t,
            node: "pg1".into(),
            source: ObservationSource::SqlSsh,
            reachable: true,
            in_recovery: Some(false),
            ..Default::default()
        });
        s.observations.sort_by_key(|o| o.at);
        let c = chart(&s, &[]).unwrap();
        let pg1 = c.lanes.iter().find(|l| l.node == "pg1").unwrap();
        assert!(pg1.sql.iter().all(|x| x.class == "sql-rw"), "{:?}", pg1.sql);
        assert!(pg1.sql.iter().any(|x| x.title.contains("over SSH only")));
    }

    #[test]
    fn haproxy_pools_get_a_lane_each_naming_their_up_servers() {
        let r = fixture("failed-run");
        let mut s = r.scenarios[0].clone();
        let t0 = s.observations[0].at;
        let at = |ms: i64| t0 + chrono::Duration::milliseconds(ms);
        let hp = |ms: i64, node: &str, state: Option<&str>, reachable: bool| Observation {
            at: at(ms),
            node: node.into(),
            source: ObservationSource::Haproxy,
            reachable,
            state: state.map(str::to_owned),
            ..Default::default()
        };
        s.observations.extend([
            hp(0, "stats page", None, true),
            hp(0, "primary/pg1", Some("UP"), true),
            hp(0, "primary/pg2", Some("DOWN"), true),
            hp(0, "replicas/pg2", Some("UP"), true),
            hp(1000, "primary/pg1", Some("DOWN"), true),
            hp(2000, "stats page", None, false),
            // Answers again with nothing changed: the pools are shown again.
            hp(3000, "stats page", None, true),
            hp(4000, "primary/pg2", Some("UP"), true),
        ]);
        s.observations.sort_by_key(|o| o.at);
        let c = chart(&s, &[]).unwrap();
        let lane = |n: &str| c.lanes.iter().find(|l| l.node == n).expect(n);
        let labels: Vec<&str> = lane("HAProxy · primary")
            .segments
            .iter()
            .map(|x| x.label.as_str())
            .collect();
        assert_eq!(
            labels,
            [
                "UP: pg1",
                "no server UP",
                "stats silent",
                "no server UP",
                "UP: pg2"
            ]
        );
        assert_eq!(lane("HAProxy · replicas").segments[0].label, "UP: pg2");
        assert!(!c.lanes.iter().any(|l| l.node.contains("stats page")));
    }

    #[test]
    fn skipped_scenario_has_no_chart() {
        let r = fixture("interrupted-run");
        assert!(chart(&r.scenarios[1], &[]).is_none());
    }

    #[test]
    fn ticks_cover_the_span() {
        let t = ticks(62.4);
        assert_eq!(t.first().unwrap().label, "0 s");
        assert_eq!(ticks(300.0)[1].label, "0:30");
        assert!(t.len() <= 13 && t.len() >= 5);
        let t = ticks(30.0);
        assert_eq!(t[1].label, "5 s");
    }
}
