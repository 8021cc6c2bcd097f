//! `/metrics`: the Prometheus text exposition format (version 0.0.4).
//!
//! * `streamflix_events_in_total{feed}`: messages (or lines) read per feed,
//!   dead letters included.
//! * `streamflix_dead_letters_total{feed,reason}`.
//! * `streamflix_feed_watermark_seconds{feed}`: the least watermark of the
//!   feed's partitions, seconds since the epoch.
//! * `streamflix_consumer_lag_seconds{feed}`: wall time minus the greatest
//!   event time read (event-time lag; the readers do not track the
//!   brokers' end offsets after start-up, so an offset lag is not known).
//! * `streamflix_feed_caught_up{feed}`: 1 once every partition has been
//!   read up to where it ended at start-up.
//! * `streamflix_snapshot_publication_seconds`: a histogram of how long
//!   publishing one revision took (sending it to the snapshot topic and
//!   the files until the broker acknowledged it), kept in an HDR histogram
//!   and exposed with fixed buckets.
//! * `streamflix_incidents_open{severity}`: incidents not yet resolved
//!   (open or acknowledged) by severity, `Sev-1` to `Sev-3`, from the
//!   runbooks' incident state; left out when that cannot be read.
//! * `streamflix_api_view_generation`: how often the engine replaced the view.

use std::collections::BTreeMap;
use std::fmt::Write as _;

use hdrhistogram::Histogram;

use crate::providers::Incident;
use crate::state::ApiView;

/// Upper bounds of the latency buckets, in seconds.
pub const LATENCY_BUCKETS: &[f64] = &[
    0.001, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0,
];

/// The severities always exposed, with 0 when none is open.
pub const SEVERITIES: [&str; 3] = ["Sev-1", "Sev-2", "Sev-3"];

/// A label value with `\`, `"` and newlines escaped.
fn label(value: &str) -> String {
    value
        .replace('\\', "\\\\")
        .replace('"', "\\\"")
        .replace('\n', "\\n")
}

/// The whole exposition.
pub fn render(
    view: &ApiView,
    latency_us: &Histogram<u64>,
    incidents: Option<&[Incident]>,
) -> String {
    let mut out = String::new();
    let mut lines: Vec<String> = Vec::new();

    let name = family_into(
        &mut out,
        "streamflix_events_in_total",
        "counter",
        "Messages read per feed, dead letters included.",
    );
    for feed in &view.feeds {
        lines.push(format!(
            "{name}{{feed=\"{}\"}} {}",
            label(&feed.feed),
            feed.events_in
        ));
    }
    flush(&mut out, &mut lines);

    let name = family_into(
        &mut out,
        "streamflix_dead_letters_total",
        "counter",
        "Records refused per feed and reason kind.",
    );
    for ((feed, reason), count) in &view.dead_letters {
        lines.push(format!(
            "{name}{{feed=\"{}\",reason=\"{}\"}} {count}",
            label(feed),
            label(reason)
        ));
    }
    flush(&mut out, &mut lines);

    let name = family_into(
        &mut out,
        "streamflix_feed_watermark_seconds",
        "gauge",
        "The least watermark of the feed's partitions, seconds since the epoch.",
    );
    for feed in &view.feeds {
        if let Some(ms) = feed.watermark_ms {
            lines.push(format!(
                "{name}{{feed=\"{}\"}} {}",
                label(&feed.feed),
                ms as f64 / 1000.0
            ));
        }
    }
    flush(&mut out, &mut lines);

    let name = family_into(
        &mut out,
        "streamflix_consumer_lag_seconds",
        "gauge",
        "Wall time minus the greatest event time read on the feed.",
    );
    for feed in &view.feeds {
        if let Some(lag) = feed.lag_seconds {
            lines.push(format!("{name}{{feed=\"{}\"}} {lag}", label(&feed.feed)));
        }
    }
    flush(&mut out, &mut lines);

    let name = family_into(
        &mut out,
        "streamflix_feed_caught_up",
        "gauge",
        "1 once every partition of the feed was read up to its end at start-up.",
    );
    for feed in &view.feeds {
        if let Some(caught_up) = feed.caught_up {
            lines.push(format!(
                "{name}{{feed=\"{}\"}} {}",
                label(&feed.feed),
                u8::from(caught_up)
            ));
        }
    }
    flush(&mut out, &mut lines);

    let name = family_into(
        &mut out,
        "streamflix_snapshot_publication_seconds",
        "histogram",
        "Time to publish one snapshot revision until the broker acknowledged it.",
    );
    for bound in LATENCY_BUCKETS {
        let micros = (bound * 1e6) as u64;
        let count: u64 = latency_us
            .iter_recorded()
            .filter(|value| latency_us.highest_equivalent(value.value_iterated_to()) <= micros)
            .map(|value| value.count_at_value())
            .sum();
        lines.push(format!("{name}_bucket{{le=\"{bound}\"}} {count}"));
    }
    lines.push(format!("{name}_bucket{{le=\"+Inf\"}} {}", latency_us.len()));
    let sum: f64 = latency_us
        .iter_recorded()
        .map(|value| value.value_iterated_to() as f64 * value.count_at_value() as f64)
        .sum::<f64>()
        / 1e6;
    lines.push(format!("{name}_sum {sum}"));
    lines.push(format!("{name}_count {}", latency_us.len()));
    flush(&mut out, &mut lines);

    if let Some(incidents) = incidents {
        let name = family_into(
            &mut out,
            "streamflix_incidents_open",
            "gauge",
            "Incidents not yet resolved (open or acknowledged), by severity.",
        );
        let mut open: BTreeMap<&str, u64> = BTreeMap::new();
        for severity in SEVERITIES {
            open.insert(severity, 0);
        }
        for incident in incidents.iter().filter(|incident| incident.is_open()) {
            *open.entry(incident.severity.as_str()).or_insert(0) += 1;
        }
        for (severity, count) in open {
            lines.push(format!(
                "{name}{{severity=\"{}\"}} {count}",
                label(severity)
            ));
        }
        flush(&mut out, &mut lines);
    }

    let name = family_into(
        &mut out,
        "streamflix_api_view_generation",
        "counter",
        "How often the engine replaced the API's view.",
    );
    lines.push(format!("{name} {}", view.generation));
    flush(&mut out, &mut lines);
    out
}

fn family_into(out: &mut String, name: &str, kind: &str, help: &str) -> String {
    let _ = writeln!(out, "# HELP {name} {help}\n# TYPE {name} {kind}");
    name.to_string()
}

fn flush(out: &mut String, lines: &mut Vec<String>) {
    for line in lines.drain(..) {
        out.push_str(&line);
        out.push('\n');
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::state::FeedStatus;

    #[test]
    fn exposes_every_family_with_its_values() {
        let mut view = ApiView {
            generation: 7,
            ..ApiView::default()
        };
        view.feeds.push(FeedStatus {
            feed: "viewing".into(),
            events_in: 1234,
            watermark_ms: Some(1_500),
            lag_seconds: Some(2.5),
            caught_up: Some(true),
        });
        view.dead_letters
            .insert(("viewing".into(), "not_json".into()), 3);
        let mut latency = Histogram::<u64>::new_with_max(600_000_000, 3).unwrap();
        latency.record(2_000).unwrap(); // 2 ms
        latency.record(300_000).unwrap(); // 300 ms
        let incident = |id: u64, severity: &str, state: &str| Incident {
            id,
            severity: severity.into(),
            pipeline: "aggregate_profit".into(),
            dedup_key: format!("aggregate_profit/late/{id}"),
            period: "2026-10".into(),
            title: "t".into(),
            state: state.into(),
            holder: None,
            opened_at: "2026-11-25T00:00:00Z".into(),
            updated_at: "2026-11-25T00:00:00Z".into(),
            acknowledged_by: None,
            acknowledged_at: None,
            resolved_by: None,
            resolved_at: None,
        };
        let incidents = vec![
            incident(1, "Sev-2", "open"),
            incident(2, "Sev-2", "acknowledged"),
            incident(3, "Sev-2", "resolved"),
            incident(4, "Sev-1", "resolved"),
        ];
        let text = render(&view, &latency, Some(&incidents));
        for line in [
            "streamflix_events_in_total{feed=\"viewing\"} 1234",
            "streamflix_dead_letters_total{feed=\"viewing\",reason=\"not_json\"} 3",
            "streamflix_feed_watermark_seconds{feed=\"viewing\"} 1.5",
            "streamflix_consumer_lag_seconds{feed=\"viewing\"} 2.5",
            "streamflix_feed_caught_up{feed=\"viewing\"} 1",
            "streamflix_snapshot_publication_seconds_bucket{le=\"0.001\"} 0",
            "streamflix_snapshot_publication_seconds_bucket{le=\"0.005\"} 1",
            "streamflix_snapshot_publication_seconds_bucket{le=\"0.25\"} 1",
            "streamflix_snapshot_publication_seconds_bucket{le=\"0.5\"} 2",
            "streamflix_snapshot_publication_seconds_bucket{le=\"+Inf\"} 2",
            "streamflix_snapshot_publication_seconds_count 2",
            "streamflix_incidents_open{severity=\"Sev-2\"} 2",
            "streamflix_incidents_open{severity=\"Sev-1\"} 0",
            "streamflix_incidents_open{severity=\"Sev-3\"} 0",
            "streamflix_api_view_generation 7",
        ] {
            assert!(text.lines().any(|l| l == line), "missing {line} in\n{text}");
        }
        assert!(text.contains("# TYPE streamflix_snapshot_publication_seconds histogram"));
        let unreadable = render(&view, &latency, None);
        assert!(
            !unreadable.contains("streamflix_incidents_open"),
            "{unreadable}"
        );
        assert!(unreadable.contains("streamflix_api_view_generation 7"));
    }
}
