//! The §1.17 host-registration inventory, through the core.

use proptest::prelude::*;
use serde_json::json;

use super::*;
use crate::oauth::auth_server::{AsOutcome, AuthServerMetadata};

fn rec(url: &str, role: &str, disallow: bool) -> UrlRecord {
    UrlRecord {
        url: url.into(),
        description: String::new(),
        source: "oauth".into(),
        role: role.into(),
        index: "0".into(),
        group: String::new(),
        unix_socket: None,
        disallow_private: disallow,
    }
}

fn labels(r: &Registry) -> Vec<String> {
    r.targets().iter().map(|t| t.label.clone()).collect()
}

fn run(records: &[UrlRecord]) -> (Registry, Vec<Registration>) {
    let mut reg = Registry::new(true);
    let out = register(&mut reg, &HostRules::default(), records);
    (reg, out)
}

#[test]
fn classifier_admits_private_and_internal_hosts_keeping_the_full_url() {
    let rules = HostRules::new(true, true, &[".internal".into()], &[]).unwrap();
    let mut reg = Registry::new(false);
    let records = vec![
        rec(
            "https://user:pw@auth.internal/token?x=1#frag",
            "token-endpoint",
            false,
        ),
        rec("https://public.example.com/token", "token-endpoint", false),
    ];
    let out = register(&mut reg, &rules, &records);
    assert_eq!(labels(&reg), ["oauth-token-endpoint-0"]);
    let t = &reg.targets()[0];
    assert_eq!(t.exact, "https://user:pw@auth.internal/token?x=1#frag");
    assert_eq!(t.inclusion_reason, "suffix:.internal");
    assert_eq!(t.category, "oauth");
    assert_eq!(t.source, "oauth");
    // The log carries origins only.
    let text: String = out.iter().map(|r| r.line.clone()).collect();
    assert!(text.contains(
        "harpoon host auto-registered: label=oauth-token-endpoint-0 url=https://auth.internal "
    ));
    assert!(text.contains("skipped: not allowed: url=https://public.example.com"));
    assert!(!text.contains("pw") && !text.contains("x=1") && !text.contains("/token"));
}

#[test]
fn tags_labels_groups_and_collisions() {
    let mut issuer = rec("https://10.0.0.5/", "issuer", false);
    issuer.group = "Auth-Server:0".into();
    let mut custom = rec("https://10.0.0.5/c", "Custom-Role", false);
    custom.index = "1".into();
    let mut reg_ep = rec("https://10.0.0.5/r", "registration-endpoint", false);
    reg_ep.index = "2".into();
    let mut no_role = rec("https://10.0.0.5/n", "", false);
    no_role.index = String::new();
    let (reg, _) = run(&[issuer, custom, reg_ep, no_role]);
    assert_eq!(
        labels(&reg),
        [
            "oauth-issuer-0",
            "oauth-custom-role-1",
            "oauth-registration-endpoint-2",
            "oauth-3"
        ]
    );
    let t = reg.targets();
    assert_eq!(
        t[0].tags,
        ["auth-server-metadata", "group=auth-server:0", "issuer"]
    );
    assert_eq!(t[1].tags, ["custom-role"]);
    assert_eq!(t[2].tags, ["auth-server-metadata", "registration-endpoint"]);
    // Different URLs under one role collide on the label: -1, -2.
    let (reg, out) = run(&[
        rec("https://10.0.0.5/a", "token-endpoint", false),
        rec("https://10.0.0.5/b", "token-endpoint", false),
        rec("https://10.0.0.5/c", "token-endpoint", false),
    ]);
    assert_eq!(
        labels(&reg),
        [
            "oauth-token-endpoint-0",
            "oauth-token-endpoint-0-1",
            "oauth-token-endpoint-0-2"
        ]
    );
    assert!(out.iter().any(|r| r.line.contains("collision_count=2")));
}

#[test]
fn registering_the_same_bundle_again_is_a_no_op() {
    let records = vec![
        rec("http://127.0.0.1:8080/mcp", "prmd-resource", false),
        rec("http://127.0.0.1:8080/token", "token-endpoint", false),
        // The same URL under another role is a target of its own (as in Go).
        rec("http://127.0.0.1:8080/token", "issuer", false),
    ];
    let mut reg = Registry::new(true);
    register(&mut reg, &HostRules::default(), &records);
    assert_eq!(reg.len(), 3);
    let before = labels(&reg);
    for _ in 0..5 {
        let out = register(&mut reg, &HostRules::default(), &records);
        assert!(out.iter().all(|r| r.target.is_none()));
        assert!(out
            .iter()
            .all(|r| r.line.starts_with("harpoon host already registered")));
    }
    assert_eq!(labels(&reg), before);
}

#[test]
fn disallowed_private_records_need_the_exact_protected_resource_origin() {
    for url in [
        "https://127.0.0.1:8443/admin",
        "https://10.0.0.1/admin",
        "https://[fd00::1]/admin",
    ] {
        let (reg, out) = run(&[rec(url, "token-endpoint", true)]);
        assert!(reg.is_empty(), "{url}");
        assert!(out[0]
            .line
            .contains("exclusion_reason=\"private-host-registration-disabled\""));
    }
    // The exact origin of a trusted protected resource re-admits them.
    for (seed, url) in [
        ("https://10.0.0.1/mcp", "https://10.0.0.1:443/admin"),
        ("https://localhost/mcp", "https://LOCALHOST./admin"),
    ] {
        let (reg, _) = run(&[
            rec(seed, "prmd-resource", false),
            rec(url, "token-endpoint", true),
        ]);
        assert_eq!(reg.len(), 2, "{url}");
        assert_eq!(reg.targets()[1].inclusion_reason, PROTECTED_RESOURCE_HOST);
    }
    // Another port is another origin.
    let (reg, _) = run(&[
        rec("http://127.0.0.1:8080/mcp", "prmd-resource", false),
        rec("http://127.0.0.1:9090/token", "token-endpoint", true),
    ]);
    assert_eq!(labels(&reg), ["oauth-prmd-resource-0"]);
}

#[test]
fn disallowed_seeds_seed_nothing() {
    for (host, rules) in [
        ("10.0.0.1", HostRules::new(true, false, &[], &[]).unwrap()),
        ("127.0.0.1", HostRules::new(false, true, &[], &[]).unwrap()),
        ("169.254.169.254", HostRules::default()),
    ] {
        for role in ["prmd-resource", "prmd-source"] {
            let mut reg = Registry::new(true);
            register(
                &mut reg,
                &rules,
                &[
                    rec(&format!("http://{host}/mcp"), role, true),
                    rec(&format!("http://{host}/token"), "token-endpoint", true),
                ],
            );
            assert!(reg.is_empty(), "{host} {role}");
        }
    }
}

#[test]
fn the_protected_resource_host_admits_its_own_endpoints_only() {
    let (reg, _) = run(&[
        rec("https://mcp.example.com/mcp", "prmd-resource", false),
        rec(
            "https://auth.mcp.example.com/token",
            "token-endpoint",
            false,
        ),
        rec("https://idp.other.com/token", "token-endpoint", false),
        rec("https://mcp.example.com.evil.com/token", "jwks-uri", false),
    ]);
    assert_eq!(
        labels(&reg),
        ["oauth-prmd-resource-0", "oauth-token-endpoint-0"]
    );
    assert!(reg
        .targets()
        .iter()
        .all(|t| t.inclusion_reason == PROTECTED_RESOURCE_HOST));
    // A PRMD source on another (metadata) host seeds the policy itself.
    let (reg, _) = run(&[
        rec("https://mcp.example.com/mcp", "prmd-resource", false),
        rec(
            "https://meta.example.net/.well-known/oauth-protected-resource",
            "prmd-source",
            false,
        ),
    ]);
    assert_eq!(reg.len(), 2);
    // An over-broad resource (`com` has no eTLD+1) seeds nothing.
    let (reg, _) = run(&[
        rec("https://com/mcp", "prmd-resource", false),
        rec("https://token.com/token", "token-endpoint", false),
    ]);
    assert!(reg.is_empty());
    let (reg, _) = run(&[
        rec("https://co.uk/mcp", "prmd-resource", false),
        rec("https://bank.co.uk/token", "token-endpoint", false),
    ]);
    assert!(reg.is_empty());
}

fn auth(meta: AuthServerMetadata, selected: &str) -> AsOutcome {
    AsOutcome {
        issuer_url: meta.issuer.clone().unwrap_or_default(),
        selected_url: Some(selected.into()),
        metadata: Some(meta),
        body: None,
        error: None,
        attempts: Vec::new(),
    }
}

#[test]
fn the_bundle_follows_go_order_trust_and_sockets() {
    let prmd = json!({
        "resource": "http://localhost/mcp",
        "authorization_servers": ["http://localhost/dcr10", "https://ignored.example"]
    })
    .to_string();
    let meta = AuthServerMetadata {
        issuer: Some("http://localhost/dcr10".into()),
        authorization_endpoint: Some("http://localhost/dcr10/authorize".into()),
        token_endpoint: Some("http://localhost/admin/token".into()),
        registration_endpoint: Some("http://localhost/dcr10/register".into()),
        jwks_uri: Some("https://idp.example.com/jwks".into()),
        revocation_endpoint: Some("not a url".into()),
        ..AuthServerMetadata::default()
    };
    let a = auth(
        meta,
        "http://localhost/.well-known/oauth-authorization-server/dcr10",
    );
    let src = "http://localhost/.well-known/oauth-protected-resource/mcp";
    let records = bundle(&Discovered {
        prmd: prmd.as_bytes(),
        source_url: Some(src),
        mcp_url: Some("http://localhost/mcp"),
        unix_socket: Some("/run/mcp.sock"),
        auth_server: Some(&a),
    })
    .unwrap();
    let roles: Vec<&str> = records.iter().map(|r| r.role.as_str()).collect();
    assert_eq!(
        roles,
        [
            "prmd-resource",
            "prmd-auth-server",
            "prmd-source",
            "auth-server-metadata",
            "issuer",
            "token-endpoint",
            "jwks-uri",
            "registration-endpoint"
        ]
    );
    let group = format!(
        "auth-server:{}:0",
        crate::sha256::hex_prefix(src.as_bytes(), 6)
    );
    assert_eq!(records[1].group, group);
    assert_eq!(records[0].group, "");
    let flagged: Vec<bool> = records.iter().map(|r| r.disallow_private).collect();
    assert_eq!(
        flagged,
        [false, false, false, false, false, false, true, false]
    );
    let socket: Vec<bool> = records.iter().map(|r| r.unix_socket.is_some()).collect();
    // The token endpoint is outside the issuer path, the JWKS URI on another host.
    assert_eq!(socket, [true, true, true, true, true, false, false, true]);
    // The authorization endpoint is never a record.
    assert!(records.iter().all(|r| !r.url.ends_with("/authorize")));
}

#[test]
fn customer_host_scenario_registers_the_mcp_host_and_not_the_external_idp() {
    let prmd = json!({
        "resource": "https://mcp.customer.example/mcp",
        "authorization_servers": ["https://mcp.customer.example"]
    })
    .to_string();
    let meta = AuthServerMetadata {
        issuer: Some("https://mcp.customer.example".into()),
        registration_endpoint: Some("https://mcp.customer.example/register".into()),
        token_endpoint: Some("https://idp.saas.example/oauth/token".into()),
        ..AuthServerMetadata::default()
    };
    let a = auth(
        meta,
        "https://mcp.customer.example/.well-known/oauth-authorization-server",
    );
    let records = bundle(&Discovered {
        prmd: prmd.as_bytes(),
        source_url: Some("https://mcp.customer.example/.well-known/oauth-protected-resource/mcp"),
        mcp_url: Some("https://mcp.customer.example/mcp"),
        unix_socket: None,
        auth_server: Some(&a),
    })
    .unwrap();
    let (reg, _) = run(&records);
    let urls: Vec<&str> = reg.targets().iter().map(|t| t.exact.as_str()).collect();
    assert!(urls.contains(&"https://mcp.customer.example/.well-known/oauth-authorization-server"));
    assert!(urls.contains(&"https://mcp.customer.example/register"));
    assert!(!urls.iter().any(|u| u.contains("idp.saas.example")));
    // Records off the trusted origin are flagged.
    let untrusted = bundle(&Discovered {
        prmd: prmd.as_bytes(),
        source_url: Some("https://mcp.customer.example/.well-known/oauth-protected-resource/mcp"),
        mcp_url: Some("https://other.example/mcp"),
        unix_socket: None,
        auth_server: Some(&a),
    })
    .unwrap();
    assert!(untrusted.iter().all(|r| r.disallow_private));
}

#[test]
fn bundles_without_urls_fail_in_gos_words() {
    let none = bundle(&Discovered {
        prmd: br#"{"resource":"urn:x","authorization_servers":["ftp://x"]}"#,
        source_url: None,
        mcp_url: None,
        unix_socket: None,
        auth_server: None,
    });
    assert_eq!(
        none.unwrap_err(),
        "no urls found in protected resource metadata"
    );
    assert!(bundle(&Discovered {
        prmd: b"not json",
        source_url: None,
        mcp_url: None,
        unix_socket: None,
        auth_server: None,
    })
    .unwrap_err()
    .starts_with("decode protected resource metadata"));
}

#[test]
fn labels_are_sanitised_like_go() {
    assert_eq!(
        sanitize_label("oauth-Custom Role!!-1"),
        "oauth-custom-role--1"
    );
    assert_eq!(sanitize_label("a-!b"), "a--b");
    assert_eq!(sanitize_label("__x"), "x");
    assert_eq!(sanitize_label("!!!"), "");
    assert_eq!(sanitize_label(&"a".repeat(80)).len(), 64);
    let long = "a".repeat(63) + "-";
    assert_eq!(with_suffix(&long, 12), "a".repeat(61) + "-12");
}

fn arb_record() -> impl Strategy<Value = UrlRecord> {
    let host = prop_oneof![
        Just("127.0.0.1".to_string()),
        Just("10.1.2.3".to_string()),
        Just("mcp.example.com".to_string()),
        Just("auth.mcp.example.com".to_string()),
        Just("idp.example.net".to_string()),
        Just("com".to_string()),
        Just("169.254.169.254".to_string()),
    ];
    let role = prop_oneof![
        Just("prmd-resource"),
        Just("prmd-source"),
        Just("token-endpoint"),
        Just("issuer"),
        Just("")
    ];
    (
        host,
        prop_oneof![Just("http"), Just("https")],
        role,
        "[a-c]{0,2}",
        any::<bool>(),
        any::<bool>(),
    )
        .prop_map(|(h, s, role, path, dis, oauth)| {
            let mut r = rec(&format!("{s}://{h}/{path}"), role, dis);
            if !oauth {
                r.source = "other".into();
            }
            r
        })
}

proptest! {
    /// Whatever a bundle holds: re-registering it changes nothing, labels stay valid and
    /// unique, and every admitted record was classifier-private (and not flagged) or on a
    /// protected-resource host.
    #[test]
    fn registration_is_idempotent_and_admits_only_by_the_rules(
        records in proptest::collection::vec(arb_record(), 0..12)
    ) {
        let rules = HostRules::default();
        let mut reg = Registry::new(true);
        let out = register(&mut reg, &rules, &records);
        let snapshot: Vec<(String, String)> =
            reg.targets().iter().map(|t| (t.label.clone(), t.key.clone())).collect();
        let again = register(&mut reg, &rules, &records);
        prop_assert!(again.iter().all(|r| r.target.is_none()));
        let after: Vec<(String, String)> =
            reg.targets().iter().map(|t| (t.label.clone(), t.key.clone())).collect();
        prop_assert_eq!(&snapshot, &after);
        let mut seen = std::collections::HashSet::new();
        for t in reg.targets() {
            prop_assert!(crate::harpoon::registry::valid_label(&t.label));
            prop_assert!(seen.insert(t.label.clone()));
            prop_assert!(t.inclusion_reason == PROTECTED_RESOURCE_HOST
                || (rules.classify(&t.url.hostname()).is_some()
                    && t.inclusion_reason == rules.classify(&t.url.hostname()).unwrap()));
            prop_assert!(t.url.hostname() != "169.254.169.254" && t.url.hostname() != "com"
                || t.inclusion_reason == PROTECTED_RESOURCE_HOST);
        }
        prop_assert_eq!(out.iter().filter(|r| r.target.is_some()).count(), reg.len());
    }
}
