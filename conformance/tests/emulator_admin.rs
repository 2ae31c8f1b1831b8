//! The tunnel management routes (`/v1/tunnels*`) that `tunnel-client admin tunnels` uses.

mod common;

use common::{agent, delete, get, post, Reply};
use serde_json::json;
use tunnel_conformance::emulator::{Emulator, EmulatorConfig, Endpoint, Fault};

fn start() -> Emulator {
    Emulator::start(EmulatorConfig::default()).expect("emulator")
}

fn headers(key: &str) -> Vec<(String, String)> {
    vec![
        ("Authorization".into(), format!("Bearer {key}")),
        ("Accept".into(), "application/json".into()),
        ("User-Agent".into(), "oai-tunnel-client/0.0.0-test".into()),
        ("Content-Type".into(), "application/json".into()),
    ]
}

fn refs(h: &[(String, String)]) -> Vec<(&str, &str)> {
    h.iter().map(|(k, v)| (k.as_str(), v.as_str())).collect()
}

fn code(r: &Reply) -> String {
    r.json()["error"]["code"].as_str().unwrap_or("").to_string()
}

#[test]
fn crud_round_trip_with_the_admin_key() {
    let emu = start();
    let a = agent();
    let h = headers(emu.admin_key());
    let h = refs(&h);
    let base = format!("{}/v1/tunnels", emu.control_plane_url());

    let r = post(
        &a,
        &base,
        &h,
        &json!({"name":" demo ","description":"d","workspace_ids":["ws-1"]}).to_string(),
    )
    .unwrap();
    assert_eq!(r.status, 200, "{}", r.body);
    assert!(r
        .header("x-request-id")
        .is_some_and(|v| v.starts_with("req_emu_")));
    let t = r.json();
    let id = t["id"].as_str().unwrap().to_string();
    assert!(id.starts_with("tunnel_") && id.len() == 39, "{id}");
    assert_eq!(t["name"], "demo");
    assert_eq!(t["workspace_ids"], json!(["ws-1"]));

    let listed = get(&a, &format!("{base}?workspace_id=ws-1"), &h).unwrap();
    assert_eq!(listed.status, 200);
    assert_eq!(listed.json()["tunnels"][0]["id"], id.as_str());
    let by_org = get(&a, &format!("{base}?organization_id=org-emulator"), &h).unwrap();
    assert_eq!(by_org.json()["tunnels"][0]["id"], emu.tunnel_id());

    let r = post(
        &a,
        &format!("{base}/{id}"),
        &h,
        &json!({"description":"new","organization_ids":["org-a","org-b"]}).to_string(),
    )
    .unwrap();
    assert_eq!(r.status, 200, "{}", r.body);
    assert_eq!(r.json()["description"], "new");
    assert_eq!(
        r.json()["workspace_ids"],
        json!(["ws-1"]),
        "omitted list kept"
    );
    assert_eq!(r.json()["organization_ids"], json!(["org-a", "org-b"]));

    assert_eq!(
        get(&a, &format!("{base}/{id}"), &h).unwrap().json()["name"],
        "demo"
    );
    let d = delete(&a, &format!("{base}/{id}"), &h).unwrap();
    assert_eq!(d.status, 200);
    assert_eq!(d.json()["id"], id.as_str());
    assert_eq!(get(&a, &format!("{base}/{id}"), &h).unwrap().status, 404);
    assert_eq!(emu.tunnels().len(), 1);
    assert!(emu.violations().is_empty(), "{:?}", emu.violations());
}

#[test]
fn key_rules_scope_and_limits() {
    let emu = start();
    let a = agent();
    let base = format!("{}/v1/tunnels", emu.control_plane_url());
    let admin = headers(emu.admin_key());
    let admin = refs(&admin);
    let runtime = headers(emu.api_key());
    let runtime = refs(&runtime);

    // The runtime key reads its tunnel's metadata but cannot manage.
    let meta = get(&a, &format!("{base}/{}", emu.tunnel_id()), &runtime).unwrap();
    assert_eq!(meta.status, 200);
    assert_eq!(meta.json()["name"], "Emulated tunnel");
    let r = get(
        &a,
        &format!("{base}?organization_id=org-emulator"),
        &runtime,
    )
    .unwrap();
    assert_eq!(
        (r.status, code(&r).as_str()),
        (403, "tunnel_management_permission_required")
    );
    let wrong = headers("nope");
    let r = post(&a, &base, &refs(&wrong), "{}").unwrap();
    assert_eq!((r.status, code(&r).as_str()), (401, "invalid_api_key"));

    let r = get(&a, &base, &admin).unwrap();
    assert_eq!(
        (r.status, code(&r).as_str()),
        (400, "tunnel_active_organization_context_required")
    );
    let many: Vec<String> = (0..11).map(|i| format!("org-{i}")).collect();
    let r = post(
        &a,
        &base,
        &admin,
        &json!({"name":"x","organization_ids":many}).to_string(),
    )
    .unwrap();
    assert_eq!(
        (r.status, code(&r).as_str()),
        (400, "tunnel_principal_limit_exceeded")
    );
    let r = post(&a, &base, &admin, &json!({"name":"x"}).to_string()).unwrap();
    assert_eq!(r.status, 400);
    let r = get(&a, &format!("{base}/tunnel_BAD"), &admin).unwrap();
    assert_eq!(
        (r.status, code(&r).as_str()),
        (400, "invalid_tunnel_id_format")
    );

    // A rename shows up in the runtime metadata.
    let r = post(
        &a,
        &format!("{base}/{}", emu.tunnel_id()),
        &admin,
        &json!({"name":"Renamed"}).to_string(),
    )
    .unwrap();
    assert_eq!(r.status, 200);
    let meta = get(&a, &format!("{base}/{}", emu.tunnel_id()), &runtime).unwrap();
    assert_eq!(meta.json()["name"], "Renamed");

    emu.script(Endpoint::Admin, Fault::status(429));
    let r = get(&a, &format!("{base}?organization_id=org-emulator"), &admin).unwrap();
    assert_eq!((r.status, code(&r).as_str()), (429, "rate_limit_exceeded"));
}
