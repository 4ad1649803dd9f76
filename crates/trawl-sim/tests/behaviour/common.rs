//! Shared fixture: a simulator on a frozen clock and a small HTTP client for it.

use chrono::{DateTime, Duration, NaiveDate, TimeZone, Utc};
use reqwest::header::HeaderMap;
use serde_json::Value;
use trawl_sim::{ClockConfig, Plan, SimConfig, SimHandle, Simulator, ZohoOrg, ZoomAccount};

/// The simulated start instant of every test: Tuesday 2026-03-10 12:00:00 UTC.
pub fn t0() -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2026, 3, 10, 12, 0, 0).unwrap()
}

pub fn day(s: &str) -> DateTime<Utc> {
    NaiveDate::parse_from_str(s, "%Y-%m-%d")
        .unwrap()
        .and_hms_opt(0, 0, 0)
        .unwrap()
        .and_utc()
}

/// Accounts: "pro" (with Phone), "biz" (no Phone), "free"; Zoho org "5001".
pub fn config() -> SimConfig {
    SimConfig {
        seed: 11,
        clock: ClockConfig {
            start: Some(t0()),
            speed: 0.0,
        },
        zoom_accounts: vec![
            ZoomAccount::new("pro", Plan::Pro, true),
            ZoomAccount::new("biz", Plan::Business, false),
            ZoomAccount::new("free", Plan::Free, false),
        ],
        zoho_orgs: vec![ZohoOrg::new("5001")],
        ..SimConfig::default()
    }
}

pub struct Fx {
    pub sim: SimHandle,
    pub http: reqwest::Client,
}

pub struct Answer {
    pub status: u16,
    pub headers: HeaderMap,
    pub text: String,
}

impl Answer {
    pub fn json(&self) -> Value {
        serde_json::from_str(&self.text).unwrap_or_else(|e| panic!("not JSON ({e}): {}", self.text))
    }
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers.get(name).and_then(|v| v.to_str().ok())
    }
}

impl Fx {
    pub async fn start(config: SimConfig) -> Fx {
        let sim = Simulator::start(config, "127.0.0.1:0".parse().unwrap())
            .await
            .unwrap();
        let http = reqwest::Client::builder().no_proxy().build().unwrap();
        Fx { sim, http }
    }

    pub fn url(&self, path: &str) -> String {
        format!("{}{}", self.sim.base_url(), path)
    }

    pub async fn answer(resp: reqwest::Response) -> Answer {
        let status = resp.status().as_u16();
        let headers = resp.headers().clone();
        let text = resp.text().await.unwrap();
        Answer {
            status,
            headers,
            text,
        }
    }

    /// A Zoom token for an account made by `ZoomAccount::new`.
    pub async fn zoom_token(&self, account: &str) -> String {
        let resp = self
            .http
            .post(self.url("/oauth/token"))
            .basic_auth(
                format!("{account}-client"),
                Some(format!("{account}-fake-secret")),
            )
            .form(&[
                ("grant_type", "account_credentials"),
                ("account_id", account),
            ])
            .send()
            .await
            .unwrap();
        let a = Fx::answer(resp).await;
        assert_eq!(a.status, 200, "{}", a.text);
        a.json()["access_token"].as_str().unwrap().to_string()
    }

    pub async fn zoho_token_answer(&self, zoid: &str) -> Value {
        let org = ZohoOrg::new(zoid);
        let resp = self
            .http
            .post(self.url("/oauth/v2/token"))
            .form(&[
                ("grant_type", "refresh_token"),
                ("client_id", org.client_id.as_str()),
                ("client_secret", org.client_secret.as_str()),
                ("refresh_token", org.refresh_token.as_str()),
            ])
            .send()
            .await
            .unwrap();
        let a = Fx::answer(resp).await;
        assert_eq!(a.status, 200, "Zoho answers token errors with 200 too");
        a.json()
    }

    pub async fn zoho_token(&self, zoid: &str) -> String {
        let v = self.zoho_token_answer(zoid).await;
        v["access_token"]
            .as_str()
            .unwrap_or_else(|| panic!("{v}"))
            .to_string()
    }

    pub async fn get(&self, path_and_query: &str, auth: &str) -> Answer {
        let resp = self
            .http
            .get(self.url(path_and_query))
            .header("Authorization", auth)
            .send()
            .await
            .unwrap();
        Fx::answer(resp).await
    }

    pub async fn zoom(&self, path_and_query: &str, token: &str) -> Answer {
        self.get(path_and_query, &format!("Bearer {token}")).await
    }

    pub async fn zoho(&self, query: &str, token: &str) -> Answer {
        self.get(
            &format!("/api/organization/5001/activity?{query}"),
            &format!("Zoho-oauthtoken {token}"),
        )
        .await
    }

    /// Pages a Zoom report to the end; returns the records and the number of pages.
    pub async fn zoom_all(&self, path: &str, query: &str, token: &str) -> (Vec<Value>, usize) {
        let mut out = Vec::new();
        let mut next = String::new();
        let mut pages = 0;
        loop {
            let a = self
                .zoom(&format!("{path}?{query}&next_page_token={next}"), token)
                .await;
            assert_eq!(a.status, 200, "{}", a.text);
            let v = a.json();
            out.extend(v["operation_logs"].as_array().unwrap().iter().cloned());
            pages += 1;
            match v["next_page_token"].as_str() {
                Some(t) if !t.is_empty() => next = t.to_string(),
                _ => return (out, pages),
            }
        }
    }

    /// Pages Zoho's activity to the end with lastIndexTime/lastEntityId.
    pub async fn zoho_all(&self, query: &str, limit: usize, token: &str) -> Vec<Value> {
        let mut out = Vec::new();
        let mut cursor = String::new();
        loop {
            let a = self
                .zoho(&format!("{query}&limit={limit}{cursor}"), token)
                .await;
            assert_eq!(a.status, 200, "{}", a.text);
            let v = a.json();
            let audit = v["data"]["audit"].as_array().unwrap().clone();
            let n = audit.len();
            out.extend(audit);
            if n < limit {
                return out;
            }
            cursor = format!(
                "&lastIndexTime={}&lastEntityId={}",
                v["data"]["lastIndexTime"].as_str().unwrap(),
                v["data"]["lastEntityId"].as_str().unwrap()
            );
        }
    }
}

/// Records as comparable strings, sorted (a multiset).
pub fn multiset(v: &[Value]) -> Vec<String> {
    let mut s: Vec<String> = v.iter().map(Value::to_string).collect();
    s.sort();
    s
}

pub fn secs(n: i64) -> Duration {
    Duration::seconds(n)
}
