//! Duplicate keys in a policy file. YAML and JSON readers keep the last of two equal keys
//! without a word (serde does), so a namespace given two rules would silently lose one; the
//! policy is read here once more, as parser events that carry their lines, to refuse it.

use std::collections::HashMap;

use saphyr_parser::{Event, Parser};

/// A key written twice in one mapping.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Duplicate {
    /// The mapping's own key (`kubernetesNamespaceAdmissionRules`), or empty at the top.
    pub parent: String,
    /// The key written twice.
    pub key: String,
    /// 1-based line and column of the second one.
    pub line: usize,
    /// Its column.
    pub column: usize,
    /// Line of the first one.
    pub first_line: usize,
}

enum Frame {
    Map {
        parent: String,
        keys: HashMap<String, usize>,
        want_key: bool,
        last_key: String,
    },
    Seq,
}

/// The first duplicate key in `text`, if any (`None` too when `text` is not YAML: the policy
/// reader reports that, with its position).
pub fn first(text: &str) -> Option<Duplicate> {
    let mut stack: Vec<Frame> = Vec::new();
    // A value (or a key that is not a scalar) ends its entry's half; the next is the other one.
    fn took_value(stack: &mut [Frame]) -> String {
        match stack.last_mut() {
            Some(Frame::Map {
                want_key, last_key, ..
            }) => {
                *want_key = !*want_key;
                last_key.clone()
            }
            _ => String::new(),
        }
    }
    for item in Parser::new_from_str(text) {
        let (event, span) = item.ok()?;
        match event {
            Event::MappingStart(..) => {
                let parent = took_value(&mut stack);
                stack.push(Frame::Map {
                    parent,
                    keys: HashMap::new(),
                    want_key: true,
                    last_key: String::new(),
                });
            }
            Event::SequenceStart(..) => {
                took_value(&mut stack);
                stack.push(Frame::Seq);
            }
            Event::MappingEnd | Event::SequenceEnd => {
                stack.pop();
            }
            Event::Scalar(value, ..) => match stack.last_mut() {
                Some(Frame::Map {
                    parent,
                    keys,
                    want_key: want_key @ true,
                    last_key,
                }) => {
                    let line = span.start.line();
                    if let Some(first_line) = keys.insert(value.to_string(), line) {
                        return Some(Duplicate {
                            parent: parent.clone(),
                            key: value.to_string(),
                            line,
                            column: span.start.col() + 1,
                            first_line,
                        });
                    }
                    *want_key = false;
                    *last_key = value.to_string();
                }
                _ => {
                    took_value(&mut stack);
                }
            },
            Event::Alias(_) => {
                took_value(&mut stack);
            }
            _ => {}
        }
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_second_rule_for_a_namespace_is_found_with_both_lines() {
        let text = "defaultAdmissionRule:\n  evaluationMode: ALWAYS_ALLOW\nkubernetesNamespaceAdmissionRules:\n  prod:\n    evaluationMode: ALWAYS_DENY\n  dev:\n    evaluationMode: ALWAYS_ALLOW\n  prod:\n    evaluationMode: ALWAYS_ALLOW\n";
        let d = first(text).unwrap();
        assert_eq!(d.parent, "kubernetesNamespaceAdmissionRules");
        assert_eq!((d.key.as_str(), d.line, d.first_line), ("prod", 8, 4));
    }

    #[test]
    fn json_duplicates_are_found_and_equal_keys_in_different_mappings_are_not() {
        let text = r#"{"a": {"x": 1}, "b": {"x": 2}, "c": [{"x": 1}, {"x": 2}]}"#;
        assert_eq!(first(text), None);
        let d = first(r#"{"kubernetesNamespaceAdmissionRules": {"ns": {}, "ns": {}}}"#).unwrap();
        assert_eq!(d.key, "ns");
    }
}
