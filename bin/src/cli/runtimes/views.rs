//! The records and tunnels as the `--json` payloads show them (every field present, as
//! the Go client's maps have them).

use serde::Serialize;

use super::state::{AliasRecord, ProcessRecord};
use crate::cli::admin::Tunnel;

#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct TunnelView {
    pub id: String,
    pub name: String,
    pub description: String,
    pub organization_ids: Vec<String>,
    pub workspace_ids: Vec<String>,
    pub tenant_ids: Vec<String>,
}

impl From<&Tunnel> for TunnelView {
    fn from(t: &Tunnel) -> Self {
        TunnelView {
            id: t.id.clone(),
            name: t.name.clone(),
            description: t.description.clone(),
            organization_ids: t.organization_ids.clone(),
            workspace_ids: t.workspace_ids.clone(),
            tenant_ids: t.tenant_ids.clone(),
        }
    }
}

#[derive(Debug, Clone, Default, Serialize)]
pub struct AliasView {
    pub alias: String,
    pub tunnel_id: String,
    pub name: String,
    pub admin_profile: String,
    pub description: String,
    pub organization_ids: Vec<String>,
    pub workspace_ids: Vec<String>,
    pub tenant_ids: Vec<String>,
    pub config_path: String,
    pub profile_name: String,
    pub profile_dir: String,
    pub profile_path: String,
    pub health_url_file: String,
    pub updated_at: String,
    /// Beyond Go: what answers now (`stopped|starting|healthy|ready`), the admin UI when a
    /// live `/healthz` answers (empty otherwise), and `/readyz`'s reason.
    pub runtime_state: String,
    pub ui_url: String,
    pub readiness_reason: String,
}

impl From<&AliasRecord> for AliasView {
    fn from(r: &AliasRecord) -> Self {
        AliasView {
            alias: r.alias.clone(),
            tunnel_id: r.tunnel_id.clone(),
            name: r.name.clone(),
            admin_profile: r.admin_profile.clone(),
            description: r.description.clone(),
            organization_ids: r.organization_ids.clone(),
            workspace_ids: r.workspace_ids.clone(),
            tenant_ids: r.tenant_ids.clone(),
            config_path: r.config_path.clone(),
            profile_name: r.profile_name.clone(),
            profile_dir: r.profile_dir.clone(),
            profile_path: r.profile_path.clone(),
            health_url_file: r.health_url_file.clone(),
            updated_at: r.updated_at.clone(),
            ..AliasView::default()
        }
    }
}

#[derive(Debug, Clone, Default, Serialize)]
pub struct ProcessView {
    pub alias: String,
    pub tunnel_id: String,
    pub admin_profile: String,
    pub mode: String,
    pub session_name: String,
    pub config_path: String,
    pub profile_name: String,
    pub profile_dir: String,
    pub profile_path: String,
    pub health_url_file: String,
    pub target_kind: String,
    pub target_value: String,
    pub command: String,
    pub log_path: String,
    pub started_at: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub pid: Option<u32>,
}

impl From<&ProcessRecord> for ProcessView {
    fn from(p: &ProcessRecord) -> Self {
        ProcessView {
            alias: p.alias.clone(),
            tunnel_id: p.tunnel_id.clone(),
            admin_profile: p.admin_profile.clone(),
            mode: p.mode.clone(),
            session_name: p.session_name.clone(),
            config_path: p.config_path.clone(),
            profile_name: p.profile_name.clone(),
            profile_dir: p.profile_dir.clone(),
            profile_path: p.profile_path.clone(),
            health_url_file: p.health_url_file.clone(),
            target_kind: p.target_kind.clone(),
            target_value: p.target_value.clone(),
            command: p.command.clone(),
            log_path: p.log_path.clone(),
            started_at: p.started_at.clone(),
            pid: (p.pid > 0).then_some(p.pid),
        }
    }
}
