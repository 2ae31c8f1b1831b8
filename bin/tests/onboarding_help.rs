//! Root help, `--version`, help topics, completion scripts and the built-in samples, run as
//! subprocesses of the built binary.

#[path = "onboarding_common/mod.rs"]
mod common;

use std::collections::BTreeMap;
use std::path::Path;

use common::{Shell, TID};
use tunnel_client::config::{load, unsupported_in_use, Command, RealFiles};

const TOPICS: [&str; 6] = [
    "quickstart",
    "samples",
    "doctor",
    "oauth",
    "plugin",
    "troubleshooting",
];
const SAMPLES: [&str; 4] = [
    "sample_mcp_enterprise_proxy",
    "sample_mcp_remote_no_auth",
    "sample_mcp_stdio_local",
    "sample_mcp_with_dcr",
];

#[test]
fn root_help_lists_commands_setup_pages_and_topics() {
    let sh = Shell::new("help");
    for args in [&[][..], &["--help"], &["help"]] {
        let o = sh.run(args);
        assert_eq!(o.code, 0, "{args:?}: {}", o.stderr);
        for cmd in [
            "init",
            "doctor",
            "run",
            "profiles",
            "admin tunnels",
            "demo",
            "dev control-plane",
            "dev mcp-stub",
            "completion",
        ] {
            assert!(o.stdout.contains(cmd), "{cmd} missing from root help");
        }
        for page in [
            "Tunnels management:",
            "Organization roles:",
            "Organization groups:",
            "Runtime API keys:",
            "Admin API keys:",
            "ChatGPT connector settings:",
        ] {
            assert!(o.stdout.contains(page), "{page} missing");
        }
        for t in TOPICS {
            assert_eq!(
                o.stdout
                    .lines()
                    .filter(|l| l
                        .trim_start()
                        .starts_with(&format!("tunnel-client help {t} ")))
                    .count(),
                1,
                "one line for topic {t}"
            );
        }
    }
    // The git revision follows when built from a checkout (tests/cli_papercuts.rs).
    let v = sh.run(&["--version"]);
    assert_eq!(v.code, 0);
    assert!(
        v.stdout.starts_with(env!("CARGO_PKG_VERSION")),
        "{}",
        v.stdout
    );
}

#[test]
fn help_topics_and_unknown_topic() {
    let sh = Shell::new("topics");
    for t in TOPICS {
        let o = sh.run(&["help", t]);
        assert_eq!(o.code, 0, "{t}: {}", o.stderr);
        assert!(o.stdout.len() > 400, "{t} too short");
        assert!(o.stdout.contains("Canonical setup URLs:"), "{t}");
    }
    let q = sh.run(&["help", "quickstart"]).stdout;
    for v in [
        "CONTROL_PLANE_TUNNEL_ID",
        "CONTROL_PLANE_API_KEY",
        "OPENAI_ADMIN_KEY",
        "tunnel-client init",
        "tunnel-client doctor",
        "tunnel-client run",
    ] {
        assert!(q.contains(v), "quickstart lacks {v}");
    }
    let o = sh.run(&["help", "nope"]);
    assert_eq!(o.code, 1);
    for t in TOPICS {
        assert!(o.stderr.contains(t), "{t} not listed: {}", o.stderr);
    }
    // help <command> shows the command's flags.
    let o = sh.run(&["help", "init"]);
    assert_eq!(o.code, 0);
    assert!(o.stdout.contains("--tunnel-id"), "{}", o.stdout);
    let o = sh.run(&["help", "admin", "tunnels"]);
    assert!(o.stdout.contains("admin tunnels get"), "{}", o.stdout);
    let o = sh.run(&["nonsense"]);
    assert_eq!(o.code, 1);
    assert!(o.stderr.contains("tunnel-client help"), "{}", o.stderr);
}

/// The YAML part of `profiles samples show`.
fn rendered(show: &str) -> String {
    show.split_once("Rendered with example values:\n\n")
        .map(|(_, y)| y.to_string())
        .expect("rendered section")
}

#[test]
fn samples_list_show_and_every_sample_loads_with_run_settings() {
    let sh = Shell::new("samples");
    let o = sh.run(&["profiles", "samples", "list"]);
    assert_eq!(o.code, 0);
    let names: Vec<&str> = o
        .stdout
        .lines()
        .map(|l| l.split('\t').next().unwrap())
        .collect();
    assert_eq!(names, SAMPLES);
    let env: BTreeMap<String, String> = [
        ("CONTROL_PLANE_API_KEY", "sk-test_key_123"),
        ("ENTERPRISE_CA_BUNDLE", "/etc/ssl/certs/ca-certificates.crt"),
        ("HTTPS_PROXY", "http://proxy.corp.example:3128"),
    ]
    .iter()
    .map(|(k, v)| (k.to_string(), v.to_string()))
    .collect();
    for name in SAMPLES {
        let o = sh.run(&["profiles", "samples", "show", name]);
        assert_eq!(o.code, 0, "{name}: {}", o.stderr);
        for field in [
            "Sample:",
            "Summary:",
            "Use when:",
            "Required:",
            "Optional:",
            "Notes:",
        ] {
            assert!(o.stdout.contains(field), "{name}: {field}");
        }
        let yaml = rendered(&o.stdout);
        let path = sh.home.join(format!("{name}.yaml"));
        std::fs::write(&path, &yaml).unwrap();
        let args = vec!["--config".to_string(), path.display().to_string()];
        let l = load(Command::Run, &args, &env, &RealFiles)
            .unwrap_or_else(|e| panic!("{name} does not load:\n{e}\n{yaml}"));
        assert!(l.warnings.is_empty(), "{name}: {:?}", l.warnings);
        assert!(unsupported_in_use(&l).is_empty(), "{name}");
        assert_eq!(l.config.control_plane.tunnel_id, TID);
        assert!(!yaml.contains("sk-"), "no key material in {name}");
    }
    let o = sh.run(&["profiles", "samples", "show", "sample_nope"]);
    assert_eq!(o.code, 1);
    assert!(o.stderr.contains("profiles samples list"), "{}", o.stderr);
}

/// Our samples, rendered with the Go examples' inputs, are the same YAML documents as the
/// Go client's (comments aside).
#[test]
fn samples_match_the_go_client_shape() {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../shared/spec/go-profiles");
    assert!(
        dir.is_dir(),
        "{} is missing: this test compares our samples with the Go client's, from the shared \
         spec checked out next to this repository",
        dir.display()
    );
    let sh = Shell::new("goshape");
    for (ours, go) in [
        ("sample_mcp_with_dcr", "sample_mcp_with_dcr.http.yaml"),
        ("sample_mcp_stdio_local", "sample_mcp_stdio_local.yaml"),
        (
            "sample_mcp_enterprise_proxy",
            "sample_mcp_enterprise_proxy.yaml",
        ),
    ] {
        let show = sh.run(&["profiles", "samples", "show", ours]).stdout;
        let a: yaml_serde::Value = yaml_serde::from_str(&rendered(&show)).unwrap();
        let b: yaml_serde::Value =
            yaml_serde::from_str(&std::fs::read_to_string(dir.join(go)).unwrap()).unwrap();
        assert_eq!(a, b, "{ours} differs from Go's {go}");
    }
}

#[test]
fn bash_completion_completes_commands_flags_and_samples() {
    let sh = Shell::new("completion");
    let script = sh.run(&["completion", "bash"]);
    assert_eq!(script.code, 0);
    let path = sh.home.join("tc.bash");
    std::fs::write(&path, &script.stdout).unwrap();
    let complete = |words: &[&str]| -> Vec<String> {
        let quoted: Vec<String> = words.iter().map(|w| format!("'{w}'")).collect();
        let prog = format!(
            "source {}; COMP_WORDS=({}); COMP_CWORD={}; _tunnel_client; printf '%s\\n' \"${{COMPREPLY[@]}}\"",
            path.display(),
            quoted.join(" "),
            words.len() - 1
        );
        let o = std::process::Command::new("bash")
            .args(["--norc", "-c", &prog])
            .output();
        match o {
            Ok(o) => String::from_utf8_lossy(&o.stdout)
                .lines()
                .map(String::from)
                .filter(|l| !l.is_empty())
                .collect(),
            Err(_) => vec!["<no bash>".into()],
        }
    };
    if complete(&["tunnel-client", ""]) == ["<no bash>"] {
        eprintln!("skipping: bash not available");
        return;
    }
    let top = complete(&["tunnel-client", ""]);
    for c in ["init", "doctor", "run", "profiles", "admin", "completion"] {
        assert!(top.contains(&c.to_string()), "{c} in {top:?}");
    }
    assert_eq!(
        complete(&["tunnel-client", "doctor", "--exp"]),
        ["--explain"]
    );
    assert_eq!(
        complete(&["tunnel-client", "admin", "tunnels", "cr"]),
        ["create"]
    );
    assert_eq!(
        complete(&[
            "tunnel-client",
            "profiles",
            "samples",
            "show",
            "sample_mcp_s"
        ]),
        ["sample_mcp_stdio_local"]
    );
    assert_eq!(
        complete(&["tunnel-client", "init", "--sample", "sample_mcp_r"]),
        ["sample_mcp_remote_no_auth"]
    );
    assert!(complete(&["tunnel-client", "run", "--control-plane.tun"])
        .contains(&"--control-plane.tunnel-id".to_string()));
    for shell in ["zsh", "fish"] {
        let o = sh.run(&["completion", shell]);
        assert_eq!(o.code, 0, "{shell}");
        assert!(o.stdout.contains("tunnel-client"), "{shell}");
    }
    assert_eq!(sh.run(&["completion", "tcsh"]).code, 1);
}
