//! What a model is told about the tools: R2E-Gym's function-calling schemas
//! (OpenAI `tools` JSON, same names, descriptions and parameters, key order
//! kept) and a text rendering of them for XML-style calling
//! (`<function=NAME><parameter=KEY>VALUE</parameter></function>`).

use serde::Deserialize;
use serde::de::{MapAccess, Visitor};
use std::fmt::Write;

/// The `tools` array R2E-Gym sends with every request in function-calling
/// mode (search, file_editor, execute_bash, finish), byte for byte.
pub const TOOLS_JSON: &str = include_str!("text/tools.json");

/// [`TOOLS_JSON`] parsed.
pub fn tools() -> serde_json::Value {
    serde_json::from_str(TOOLS_JSON).unwrap_or_default()
}

#[derive(Deserialize)]
struct Tool {
    function: Function,
}

#[derive(Deserialize)]
struct Function {
    name: String,
    description: String,
    parameters: Parameters,
}

#[derive(Deserialize)]
struct Parameters {
    properties: Ordered,
    #[serde(default)]
    required: Vec<String>,
}

#[derive(Deserialize)]
struct Property {
    #[serde(rename = "type")]
    kind: String,
    #[serde(default)]
    description: String,
    #[serde(rename = "enum")]
    choices: Option<Vec<String>>,
}

/// Properties in the order the schema lists them.
struct Ordered(Vec<(String, Property)>);

impl<'de> Deserialize<'de> for Ordered {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl<'de> Visitor<'de> for V {
            type Value = Ordered;
            fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
                f.write_str("a map of properties")
            }
            fn visit_map<A: MapAccess<'de>>(self, mut m: A) -> Result<Ordered, A::Error> {
                let mut v = Vec::new();
                while let Some(entry) = m.next_entry()? {
                    v.push(entry);
                }
                Ok(Ordered(v))
            }
        }
        d.deserialize_map(V)
    }
}

/// The tools described for XML-style calling, one block per tool:
/// description, then each parameter with its type, whether it is required,
/// its allowed values and its description.
pub fn xml_docs() -> String {
    let tools: Vec<Tool> = serde_json::from_str(TOOLS_JSON).unwrap_or_default();
    let mut out = String::new();
    for (n, tool) in tools.iter().enumerate() {
        let f = &tool.function;
        let _ = writeln!(out, "–– BEGIN FUNCTION #{}: {} ––", n + 1, f.name);
        let description = f.description.trim();
        let description = description
            .strip_prefix("Description:")
            .unwrap_or(description)
            .trim_start();
        let _ = writeln!(out, "Description:\n{description}\n");
        out.push_str("Parameters:\n");
        for (i, (key, p)) in f.parameters.properties.0.iter().enumerate() {
            let need = if f.parameters.required.contains(key) {
                "required"
            } else {
                "optional"
            };
            let _ = writeln!(out, "  {}. {key} ({}, {need})", i + 1, p.kind);
            if let Some(choices) = &p.choices {
                let _ = writeln!(out, "Allowed values: [{}]", choices.join(", "));
            }
            let _ = writeln!(out, "{}", p.description);
        }
        let _ = writeln!(out, "–– END FUNCTION #{} ––\n", n + 1);
    }
    out
}

#[cfg(test)]
mod tests {
    #[test]
    fn schemas_name_the_four_tools() {
        let names: Vec<String> = super::tools()
            .as_array()
            .map(|a| {
                a.iter()
                    .map(|t| t["function"]["name"].as_str().unwrap_or("").to_string())
                    .collect()
            })
            .unwrap_or_default();
        assert_eq!(names, ["search", "file_editor", "execute_bash", "finish"]);
        let docs = super::xml_docs();
        assert!(docs.contains("  1. command (string, required)\nAllowed values: [view, create, str_replace, insert, undo_edit]"));
    }
}
