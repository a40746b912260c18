//! Request bodies checked the way Google's proto3 JSON parser checks them: every field must be
//! one the message declares (by its JSON name or its proto name), values must have the field's
//! type, enums are names or numbers of the enum, int64 is a number or a decimal string, bytes
//! are base64 in either alphabet, and at most one member of a oneof is set. OUTPUT_ONLY fields
//! are parsed but dropped (AIP-203: "the server must ignore them when sent by a client").
//! The result is one dialect for the handlers: camelCase names, enum names, int64 as strings.
//!
//! Error wording follows what Google's front end answers, e.g.
//! `Invalid JSON payload received. Unknown name "x" at 'attestor': Cannot find field.`, with a
//! `google.rpc.BadRequest` detail naming the field.

use crate::google::{decode_bytes, ApiError, ApiResult};
use serde_json::{Map, Value};

/// A field's type as proto3 JSON writes it.
#[derive(Clone, Copy)]
pub enum Ty {
    Str,
    Bool,
    Int64,
    Bytes,
    Enum(&'static Enum),
    Msg(&'static Msg),
    /// `google.protobuf.Timestamp`: an RFC 3339 string.
    Timestamp,
    /// `google.protobuf.Duration`: decimal seconds with an `s` suffix.
    Duration,
    /// A message the emulator stores without looking inside (Grafeas details it does not use).
    Opaque,
}

#[derive(Clone, Copy)]
pub enum Card {
    One,
    Repeated,
    /// `map<string, T>`.
    Map,
}

#[derive(Clone, Copy)]
pub struct Field {
    pub json: &'static str,
    pub proto: &'static str,
    pub ty: Ty,
    pub card: Card,
    /// `(google.api.field_behavior) = OUTPUT_ONLY`: parsed, then ignored.
    pub output_only: bool,
}

/// A singular field; `.repeated()`, `.map()` and `.output_only()` refine it.
pub const fn f(json: &'static str, proto: &'static str, ty: Ty) -> Field {
    Field {
        json,
        proto,
        ty,
        card: Card::One,
        output_only: false,
    }
}

impl Field {
    pub const fn repeated(self) -> Field {
        Field {
            card: Card::Repeated,
            ..self
        }
    }
    pub const fn map(self) -> Field {
        Field {
            card: Card::Map,
            ..self
        }
    }
    pub const fn output_only(self) -> Field {
        Field {
            output_only: true,
            ..self
        }
    }
}

/// One proto message as the validator knows it: its fields and their kinds.
pub struct Msg {
    /// Its fields, by JSON name.
    pub fields: &'static [Field],
    /// Oneof groups by their proto name, listing members' JSON names.
    pub oneofs: &'static [(&'static str, &'static [&'static str])],
}

/// One proto enum: its integer values and their names (the SDK sends either form).
pub struct Enum {
    /// The enum's full name, as Google's errors print it.
    pub name: &'static str,
    /// (number, name); aliases share a number.
    pub values: &'static [(i64, &'static str)],
}

impl Enum {
    /// The name of integer value `n`, when the enum has it.
    pub fn name_of(&self, n: i64) -> Option<&'static str> {
        self.values.iter().find(|(v, _)| *v == n).map(|(_, s)| *s)
    }
    /// True when `name` is one of the enum's value names.
    pub fn has(&self, name: &str) -> bool {
        self.values.iter().any(|(_, s)| *s == name)
    }
}

/// Parses `body` as message `msg`. `root` is the request field the body is bound to
/// (`attestor` for `body: "attestor"`), or "" for `body: "*"`; errors name paths under it.
pub fn parse(body: &[u8], msg: &Msg, root: &str) -> ApiResult<Value> {
    if body.iter().all(u8::is_ascii_whitespace) {
        return Ok(Value::Object(Map::new()));
    }
    let value: Value = serde_json::from_slice(body)
        .map_err(|e| bad_request(root, format!("Invalid JSON payload received. {e}")))?;
    check(value, msg, root)
}

/// Checks an already-parsed JSON value (seed files, bodies parsed elsewhere).
pub fn check(value: Value, msg: &Msg, root: &str) -> ApiResult<Value> {
    match value {
        Value::Object(map) => message(map, msg, root),
        other => Err(bad_request(
            root,
            format!(
                "Invalid JSON payload received. Expected an object{}, got {other}.",
                at(root)
            ),
        )),
    }
}

fn at(path: &str) -> String {
    if path.is_empty() {
        String::new()
    } else {
        format!(" at '{path}'")
    }
}

fn join(path: &str, field: &str) -> String {
    if path.is_empty() {
        field.to_string()
    } else {
        format!("{path}.{field}")
    }
}

/// An INVALID_ARGUMENT with a `google.rpc.BadRequest` field violation, as Google answers.
pub fn bad_request(field: &str, message: String) -> ApiError {
    ApiError::invalid(message.clone()).with_detail(serde_json::json!({
        "@type": "type.googleapis.com/google.rpc.BadRequest",
        "fieldViolations": [{"field": field, "description": message}],
    }))
}

fn message(map: Map<String, Value>, msg: &Msg, path: &str) -> ApiResult<Value> {
    let mut out = Map::new();
    let mut set_oneofs: Vec<(&str, &str)> = Vec::new();
    for (key, value) in map {
        let Some(field) = msg.fields.iter().find(|f| f.json == key || f.proto == key) else {
            return Err(bad_request(
                path,
                format!(
                    "Invalid JSON payload received. Unknown name \"{key}\"{}: Cannot find field.",
                    at(path)
                ),
            ));
        };
        // proto3 JSON: null is the field's default, i.e. not set.
        if value.is_null() {
            continue;
        }
        let here = join(path, field.proto);
        if let Some((group, _)) = msg.oneofs.iter().find(|(_, m)| m.contains(&field.json)) {
            if let Some((_, other)) = set_oneofs.iter().find(|(g, _)| g == group) {
                return Err(bad_request(
                    &here,
                    format!(
                        "Invalid JSON payload received. Oneof field '{group}' is already set. Cannot set '{}'{}; '{other}' is set.",
                        field.json,
                        at(path)
                    ),
                ));
            }
            set_oneofs.push((group, field.json));
        }
        let checked = match field.card {
            Card::One => single(value, field.ty, &here)?,
            Card::Repeated => match value {
                Value::Array(items) => Value::Array(
                    items
                        .into_iter()
                        .enumerate()
                        .map(|(i, v)| single(v, field.ty, &format!("{here}[{i}]")))
                        .collect::<ApiResult<_>>()?,
                ),
                other => return Err(invalid_value(&here, "a list", &other)),
            },
            Card::Map => match value {
                Value::Object(entries) => Value::Object(
                    entries
                        .into_iter()
                        .map(|(k, v)| {
                            let p = format!("{here}[{k}]");
                            single(v, field.ty, &p).map(|v| (k, v))
                        })
                        .collect::<ApiResult<_>>()?,
                ),
                other => return Err(invalid_value(&here, "a map", &other)),
            },
        };
        if !field.output_only {
            out.insert(field.json.to_string(), checked);
        }
    }
    Ok(Value::Object(out))
}

fn invalid_value(path: &str, kind: &str, value: &Value) -> ApiError {
    bad_request(path, format!("Invalid value at '{path}' ({kind}), {value}"))
}

fn single(value: Value, ty: Ty, path: &str) -> ApiResult<Value> {
    match ty {
        Ty::Str => match value {
            Value::String(_) => Ok(value),
            other => Err(invalid_value(path, "TYPE_STRING", &other)),
        },
        Ty::Bool => match value {
            Value::Bool(_) => Ok(value),
            other => Err(invalid_value(path, "TYPE_BOOL", &other)),
        },
        // proto3 JSON writes int64 as a decimal string and reads either form.
        Ty::Int64 => match integer(&value) {
            Some(n) => Ok(Value::String(n.to_string())),
            None => Err(invalid_value(path, "TYPE_INT64", &value)),
        },
        Ty::Bytes => match &value {
            Value::String(s) => decode_bytes(path, s)
                .map(|_| value.clone())
                .map_err(|e| bad_request(path, e.message)),
            other => Err(invalid_value(path, "TYPE_BYTES", other)),
        },
        Ty::Enum(e) => {
            let name = match &value {
                Value::String(s) if e.has(s) => Some(s.clone()),
                Value::Number(n) => n.as_i64().and_then(|n| e.name_of(n)).map(String::from),
                _ => None,
            };
            name.map(Value::String).ok_or_else(|| {
                bad_request(
                    path,
                    format!(
                        "Invalid value at '{path}' (type.googleapis.com/{}), {value}",
                        e.name
                    ),
                )
            })
        }
        Ty::Msg(m) => match value {
            Value::Object(map) => message(map, m, path),
            other => Err(invalid_value(path, "an object", &other)),
        },
        Ty::Timestamp => match &value {
            Value::String(s) if is_rfc3339(s) => Ok(value),
            other => Err(bad_request(
                path,
                format!("Invalid value at '{path}' (type.googleapis.com/google.protobuf.Timestamp), Invalid time format: {other}"),
            )),
        },
        Ty::Duration => match &value {
            Value::String(s)
                if s.strip_suffix('s').is_some_and(|n| {
                    !n.is_empty() && n.parse::<f64>().is_ok() && !n.contains(['e', 'E'])
                }) =>
            {
                Ok(value)
            }
            other => Err(bad_request(
                path,
                format!("Invalid value at '{path}' (type.googleapis.com/google.protobuf.Duration), Illegal duration format; duration must end with 's': {other}"),
            )),
        },
        Ty::Opaque => match value {
            Value::Object(_) => Ok(value),
            other => Err(invalid_value(path, "an object", &other)),
        },
    }
}

/// An integral JSON number or a decimal string of one (proto3 JSON accepts both for ints).
fn integer(value: &Value) -> Option<i64> {
    match value {
        Value::Number(n) => n
            .as_i64()
            .or_else(|| n.as_f64().filter(|f| f.fract() == 0.0).map(|f| f as i64)),
        Value::String(s) => s.parse().ok(),
        _ => None,
    }
}

fn is_rfc3339(s: &str) -> bool {
    time::OffsetDateTime::parse(s, &time::format_description::well_known::Rfc3339).is_ok()
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    static COLOR: Enum = Enum {
        name: "test.Color",
        values: &[(0, "COLOR_UNSPECIFIED"), (1, "RED")],
    };
    static INNER: Msg = Msg {
        fields: &[f("longName", "long_name", Ty::Str)],
        oneofs: &[],
    };
    static OUTER: Msg = Msg {
        fields: &[
            f("inner", "inner", Ty::Msg(&INNER)),
            f("color", "color", Ty::Enum(&COLOR)),
            f("crc", "crc", Ty::Int64),
            f("data", "data", Ty::Bytes),
            f("a", "a", Ty::Str),
            f("b", "b", Ty::Str),
            f("made", "made_time", Ty::Timestamp).output_only(),
            f("tags", "tags", Ty::Str).repeated(),
        ],
        oneofs: &[("choice", &["a", "b"])],
    };

    fn err(body: Value) -> String {
        check(body, &OUTER, "outer").unwrap_err().message
    }

    #[test]
    fn unknown_fields_bad_values_and_oneofs_are_refused_as_google_words_them() {
        assert_eq!(
            err(json!({"x": 1})),
            "Invalid JSON payload received. Unknown name \"x\" at 'outer': Cannot find field."
        );
        assert_eq!(
            err(json!({"inner": {"y": 1}})),
            "Invalid JSON payload received. Unknown name \"y\" at 'outer.inner': Cannot find field."
        );
        assert_eq!(
            err(json!({"color": "BLUE"})),
            "Invalid value at 'outer.color' (type.googleapis.com/test.Color), \"BLUE\""
        );
        assert_eq!(
            err(json!({"crc": "12x"})),
            "Invalid value at 'outer.crc' (TYPE_INT64), \"12x\""
        );
        assert!(err(json!({"data": "!!"})).contains("Base64"));
        assert!(err(json!({"a": "1", "b": "2"})).contains("Oneof field 'choice'"));
        assert!(err(json!({"tags": "x"})).contains("a list"));
        assert!(err(json!({"made": "yesterday"})).contains("Timestamp"));
    }

    #[test]
    fn accepted_forms_come_out_in_one_dialect() {
        let out = check(
            json!({"inner": {"long_name": "n"}, "color": 1, "crc": 7, "made": "2024-01-01T00:00:00Z", "a": null, "b": "2", "tags": ["t"]}),
            &OUTER,
            "outer",
        )
        .unwrap();
        assert_eq!(
            out,
            json!({"inner": {"longName": "n"}, "color": "RED", "crc": "7", "b": "2", "tags": ["t"]})
        );
    }
}
