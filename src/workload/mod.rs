//! The workload: a writer keeping a ledger of acknowledged ids, a reader, and the integrity verdicts.
