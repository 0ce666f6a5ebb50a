//! Typed parameter decoding from JSON and from flattened form pairs. That both decode alike for
//! any schema is `parser_properties.rs`'s `json_and_flattened_form_decode_alike_for_any_schema`.

mod common;

use common::pairs;
use roomlog_protocol::{codes, ApiError, FieldType, ParamSource, Schema};
use serde::Deserialize;
use serde_json::{json, Map, Value};

fn event_schema() -> Schema {
    Schema::new()
        .required("EventId", FieldType::U64)
        .optional("UserId", FieldType::String)
        .optional("Delta", FieldType::I64)
}

fn schema() -> Schema {
    Schema::new()
        .required("RoomId", FieldType::U64)
        .optional("Offset", FieldType::I64)
        .optional("Keyword", FieldType::String)
        .optional("Assistants", FieldType::array(FieldType::String))
        .optional("Events", FieldType::array(event_schema().into()))
        .optional(
            "Config",
            Schema::new()
                .required("Mode", FieldType::U64)
                .optional("Tags", FieldType::array(FieldType::U64))
                .into(),
        )
}

fn decode_json(value: Value) -> Result<Map<String, Value>, ApiError> {
    let Value::Object(map) = value else {
        panic!("test input must be an object")
    };
    ParamSource::Json(map).decode(&schema())
}

fn decode_form(list: &[(&str, &str)]) -> Result<Map<String, Value>, ApiError> {
    ParamSource::Form(pairs(list)).decode(&schema())
}

/// Asserts the error code and that the message names `path`.
fn assert_error(result: Result<Map<String, Value>, ApiError>, code: &str, path: &str) {
    let err = result.expect_err("decoding should fail");
    assert_eq!(err.code, code, "{}", err.message);
    assert!(
        err.message.contains(&format!("`{path}`")),
        "message {:?} should name `{path}`",
        err.message
    );
}

// ---- JSON ----------------------------------------------------------------------------------------

#[test]
fn json_u64_accepts_only_non_negative_integers() {
    assert_eq!(
        decode_json(json!({"RoomId": 18446744073709551615u64})).unwrap()["RoomId"],
        json!(18446744073709551615u64)
    );
    assert_eq!(
        decode_json(json!({"RoomId": 0})).unwrap()["RoomId"],
        json!(0)
    );
    for bad in [
        json!("1"),
        json!(-1),
        json!(1.5),
        json!(true),
        json!([1]),
        json!({"a": 1}),
    ] {
        let result = decode_json(json!({ "RoomId": bad }));
        assert_error(result, codes::INVALID_PARAMETER, "RoomId");
    }
    // Spellings that only exist in JSON text: 1.0, 1e3 and a number past u64::MAX.
    for text in ["1.0", "1e3", "18446744073709551616", "-0.0"] {
        let map: Map<String, Value> =
            serde_json::from_str(&format!(r#"{{"RoomId": {text}}}"#)).unwrap();
        let err = ParamSource::Json(map).decode(&schema()).unwrap_err();
        assert_eq!(err.code, codes::INVALID_PARAMETER, "{text}");
        assert!(err.message.contains("`RoomId`") && err.message.contains("non-negative integer"));
    }
}

#[test]
fn json_i64_accepts_signed_integers_in_range() {
    let ok = decode_json(json!({"RoomId": 1, "Offset": -9223372036854775808i64})).unwrap();
    assert_eq!(ok["Offset"], json!(i64::MIN));
    for bad in [json!(9223372036854775808u64), json!("-1"), json!(-1.0)] {
        assert_error(
            decode_json(json!({"RoomId": 1, "Offset": bad})),
            codes::INVALID_PARAMETER,
            "Offset",
        );
    }
}

#[test]
fn json_strings_arrays_and_objects_must_have_their_type() {
    assert_error(
        decode_json(json!({"RoomId": 1, "Keyword": 5})),
        codes::INVALID_PARAMETER,
        "Keyword",
    );
    assert_error(
        decode_json(json!({"RoomId": 1, "Assistants": "a"})),
        codes::INVALID_PARAMETER,
        "Assistants",
    );
    assert_error(
        decode_json(json!({"RoomId": 1, "Assistants": ["a", 2]})),
        codes::INVALID_PARAMETER,
        "Assistants.1",
    );
    assert_error(
        decode_json(json!({"RoomId": 1, "Config": [1]})),
        codes::INVALID_PARAMETER,
        "Config",
    );
    assert_error(
        decode_json(json!({"RoomId": 1, "Events": [{"EventId": 1}, {"EventId": 2, "UserId": 7}]})),
        codes::INVALID_PARAMETER,
        "Events.1.UserId",
    );
}

#[test]
fn json_null_is_absent() {
    let decoded = decode_json(
        json!({"RoomId": 1, "Keyword": null, "Events": [{"EventId": 3, "UserId": null}]}),
    )
    .unwrap();
    assert_eq!(
        Value::Object(decoded),
        json!({"RoomId": 1, "Events": [{"EventId": 3}]})
    );
    assert_error(
        decode_json(json!({"RoomId": null})),
        codes::MISSING_PARAMETER,
        "RoomId",
    );
    // An array element cannot be null.
    assert_error(
        decode_json(json!({"RoomId": 1, "Assistants": [null]})),
        codes::INVALID_PARAMETER,
        "Assistants.0",
    );
}

#[test]
fn json_unknown_and_missing_fields_name_their_full_path() {
    assert_error(
        decode_json(json!({"RoomId": 1, "Foo": 1})),
        codes::UNKNOWN_PARAMETER,
        "Foo",
    );
    let events =
        json!([{"EventId": 0}, {"EventId": 1}, {"EventId": 2}, {"EventId": 3, "Foo": "x"}]);
    assert_error(
        decode_json(json!({"RoomId": 1, "Events": events})),
        codes::UNKNOWN_PARAMETER,
        "Events.3.Foo",
    );
    assert_error(
        decode_json(json!({"Keyword": "x"})),
        codes::MISSING_PARAMETER,
        "RoomId",
    );
    assert_error(
        decode_json(json!({"RoomId": 1, "Events": [{"EventId": 1}, {"UserId": "u"}]})),
        codes::MISSING_PARAMETER,
        "Events.1.EventId",
    );
    assert_error(
        decode_json(json!({"RoomId": 1, "Config": {}})),
        codes::MISSING_PARAMETER,
        "Config.Mode",
    );
}

#[test]
fn json_output_is_normalised_in_schema_order() {
    let decoded = decode_json(json!({"Keyword": "k", "Assistants": [], "RoomId": 7})).unwrap();
    assert_eq!(
        decoded.keys().collect::<Vec<_>>(),
        ["RoomId", "Keyword", "Assistants"]
    );
}

// ---- Form ----------------------------------------------------------------------------------------

#[test]
fn form_u64_is_ascii_digits_without_overflow() {
    assert_eq!(
        decode_form(&[("RoomId", "18446744073709551615")]).unwrap()["RoomId"],
        json!(u64::MAX)
    );
    assert_eq!(
        decode_form(&[("RoomId", "007")]).unwrap()["RoomId"],
        json!(7)
    );
    for bad in [
        "",
        "+1",
        "-1",
        " 1",
        "1 ",
        "1.0",
        "1e3",
        "0x10",
        "18446744073709551616",
        "١",
    ] {
        assert_error(
            decode_form(&[("RoomId", bad)]),
            codes::INVALID_PARAMETER,
            "RoomId",
        );
    }
}

#[test]
fn form_i64_allows_a_leading_minus_only() {
    let ok = decode_form(&[("RoomId", "1"), ("Offset", "-9223372036854775808")]).unwrap();
    assert_eq!(ok["Offset"], json!(i64::MIN));
    for bad in ["+1", "--1", "-", "1-", "9223372036854775808", " -1"] {
        assert_error(
            decode_form(&[("RoomId", "1"), ("Offset", bad)]),
            codes::INVALID_PARAMETER,
            "Offset",
        );
    }
}

#[test]
fn form_unflattens_arrays_of_objects() {
    let decoded = decode_form(&[
        ("Events.1.EventId", "2"),
        ("RoomId", "9"),
        ("Events.0.EventId", "1"),
        ("Events.0.UserId", "u 1"),
        ("Events.1.Delta", "-5"),
        ("Assistants.0", "a"),
        ("Assistants.1", ""),
        ("Config.Mode", "3"),
        ("Config.Tags.0", "4"),
    ])
    .unwrap();
    assert_eq!(
        Value::Object(decoded),
        json!({
            "RoomId": 9,
            "Assistants": ["a", ""],
            "Events": [{"EventId": 1, "UserId": "u 1"}, {"EventId": 2, "Delta": -5}],
            "Config": {"Mode": 3, "Tags": [4]}
        })
    );
}

#[test]
fn form_array_indices_must_be_dense_canonical_decimals() {
    assert_error(
        decode_form(&[
            ("RoomId", "1"),
            ("Assistants.0", "a"),
            ("Assistants.2", "c"),
        ]),
        codes::INVALID_PARAMETER,
        "Assistants.1",
    );
    assert_error(
        decode_form(&[("RoomId", "1"), ("Assistants.1", "b")]),
        codes::INVALID_PARAMETER,
        "Assistants.0",
    );
    assert_error(
        decode_form(&[("RoomId", "1"), ("Events.1.EventId", "1")]),
        codes::INVALID_PARAMETER,
        "Events.0",
    );
    for index in ["01", "x", "", "-1", "+0"] {
        let name = format!("Assistants.{index}");
        assert_error(
            decode_form(&[("RoomId", "1"), (&name, "a")]),
            codes::INVALID_PARAMETER,
            &name,
        );
    }
}

#[test]
fn form_shape_mismatches_are_invalid() {
    // A scalar sent as nested, an array or object sent as a scalar, and repeats.
    assert_error(
        decode_form(&[("RoomId.0", "1")]),
        codes::INVALID_PARAMETER,
        "RoomId",
    );
    assert_error(
        decode_form(&[("RoomId", "1"), ("Assistants", "a")]),
        codes::INVALID_PARAMETER,
        "Assistants",
    );
    assert_error(
        decode_form(&[("RoomId", "1"), ("Config", "x")]),
        codes::INVALID_PARAMETER,
        "Config",
    );
    assert_error(
        decode_form(&[("RoomId", "1"), ("RoomId", "2")]),
        codes::INVALID_PARAMETER,
        "RoomId",
    );
    assert_error(
        decode_form(&[
            ("RoomId", "1"),
            ("Events.0.EventId", "1"),
            ("Events.0.EventId", "2"),
        ]),
        codes::INVALID_PARAMETER,
        "Events.0.EventId",
    );
}

#[test]
fn form_unknown_and_missing_fields_name_their_full_path() {
    assert_error(
        decode_form(&[("RoomId", "1"), ("Foo", "1")]),
        codes::UNKNOWN_PARAMETER,
        "Foo",
    );
    assert_error(
        decode_form(&[("RoomId", "1"), ("Foo.0.Bar", "1")]),
        codes::UNKNOWN_PARAMETER,
        "Foo",
    );
    let mut list = vec![("RoomId", "1")];
    let names: Vec<String> = (0..4).map(|i| format!("Events.{i}.EventId")).collect();
    list.extend(names.iter().map(|n| (n.as_str(), "1")));
    list.push(("Events.3.Foo", "x"));
    assert_error(decode_form(&list), codes::UNKNOWN_PARAMETER, "Events.3.Foo");
    assert_error(
        decode_form(&[("Keyword", "x")]),
        codes::MISSING_PARAMETER,
        "RoomId",
    );
    assert_error(
        decode_form(&[
            ("RoomId", "1"),
            ("Events.0.EventId", "1"),
            ("Events.1.UserId", "u"),
        ]),
        codes::MISSING_PARAMETER,
        "Events.1.EventId",
    );
    // A deep name under a scalar is refused at the scalar, however deep it goes.
    let deep = format!("RoomId{}", ".a".repeat(100_000));
    assert_error(
        decode_form(&[(deep.as_str(), "1")]),
        codes::INVALID_PARAMETER,
        "RoomId",
    );
}

#[test]
fn decode_into_feeds_a_pascal_case_struct() {
    #[derive(Debug, Deserialize, PartialEq)]
    #[serde(rename_all = "PascalCase")]
    struct Input {
        room_id: u64,
        keyword: Option<String>,
        assistants: Option<Vec<String>>,
    }
    let input: Input = ParamSource::Form(pairs(&[("RoomId", "5"), ("Assistants.0", "t")]))
        .decode_into(&schema())
        .unwrap();
    assert_eq!(
        input,
        Input {
            room_id: 5,
            keyword: None,
            assistants: Some(vec!["t".into()])
        }
    );
}
