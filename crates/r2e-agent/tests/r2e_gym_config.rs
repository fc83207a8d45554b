//! Loading R2E-Gym agent-config YAML files: prompts used as written (the
//! system prompt verbatim, the instance prompt with Python `str.format`
//! placeholders), the action format taken from the file.

use r2e_agent::{ActionFormat, AgentConfig, PromptVars};

fn vars() -> PromptVars {
    PromptVars {
        problem_statement: "calc.add({x}) is wrong".into(),
        working_dir: "/testbed".into(),
        test_patch: "diff --git a/t.py b/t.py".into(),
        test_file: String::new(),
    }
}

#[test]
fn a_yaml_config_in_r2e_gym_shape_loads_and_renders() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("my_agent.yaml");
    std::fs::write(
        &path,
        "system_prompt: |-\n  You are an agent. Use {braces} freely here.\n\n  <function=example>\n  </function>\ninstance_prompt: |-\n  Issue:\n  <github_issue>\n  {problem_statement}\n  </github_issue>\n  Literal {{braces}} and the tests: {gt_patch}\ncommand_files:\n  - \"./src/tools/file_editor.py\"\nllm_name: \"gpt-4o\"\nother_args:\n  max_retries: 3\n",
    )
    .unwrap();
    let (config, llm) = AgentConfig::from_r2e_gym_yaml(&path).unwrap();
    assert_eq!(config.name, "my_agent");
    assert_eq!(llm.as_deref(), Some("gpt-4o"));
    assert_eq!(config.action_format, ActionFormat::Xml);
    assert_eq!(
        config.render_system(&vars()).unwrap(),
        "You are an agent. Use {braces} freely here.\n\n<function=example>\n</function>"
    );
    assert_eq!(
        config.render_instance(&vars()).unwrap(),
        "Issue:\n<github_issue>\ncalc.add({x}) is wrong\n</github_issue>\nLiteral {braces} and the tests: diff --git a/t.py b/t.py"
    );
}

#[test]
fn bad_files_say_what_is_wrong() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("bad.yaml");
    std::fs::write(&path, "instance_prompt: hi\n").unwrap();
    let err = AgentConfig::from_r2e_gym_yaml(&path)
        .unwrap_err()
        .to_string();
    assert!(err.contains("system_prompt"), "{err}");
    std::fs::write(
        &path,
        "system_prompt: s\ninstance_prompt: \"{repo_name}\"\n",
    )
    .unwrap();
    let err = AgentConfig::from_r2e_gym_yaml(&path)
        .unwrap_err()
        .to_string();
    assert!(
        err.contains("{repo_name}") && err.contains("instance_prompt"),
        "{err}"
    );
    let err = AgentConfig::from_r2e_gym_yaml(&dir.path().join("missing.yaml"))
        .unwrap_err()
        .to_string();
    assert!(err.contains("missing.yaml"), "{err}");
}
