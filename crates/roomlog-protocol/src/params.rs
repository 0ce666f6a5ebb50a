//! Typed action parameters, decoded alike from a JSON body and from flattened form/query pairs.
//!
//! The server describes each action's input with a [`Schema`]; [`ParamSource::decode`] checks the
//! request against it and returns a normalised JSON object (proper JSON types, schema order)
//! ready for `serde_json::from_value` into a `#[serde(rename_all = "PascalCase")]` struct. Both
//! sources go through the same rules so that a GET and a POST of the same call behave the same.

use std::collections::BTreeMap;

use serde::de::DeserializeOwned;
use serde_json::{Map, Value};

use crate::error::ApiError;

/// Where the action parameters of a request came from.
#[derive(Debug, Clone, PartialEq)]
pub enum ParamSource {
    /// A v3 POST body: a JSON object.
    Json(Map<String, Value>),
    /// A GET query or v1 form body: decoded (name, value) pairs in wire order, nested values
    /// flattened as `Key.0`, `Key.Sub`.
    Form(Vec<(String, String)>),
}

/// The type of one parameter.
#[derive(Debug, Clone, PartialEq)]
pub enum FieldType {
    /// A non-negative integer up to `u64::MAX`.
    U64,
    /// A signed 64-bit integer.
    I64,
    String,
    Array(Box<FieldType>),
    Object(Schema),
}

impl FieldType {
    /// `FieldType::Array` of the given element type.
    pub fn array(element: FieldType) -> Self {
        FieldType::Array(Box::new(element))
    }

    /// How the type is named in error messages.
    fn describe(&self) -> &'static str {
        match self {
            FieldType::U64 => "a non-negative integer",
            FieldType::I64 => "an integer",
            FieldType::String => "a string",
            FieldType::Array(_) => "an array",
            FieldType::Object(_) => "an object",
        }
    }
}

/// One named parameter.
#[derive(Debug, Clone, PartialEq)]
pub struct Field {
    pub name: &'static str,
    pub ty: FieldType,
    pub required: bool,
}

/// The parameters of an action, or the members of a nested object.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct Schema {
    pub fields: Vec<Field>,
}

impl Schema {
    pub fn new() -> Self {
        Self::default()
    }

    /// Adds a required field.
    pub fn required(mut self, name: &'static str, ty: FieldType) -> Self {
        self.fields.push(Field {
            name,
            ty,
            required: true,
        });
        self
    }

    /// Adds an optional field.
    pub fn optional(mut self, name: &'static str, ty: FieldType) -> Self {
        self.fields.push(Field {
            name,
            ty,
            required: false,
        });
        self
    }

    pub fn field(&self, name: &str) -> Option<&Field> {
        self.fields.iter().find(|f| f.name == name)
    }
}

impl From<Schema> for FieldType {
    fn from(schema: Schema) -> Self {
        FieldType::Object(schema)
    }
}

impl ParamSource {
    /// Validates against `schema` and returns a normalised JSON object with proper JSON types, in
    /// schema order, absent optional fields omitted.
    ///
    /// - JSON: integers must be JSON integers in range (no strings, floats such as `1.0` or `1e3`,
    ///   or out-of-range values); strings, arrays and objects must be exactly that. `null` for an
    ///   optional field is the same as absent.
    /// - Form: `U64` is ASCII digits only, `I64` allows a leading `-`; nested names are
    ///   unflattened (`Events.0.EventId`), and array indices must be dense from 0.
    /// - Errors name the full flattened path (`Events.3.UserId`): `UnknownParameter` for a name the
    ///   schema does not define, `MissingParameter` for an absent required field,
    ///   `InvalidParameter` for a malformed value.
    pub fn decode(&self, schema: &Schema) -> Result<Map<String, Value>, ApiError> {
        match self {
            ParamSource::Json(map) => json_object(schema, map, ""),
            ParamSource::Form(pairs) => {
                let entries = pairs
                    .iter()
                    .map(|(name, value)| FormEntry {
                        rest: Some(name),
                        value,
                    })
                    .collect();
                form_object(schema, entries, "")
            }
        }
    }

    /// [`decode`](Self::decode), then deserialise into `T`. A failure of the last step means the
    /// schema and `T` disagree, which is a server bug: `InternalError`.
    pub fn decode_into<T: DeserializeOwned>(&self, schema: &Schema) -> Result<T, ApiError> {
        let object = self.decode(schema)?;
        serde_json::from_value(Value::Object(object)).map_err(|e| {
            ApiError::internal_error(format!("parameters do not fit their schema type: {e}"))
        })
    }
}

/// `parent.child`, or `child` at the top level.
fn child_path(parent: &str, child: &str) -> String {
    if parent.is_empty() {
        child.to_owned()
    } else {
        format!("{parent}.{child}")
    }
}

fn type_error(path: &str, ty: &FieldType) -> ApiError {
    ApiError::invalid_parameter(format!("The parameter `{path}` must be {}.", ty.describe()))
}

// ---- JSON ------------------------------------------------------------------------------------

fn json_object(
    schema: &Schema,
    input: &Map<String, Value>,
    path: &str,
) -> Result<Map<String, Value>, ApiError> {
    // Unknown names first, so that a typo is reported as such rather than as a missing field.
    if let Some(unknown) = input.keys().find(|name| schema.field(name).is_none()) {
        return Err(ApiError::unknown_parameter(&child_path(path, unknown)));
    }
    let mut out = Map::new();
    for field in &schema.fields {
        let field_path = child_path(path, field.name);
        match input.get(field.name) {
            None | Some(Value::Null) if field.required => {
                return Err(ApiError::missing_parameter(&field_path))
            }
            None | Some(Value::Null) => {}
            Some(value) => {
                out.insert(
                    field.name.to_owned(),
                    json_value(&field.ty, value, &field_path)?,
                );
            }
        }
    }
    Ok(out)
}

fn json_value(ty: &FieldType, value: &Value, path: &str) -> Result<Value, ApiError> {
    let ok = match (ty, value) {
        // serde_json keeps integers that fit u64/i64 as integers; floats, exponents and larger
        // numbers become f64 and are refused here.
        (FieldType::U64, Value::Number(n)) => n.as_u64().map(Value::from),
        (FieldType::I64, Value::Number(n)) => n.as_i64().map(Value::from),
        (FieldType::String, Value::String(s)) => Some(Value::String(s.clone())),
        (FieldType::Array(element), Value::Array(items)) => {
            let decoded = items
                .iter()
                .enumerate()
                .map(|(i, item)| json_value(element, item, &child_path(path, &i.to_string())))
                .collect::<Result<Vec<_>, _>>()?;
            Some(Value::Array(decoded))
        }
        (FieldType::Object(schema), Value::Object(map)) => {
            Some(Value::Object(json_object(schema, map, path)?))
        }
        _ => None,
    };
    ok.ok_or_else(|| type_error(path, ty))
}

// ---- Form ------------------------------------------------------------------------------------

/// One form pair seen from some nesting level: `rest` is what remains of its name below the
/// current path (`None` when the name ends exactly at the current path).
///
/// Decoding walks the schema and peels one name segment per level, so the recursion depth is
/// bounded by the schema, not by whatever names a client sends.
struct FormEntry<'a> {
    rest: Option<&'a str>,
    value: &'a str,
}

/// Groups entries by their next name segment, in first-seen order.
fn group_by_segment(entries: Vec<FormEntry<'_>>) -> Vec<(&str, Vec<FormEntry<'_>>)> {
    let mut groups: Vec<(&str, Vec<FormEntry<'_>>)> = Vec::new();
    let mut index: BTreeMap<&str, usize> = BTreeMap::new();
    for entry in entries {
        // Entries reaching here always have a rest: callers check for `None` first.
        let Some(rest) = entry.rest else { continue };
        let (segment, tail) = match rest.split_once('.') {
            Some((segment, tail)) => (segment, Some(tail)),
            None => (rest, None),
        };
        let child = FormEntry {
            rest: tail,
            value: entry.value,
        };
        match index.get(segment) {
            Some(&i) => groups[i].1.push(child),
            None => {
                index.insert(segment, groups.len());
                groups.push((segment, vec![child]));
            }
        }
    }
    groups
}

fn form_object(
    schema: &Schema,
    entries: Vec<FormEntry<'_>>,
    path: &str,
) -> Result<Map<String, Value>, ApiError> {
    let mut groups = group_by_segment(entries);
    if let Some((unknown, _)) = groups.iter().find(|(name, _)| schema.field(name).is_none()) {
        return Err(ApiError::unknown_parameter(&child_path(path, unknown)));
    }
    let mut out = Map::new();
    for field in &schema.fields {
        let field_path = child_path(path, field.name);
        match groups.iter().position(|(name, _)| *name == field.name) {
            None if field.required => return Err(ApiError::missing_parameter(&field_path)),
            None => {}
            Some(i) => {
                let (_, group) = groups.swap_remove(i);
                out.insert(
                    field.name.to_owned(),
                    form_value(&field.ty, group, &field_path)?,
                );
            }
        }
    }
    Ok(out)
}

fn form_value(ty: &FieldType, entries: Vec<FormEntry<'_>>, path: &str) -> Result<Value, ApiError> {
    match ty {
        FieldType::U64 | FieldType::I64 | FieldType::String => {
            let [entry] = entries.as_slice() else {
                return Err(ApiError::invalid_parameter(format!(
                    "The parameter `{path}` is given more than once."
                )));
            };
            if entry.rest.is_some() {
                // e.g. `RoomId.0=1` for a scalar RoomId
                return Err(type_error(path, ty));
            }
            form_scalar(ty, entry.value, path)
        }
        FieldType::Array(element) => {
            if entries.iter().any(|e| e.rest.is_none()) {
                return Err(type_error(path, ty));
            }
            let mut items: BTreeMap<usize, Vec<FormEntry<'_>>> = BTreeMap::new();
            for (segment, group) in group_by_segment(entries) {
                let index = parse_index(segment).ok_or_else(|| {
                    ApiError::invalid_parameter(format!(
                        "`{}` is not a valid array index of `{path}`.",
                        child_path(path, segment)
                    ))
                })?;
                items.insert(index, group);
            }
            // BTreeMap keys are sorted and distinct, so dense from 0 means the last is len - 1.
            if let Some((&last, _)) = items.last_key_value() {
                if last != items.len() - 1 {
                    let gap = (0..).find(|i| !items.contains_key(i)).unwrap_or(0);
                    return Err(ApiError::invalid_parameter(format!(
                        "The elements of `{path}` must be numbered from 0 without gaps; `{}` is missing.",
                        child_path(path, &gap.to_string())
                    )));
                }
            }
            let decoded = items
                .into_iter()
                .map(|(i, group)| form_value(element, group, &child_path(path, &i.to_string())))
                .collect::<Result<Vec<_>, _>>()?;
            Ok(Value::Array(decoded))
        }
        FieldType::Object(schema) => {
            if entries.iter().any(|e| e.rest.is_none()) {
                return Err(type_error(path, ty));
            }
            Ok(Value::Object(form_object(schema, entries, path)?))
        }
    }
}

/// A canonical decimal array index: `0`, `1`, `12`, but not `01`, `+1` or ``.
fn parse_index(segment: &str) -> Option<usize> {
    let canonical = segment == "0" || (!segment.starts_with('0') && is_ascii_digits(segment));
    if canonical {
        segment.parse().ok()
    } else {
        None
    }
}

fn is_ascii_digits(s: &str) -> bool {
    !s.is_empty() && s.bytes().all(|b| b.is_ascii_digit())
}

fn form_scalar(ty: &FieldType, raw: &str, path: &str) -> Result<Value, ApiError> {
    let parsed = match ty {
        // Rust's integer parsing accepts a leading '+', so check the digits ourselves first.
        FieldType::U64 if is_ascii_digits(raw) => raw.parse::<u64>().ok().map(Value::from),
        FieldType::I64 if is_ascii_digits(raw.strip_prefix('-').unwrap_or(raw)) => {
            raw.parse::<i64>().ok().map(Value::from)
        }
        FieldType::String => Some(Value::String(raw.to_owned())),
        _ => None,
    };
    parsed.ok_or_else(|| type_error(path, ty))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parse_index_accepts_only_canonical_decimals() {
        assert_eq!(parse_index("0"), Some(0));
        assert_eq!(parse_index("12"), Some(12));
        for bad in ["", "01", "+1", "-1", "1a", " 1", "99999999999999999999999"] {
            assert_eq!(parse_index(bad), None, "{bad:?}");
        }
    }
}
