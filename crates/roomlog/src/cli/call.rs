//! `roomlog call ACTION Key=value... | --json '{...}'`: a signed call, its response printed.
//! `roomlog call StreamRoomEvents ...` follows the room's events instead, one JSON line each.

use std::process::ExitCode;

use anyhow::{bail, Context};
use roomlog_protocol::{Field, FieldType, ParamSource, Schema};
use serde_json::{Map, Value};

use super::ClientArgs;
use crate::client::{ApiFailure, Client};

#[derive(Debug, clap::Args)]
pub struct CallArgs {
    /// The action, e.g. GetRoomEvent.
    pub action: String,
    /// Parameters as Key=value, typed by the action's parameters (`RoomId=5` is a number,
    /// `ApplicationId=3000001` a string); dotted keys nest (`Events.0.EventId=e1`), and an array
    /// or object parameter also takes JSON (`Events='[{...}]'`).
    pub params: Vec<String>,
    /// Parameters as one JSON object; Key=value arguments override its keys.
    #[arg(long)]
    pub json: Option<String>,
    /// Fill in SdkAppId, when the action needs it and it is not given, with the app of the
    /// key's account (when that account has exactly one).
    #[arg(long, default_value_t = true, action = clap::ArgAction::Set)]
    pub default_sdk_app_id: bool,
    #[command(flatten)]
    pub client: ClientArgs,
}

/// The action whose answer is an event stream.
const STREAM_ACTION: &str = "StreamRoomEvents";

pub async fn run(args: CallArgs) -> anyhow::Result<ExitCode> {
    let schema = roomlog_server::actions::schema_of(&args.action).with_context(|| {
        format!(
            "roomlog serves no action `{}`; it serves: {}",
            args.action,
            roomlog_server::actions::NAMES.join(", ")
        )
    })?;
    let mut params = match &args.json {
        Some(text) => match serde_json::from_str(text).context("--json is not valid JSON")? {
            Value::Object(map) => map,
            _ => bail!("--json must be a JSON object"),
        },
        None => Map::new(),
    };
    params.extend(typed_params(&schema, &args.params)?);

    let client = args.client.client()?;
    if args.default_sdk_app_id && wants_sdk_app_id(&schema, &params) {
        let sdk_app_id = client.own_sdk_app_id().await?;
        fill_sdk_app_id(&schema, &mut params, sdk_app_id);
    }
    if args.action == STREAM_ACTION {
        return tail(&client, Value::Object(params)).await;
    }
    let response = client
        .call_raw(&args.action, &Value::Object(params))
        .await?;
    println!("{}", serde_json::to_string_pretty(&response)?);
    Ok(if response.get("Error").is_some() {
        ExitCode::FAILURE
    } else {
        ExitCode::SUCCESS
    })
}

/// Whether `SdkAppId` should be filled in: see [`fill_sdk_app_id`].
fn wants_sdk_app_id(schema: &Schema, params: &Map<String, Value>) -> bool {
    let mut probe = params.clone();
    fill_sdk_app_id(schema, &mut probe, 0);
    probe != *params
}

/// Fills in `SdkAppId` where the action needs it and it was not given: at the top when the
/// action requires it (or, DescribeAppDetail, takes it or `ApplicationId` and neither was
/// given), and in each element of an array of objects that require it (BatchRegister's Users).
fn fill_sdk_app_id(schema: &Schema, params: &mut Map<String, Value>, sdk_app_id: u64) {
    if let Some(field) = schema.field("SdkAppId") {
        let given = params.contains_key("SdkAppId") || params.contains_key("ApplicationId");
        if !given && (field.required || schema.field("ApplicationId").is_some()) {
            params.insert("SdkAppId".into(), sdk_app_id.into());
        }
    }
    for field in &schema.fields {
        let FieldType::Array(element) = &field.ty else {
            continue;
        };
        let FieldType::Object(element) = element.as_ref() else {
            continue;
        };
        let Some(Value::Array(items)) = params.get_mut(field.name) else {
            continue;
        };
        for item in items.iter_mut().filter_map(Value::as_object_mut) {
            fill_sdk_app_id(element, item, sdk_app_id);
        }
    }
}

/// `Key=value` arguments typed by the action's schema, exactly as the server reads a GET query
/// (the same decoder), except that nothing is required yet (`--json` and the SdkAppId default
/// may still supply it; the server checks). An array or object parameter given whole is JSON.
fn typed_params(schema: &Schema, pairs: &[String]) -> anyhow::Result<Map<String, Value>> {
    let mut whole = Map::new();
    let mut flat = Vec::new();
    for pair in pairs {
        let (key, value) = pair
            .split_once('=')
            .with_context(|| format!("expected Key=value, got `{pair}`"))?;
        let is_composite = schema
            .field(key)
            .is_some_and(|f| matches!(f.ty, FieldType::Array(_) | FieldType::Object(_)));
        if is_composite && value.trim_start().starts_with(['[', '{']) {
            let parsed = serde_json::from_str(value)
                .with_context(|| format!("{key}: `{value}` is not valid JSON"))?;
            whole.insert(key.to_owned(), parsed);
        } else {
            flat.push((key.to_owned(), value.to_owned()));
        }
    }
    let mut typed = ParamSource::Form(flat)
        .decode(&all_optional(schema))
        .map_err(|e| anyhow::anyhow!("{}: {}", e.code, e.message))?;
    typed.extend(whole);
    Ok(typed)
}

/// `schema` with every field, nested ones included, optional.
fn all_optional(schema: &Schema) -> Schema {
    fn relax(ty: &FieldType) -> FieldType {
        match ty {
            FieldType::Array(element) => FieldType::Array(Box::new(relax(element))),
            FieldType::Object(schema) => FieldType::Object(all_optional(schema)),
            other => other.clone(),
        }
    }
    Schema {
        fields: schema
            .fields
            .iter()
            .map(|f| Field {
                name: f.name,
                ty: relax(&f.ty),
                required: false,
            })
            .collect(),
    }
}

/// Prints the room's events as they are committed, one JSON object a line (`data` of each
/// Server-Sent Event), until the stream ends after RoomEnd (or Ctrl-C). A dropped connection
/// is resumed where it stopped (`Last-Event-ID`).
async fn tail(client: &Client, params: Value) -> anyhow::Result<ExitCode> {
    const MAX_RETRIES: u32 = 5;
    let mut last_seq: Option<u64> = None;
    let mut retries = 0;
    loop {
        let mut response = match client.open_stream(STREAM_ACTION, &params, last_seq).await {
            Ok(response) => response,
            Err(err) if err.is::<ApiFailure>() => {
                eprintln!("{err}");
                return Ok(ExitCode::FAILURE);
            }
            Err(err) if retries < MAX_RETRIES => {
                retries += 1;
                eprintln!("stream: {err:#}; retrying");
                tokio::time::sleep(std::time::Duration::from_secs(1)).await;
                continue;
            }
            Err(err) => return Err(err),
        };
        let mut lines = SseLines::default();
        loop {
            match response.chunk().await {
                Ok(Some(chunk)) => {
                    retries = 0;
                    for (seq, data) in lines.feed(&chunk) {
                        println!("{data}");
                        last_seq = seq.or(last_seq);
                    }
                }
                // The server ends the stream after the room's RoomEnd.
                Ok(None) => return Ok(ExitCode::SUCCESS),
                Err(err) if retries < MAX_RETRIES => {
                    retries += 1;
                    eprintln!("stream interrupted: {err}; resuming");
                    break;
                }
                Err(err) => return Err(err.into()),
            }
        }
    }
}

/// Splits a Server-Sent Events byte stream into events: (`id`, `data`) of each.
#[derive(Default)]
struct SseLines {
    pending: Vec<u8>,
    id: Option<u64>,
    data: String,
}

impl SseLines {
    fn feed(&mut self, chunk: &[u8]) -> Vec<(Option<u64>, String)> {
        self.pending.extend_from_slice(chunk);
        let mut events = Vec::new();
        while let Some(end) = self.pending.iter().position(|&b| b == b'\n') {
            let line: Vec<u8> = self.pending.drain(..=end).collect();
            let line = String::from_utf8_lossy(&line);
            let line = line.trim_end_matches(['\n', '\r']);
            if line.is_empty() {
                if !self.data.is_empty() {
                    events.push((self.id.take(), std::mem::take(&mut self.data)));
                }
            } else if let Some(id) = line.strip_prefix("id:") {
                self.id = id.trim().parse().ok();
            } else if let Some(data) = line.strip_prefix("data:") {
                if !self.data.is_empty() {
                    self.data.push('\n');
                }
                self.data.push_str(data.strip_prefix(' ').unwrap_or(data));
            }
            // `event:` repeats the data's EventType; `:` lines are keep-alive comments.
        }
        events
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn schema(action: &str) -> Schema {
        roomlog_server::actions::schema_of(action).unwrap()
    }

    fn args(pairs: &[&str]) -> Vec<String> {
        pairs.iter().map(|s| s.to_string()).collect()
    }

    #[test]
    fn values_take_the_type_the_action_gives_them() {
        let typed = typed_params(
            &schema("DescribeAppDetail"),
            &args(&["ApplicationId=3000001"]),
        )
        .unwrap();
        assert_eq!(Value::Object(typed), json!({"ApplicationId": "3000001"}));

        let typed = typed_params(
            &schema("ReportRoomEvents"),
            &args(&[
                "RoomId=5",
                "Events.0.EventId=42",
                "Events.0.EventType=MemberJoin",
                "Events.0.UserId=007",
                "Events.0.Role=1",
            ]),
        )
        .unwrap();
        assert_eq!(
            Value::Object(typed),
            json!({"RoomId": 5, "Events": [{"EventId": "42", "EventType": "MemberJoin", "UserId": "007", "Role": 1}]})
        );
    }

    #[test]
    fn composite_parameters_also_take_json() {
        let typed = typed_params(
            &schema("ReportRoomEvents"),
            &args(&[r#"Events=[{"EventId": "e1", "EventType": "MicOn", "UserId": "a"}]"#]),
        )
        .unwrap();
        assert_eq!(typed["Events"][0]["EventId"], "e1");
    }

    #[test]
    fn wrong_and_unknown_parameters_are_refused_before_sending() {
        let err = typed_params(&schema("GetRoomEvent"), &args(&["RoomId=abc"])).unwrap_err();
        assert!(err.to_string().contains("RoomId"), "{err}");
        let err = typed_params(&schema("GetRoomEvent"), &args(&["Colour=red"])).unwrap_err();
        assert!(err.to_string().starts_with("UnknownParameter"), "{err}");
        let err = typed_params(&schema("GetRoomEvent"), &args(&["RoomId"])).unwrap_err();
        assert!(err.to_string().contains("Key=value"), "{err}");
    }

    #[test]
    fn sdk_app_id_is_filled_in_where_the_action_needs_it() {
        let none = Map::new();
        for action in [
            "RegisterUser",
            "KickUserFromRoom",
            "UnblockKickedUser",
            "ModifyApp",
            "ReplayCallbacks",
            "DescribeCallbackDeliveries",
            "StreamRoomEvents",
            "GetRoomEvent",
            "CreateRoom",
            "DescribeAppDetail",
        ] {
            assert!(wants_sdk_app_id(&schema(action), &none), "{action}");
        }
        // Optional there: filling it in would narrow the lookup to one app.
        for action in ["DescribeRoom", "LoginUser", "DescribeApps"] {
            assert!(!wants_sdk_app_id(&schema(action), &none), "{action}");
        }
        let given = json!({"ApplicationId": "3000001"});
        assert!(!wants_sdk_app_id(
            &schema("DescribeAppDetail"),
            given.as_object().unwrap()
        ));

        // BatchRegister takes it per user.
        let mut users = json!({"Users": [{"Name": "a"}, {"Name": "b", "SdkAppId": 7}]});
        let users = users.as_object_mut().unwrap();
        assert!(wants_sdk_app_id(&schema("BatchRegister"), users));
        fill_sdk_app_id(&schema("BatchRegister"), users, 3);
        assert_eq!(
            Value::Object(users.clone()),
            json!({"Users": [{"Name": "a", "SdkAppId": 3}, {"Name": "b", "SdkAppId": 7}]})
        );
        assert!(!wants_sdk_app_id(&schema("BatchRegister"), users));
    }

    #[test]
    fn sse_events_are_split_across_chunks() {
        let mut lines = SseLines::default();
        assert!(lines
            .feed(b": keep-alive\n\nid: 7\nevent: MicOn\nda")
            .is_empty());
        let events = lines.feed(b"ta: {\"Seq\":7}\n\nid: 8\ndata: {}\n\n");
        assert_eq!(
            events,
            vec![
                (Some(7), "{\"Seq\":7}".to_owned()),
                (Some(8), "{}".to_owned())
            ]
        );
    }
}
