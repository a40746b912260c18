//! Container Analysis v1 (Grafeas): notes, occurrences, and the list filters gcloud and our
//! client send.

use crate::google::{decode_bytes, encode_bytes, now, parse_body, random_id, ApiError, ApiResult};
use crate::http::Reply;
use crate::router::{page, Call, Emulator};
use serde_json::{json, Value};

pub fn create_note(emu: &Emulator, call: &Call) -> ApiResult<Reply> {
    let name = format!("{}/{}", call.resource, call.required_query("noteId")?);
    let note = emu
        .state()
        .create_note(&name, parse_body(&call.req.body)?)?;
    Ok(Reply::json(&note))
}

pub fn get_note(emu: &Emulator, call: &Call) -> ApiResult<Reply> {
    let state = emu.state();
    state
        .notes
        .get(&call.resource)
        .map(Reply::json)
        .ok_or_else(|| note_not_found(&call.resource))
}

pub fn list_notes(emu: &Emulator, call: &Call) -> ApiResult<Reply> {
    let prefix = format!("{}/", call.resource);
    let state = emu.state();
    page(
        call,
        "notes",
        state
            .notes
            .iter()
            .filter(|(n, _)| n.starts_with(&prefix))
            .map(|(_, v)| v.clone())
            .collect(),
    )
}

pub fn delete_note(emu: &Emulator, call: &Call) -> ApiResult<Reply> {
    match emu.state().notes.remove(&call.resource) {
        Some(_) => Ok(Reply::json(&json!({}))),
        None => Err(note_not_found(&call.resource)),
    }
}

fn note_not_found(name: &str) -> ApiError {
    ApiError::not_found(format!("Note {name} not found."))
}

pub fn create_occurrence(emu: &Emulator, call: &Call) -> ApiResult<Reply> {
    let mut occ = parse_body(&call.req.body)?;
    let mut state = emu.state();
    let note_name = occ["noteName"].as_str().unwrap_or_default().to_string();
    let note = state.notes.get(&note_name).ok_or_else(|| {
        ApiError::invalid(format!(
            "Note {note_name:?} of the occurrence does not exist."
        ))
    })?;
    if occ["resourceUri"].as_str().unwrap_or_default().is_empty() {
        return Err(ApiError::invalid("Occurrence.resourceUri is required."));
    }
    let note_kind = note["kind"].clone();
    match occ.get("kind") {
        None => occ["kind"] = note_kind.clone(),
        Some(kind) if *kind == note_kind => {}
        Some(kind) => {
            return Err(ApiError::invalid(format!(
                "Occurrence kind {kind} does not match its note's kind {note_kind}."
            )))
        }
    }
    if occ["kind"] == "ATTESTATION" {
        normalise_attestation(&mut occ["attestation"])?;
    }
    let t = now();
    occ["name"] = json!(format!("{}/{}", call.resource, random_id()));
    occ["createTime"] = json!(t);
    occ["updateTime"] = json!(t);
    state.occurrences.push(occ.clone());
    Ok(Reply::json(&occ))
}

/// Requires a payload and at least one complete signature, and stores bytes as Google answers
/// them (standard base64), whatever alphabet the client sent.
fn normalise_attestation(att: &mut Value) -> ApiResult<()> {
    let payload = decode_bytes(
        "attestation.serializedPayload",
        att["serializedPayload"].as_str().unwrap_or_default(),
    )?;
    if payload.is_empty() {
        return Err(ApiError::invalid(
            "attestation.serializedPayload is required.",
        ));
    }
    att["serializedPayload"] = json!(encode_bytes(&payload));
    let sigs = att.get_mut("signatures").and_then(Value::as_array_mut);
    let sigs = sigs
        .filter(|s| !s.is_empty())
        .ok_or_else(|| ApiError::invalid("attestation.signatures must not be empty."))?;
    for sig in sigs {
        let bytes = decode_bytes(
            "attestation.signatures.signature",
            sig["signature"].as_str().unwrap_or_default(),
        )?;
        if bytes.is_empty() || sig["publicKeyId"].as_str().unwrap_or_default().is_empty() {
            return Err(ApiError::invalid(
                "Each attestation signature needs signature and publicKeyId.",
            ));
        }
        sig["signature"] = json!(encode_bytes(&bytes));
    }
    Ok(())
}

pub fn get_occurrence(emu: &Emulator, call: &Call) -> ApiResult<Reply> {
    let state = emu.state();
    let found = state
        .occurrences
        .iter()
        .find(|o| o["name"] == call.resource.as_str());
    found
        .map(Reply::json)
        .ok_or_else(|| occurrence_not_found(&call.resource))
}

pub fn delete_occurrence(emu: &Emulator, call: &Call) -> ApiResult<Reply> {
    let mut state = emu.state();
    let before = state.occurrences.len();
    state
        .occurrences
        .retain(|o| o["name"] != call.resource.as_str());
    if state.occurrences.len() == before {
        return Err(occurrence_not_found(&call.resource));
    }
    Ok(Reply::json(&json!({})))
}

fn occurrence_not_found(name: &str) -> ApiError {
    ApiError::not_found(format!("Occurrence {name} not found."))
}

pub fn list_occurrences(emu: &Emulator, call: &Call) -> ApiResult<Reply> {
    let filter = Filter::parse(call.req.query("filter").unwrap_or_default())?;
    let prefix = format!("{}/", call.resource);
    let state = emu.state();
    let items = state
        .occurrences
        .iter()
        .filter(|o| o["name"].as_str().unwrap_or_default().starts_with(&prefix));
    page(
        call,
        "occurrences",
        items.filter(|o| filter.matches(o)).cloned().collect(),
    )
}

/// Occurrences attached to a note, from every project.
pub fn list_note_occurrences(emu: &Emulator, call: &Call) -> ApiResult<Reply> {
    let note = call.parent(1);
    let filter = Filter::parse(call.req.query("filter").unwrap_or_default())?;
    let state = emu.state();
    if !state.notes.contains_key(&note) {
        return Err(note_not_found(&note));
    }
    let items = state
        .occurrences
        .iter()
        .filter(|o| o["noteName"] == note.as_str() && filter.matches(o));
    page(call, "occurrences", items.cloned().collect())
}

/// The subset of Grafeas' filter language clients send here: terms joined by `AND`, each
/// `field = "value"`, `has_prefix(field, "value")` or `has_suffix(field, "value")`.
#[derive(Debug, Default)]
struct Filter {
    terms: Vec<(Op, &'static str, String)>,
}

#[derive(Debug, Clone, Copy, PartialEq)]
enum Op {
    Equals,
    Prefix,
    Suffix,
}

impl Filter {
    fn parse(text: &str) -> ApiResult<Filter> {
        let mut filter = Filter::default();
        for term in text.split(" AND ").map(str::trim).filter(|t| !t.is_empty()) {
            filter.terms.push(
                parse_term(term)
                    .ok_or_else(|| ApiError::invalid(format!("Invalid filter term {term:?}.")))?,
            );
        }
        Ok(filter)
    }

    fn matches(&self, occ: &Value) -> bool {
        self.terms.iter().all(|(op, field, value)| {
            let actual = occ[*field].as_str().unwrap_or_default();
            match op {
                Op::Equals => actual == value,
                Op::Prefix => actual.starts_with(value.as_str()),
                Op::Suffix => actual.ends_with(value.as_str()),
            }
        })
    }
}

fn parse_term(term: &str) -> Option<(Op, &'static str, String)> {
    let (op, field, value) = if let Some(args) = term
        .strip_prefix("has_suffix(")
        .or_else(|| term.strip_prefix("has_prefix("))
    {
        let op = if term.starts_with("has_suffix") {
            Op::Suffix
        } else {
            Op::Prefix
        };
        let (field, value) = args.strip_suffix(')')?.split_once(',')?;
        (op, field, value)
    } else {
        let (field, value) = term.split_once('=')?;
        (Op::Equals, field, value)
    };
    let field = match field.trim() {
        "resourceUrl" | "resource_url" | "resourceUri" | "resource_uri" => "resourceUri",
        "noteName" | "note_name" => "noteName",
        "kind" => "kind",
        _ => return None,
    };
    let value = value.trim().strip_prefix('"')?.strip_suffix('"')?;
    Some((op, field, value.to_string()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn filters_match_the_forms_clients_send() {
        let occ = json!({"resourceUri": "r/img@sha256:abc", "noteName": "projects/p/notes/n", "kind": "ATTESTATION"});
        for f in [
            "",
            r#"has_suffix(resourceUrl, "sha256:abc")"#,
            r#"resourceUrl="r/img@sha256:abc""#,
            r#"resource_url = "r/img@sha256:abc" AND kind = "ATTESTATION""#,
            r#"has_prefix(resourceUri, "r/") AND noteName="projects/p/notes/n""#,
        ] {
            assert!(Filter::parse(f).unwrap().matches(&occ), "{f}");
        }
        assert!(!Filter::parse(r#"has_suffix(resourceUrl, "sha256:def")"#)
            .unwrap()
            .matches(&occ));
        assert!(Filter::parse("bogus(x)").is_err());
        assert!(Filter::parse(r#"color = "red""#).is_err());
    }
}
