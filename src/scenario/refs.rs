//! What steps and conditions refer to: the target names they use. Shared by validation
//! and by whoever binds targets to nodes. Each kind lists its own (see `step/` and
//! `condition/`).

/// A target name used by a step or condition: the field it is written in (relative to the
/// step's or condition's body, e.g. `target` or `peers[1]`) and the name.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct TargetRef<'a> {
    /// Field path inside the step or condition body.
    pub field: String,
    /// The target name.
    pub name: &'a str,
}

impl<'a> TargetRef<'a> {
    /// `name`, written in `field`.
    pub(crate) fn new(field: &str, name: &'a str) -> Self {
        TargetRef {
            field: field.to_owned(),
            name,
        }
    }

    /// The optional fields that are set.
    pub(crate) fn optional(fields: &[(&str, &'a Option<String>)]) -> Vec<Self> {
        fields
            .iter()
            .filter_map(|(f, v)| v.as_deref().map(|v| TargetRef::new(f, v)))
            .collect()
    }
}
