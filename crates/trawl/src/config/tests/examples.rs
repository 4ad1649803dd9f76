//! The example files in `config/` load, with the variables they reference set: the
//! main example on its own, and the two tenant examples as files of `tenants_dir`.

use std::path::{Path, PathBuf};
use std::time::Duration;

use trawl_engine::config::TenantAccess;
use trawl_model::{Plan, Provider, SourceKind};

use super::{jail, CANARY};
use crate::config::{load, report};

fn example(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../../config")
        .join(name)
}

#[test]
fn the_example_files_load() {
    jail(|j| {
        for var in [
            "ACME_ZOOM_CLIENT_SECRET",
            "GLOBEX_ZOHO_CLIENT_SECRET",
            "GLOBEX_ZOHO_REFRESH_TOKEN",
            "INITECH_ZOOM_CLIENT_SECRET",
            "INITECH_ZOHO_CLIENT_SECRET",
            "INITECH_ZOHO_REFRESH_TOKEN",
        ] {
            j.set_env(var, CANARY);
        }
        let main = example("trawl.example.toml");
        let c = load(&main).unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(c.engine.tenants.len(), 2);
        assert!(c.warnings.is_empty(), "{:?}", c.warnings);

        j.create_dir("tenants.d").unwrap();
        for name in ["zoom.example.toml", "zoho.example.toml"] {
            let text = std::fs::read_to_string(example(name)).unwrap();
            j.create_file(format!("tenants.d/{name}"), &text).unwrap();
        }
        j.set_env("TRAWL_TENANTS_DIR", "tenants.d");
        let loaded = load(&main);
        let c = loaded.as_ref().unwrap_or_else(|e| panic!("{e}"));
        let ids: Vec<&str> = c.engine.tenants.iter().map(|t| t.id.as_str()).collect();
        assert_eq!(ids, ["acme", "globex", "initech-zoho", "initech-zoom"]);

        let zoom = &c.engine.tenants[3];
        assert_eq!(zoom.provider(), Provider::Zoom);
        assert_eq!(zoom.plan, Plan::Business);
        assert_eq!(zoom.settings.backfill, Duration::from_secs(90 * 86400));
        assert_eq!(zoom.settings.quota_share, 0.5);

        let zoho = &c.engine.tenants[2];
        let TenantAccess::Zoho { mail_base, .. } = &zoho.access else {
            panic!("zoho")
        };
        assert_eq!(mail_base.as_str(), "https://mail.zoho.eu/");
        assert_eq!(
            zoho.rate_limits[&SourceKind::ZohoMailAudit].per_second,
            Some(0.5)
        );

        let r = report(&loaded);
        assert!(
            r.ok && r.text.starts_with("configuration OK\n"),
            "{}",
            r.text
        );
        for line in [
            "tenants: 4 (zoom 2, zoho 2)",
            "  initech-zoho (zoho): mail_audit; https://mail.zoho.eu/ [tenants.d/zoho.example.toml]",
            "    rate limits: mail_audit 0.5/s",
            "streams: 6 (zoho.mail_audit 2, zoom.operation_logs 2, zoom.phone_operation_logs 2)",
            "  tenants.d/zoom.example.toml: client_secret: from environment variable \
             INITECH_ZOOM_CLIENT_SECRET",
            "warnings: 0",
        ] {
            assert!(r.text.lines().any(|l| l == line), "{line:?} not in\n{}", r.text);
        }
        assert!(!r.text.contains(CANARY));
    });
}
