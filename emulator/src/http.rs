//! The request and reply types every handler sees, independent of the HTTP library.

use crate::google::ApiError;
use hyper::HeaderMap;
use serde_json::Value;

pub struct Request {
    pub method: String,
    /// The path without its query string, percent-decoded per segment.
    pub path: String,
    pub segments: Vec<String>,
    pub query: Vec<(String, String)>,
    pub headers: HeaderMap,
    pub body: Vec<u8>,
}

impl Request {
    pub fn new(
        method: &str,
        raw_path: &str,
        raw_query: Option<&str>,
        headers: HeaderMap,
        body: Vec<u8>,
    ) -> Request {
        let segments: Vec<String> = raw_path
            .split('/')
            .filter(|s| !s.is_empty())
            .map(|s| {
                percent_encoding::percent_decode_str(s)
                    .decode_utf8_lossy()
                    .into_owned()
            })
            .collect();
        let query = raw_query
            .map(|q| form_urlencoded::parse(q.as_bytes()).into_owned().collect())
            .unwrap_or_default();
        Request {
            method: method.to_string(),
            path: format!("/{}", segments.join("/")),
            segments,
            query,
            headers,
            body,
        }
    }

    pub fn query(&self, name: &str) -> Option<&str> {
        self.query
            .iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.as_str())
    }

    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers.get(name).and_then(|v| v.to_str().ok())
    }

    /// The bearer token of the `Authorization` header, if any.
    pub fn bearer(&self) -> Option<&str> {
        let value = self.header("authorization")?;
        let (scheme, token) = value.split_once(' ')?;
        scheme
            .eq_ignore_ascii_case("bearer")
            .then_some(token.trim())
            .filter(|t| !t.is_empty())
    }

    /// One field of [`Request::form`], empty when absent.
    pub fn form_value(&self, name: &str) -> String {
        self.form()
            .into_iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v)
            .unwrap_or_default()
    }

    /// Form fields of an `application/x-www-form-urlencoded` body, or the string fields of a
    /// JSON one (token endpoints take both).
    pub fn form(&self) -> Vec<(String, String)> {
        if let Ok(Value::Object(map)) = serde_json::from_slice::<Value>(&self.body) {
            return map
                .into_iter()
                .filter_map(|(k, v)| v.as_str().map(|s| (k, s.to_string())))
                .collect();
        }
        form_urlencoded::parse(&self.body).into_owned().collect()
    }
}

pub struct Reply {
    pub status: u16,
    pub headers: Vec<(String, String)>,
    pub body: Vec<u8>,
}

impl Reply {
    pub fn json(value: &Value) -> Reply {
        Reply::with_status(200, value)
    }
    pub fn with_status(status: u16, value: &Value) -> Reply {
        let mut body = serde_json::to_vec_pretty(value).unwrap_or_default();
        body.push(b'\n');
        Reply {
            status,
            headers: vec![(
                "content-type".into(),
                "application/json; charset=UTF-8".into(),
            )],
            body,
        }
    }
    pub fn text(status: u16, text: &str) -> Reply {
        Reply {
            status,
            headers: vec![("content-type".into(), "text/plain; charset=utf-8".into())],
            body: text.as_bytes().to_vec(),
        }
    }
    pub fn error(err: &ApiError) -> Reply {
        Reply::with_status(err.code, &err.body())
    }
    pub fn header(mut self, name: &str, value: &str) -> Reply {
        self.headers.push((name.to_string(), value.to_string()));
        self
    }
}
