//! The `{"Response": ...}` envelope.

use roomlog_protocol::envelope::{
    streaming_prefix, streaming_suffix, success_body_members, STREAMING_SEPARATOR,
};
use roomlog_protocol::{error_body, new_request_id, success_body, ApiError, CONTENT_TYPE};
use serde_json::{json, Map, Value};

fn object(value: Value) -> Map<String, Value> {
    match value {
        Value::Object(map) => map,
        _ => panic!("not an object"),
    }
}

#[test]
fn content_type_is_exactly_application_json() {
    assert_eq!(CONTENT_TYPE, "application/json");
}

#[test]
fn success_body_has_fields_then_request_id() {
    let body = success_body(
        object(json!({"Total": 1, "Events": [{"EventType": "RoomStart"}]})),
        "rid-1",
    );
    let parsed: Value = serde_json::from_slice(&body).unwrap();
    assert_eq!(
        parsed,
        json!({"Response": {"Total": 1, "Events": [{"EventType": "RoomStart"}], "RequestId": "rid-1"}})
    );
    assert_eq!(
        std::str::from_utf8(&body).unwrap(),
        r#"{"Response":{"Total":1,"Events":[{"EventType":"RoomStart"}],"RequestId":"rid-1"}}"#
    );
}

#[test]
fn success_body_keeps_a_single_request_id() {
    let body = success_body(object(json!({"RequestId": "stale", "RoomId": 5})), "fresh");
    assert_eq!(
        std::str::from_utf8(&body).unwrap(),
        r#"{"Response":{"RoomId":5,"RequestId":"fresh"}}"#
    );
}

#[test]
fn prewritten_members_give_the_same_bytes() {
    for fields in [
        json!({}),
        json!({"Total": 2, "Events": [{"A": "x\"y"}, {"B": [1, 2]}]}),
        json!({"Note": "é\n"}),
    ] {
        let fields = object(fields);
        let text = serde_json::to_string(&Value::Object(fields.clone())).unwrap();
        let members = &text.as_bytes()[1..text.len() - 1];
        let expected = success_body(fields, "rid\"4");
        assert_eq!(success_body_members(&[members], "rid\"4"), expected);
        // Split anywhere into parts, the same bytes.
        for at in 0..=members.len() {
            let (head, tail) = members.split_at(at);
            assert_eq!(success_body_members(&[head, tail], "rid\"4"), expected);
        }
    }
}

#[test]
fn error_body_has_the_exact_shape() {
    let err = ApiError::new("ResourceNotFound.Room", "room \"1\" not found");
    let body = error_body(&err, "rid-2");
    let parsed: Value = serde_json::from_slice(&body).unwrap();
    assert_eq!(
        parsed,
        json!({"Response": {"Error": {"Code": "ResourceNotFound.Room", "Message": "room \"1\" not found"}, "RequestId": "rid-2"}})
    );
    let response = parsed["Response"].as_object().unwrap();
    assert_eq!(response.len(), 2);
    assert_eq!(response["Error"].as_object().unwrap().len(), 2);
}

#[test]
fn streamed_responses_are_valid_json() {
    let before = object(json!({"Total": 5, "Note\"": "a\\b"}));
    for count in [0usize, 1, 3] {
        let elements: Vec<Value> = (0..count)
            .map(|i| json!({"Timestamp": i, "EventType": "MicOn"}))
            .collect();
        let mut body = streaming_prefix(&before, "Events").to_vec();
        for (i, element) in elements.iter().enumerate() {
            if i > 0 {
                body.extend_from_slice(STREAMING_SEPARATOR);
            }
            body.extend_from_slice(&serde_json::to_vec(element).unwrap());
        }
        body.extend_from_slice(&streaming_suffix("rid\"3"));
        let parsed: Value = serde_json::from_slice(&body).unwrap();
        assert_eq!(
            parsed,
            json!({"Response": {"Total": 5, "Note\"": "a\\b", "Events": elements, "RequestId": "rid\"3"}})
        );
        // Byte-identical to the buffered rendering of the same response.
        let mut fields = before.clone();
        fields.insert("Events".into(), Value::Array(elements));
        assert_eq!(body, success_body(fields, "rid\"3").to_vec());
    }
    assert_eq!(
        &streaming_prefix(&object(json!({"Total": 5})), "Events")[..],
        br#"{"Response":{"Total":5,"Events":["#
    );
    assert_eq!(&streaming_suffix("x")[..], br#"],"RequestId":"x"}}"#);
}

#[test]
fn request_ids_are_fresh_uuid_v4() {
    let a = new_request_id();
    let b = new_request_id();
    assert_ne!(a, b);
    let parsed = uuid::Uuid::parse_str(&a).unwrap();
    assert_eq!(parsed.get_version_num(), 4);
    assert_eq!(a, parsed.hyphenated().to_string());
}
