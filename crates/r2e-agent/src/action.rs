//! Actions in model replies: the `<function=NAME><parameter=KEY>value</parameter></function>`
//! text format (parsed and rendered the way R2E-Gym does, since models were
//! trained on it) and native tool calls.

use r2e_core::Action;
use serde_json::{Map, Value};

/// What R2E-Gym answers a reply without a function call (the observation
/// its models were trained to react to).
pub const CONTINUE_MSG: &str = "\nYou forgot to use a function call in your response. \nYOU MUST USE A FUNCTION CALL IN EACH RESPONSE.\n\nIMPORTANT: YOU SHOULD NEVER ASK FOR HUMAN HELP.\n";

/// One `<function=…>` call as the model wrote it: the tool name and the
/// parameters in their order (R2E-Gym writes them back in that order).
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct XmlCall {
    /// The tool name; empty when the reply had no call.
    pub tool: String,
    /// `(key, value)` pairs, values trimmed.
    pub params: Vec<(String, String)>,
}

impl XmlCall {
    /// The call as a trajectory [`Action`] (string arguments).
    pub fn to_action(&self) -> Action {
        Action {
            tool: self.tool.clone(),
            args: self
                .params
                .iter()
                .map(|(k, v)| (k.clone(), Value::String(v.clone())))
                .collect(),
        }
    }

    /// The call as R2E-Gym writes it back into the conversation:
    /// `<function=NAME>\n  <parameter=KEY>VALUE</parameter>\n…</function>`.
    pub fn render(&self) -> String {
        let mut s = format!("<function={}>\n", self.tool);
        for (key, value) in &self.params {
            s.push_str(&format!("  <parameter={key}>{value}</parameter>\n"));
        }
        s.push_str("</function>");
        s
    }
}

/// Splits a text reply into its thought (everything before the first
/// `<function=…>…</function>` block, trimmed) and the call in that block.
/// Without a block, the whole reply is the thought and the call has an
/// empty tool name.
pub fn parse_xml(reply: &str) -> (String, XmlCall) {
    let Some(start) = reply.find("<function=") else {
        return (reply.trim().to_string(), XmlCall::default());
    };
    let Some(end) = reply[start..].find("</function>") else {
        return (reply.trim().to_string(), XmlCall::default());
    };
    let block = &reply[start..start + end + "</function>".len()];
    (reply[..start].trim().to_string(), parse_block(block))
}

/// The call of one `<function=…>` block.
fn parse_block(block: &str) -> XmlCall {
    // `<function\s*=\s*([^>]+)>`
    let tool = block
        .find("<function")
        .map(|i| &block[i + "<function".len()..])
        .and_then(|rest| rest.trim_start().strip_prefix('='))
        .and_then(|rest| rest.find('>').map(|j| rest[..j].trim().to_string()))
        .unwrap_or_default();
    let mut params: Vec<(String, String)> = Vec::new();
    let mut rest = block;
    // `<parameter\s*=\s*([^>]+)>(.*?)</parameter>`, DOTALL; a repeated key keeps
    // its first position and its last value, like a Python dict.
    while let Some(i) = rest.find("<parameter") {
        let after = &rest[i + "<parameter".len()..];
        let Some(eq) = after.trim_start().strip_prefix('=') else {
            rest = after;
            continue;
        };
        let Some(gt) = eq.find('>') else { break };
        let key = eq[..gt].trim().to_string();
        let body = &eq[gt + 1..];
        let Some(close) = body.find("</parameter>") else {
            break;
        };
        let value = body[..close].trim().to_string();
        match params.iter_mut().find(|(k, _)| *k == key) {
            Some(slot) => slot.1 = value,
            None => params.push((key, value)),
        }
        rest = &body[close + "</parameter>".len()..];
    }
    XmlCall { tool, params }
}

/// The action of a native tool call: its name and JSON arguments. Arguments
/// that are not a JSON object give an action without a tool (the model gets
/// the missing-function-call nudge, as in R2E-Gym).
pub fn from_tool_call(name: &str, arguments: &str) -> Action {
    let args = if arguments.trim().is_empty() {
        Some(Map::new())
    } else {
        serde_json::from_str::<Value>(arguments)
            .ok()
            .and_then(|v| v.as_object().cloned())
    };
    match args {
        Some(args) => Action {
            tool: name.to_string(),
            args,
        },
        None => Action {
            tool: String::new(),
            args: Map::new(),
        },
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_first_block_is_the_action_and_the_text_before_it_the_thought() {
        let reply = "Let me look.\n\n<function=file_editor>\n  <parameter=path> /testbed/a.py </parameter>\n  <parameter = command>view</parameter>\n<parameter=file_text>\nline 1\n  line 2\n</parameter>\n</function>\n<function=finish></function>";
        let (thought, call) = parse_xml(reply);
        assert_eq!(thought, "Let me look.");
        assert_eq!(call.tool, "file_editor");
        let action = call.to_action();
        assert_eq!(action.args["command"], "view");
        assert_eq!(action.args["path"], "/testbed/a.py");
        assert_eq!(action.args["file_text"], "line 1\n  line 2");
        assert_eq!(
            call.render(),
            "<function=file_editor>\n  <parameter=path>/testbed/a.py</parameter>\n  <parameter=command>view</parameter>\n  <parameter=file_text>line 1\n  line 2</parameter>\n</function>"
        );
    }

    #[test]
    fn no_block_means_no_action() {
        let (thought, call) = parse_xml("  I think we are done.  ");
        assert_eq!(thought, "I think we are done.");
        assert!(call.tool.is_empty());
        assert_eq!(call.render(), "<function=>\n</function>");
        let (_, call) = parse_xml("<function=finish> never closed");
        assert!(call.tool.is_empty());
    }

    #[test]
    fn native_arguments_must_be_a_json_object() {
        let action = from_tool_call(
            "file_editor",
            r#"{"command": "view", "view_range": [1, 20]}"#,
        );
        assert_eq!(action.tool, "file_editor");
        assert_eq!(action.args["view_range"], serde_json::json!([1, 20]));
        assert!(from_tool_call("search", "{not json").tool.is_empty());
        assert!(from_tool_call("search", "[1]").tool.is_empty());
        assert_eq!(from_tool_call("finish", "").tool, "finish");
    }
}
