//! Checks: conditions evaluated over the observation timeline, turned into verdicts with evidence.
