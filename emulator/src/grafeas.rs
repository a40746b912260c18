//! Container Analysis v1 (Grafeas): notes, occurrences, and list filters parsed per AIP-160.
//!
//! Schemas follow `grafeas/v1/grafeas.proto` and `attestation.proto` (as the generated
//! `google-cloud-grafeas-v1` model documents them). Detail messages the emulator does not use
//! (vulnerability, build, ...) are stored as they come.

use crate::google::{decode_bytes, encode_bytes, now, random_id, ApiError, ApiResult};
use crate::http::Reply;
use crate::router::{page_with, Call, Emulator};
use crate::schema::{self, f, Enum, Msg, Ty};
use crate::state::{check_name, Occurrence};
use serde_json::{json, Value};
use std::time::{Duration, Instant};

/// `NoteKind`.
static NOTE_KIND: Enum = Enum {
    name: "grafeas.v1.NoteKind",
    values: &[
        (0, "NOTE_KIND_UNSPECIFIED"),
        (1, "VULNERABILITY"),
        (2, "BUILD"),
        (3, "IMAGE"),
        (4, "PACKAGE"),
        (5, "DEPLOYMENT"),
        (6, "DISCOVERY"),
        (7, "ATTESTATION"),
        (8, "UPGRADE"),
        (9, "COMPLIANCE"),
        (10, "DSSE_ATTESTATION"),
        (11, "VULNERABILITY_ASSESSMENT"),
        (12, "SBOM_REFERENCE"),
        (13, "SECRET"),
    ],
};

/// The details field of each note/occurrence kind (the `oneof type` / `oneof details`).
const KINDS: &[(&str, &str)] = &[
    ("vulnerability", "VULNERABILITY"),
    ("build", "BUILD"),
    ("image", "IMAGE"),
    ("package", "PACKAGE"),
    ("deployment", "DEPLOYMENT"),
    ("discovery", "DISCOVERY"),
    ("attestation", "ATTESTATION"),
    ("upgrade", "UPGRADE"),
    ("compliance", "COMPLIANCE"),
    ("dsseAttestation", "DSSE_ATTESTATION"),
    ("vulnerabilityAssessment", "VULNERABILITY_ASSESSMENT"),
    ("sbomReference", "SBOM_REFERENCE"),
    ("secret", "SECRET"),
];

static SIGNATURE: Msg = Msg {
    fields: &[
        f("signature", "signature", Ty::Bytes),
        f("publicKeyId", "public_key_id", Ty::Str),
    ],
    oneofs: &[],
};

static JWT: Msg = Msg {
    fields: &[f("compactJwt", "compact_jwt", Ty::Str)],
    oneofs: &[],
};

/// `AttestationOccurrence`.
pub static ATTESTATION: Msg = Msg {
    fields: &[
        f("serializedPayload", "serialized_payload", Ty::Bytes),
        f("signatures", "signatures", Ty::Msg(&SIGNATURE)).repeated(),
        f("jwts", "jwts", Ty::Msg(&JWT)).repeated(),
    ],
    oneofs: &[],
};

static HINT: Msg = Msg {
    fields: &[f("humanReadableName", "human_readable_name", Ty::Str)],
    oneofs: &[],
};

/// `AttestationNote`.
static ATTESTATION_NOTE: Msg = Msg {
    fields: &[f("hint", "hint", Ty::Msg(&HINT))],
    oneofs: &[],
};

const NOTE_DETAILS: &[&str] = &[
    "vulnerability",
    "build",
    "image",
    "package",
    "deployment",
    "discovery",
    "attestation",
    "upgrade",
    "compliance",
    "dsseAttestation",
    "vulnerabilityAssessment",
    "sbomReference",
    "secret",
];

/// `Note`: name, kind and the times are OUTPUT_ONLY.
static NOTE: Msg = Msg {
    fields: &[
        f("name", "name", Ty::Str).output_only(),
        f("shortDescription", "short_description", Ty::Str),
        f("longDescription", "long_description", Ty::Str),
        f("kind", "kind", Ty::Enum(&NOTE_KIND)).output_only(),
        f("relatedUrl", "related_url", Ty::Opaque).repeated(),
        f("expirationTime", "expiration_time", Ty::Timestamp),
        f("createTime", "create_time", Ty::Timestamp).output_only(),
        f("updateTime", "update_time", Ty::Timestamp).output_only(),
        f("relatedNoteNames", "related_note_names", Ty::Str).repeated(),
        f("vulnerability", "vulnerability", Ty::Opaque),
        f("build", "build", Ty::Opaque),
        f("image", "image", Ty::Opaque),
        f("package", "package", Ty::Opaque),
        f("deployment", "deployment", Ty::Opaque),
        f("discovery", "discovery", Ty::Opaque),
        f("attestation", "attestation", Ty::Msg(&ATTESTATION_NOTE)),
        f("upgrade", "upgrade", Ty::Opaque),
        f("compliance", "compliance", Ty::Opaque),
        f("dsseAttestation", "dsse_attestation", Ty::Opaque),
        f(
            "vulnerabilityAssessment",
            "vulnerability_assessment",
            Ty::Opaque,
        ),
        f("sbomReference", "sbom_reference", Ty::Opaque),
        f("secret", "secret", Ty::Opaque),
    ],
    oneofs: &[("type", NOTE_DETAILS)],
};

const OCCURRENCE_DETAILS: &[&str] = &[
    "vulnerability",
    "build",
    "image",
    "package",
    "deployment",
    "discovery",
    "attestation",
    "upgrade",
    "compliance",
    "dsseAttestation",
    "sbomReference",
    "secret",
];

/// `Occurrence`: name, kind and the times are OUTPUT_ONLY ("kind: Output only. This
/// explicitly denotes which of the occurrence details are specified"); resource_uri,
/// note_name and the details are "Required. Immutable."
static OCCURRENCE: Msg = Msg {
    fields: &[
        f("name", "name", Ty::Str).output_only(),
        f("resourceUri", "resource_uri", Ty::Str),
        f("noteName", "note_name", Ty::Str),
        f("kind", "kind", Ty::Enum(&NOTE_KIND)).output_only(),
        f("remediation", "remediation", Ty::Str),
        f("createTime", "create_time", Ty::Timestamp).output_only(),
        f("updateTime", "update_time", Ty::Timestamp).output_only(),
        f("vulnerability", "vulnerability", Ty::Opaque),
        f("build", "build", Ty::Opaque),
        f("image", "image", Ty::Opaque),
        f("package", "package", Ty::Opaque),
        f("deployment", "deployment", Ty::Opaque),
        f("discovery", "discovery", Ty::Opaque),
        f("attestation", "attestation", Ty::Msg(&ATTESTATION)),
        f("upgrade", "upgrade", Ty::Opaque),
        f("compliance", "compliance", Ty::Opaque),
        f("dsseAttestation", "dsse_attestation", Ty::Opaque),
        f("sbomReference", "sbom_reference", Ty::Opaque),
        f("secret", "secret", Ty::Opaque),
        f("envelope", "envelope", Ty::Opaque),
    ],
    oneofs: &[("details", OCCURRENCE_DETAILS)],
};

/// The kind a note or occurrence has, from which details field is set.
fn derive_kind(body: &Value) -> Option<&'static str> {
    KINDS
        .iter()
        .find(|(field, _)| body.get(*field).is_some())
        .map(|(_, kind)| *kind)
}

pub fn create_note(emu: &Emulator, call: &Call) -> ApiResult<Reply> {
    let name = format!("{}/{}", call.resource, call.required_query("noteId")?);
    let body = schema::parse(&call.req.body, &NOTE, "note")?;
    let note = emu.state().create_note(&name, body)?;
    Ok(Reply::json(&note))
}

/// Completes a checked note body: name, times, and the kind derived from its details (a
/// note without details has no kind, which Grafeas refuses).
pub fn complete_note(name: &str, mut body: Value) -> ApiResult<Value> {
    check_name(name, &["projects", "notes"])?;
    let kind = derive_kind(&body).ok_or_else(|| {
        schema::bad_request(
            "note",
            format!(
                "Note {name} must set one of its details (attestation, build, ...) to have a kind."
            ),
        )
    })?;
    let t = now();
    body["name"] = json!(name);
    body["kind"] = json!(kind);
    body["createTime"] = json!(t);
    body["updateTime"] = json!(t);
    Ok(body)
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
    let items = state
        .notes
        .iter()
        .filter(|(n, _)| n.starts_with(&prefix))
        .map(|(_, v)| v.clone())
        .collect();
    page_with(call, "notes", items, 20, 0)
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
    let mut occ = schema::parse(&call.req.body, &OCCURRENCE, "occurrence")?;
    if occ["resourceUri"].as_str().unwrap_or_default().is_empty() {
        return Err(schema::bad_request(
            "occurrence.resource_uri",
            "Occurrence.resourceUri is required.".into(),
        ));
    }
    let note_name = occ["noteName"].as_str().unwrap_or_default().to_string();
    check_name(&note_name, &["projects", "notes"])?;
    let kind = derive_kind(&occ).ok_or_else(|| {
        schema::bad_request(
            "occurrence",
            "Occurrence must set the details of its note's kind (e.g. attestation).".into(),
        )
    })?;
    let mut state = emu.state();
    let note = state.notes.get(&note_name).ok_or_else(|| {
        ApiError::invalid(format!(
            "Note {note_name:?} of the occurrence does not exist."
        ))
    })?;
    if note["kind"] != kind {
        return Err(ApiError::invalid(format!(
            "Occurrence details are of kind {kind}, but note {note_name} is of kind {}.",
            note["kind"].as_str().unwrap_or_default()
        )));
    }
    occ["kind"] = json!(kind);
    if kind == "ATTESTATION" {
        normalise_attestation(&mut occ["attestation"])?;
    }
    let t = now();
    occ["name"] = json!(format!("{}/{}", call.resource, random_id()));
    occ["createTime"] = json!(t);
    occ["updateTime"] = json!(t);
    let lag = Duration::from_millis(state.settings.occurrence_list_lag_ms);
    state.occurrences.push(Occurrence {
        json: occ.clone(),
        listed_from: Instant::now() + lag,
    });
    Ok(Reply::json(&occ))
}

/// Requires a payload and at least one complete signature (or JWT), and stores bytes as
/// Google answers them (standard base64), whatever alphabet the client sent.
fn normalise_attestation(att: &mut Value) -> ApiResult<()> {
    let payload = decode_bytes(
        "attestation.serialized_payload",
        att["serializedPayload"].as_str().unwrap_or_default(),
    )?;
    let jwts = att["jwts"].as_array().is_some_and(|j| !j.is_empty());
    if payload.is_empty() && !jwts {
        return Err(schema::bad_request(
            "occurrence.attestation.serialized_payload",
            "attestation.serializedPayload is required.".into(),
        ));
    }
    if !payload.is_empty() {
        att["serializedPayload"] = json!(encode_bytes(&payload));
    }
    let sigs = att.get_mut("signatures").and_then(Value::as_array_mut);
    let sigs = match sigs.filter(|s| !s.is_empty()) {
        Some(sigs) => sigs,
        None if jwts => return Ok(()),
        None => {
            return Err(ApiError::invalid(
                "attestation.signatures must not be empty.",
            ))
        }
    };
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
        .find(|o| o.json["name"] == call.resource.as_str());
    found
        .map(|o| Reply::json(&o.json))
        .ok_or_else(|| occurrence_not_found(&call.resource))
}

pub fn delete_occurrence(emu: &Emulator, call: &Call) -> ApiResult<Reply> {
    let mut state = emu.state();
    let before = state.occurrences.len();
    state
        .occurrences
        .retain(|o| o.json["name"] != call.resource.as_str());
    if state.occurrences.len() == before {
        return Err(occurrence_not_found(&call.resource));
    }
    Ok(Reply::json(&json!({})))
}

fn occurrence_not_found(name: &str) -> ApiError {
    ApiError::not_found(format!("Occurrence {name} not found."))
}

/// Grafeas pages: 20 by default (ListOccurrencesRequest.page_size: "If not specified, page
/// size defaults to 20"), and short pages when the seed caps them.
fn occurrence_page(emu: &Emulator, call: &Call, items: Vec<Value>) -> ApiResult<Reply> {
    let cap = emu.state().settings.occurrence_page_cap;
    page_with(call, "occurrences", items, 20, cap)
}

pub fn list_occurrences(emu: &Emulator, call: &Call) -> ApiResult<Reply> {
    let filter = Filter::parse(call.req.query("filter").unwrap_or_default())?;
    let prefix = format!("{}/", call.resource);
    let now = Instant::now();
    let items: Vec<Value> = {
        let state = emu.state();
        state
            .occurrences
            .iter()
            .filter(|o| o.listed_from <= now)
            .map(|o| &o.json)
            .filter(|o| o["name"].as_str().unwrap_or_default().starts_with(&prefix))
            .filter(|o| filter.matches(o))
            .cloned()
            .collect()
    };
    occurrence_page(emu, call, items)
}

/// Occurrences attached to a note, from every project.
pub fn list_note_occurrences(emu: &Emulator, call: &Call) -> ApiResult<Reply> {
    let note = call.parent(1);
    let filter = Filter::parse(call.req.query("filter").unwrap_or_default())?;
    let now = Instant::now();
    let items: Vec<Value> = {
        let state = emu.state();
        if !state.notes.contains_key(&note) {
            return Err(note_not_found(&note));
        }
        state
            .occurrences
            .iter()
            .filter(|o| o.listed_from <= now)
            .map(|o| &o.json)
            .filter(|o| o["noteName"] == note.as_str() && filter.matches(o))
            .cloned()
            .collect()
    };
    occurrence_page(emu, call, items)
}

/// A list filter in the AIP-160 grammar, restricted to what Container Analysis documents for
/// occurrences: the fields `resourceUrl`, `kind`, `noteProjectId` and `noteId`; `=` and `!=`
/// against string literals; the functions `has_prefix` and `has_suffix`; `AND`, `OR`, `NOT`
/// (or `-`) and parentheses. Anything else is refused with 400, never silently matched.
#[derive(Debug, PartialEq)]
enum Filter {
    All,
    Compare(Field, Op, String),
    Not(Box<Filter>),
    And(Box<Filter>, Box<Filter>),
    Or(Box<Filter>, Box<Filter>),
}

#[derive(Debug, Clone, Copy, PartialEq)]
enum Field {
    ResourceUrl,
    Kind,
    NoteProjectId,
    NoteId,
}

#[derive(Debug, Clone, Copy, PartialEq)]
enum Op {
    Equals,
    NotEquals,
    Prefix,
    Suffix,
}

#[derive(Debug, Clone, PartialEq)]
enum Token {
    Word(String),
    Str(String),
    LParen,
    RParen,
    Comma,
    Eq,
    Ne,
    Minus,
    Other(char),
}

fn tokenize(text: &str) -> Result<Vec<Token>, String> {
    let mut out = Vec::new();
    let mut chars = text.chars().peekable();
    while let Some(c) = chars.next() {
        match c {
            c if c.is_whitespace() => {}
            '(' => out.push(Token::LParen),
            ')' => out.push(Token::RParen),
            ',' => out.push(Token::Comma),
            '=' => out.push(Token::Eq),
            '-' => out.push(Token::Minus),
            '!' if chars.peek() == Some(&'=') => {
                chars.next();
                out.push(Token::Ne);
            }
            '"' | '\'' => {
                let mut s = String::new();
                loop {
                    match chars.next() {
                        None => return Err("unterminated string".into()),
                        Some('\\') => match chars.next() {
                            Some(e) => s.push(e),
                            None => return Err("unterminated string".into()),
                        },
                        Some(q) if q == c => break,
                        Some(ch) => s.push(ch),
                    }
                }
                out.push(Token::Str(s));
            }
            c if c.is_alphanumeric() || c == '_' || c == '.' => {
                let mut w = c.to_string();
                while let Some(&n) = chars.peek() {
                    if n.is_alphanumeric() || n == '_' || n == '.' {
                        w.push(n);
                        chars.next();
                    } else {
                        break;
                    }
                }
                out.push(Token::Word(w));
            }
            other => out.push(Token::Other(other)),
        }
    }
    Ok(out)
}

struct Parser {
    tokens: Vec<Token>,
    at: usize,
}

impl Parser {
    fn peek(&self) -> Option<&Token> {
        self.tokens.get(self.at)
    }
    fn next(&mut self) -> Option<Token> {
        let t = self.tokens.get(self.at).cloned();
        self.at += 1;
        t
    }
    fn keyword(&self, k: &str) -> bool {
        matches!(self.peek(), Some(Token::Word(w)) if w == k)
    }
    fn expect(&mut self, t: Token) -> Result<(), String> {
        match self.next() {
            Some(got) if got == t => Ok(()),
            got => Err(format!("expected {t:?}, found {got:?}")),
        }
    }
    /// expression: sequence { AND sequence } (AIP-160: an implicit AND between terms too).
    fn expression(&mut self) -> Result<Filter, String> {
        let mut left = self.factor()?;
        loop {
            if self.keyword("AND") {
                self.next();
            } else if self.peek().is_none() || self.peek() == Some(&Token::RParen) {
                return Ok(left);
            } else if self.keyword("OR") {
                return Err("OR must be inside a factor".into());
            }
            let right = self.factor()?;
            left = Filter::And(Box::new(left), Box::new(right));
        }
    }
    /// factor: term { OR term } (AIP-160: OR binds tighter than AND).
    fn factor(&mut self) -> Result<Filter, String> {
        let mut left = self.term()?;
        while self.keyword("OR") {
            self.next();
            let right = self.term()?;
            left = Filter::Or(Box::new(left), Box::new(right));
        }
        Ok(left)
    }
    fn term(&mut self) -> Result<Filter, String> {
        if self.keyword("NOT") || self.peek() == Some(&Token::Minus) {
            self.next();
            return Ok(Filter::Not(Box::new(self.term()?)));
        }
        match self.next() {
            Some(Token::LParen) => {
                let inner = self.expression()?;
                self.expect(Token::RParen)?;
                Ok(inner)
            }
            Some(Token::Word(w)) if w == "has_prefix" || w == "has_suffix" => {
                self.expect(Token::LParen)?;
                let field = self.field()?;
                self.expect(Token::Comma)?;
                let Some(Token::Str(value)) = self.next() else {
                    return Err(format!("{w} takes a field and a string literal"));
                };
                self.expect(Token::RParen)?;
                let op = if w == "has_prefix" {
                    Op::Prefix
                } else {
                    Op::Suffix
                };
                Ok(Filter::Compare(field, op, value))
            }
            Some(Token::Word(w)) if self.peek() == Some(&Token::LParen) => {
                Err(format!("unsupported function {w}"))
            }
            Some(Token::Word(w)) => {
                let field = field_named(&w)?;
                let op = match self.next() {
                    Some(Token::Eq) => Op::Equals,
                    Some(Token::Ne) => Op::NotEquals,
                    other => return Err(format!("unsupported operator {other:?} after {w}")),
                };
                match self.next() {
                    Some(Token::Str(value)) => Ok(Filter::Compare(field, op, value)),
                    // Enum values may be written bare: kind = ATTESTATION.
                    Some(Token::Word(value)) if field == Field::Kind => {
                        Ok(Filter::Compare(field, op, value))
                    }
                    other => Err(format!("expected a string literal, found {other:?}")),
                }
            }
            other => Err(format!("unexpected {other:?}")),
        }
    }
    fn field(&mut self) -> Result<Field, String> {
        match self.next() {
            Some(Token::Word(w)) => field_named(&w),
            other => Err(format!("expected a field, found {other:?}")),
        }
    }
}

fn field_named(name: &str) -> Result<Field, String> {
    match name {
        "resourceUrl" => Ok(Field::ResourceUrl),
        "kind" => Ok(Field::Kind),
        "noteProjectId" => Ok(Field::NoteProjectId),
        "noteId" => Ok(Field::NoteId),
        other => Err(format!(
            "unsupported field {other:?} (filters may use resourceUrl, kind, noteProjectId, noteId)"
        )),
    }
}

impl Filter {
    fn parse(text: &str) -> ApiResult<Filter> {
        if text.trim().is_empty() {
            return Ok(Filter::All);
        }
        let invalid = |why: String| ApiError::invalid(format!("Invalid filter {text:?}: {why}."));
        let tokens = tokenize(text).map_err(invalid)?;
        if let Some(Token::Other(c)) = tokens.iter().find(|t| matches!(t, Token::Other(_))) {
            return Err(invalid(format!("unsupported character {c:?}")));
        }
        let mut parser = Parser { tokens, at: 0 };
        let filter = parser.expression().map_err(invalid)?;
        if parser.peek().is_some() {
            return Err(invalid(format!("unexpected {:?}", parser.peek())));
        }
        Ok(filter)
    }

    fn matches(&self, occ: &Value) -> bool {
        match self {
            Filter::All => true,
            Filter::Not(f) => !f.matches(occ),
            Filter::And(a, b) => a.matches(occ) && b.matches(occ),
            Filter::Or(a, b) => a.matches(occ) || b.matches(occ),
            Filter::Compare(field, op, value) => {
                let note = occ["noteName"].as_str().unwrap_or_default();
                let actual = match field {
                    Field::ResourceUrl => occ["resourceUri"].as_str().unwrap_or_default(),
                    Field::Kind => occ["kind"].as_str().unwrap_or_default(),
                    Field::NoteProjectId => note
                        .strip_prefix("projects/")
                        .and_then(|r| r.split('/').next())
                        .unwrap_or_default(),
                    Field::NoteId => note.rsplit('/').next().unwrap_or_default(),
                };
                match op {
                    Op::Equals => actual == value,
                    Op::NotEquals => actual != value,
                    Op::Prefix => actual.starts_with(value.as_str()),
                    Op::Suffix => actual.ends_with(value.as_str()),
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn filters_parse_per_aip_160_and_match() {
        let occ = json!({"resourceUri": "r/img@sha256:abc", "noteName": "projects/p/notes/n", "kind": "ATTESTATION"});
        for f in [
            "",
            r#"has_suffix(resourceUrl, "sha256:abc")"#,
            r#"resourceUrl="r/img@sha256:abc""#,
            r#"resourceUrl = "r/img@sha256:abc" AND kind = "ATTESTATION""#,
            r#"has_prefix(resourceUrl, "r/") AND noteProjectId="p" AND noteId="n""#,
            r#"kind = "BUILD" OR kind = "ATTESTATION""#,
            r#"NOT kind = "BUILD""#,
            r#"-(noteId = "x")"#,
            r#"(noteId = "x" OR noteId = "n") AND kind != "BUILD""#,
            "kind = ATTESTATION",
        ] {
            assert!(Filter::parse(f).unwrap().matches(&occ), "{f}");
        }
        for f in [
            r#"has_suffix(resourceUrl, "sha256:def")"#,
            r#"kind = "BUILD" OR noteId = "x""#,
            r#"resourceUrl = "r/img@sha256:abc" AND kind = "BUILD""#,
        ] {
            assert!(!Filter::parse(f).unwrap().matches(&occ), "{f}");
        }
        for f in [
            "bogus(x)",
            r#"color = "red""#,
            r#"resourceUri = "x""#,
            r#"noteName = "projects/p/notes/n""#,
            r#"resourceUrl : "x""#,
            r#"kind > "A""#,
            r#"has_suffix(resourceUrl "x")"#,
            r#"(kind = "A""#,
            r#"kind = "A" OR"#,
        ] {
            assert!(Filter::parse(f).is_err(), "{f}");
        }
    }
}
