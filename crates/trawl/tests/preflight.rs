//! `trawl preflight` against the simulator: each verdict (wrong secret, wrong data
//! center, missing scope, Free plan, no Zoom Phone in its three forms, a Zoho
//! organization that does not answer, an unreachable host) with its reason and exit code
//! 2, the good tenants passing with exit 0, `config/sim.example.toml`'s demo set as the
//! README's quick start writes its tenants, a tenant file checked before it goes into
//! `tenants_dir`, and the request bound: at most 3 API requests per stream and one token
//! request per tenant (one more after each token an API refused), counted by the
//! simulator (`/_sim/stats`), not by trawl.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::process::Command;

use serde_json::Value;
use trawl_sim::{SimConfig, SimHandle, Simulator};

async fn start_sim(toml: &str) -> SimHandle {
    let config: SimConfig = toml::from_str(toml).expect("simulator config");
    Simulator::start(config, "127.0.0.1:0".parse().unwrap())
        .await
        .expect("simulator starts")
}

/// What the simulator says it served, through its HTTP endpoint.
async fn stats(sim: &SimHandle) -> Value {
    reqwest::get(format!("{}/_sim/stats", sim.base_url()))
        .await
        .unwrap()
        .json()
        .await
        .unwrap()
}

/// API requests and token requests (issued or refused) the simulator saw.
async fn served(sim: &SimHandle) -> (u64, u64) {
    let s = stats(sim).await;
    let n = |k: &str| s[k].as_u64().unwrap();
    (n("requests"), n("tokens_issued") + n("token_errors"))
}

/// A port nothing listens on.
fn closed_port() -> u16 {
    let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    l.local_addr().unwrap().port()
}

struct Run {
    code: i32,
    stdout: String,
    stderr: String,
}

impl Run {
    fn json(&self) -> Value {
        serde_json::from_str(&self.stdout).unwrap_or_else(|e| panic!("{e}: {}", self.stdout))
    }
}

/// Runs the binary on its own thread (the simulator answers on its own thread too).
async fn preflight(config: &Path, args: &[&str]) -> Run {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_trawl"));
    cmd.arg("preflight").arg("--config").arg(config).args(args);
    let out = tokio::task::spawn_blocking(move || cmd.output().expect("trawl runs"))
        .await
        .unwrap();
    Run {
        code: out.status.code().expect("exited"),
        stdout: String::from_utf8_lossy(&out.stdout).into_owned(),
        stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
    }
}

/// Every stream's verdict by (tenant, stream), from `--json`.
fn verdicts(report: &Value) -> HashMap<(String, String), Value> {
    report["streams"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| {
            let key = (
                s["tenant"].as_str().unwrap().to_string(),
                s["stream"].as_str().unwrap().to_string(),
            );
            (key, s.clone())
        })
        .collect()
}

/// The main file: `tenants_dir`, no Kafka needed (file checkpoints).
fn main_config(dir: &Path, tenants_dir: &Path) -> PathBuf {
    let path = dir.join("trawl.toml");
    let text = format!(
        "tenants_dir = {:?}\n[kafka]\nbrokers = \"127.0.0.1:9\"\n[checkpoints]\nstore = \"file\"\n\
         dir = {:?}\n",
        tenants_dir,
        dir.join("checkpoints")
    );
    std::fs::write(&path, text).unwrap();
    path
}

/// A Zoom tenant of account `{name}-acct`, whose app's client id is `{name}-client`.
fn zoom_tenant(id: &str, acct: &str, secret: &str, plan: &str, api: &str, oauth: &str) -> String {
    let client = format!("{}-client", acct.trim_end_matches("-acct"));
    format!(
        "id = \"{id}\"\nprovider = \"zoom\"\naccount_id = \"{acct}\"\nclient_id = \"{client}\"\n\
         client_secret = \"{secret}\"\nplan = \"{plan}\"\napi_base = \"{api}\"\noauth_base = \"{oauth}\"\n"
    )
}

fn zoho_tenant(id: &str, zoid: &str, secret: &str, mail: &str, accounts: &str) -> String {
    format!(
        "id = \"{id}\"\nprovider = \"zoho\"\nzoid = \"{zoid}\"\nclient_id = \"1000.FAKECLIENTID\"\n\
         client_secret = \"{secret}\"\nrefresh_token = \"1000.fake.refresh.token\"\n\
         mail_base = \"{mail}\"\naccounts_base = \"{accounts}\"\n"
    )
}

fn write(dir: &Path, name: &str, text: &str) -> PathBuf {
    let path = dir.join(name);
    std::fs::write(&path, text).unwrap();
    path
}

fn assert_verdict(
    v: &HashMap<(String, String), Value>,
    tenant: &str,
    stream: &str,
    finding: &str,
    fix: &str,
) {
    let s = v
        .get(&(tenant.to_string(), stream.to_string()))
        .unwrap_or_else(|| panic!("no verdict for {tenant} {stream}: {v:?}"));
    assert_eq!(s["finding"], finding, "{tenant} {stream}: {s}");
    assert_eq!(s["pass"], finding == "ok", "{tenant} {stream}: {s}");
    assert!(
        s["fix"].as_str().unwrap().contains(fix),
        "{tenant} {stream}: the fix should say {fix:?}: {s}"
    );
    assert!(s["api_requests"].as_u64().unwrap() <= 3, "{s}");
}

/// The demo set of `config/sim.example.toml`, its tenants written as the README's
/// cluster quick start writes them (plus the Free account): the Free plan and the
/// accounts without Phone fail with their reasons, the rest pass, within the bound.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_demo_set_bad_tenants_fail_with_their_reason_and_the_good_pass() {
    let example = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../config/sim.example.toml");
    let sim = start_sim(&std::fs::read_to_string(example).unwrap()).await;
    let base = sim.base_url();
    let dir = tempfile::tempdir().unwrap();
    let tenants = dir.path().join("tenants");
    std::fs::create_dir(&tenants).unwrap();
    for (acct, plan) in [("free", "free"), ("pro", "pro"), ("biz", "business")] {
        let secret = format!("fake-{acct}-secret");
        let text = zoom_tenant(acct, &format!("{acct}-acct"), &secret, plan, &base, &base);
        write(&tenants, &format!("{acct}.toml"), &text);
    }
    let zoho = zoho_tenant("zoho", "57047751", "fake-zoho-secret", &base, &base);
    write(&tenants, "zoho.toml", &zoho);
    let config = main_config(dir.path(), &tenants);

    let before = served(&sim).await;
    let table = preflight(&config, &[]).await;
    assert_eq!(table.code, 2, "{}{}", table.stdout, table.stderr);
    let row = |tenant: &str, stream: &str| {
        table
            .stdout
            .lines()
            .find(|l| l.starts_with(&format!("{tenant} ")) && l.contains(stream))
            .unwrap_or_else(|| panic!("no row {tenant} {stream}:\n{}", table.stdout))
            .to_string()
    };
    let says = |tenant: &str, stream: &str, text: &str| {
        let r = row(tenant, stream);
        assert!(
            r.contains(text),
            "{tenant} {stream} should say {text:?}:\n{}",
            table.stdout
        );
    };
    says("free", "zoom.operation_logs", "FAIL: plan");
    says("free", "zoom.operation_logs", "Zoom Pro or higher");
    says("free", "zoom.phone_operation_logs", "FAIL: no Zoom Phone");
    says("biz", "zoom.phone_operation_logs", "FAIL: no Zoom Phone");
    for (tenant, stream) in [
        ("pro", "zoom.operation_logs"),
        ("pro", "zoom.phone_operation_logs"),
        ("biz", "zoom.operation_logs"),
        ("zoho", "zoho.mail_audit"),
    ] {
        says(tenant, stream, " pass ");
    }
    assert!(
        table
            .stdout
            .contains("4 tenants, 7 streams: 4 pass, 3 fail"),
        "{}",
        table.stdout
    );
    let after_table = served(&sim).await;
    // One request per stream (each answered at once), one token per tenant.
    assert_eq!(after_table.0 - before.0, 7, "API requests of 7 streams");
    assert_eq!(after_table.1 - before.1, 4, "token requests of 4 tenants");

    let json = preflight(&config, &["--json"]).await;
    assert_eq!(json.code, 2);
    let report = json.json();
    let v = verdicts(&report);
    assert_eq!(v.len(), 7);
    assert_verdict(
        &v,
        "free",
        "zoom.operation_logs",
        "plan",
        "Zoom Pro or higher",
    );
    assert_verdict(
        &v,
        "free",
        "zoom.phone_operation_logs",
        "phone",
        "Zoom Phone is not enabled",
    );
    assert_verdict(
        &v,
        "biz",
        "zoom.phone_operation_logs",
        "phone",
        "Zoom Phone is not enabled",
    );
    assert!(
        v[&("biz".into(), "zoom.phone_operation_logs".into())]["detail"]
            .as_str()
            .unwrap()
            .contains("code 124")
    );
    for t in ["pro", "zoho"] {
        for (k, s) in &v {
            if k.0 == t {
                assert_eq!(s["pass"], true, "{s}");
            }
        }
    }
    let after_json = served(&sim).await;
    assert_eq!(report["api_requests"], after_json.0 - after_table.0);
    assert_eq!(report["token_requests"], after_json.1 - after_table.1);

    // The good ones alone: exit 0.
    let good = preflight(&config, &["--tenant", "pro", "--tenant", "zoho"]).await;
    assert_eq!(good.code, 0, "{}{}", good.stdout, good.stderr);
    assert!(
        good.stdout.contains("2 tenants, 3 streams: 3 pass, 0 fail"),
        "{}",
        good.stdout
    );
    sim.stop().await;
}

/// A tenant file is checked on its own before it goes into `tenants_dir`; a broken one
/// is refused with its path and field, and nothing is asked of any API.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_tenant_file_is_checked_before_it_goes_into_tenants_dir() {
    let sim = start_sim(ZOOM_ONLY).await;
    let base = sim.base_url();
    let dir = tempfile::tempdir().unwrap();
    let tenants = dir.path().join("tenants");
    std::fs::create_dir(&tenants).unwrap();
    let config = main_config(dir.path(), &tenants);
    let new = write(
        dir.path(),
        "new.toml",
        &zoom_tenant("new", "good-acct", "good-secret", "pro", &base, &base),
    );
    let run = preflight(&config, &["--tenant-file", new.to_str().unwrap()]).await;
    assert_eq!(run.code, 0, "{}{}", run.stdout, run.stderr);
    assert!(
        run.stdout.contains("1 tenant, 2 streams: 2 pass"),
        "{}",
        run.stdout
    );

    let before = served(&sim).await;
    let broken = write(
        dir.path(),
        "broken.toml",
        "id = \"broken\"\nprovider = \"zoom\"\naccount_id = \"x\"\n",
    );
    let run = preflight(&config, &["--tenant-file", broken.to_str().unwrap()]).await;
    assert_eq!(run.code, 2);
    assert!(
        run.stderr.contains("broken.toml") && run.stderr.contains("client_secret"),
        "{}",
        run.stderr
    );
    let unknown = preflight(&config, &["--tenant", "nobody"]).await;
    assert_eq!(unknown.code, 2);
    assert!(
        unknown.stderr.contains("--tenant nobody"),
        "{}",
        unknown.stderr
    );
    assert_eq!(served(&sim).await, before, "a refused run asks nothing");
    sim.stop().await;
}

const ZOOM_ONLY: &str = r#"
[[zoom_accounts]]
account_id = "good-acct"
client_id = "good-client"
client_secret = "good-secret"
plan = "pro"
phone = true
records_per_day = 200
history_days = 3
"#;

const VERDICTS: &str = r#"
[[zoom_accounts]]
account_id = "good-acct"
client_id = "good-client"
client_secret = "good-secret"
plan = "pro"
phone = true
records_per_day = 200
history_days = 3
[[zoom_accounts]]
account_id = "scope-acct"
client_id = "scope-client"
client_secret = "scope-secret"
plan = "pro"
phone = true
missing_scopes = ["report:read:admin", "report:read:operation_logs:admin"]
[[zoom_accounts]]
account_id = "free-acct"
client_id = "free-client"
client_secret = "free-secret"
plan = "free"
phone = true
[[zoom_accounts]]
account_id = "notfound-acct"
client_id = "notfound-client"
client_secret = "s"
plan = "business"
phone = false
no_phone = "not_found"
[[zoom_accounts]]
account_id = "forbidden-acct"
client_id = "forbidden-client"
client_secret = "s"
plan = "business"
phone = false
no_phone = "forbidden"
[[zoom_accounts]]
account_id = "enrolled-acct"
client_id = "enrolled-client"
client_secret = "s"
plan = "business"
phone = false
no_phone = "not_enrolled"
[[zoho_orgs]]
zoid = "57047751"
client_id = "1000.FAKECLIENTID"
client_secret = "fake-zoho-secret"
refresh_token = "1000.fake.refresh.token"
records_per_day = 300
history_days = 3
[[zoho_orgs]]
zoid = "60000001"
client_id = "1000.OTHER"
client_secret = "other-secret"
refresh_token = "1000.other.refresh"
"#;

/// Another data center: its own customers, none of ours.
const OTHER_DC: &str = r#"
[[zoho_orgs]]
zoid = "90000001"
client_id = "1000.EUCLIENT"
client_secret = "eu-secret"
refresh_token = "1000.eu.refresh"
"#;

/// Each verdict against the simulator, with its reason, the requests it cost (counted by
/// the simulator) and exit code 2; the good tenants pass.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn each_verdict_names_what_to_fix() {
    let sim = start_sim(VERDICTS).await;
    let other = start_sim(OTHER_DC).await;
    let (b, eu) = (sim.base_url(), other.base_url());
    let down = format!("http://127.0.0.1:{}", closed_port());
    let dir = tempfile::tempdir().unwrap();
    let tenants = dir.path().join("tenants");
    std::fs::create_dir(&tenants).unwrap();
    let files = [
        (
            "good",
            zoom_tenant("good", "good-acct", "good-secret", "pro", &b, &b),
        ),
        (
            "secret",
            zoom_tenant("secret", "good-acct", "wrong-secret", "pro", &b, &b),
        ),
        (
            "scope",
            zoom_tenant("scope", "scope-acct", "scope-secret", "pro", &b, &b),
        ),
        (
            "free",
            zoom_tenant("free", "free-acct", "free-secret", "free", &b, &b),
        ),
        (
            "notfound",
            zoom_tenant("notfound", "notfound-acct", "s", "business", &b, &b),
        ),
        (
            "forbidden",
            zoom_tenant("forbidden", "forbidden-acct", "s", "business", &b, &b),
        ),
        (
            "enrolled",
            zoom_tenant("enrolled", "enrolled-acct", "s", "business", &b, &b),
        ),
        (
            "nohost",
            zoom_tenant("nohost", "good-acct", "good-secret", "pro", &down, &down),
        ),
        (
            "noapi",
            zoom_tenant("noapi", "good-acct", "good-secret", "pro", &down, &b),
        ),
        (
            "zoho",
            zoho_tenant("zoho", "57047751", "fake-zoho-secret", &b, &b),
        ),
        (
            "zsecret",
            zoho_tenant("zsecret", "57047751", "wrong", &b, &b),
        ),
        (
            "zdc",
            zoho_tenant("zdc", "57047751", "fake-zoho-secret", &eu, &eu),
        ),
        (
            "zmail",
            zoho_tenant("zmail", "57047751", "fake-zoho-secret", &eu, &b),
        ),
        (
            "zorg",
            zoho_tenant("zorg", "60000001", "fake-zoho-secret", &b, &b),
        ),
    ];
    for (name, text) in &files {
        let streams = if name.starts_with("notfound")
            || name.starts_with("forbidden")
            || name.starts_with("enrolled")
        {
            "streams = [\"phone_operation_logs\"]\n"
        } else {
            ""
        };
        write(
            &tenants,
            &format!("{name}.toml"),
            &format!("{text}{streams}"),
        );
    }
    let config = main_config(dir.path(), &tenants);
    let (before, before_eu) = (served(&sim).await, served(&other).await);
    let run = preflight(&config, &["--json"]).await;
    assert_eq!(run.code, 2, "{}{}", run.stdout, run.stderr);
    let report = run.json();
    let v = verdicts(&report);
    let (op, phone, mail) = (
        "zoom.operation_logs",
        "zoom.phone_operation_logs",
        "zoho.mail_audit",
    );

    assert_verdict(&v, "good", op, "ok", "");
    assert_verdict(&v, "good", phone, "ok", "");
    assert_verdict(&v, "zoho", mail, "ok", "");
    for s in [op, phone] {
        assert_verdict(
            &v,
            "secret",
            s,
            "credentials",
            "check account_id, client_id and client_secret",
        );
        assert_verdict(
            &v,
            "nohost",
            s,
            "unreachable",
            &format!("oauth_base {down}/"),
        );
        assert_verdict(&v, "noapi", s, "unreachable", "no answer");
        assert_verdict(&v, "free", s, "plan", "Zoom Pro or higher");
    }
    assert_verdict(
        &v,
        "scope",
        op,
        "scope",
        "report:read:operation_logs:admin (or report:read:admin)",
    );
    assert_verdict(&v, "scope", phone, "ok", "");
    for t in ["notfound", "forbidden", "enrolled"] {
        assert_verdict(&v, t, phone, "phone", "Zoom Phone is not enabled");
    }
    let detail = |t: &str, s: &str| {
        v[&(t.to_string(), s.to_string())]["detail"]
            .as_str()
            .unwrap()
            .to_string()
    };
    assert!(detail("notfound", phone).contains("HTTP 404 code 124"));
    assert!(detail("forbidden", phone).contains("HTTP 403 code 2031"));
    assert!(detail("enrolled", phone).contains("HTTP 400 code 300"));
    assert!(detail("scope", op).contains("code 4711"));
    assert_verdict(
        &v,
        "zsecret",
        mail,
        "credentials",
        "check client_secret and refresh_token",
    );
    assert_verdict(
        &v,
        "zdc",
        mail,
        "data_center",
        "set data_center to the account's",
    );
    assert!(detail("zdc", mail).contains("invalid_client"));
    assert_verdict(
        &v,
        "zmail",
        mail,
        "data_center",
        &format!("the Mail API at {eu}"),
    );
    assert_verdict(
        &v,
        "zorg",
        mail,
        "organization",
        "organization 60000001 does not answer",
    );

    // Requests: none where the token was refused or no host answered; one per stream
    // otherwise, but for the Mail host of another data center, which refused each
    // fresh token.
    let requests = |t: &str, s: &str| {
        v[&(t.to_string(), s.to_string())]["api_requests"]
            .as_u64()
            .unwrap()
    };
    for t in ["secret", "nohost"] {
        assert_eq!((requests(t, op), requests(t, phone)), (0, 0), "{t}");
    }
    assert_eq!(requests("zsecret", mail) + requests("zdc", mail), 0);
    for (t, s) in [
        ("good", op),
        ("scope", op),
        ("free", op),
        ("notfound", phone),
        ("zorg", mail),
        ("noapi", op),
    ] {
        assert_eq!(requests(t, s), 1, "{t} {s}");
    }
    assert!((2..=3).contains(&requests("zmail", mail)));
    let (after, after_eu) = (served(&sim).await, served(&other).await);
    let api = (after.0 - before.0) + (after_eu.0 - before_eu.0);
    let tokens = (after.1 - before.1) + (after_eu.1 - before_eu.1);
    // The closed port counts nothing: its connection attempts are trawl's to count.
    let unanswered = requests("noapi", op) + requests("noapi", phone);
    assert_eq!(report["api_requests"].as_u64().unwrap(), api + unanswered);
    assert_eq!(
        report["token_requests"].as_u64().unwrap(),
        tokens + 1,
        "nohost's token request went nowhere"
    );
    assert!(api + unanswered <= 3 * v.len() as u64);
    // One token per tenant, and one more for each fresh token the other Mail host refused
    // (the first came with the tenant).
    assert_eq!(tokens + 1, files.len() as u64 + requests("zmail", mail) - 1);
    sim.stop().await;
    other.stop().await;
}

/// With the account's daily share already spent (the day's count `trawl run` stores
/// beside its checkpoints, loaded into the same buckets), the check asks that account
/// nothing and says why.
#[actix::test]
async fn a_spent_daily_share_is_not_spent_further() {
    use chrono::TimeZone as _;
    use trawl_engine::limiter::DayState;
    use trawl_sources::LimitKey;

    let sim = start_sim(ZOOM_ONLY).await;
    let b = sim.base_url();
    let dir = tempfile::tempdir().unwrap();
    let config = trawl::config::load_str(&format!(
        "[kafka]\nbrokers = \"127.0.0.1:9\"\n[checkpoints]\nstore = \"file\"\ndir = {:?}\n\
         [[tenants]]\n{}streams = [\"operation_logs\"]\n",
        dir.path(),
        zoom_tenant("good", "good-acct", "good-secret", "pro", &b, &b)
    ))
    .unwrap();
    let tenant = config.engine.tenants[0].clone();
    let limit = LimitKey::ZOOM_HEAVY;
    let bucket = format!(
        "{}/{}/{}",
        tenant.access.account(),
        limit.family.as_str(),
        limit.label
    );
    let today = chrono::Utc.with_ymd_and_hms(2026, 3, 1, 12, 0, 0).unwrap();
    let spent = DayState {
        day: today.date_naive(),
        used: 30_000, // Pro's Heavy cap, all of it trawl's (quota_share 1)
        rate_share: 1.0,
        blocked_until: None,
    };
    let opts = trawl::preflight::RunOptions {
        clock: trawl_engine::clock::Clock::following_tokio(today),
        wait: std::time::Duration::from_secs(1),
        days: Some(HashMap::from([(bucket, spent)])),
    };
    let before = served(&sim).await;
    let report = trawl::preflight::run(&config.engine, vec![tenant], opts)
        .await
        .unwrap();
    assert!(!report.ok);
    let s = &report.streams[0];
    assert_eq!(s.finding, trawl::preflight::Finding::Quota, "{s:?}");
    assert_eq!(s.api_requests, 0);
    assert!(
        s.detail
            .contains("30000 requests of 2026-03-01 used of trawl's daily share 30000"),
        "{}",
        s.detail
    );
    assert!(s.fix.contains("after 00:00 UTC"), "{}", s.fix);
    let after = served(&sim).await;
    assert_eq!(after.0, before.0, "no API request");
    assert_eq!(
        after.1 - before.1,
        1,
        "the token was asked (token requests are not in the bucket)"
    );
    sim.stop().await;
}
