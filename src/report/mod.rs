//! Reporters: results.json, junit.xml, index.html and summary.md, rendered from results only.
