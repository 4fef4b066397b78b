//! A last redaction pass over results before they are rendered.

use crate::results::RunResults;
use crate::secret::{Secret, redact};

/// A copy of `results` in which every string (free text, command lines, output, logs,
/// snapshots, even keys of maps) has each secret replaced by `***`.
///
/// The runner already redacts what it records; this is a second line of defence for text
/// pgchaos does not control (a node echoing a connection string into a log). It walks the
/// JSON form so that no field, present or added later, can be forgotten.
pub(crate) fn redact_results(results: &RunResults, secrets: &[Secret]) -> RunResults {
    if secrets.is_empty() {
        return results.clone();
    }
    let Ok(mut value) = serde_json::to_value(results) else {
        return results.clone();
    };
    scrub(&mut value, secrets);
    // Redaction only shortens strings and never touches the structure, so the value still
    // has the shape of RunResults; but should that ever fail, keep the original shape with
    // nothing lost rather than panic, and redact the obviously free-text parts by hand.
    serde_json::from_value(value).unwrap_or_else(|_| {
        let mut r = results.clone();
        for s in &mut r.scenarios {
            for step in &mut s.steps {
                for c in &mut step.commands {
                    c.command = redact(&c.command, secrets);
                    c.stdout = redact(&c.stdout, secrets);
                    c.stderr = redact(&c.stderr, secrets);
                }
            }
            for log in s.logs.values_mut() {
                *log = redact(log, secrets);
            }
        }
        r
    })
}

fn scrub(v: &mut serde_json::Value, secrets: &[Secret]) {
    match v {
        serde_json::Value::String(s) => *s = redact(s, secrets),
        serde_json::Value::Array(a) => a.iter_mut().for_each(|x| scrub(x, secrets)),
        serde_json::Value::Object(o) => {
            let taken = std::mem::take(o);
            for (k, mut x) in taken {
                scrub(&mut x, secrets);
                o.insert(redact(&k, secrets), x);
            }
        }
        _ => {}
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_string_is_redacted() {
        let text = include_str!("../../tests/fixtures/results/failed-run.json")
            .replace("pkill -9 -x postgres", "PGPASSWORD=hunter2 psql")
            .replace("promoted self to leader", "password=hunter2 leader");
        let r: RunResults = serde_json::from_str(&text).unwrap();
        let out = redact_results(&r, &[Secret::new("hunter2")]);
        let json = serde_json::to_string(&out).unwrap();
        assert!(!json.contains("hunter2"));
        assert!(json.contains("PGPASSWORD=*** psql"));
        assert!(json.contains("password=*** leader"));
        assert_eq!(out.scenarios.len(), r.scenarios.len());
    }
}
