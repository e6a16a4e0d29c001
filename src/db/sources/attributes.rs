//! The SQL of the connect attributes, shared by the session list (Threads) and the detailed
//! sessions: which ones a query joins, and how they are quoted.

use crate::snapshot::{Capabilities, ConnectAttributes, Plan};

/// The connect attributes a query joins: the plan's, when the server fills them.
pub(super) fn joined_attributes<'a>(caps: &Capabilities, plan: &'a Plan) -> &'a [String] {
    match caps.connect_attributes {
        ConnectAttributes::Available => &plan.attributes,
        ConnectAttributes::Unavailable(_) => &[],
    }
}

/// A connect-attribute name as an SQL string literal. Names are validated at config load
/// (`config::valid_attribute_name`); quoting is the second line of defence.
pub(super) fn literal(name: &str) -> String {
    format!("'{}'", name.replace('\\', "\\\\").replace('\'', "''"))
}

/// `LEFT JOIN`s of the attributes, aliased `a0`, `a1`, ...; `id` is the session id column.
pub(super) fn attribute_joins(attrs: &[String], id: &str) -> String {
    attrs
        .iter()
        .enumerate()
        .map(|(i, name)| {
            format!(
                " LEFT JOIN performance_schema.session_connect_attrs a{i} \
                 ON a{i}.PROCESSLIST_ID = {id} AND a{i}.ATTR_NAME = {}",
                literal(name)
            )
        })
        .collect()
}

pub(super) fn attribute_columns(attrs: &[String]) -> Vec<String> {
    (0..attrs.len())
        .map(|i| format!("a{i}.ATTR_VALUE"))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_are_quoted_even_if_one_got_past_validation() {
        assert_eq!(literal(r"a'b\c"), r"'a''b\\c'");
    }
}
