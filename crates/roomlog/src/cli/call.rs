//! `roomlog call ACTION key=value... | --json '{...}'`: a signed call, its response printed.

use std::process::ExitCode;

use anyhow::{bail, Context};
use serde_json::{Map, Value};

use super::ClientArgs;

#[derive(Debug, clap::Args)]
pub struct CallArgs {
    /// The action, e.g. GetRoomEvent.
    pub action: String,
    /// Parameters as Key=value (values that parse as JSON are taken as JSON, others as strings;
    /// dotted keys nest: Events.0.EventId=e1).
    pub params: Vec<String>,
    /// All parameters as one JSON object (merged under any Key=value).
    #[arg(long)]
    pub json: Option<String>,
    /// Fill in SdkAppId from the bootstrap credentials when it is not given.
    #[arg(long, default_value_t = true, action = clap::ArgAction::Set)]
    pub default_sdk_app_id: bool,
    #[command(flatten)]
    pub client: ClientArgs,
}

pub async fn run(args: CallArgs) -> anyhow::Result<ExitCode> {
    let mut params = match &args.json {
        Some(text) => match serde_json::from_str(text).context("--json is not valid JSON")? {
            Value::Object(map) => map,
            _ => bail!("--json must be a JSON object"),
        },
        None => Map::new(),
    };
    for pair in &args.params {
        let (key, value) = pair
            .split_once('=')
            .with_context(|| format!("expected Key=value, got `{pair}`"))?;
        let value = serde_json::from_str(value).unwrap_or_else(|_| Value::String(value.to_owned()));
        insert_path(&mut params, key, value)?;
    }
    if args.default_sdk_app_id && !params.contains_key("SdkAppId") && needs_sdk_app_id(&args.action)
    {
        if let Some(id) = args.client.default_sdk_app_id() {
            params.insert("SdkAppId".into(), id.into());
        }
    }
    let response = args
        .client
        .client()?
        .call_raw(&args.action, &Value::Object(params))
        .await?;
    println!("{}", serde_json::to_string_pretty(&response)?);
    Ok(if response.get("Error").is_some() {
        ExitCode::FAILURE
    } else {
        ExitCode::SUCCESS
    })
}

fn needs_sdk_app_id(action: &str) -> bool {
    matches!(
        action,
        "GetRoomEvent"
            | "ReportRoomEvents"
            | "CreateRoom"
            | "BatchCreateRoom"
            | "ModifyRoom"
            | "GetRooms"
    )
}

/// Sets `a.0.b` = value, creating objects and arrays (numeric segments) along the way.
fn insert_path(root: &mut Map<String, Value>, path: &str, value: Value) -> anyhow::Result<()> {
    let segments: Vec<&str> = path.split('.').collect();
    let mut slot = root.entry(segments[0].to_owned()).or_insert(Value::Null);
    for segment in &segments[1..] {
        slot = match segment.parse::<usize>() {
            Ok(index) => {
                if slot.is_null() {
                    *slot = Value::Array(Vec::new());
                }
                let array = slot
                    .as_array_mut()
                    .with_context(|| format!("`{path}`: {segment} indexes a non-array"))?;
                if array.len() <= index {
                    array.resize(index + 1, Value::Null);
                }
                &mut array[index]
            }
            Err(_) => {
                if slot.is_null() {
                    *slot = Value::Object(Map::new());
                }
                slot.as_object_mut()
                    .with_context(|| format!("`{path}`: {segment} names a field of a non-object"))?
                    .entry(segment.to_string())
                    .or_insert(Value::Null)
            }
        };
    }
    *slot = value;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dotted_keys_nest() {
        let mut map = Map::new();
        insert_path(&mut map, "RoomId", Value::from(5)).unwrap();
        insert_path(&mut map, "Events.0.EventId", Value::from("e1")).unwrap();
        insert_path(&mut map, "Events.1.EventType", Value::from("MicOn")).unwrap();
        assert_eq!(
            Value::Object(map),
            serde_json::json!({"RoomId": 5, "Events": [{"EventId": "e1"}, {"EventType": "MicOn"}]})
        );
    }
}
