//! `application/x-www-form-urlencoded`, as used by GET query strings and v1 POST bodies.

use percent_encoding::{percent_decode, utf8_percent_encode, AsciiSet, NON_ALPHANUMERIC};

use crate::error::ApiError;

/// Everything but the RFC 3986 unreserved characters is percent-encoded. That is what the official
/// SDKs produce (Python's `urlencode` differs only in writing a space as `+`), and it is safe in
/// both a query string and a form body.
const FORM_ENCODE: &AsciiSet = &NON_ALPHANUMERIC
    .remove(b'-')
    .remove(b'_')
    .remove(b'.')
    .remove(b'~');

/// Decodes `a=1&b=x+y%2F` into `[("a", "1"), ("b", "x y/")]`, in wire order.
///
/// `+` is a space; a pair without `=` has an empty value; empty segments (`a=1&&b=2`) are skipped.
/// Malformed escapes such as `%zz` are kept literally (as browsers do). Names and values must
/// decode to UTF-8, otherwise `InvalidParameter`. Duplicates are kept: callers decide.
pub fn decode(input: &str) -> Result<Vec<(String, String)>, ApiError> {
    input
        .split('&')
        .filter(|pair| !pair.is_empty())
        .map(|pair| {
            let (name, value) = pair.split_once('=').unwrap_or((pair, ""));
            Ok((decode_component(name)?, decode_component(value)?))
        })
        .collect()
}

fn decode_component(raw: &str) -> Result<String, ApiError> {
    let spaced = raw.replace('+', " ");
    percent_decode(spaced.as_bytes())
        .decode_utf8()
        .map(|decoded| decoded.into_owned())
        .map_err(|_| {
            ApiError::invalid_parameter(format!(
                "The form-encoded text `{raw}` does not decode to UTF-8."
            ))
        })
}

/// Percent-encodes one name or value.
pub fn encode_component(raw: &str) -> String {
    utf8_percent_encode(raw, FORM_ENCODE).to_string()
}

/// Encodes pairs as `name=value&...` in the given order; the inverse of [`decode`].
pub fn encode<'a>(pairs: impl IntoIterator<Item = (&'a str, &'a str)>) -> String {
    let mut out = String::new();
    for (name, value) in pairs {
        if !out.is_empty() {
            out.push('&');
        }
        out.push_str(&encode_component(name));
        out.push('=');
        out.push_str(&encode_component(value));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn pairs(list: &[(&str, &str)]) -> Vec<(String, String)> {
        list.iter()
            .map(|(n, v)| (n.to_string(), v.to_string()))
            .collect()
    }

    #[test]
    fn decodes_plus_percent_and_empty_values() {
        let decoded =
            decode("Keyword=Member+Join%2F%E4%B8%AD%E6%96%87~%2A&Empty=&Bare&&Page=1").unwrap();
        assert_eq!(
            decoded,
            pairs(&[
                ("Keyword", "Member Join/中文~*"),
                ("Empty", ""),
                ("Bare", ""),
                ("Page", "1")
            ])
        );
    }

    #[test]
    fn keeps_malformed_escapes_literally() {
        assert_eq!(decode("a=%zz%4").unwrap(), pairs(&[("a", "%zz%4")]));
    }

    #[test]
    fn rejects_invalid_utf8() {
        let err = decode("a=%FF").unwrap_err();
        assert_eq!(err.code, crate::codes::INVALID_PARAMETER);
    }

    #[test]
    fn encode_round_trips() {
        let original = pairs(&[("A.0", "x y+z&=%/中"), ("B", ""), ("C", "-_.~")]);
        let encoded = encode(original.iter().map(|(n, v)| (n.as_str(), v.as_str())));
        assert_eq!(encoded, "A.0=x%20y%2Bz%26%3D%25%2F%E4%B8%AD&B=&C=-_.~");
        assert_eq!(decode(&encoded).unwrap(), original);
    }
}
