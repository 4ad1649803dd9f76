//! Secrets resolve from the environment, from files and (with a warning) inline; every
//! way a secret reference can be wrong is named; and a canary secret shows up in no
//! `Debug`, `Display`, error or report, whether the load succeeds or fails.

use secrecy::ExposeSecret;
use trawl_engine::config::TenantAccess;

use super::{error, jail, load_in, with_tenant, CANARY, KAFKA};
use crate::config::{report, SecretOrigin};

/// The Zoom tenant with `client_secret` written as `secret`.
fn tenant_with_secret(secret: &str) -> String {
    with_tenant("").replace("{ env = \"ACME_SECRET\" }", secret)
}

fn client_secret(access: &TenantAccess) -> String {
    match access {
        TenantAccess::Zoom { credentials, .. } => credentials.client_secret.expose_secret(),
        TenantAccess::Zoho { credentials, .. } => credentials.client_secret.expose_secret(),
    }
    .to_string()
}

#[test]
fn secrets_resolve_from_env_file_and_inline() {
    jail(|j| {
        j.set_env("ACME_SECRET", CANARY);
        let c = load_in(j, &with_tenant("")).unwrap();
        assert_eq!(client_secret(&c.engine.tenants[0].access), CANARY);

        j.create_file("secret.txt", &format!("{CANARY}\r\n"))
            .unwrap();
        let c = load_in(j, &tenant_with_secret("{ file = \"secret.txt\" }")).unwrap();
        assert_eq!(client_secret(&c.engine.tenants[0].access), CANARY);
        assert_eq!(c.secrets[0].origin, SecretOrigin::File("secret.txt".into()));

        let c = load_in(j, &tenant_with_secret(&format!("{CANARY:?}"))).unwrap();
        assert_eq!(client_secret(&c.engine.tenants[0].access), CANARY);
        assert_eq!(c.secrets[0].origin, SecretOrigin::Inline);
        assert_eq!(
            c.warnings[0].to_string(),
            "tenants[0].client_secret: secret is written inline in the configuration; prefer \
             { env = \"NAME\" } or { file = \"PATH\" }"
        );
    });
}

#[test]
fn every_bad_secret_reference_is_named_by_field_and_source() {
    jail(|j| {
        j.set_env("EMPTY", "");
        j.create_file("empty.txt", "\n").unwrap();
        let cases = [
            ("{ env = \"NOPE_UNSET\" }", "environment variable NOPE_UNSET is not set"),
            ("{ env = \"EMPTY\" }", "environment variable EMPTY is empty"),
            ("{ file = \"empty.txt\" }", "secret file empty.txt is empty"),
            (
                "{ file = \"none.txt\" }",
                "cannot read secret file none.txt: No such file or directory (os error 2)",
            ),
            ("{ env = \"A\", file = \"b\" }", "give either `env` or `file`, not both"),
            ("{}", "a secret reference needs `env` or `file`"),
            ("\"\"", "must not be empty"),
            (
                "12345",
                "expected a secret: { env = \"NAME\" }, { file = \"PATH\" } or a string; found a number",
            ),
        ];
        for (written, reason) in cases {
            assert_eq!(
                error(j, &tenant_with_secret(written)),
                format!("tenants[0].client_secret: {reason}"),
                "client_secret = {written}"
            );
        }
        assert_eq!(
            error(j, &tenant_with_secret("{ vault = \"x\" }")),
            "tenants[0].client_secret.vault: unknown key; expected one of: env, file"
        );
    });
}

#[test]
fn no_secret_in_debug_display_or_report_of_a_good_config() {
    jail(|j| {
        j.set_env("ACME_SECRET", CANARY);
        j.set_env("GLOBEX_REFRESH", CANARY);
        j.set_env("KAFKA_PW", CANARY);
        j.create_file("globex_secret", CANARY).unwrap();
        let text = format!(
            "{KAFKA}[kafka.properties]\n\"sasl.password\" = {{ env = \"KAFKA_PW\" }}\n\
             \"ssl.key.password\" = {CANARY:?}\n{}\n[[tenants]]\nid = \"globex\"\nprovider = \"zoho\"\n\
             zoid = \"1\"\nclient_id = \"c\"\nclient_secret = {{ file = \"globex_secret\" }}\n\
             refresh_token = {{ env = \"GLOBEX_REFRESH\" }}\n",
            super::ZOOM_TENANT
        );
        let loaded = load_in(j, &text);
        let c = loaded.as_ref().unwrap();
        assert_eq!(
            c.engine.kafka.properties["sasl.password"], CANARY,
            "resolved"
        );
        let r = report(&loaded);
        assert!(r.ok);
        for shown in [format!("{c:?}"), format!("{:#?}", c.engine), r.text.clone()] {
            assert!(!shown.contains(CANARY), "secret leaked:\n{shown}");
        }
        assert!(r
            .text
            .contains("tenants[0].client_secret: from environment variable ACME_SECRET"));
        assert!(r
            .text
            .contains("tenants[1].client_secret: from file globex_secret"));
        assert!(r
            .text
            .contains("kafka.properties.\"ssl.key.password\": from inline in the configuration"));
    });
}

#[test]
fn no_secret_in_errors_even_when_it_is_written_in_the_wrong_place() {
    jail(|j| {
        j.set_env("ACME_SECRET", CANARY);
        let misplaced = [
            format!("{}client_secert = {CANARY:?}", with_tenant("")),
            tenant_with_secret(&format!("[{CANARY:?}]")),
            tenant_with_secret(&format!("{{ env = \"ACME_SECRET\", file = {CANARY:?} }}")),
            format!(
                "{}api_base = \"https://user:{CANARY}@api.zoom.us\"",
                with_tenant("")
            ),
            format!("{}refresh_token = {CANARY:?}", with_tenant("")),
            // A TOML syntax error on the line of a secret: the line is not quoted.
            tenant_with_secret(&format!("\"{CANARY}")),
            with_tenant(&format!(
                "[kafka.properties]\n\"sasl.password\" = [{CANARY:?}]"
            )),
        ];
        for text in misplaced {
            let loaded = load_in(j, &text);
            let errors = loaded.as_ref().expect_err("a wrong config");
            let r = report(&loaded);
            assert!(!r.ok);
            for shown in [errors.to_string(), format!("{errors:?}"), r.text] {
                assert!(!shown.contains(CANARY), "secret leaked:\n{shown}");
            }
        }
    });
}
