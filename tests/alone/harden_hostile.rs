//! Hostile upstreams, one tenant each, beside honest tenants (issue 13): an endless
//! body, a gzip bomb (256 MiB of zeros in about 250 KB) and a Zoho token server that
//! answers the token POST with a 307 to another host. Each hostile stream reports its
//! error (status text and `trawl_malformed_pages_total`), the process's peak memory
//! stays near its level before the engine started, the honest tenants publish exactly
//! the simulator's records, and the tenants' secrets reach nothing but their own token
//! endpoints (the redirect's target sees no connection at all).
//!
//! The hostile servers are plain tokio sockets speaking just enough HTTP/1.1, so that
//! they can misbehave in ways a real server framework would not allow.

use std::io::Write as _;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use trawl_engine::status::StreamState;
use trawl_engine::{Engine, EngineOptions};
use trawl_sim::{SimConfig, Simulator};
use trawl_suite::harness::{
    backfill_start, by_stream, engine_toml, fleet, sim_toml, wait_for, EVENT_TOPICS,
};
use trawl_suite::ops::sum;
use trawl_suite::topics::Isolation;
use trawl_suite::truth::{self, read_published};
use trawl_suite::TansuBroker;

const CANARY: &str = "CANARY-h0st1le";
/// `http.max_body_bytes` of the run: 1 MiB (the default is 16 MiB), so that what the
/// limit allows stays far below a hostile body and the memory bound is tight.
const MAX_BODY: u64 = 1 << 20;
/// An allowance for the engine's own working memory with this fleet (two honest
/// tenants, three hostile, tansu's client, the runtime). Not yet measured against the
/// growth the test prints: if a run shows it needs more, raise it with the figure.
const ENGINE_WORKING_SET: u64 = 40 << 20;

#[derive(Clone, Copy, Debug, PartialEq)]
enum Behaviour {
    /// API pages never end.
    Endless,
    /// API pages are a gzip bomb.
    GzipBomb,
    /// The token POST is answered with a 307 to the attacker.
    RedirectToken,
    /// The redirect's target: must never be reached.
    Attacker,
}

/// One request as received: the raw head and body.
#[derive(Debug, Clone)]
struct Seen {
    behaviour: Behaviour,
    path: String,
    raw: String,
}

#[derive(Clone)]
struct Hostile {
    addr: SocketAddr,
    seen: Arc<Mutex<Vec<Seen>>>,
}

impl Hostile {
    async fn start(ip: &str, behaviour: Behaviour, bomb: Arc<Vec<u8>>, redirect: String) -> Self {
        let listener = TcpListener::bind((ip, 0)).await.unwrap();
        let addr = listener.local_addr().unwrap();
        let seen = Arc::new(Mutex::new(Vec::new()));
        let log = seen.clone();
        tokio::spawn(async move {
            while let Ok((sock, _)) = listener.accept().await {
                let (log, bomb, redirect) = (log.clone(), bomb.clone(), redirect.clone());
                tokio::spawn(serve(sock, behaviour, log, bomb, redirect));
            }
        });
        Self { addr, seen }
    }

    fn base(&self) -> String {
        format!("http://{}", self.addr)
    }

    fn requests(&self) -> Vec<Seen> {
        self.seen.lock().unwrap().clone()
    }
}

/// Reads one request (head and `content-length` body); `None` at the end of the
/// connection.
async fn read_request(sock: &mut TcpStream) -> Option<(String, String)> {
    let mut buf = Vec::new();
    let mut byte = [0u8; 1];
    while !buf.ends_with(b"\r\n\r\n") {
        if sock.read(&mut byte).await.ok()? == 0 {
            return None;
        }
        buf.push(byte[0]);
    }
    let head = String::from_utf8_lossy(&buf).into_owned();
    let len = head
        .lines()
        .find_map(|l| {
            let (k, v) = l.split_once(':')?;
            k.eq_ignore_ascii_case("content-length")
                .then(|| v.trim().parse::<usize>().ok())?
        })
        .unwrap_or(0);
    let mut body = vec![0u8; len];
    sock.read_exact(&mut body).await.ok()?;
    let path = head.split(' ').nth(1).unwrap_or("").to_string();
    Some((path, format!("{head}{}", String::from_utf8_lossy(&body))))
}

async fn serve(
    mut sock: TcpStream,
    behaviour: Behaviour,
    log: Arc<Mutex<Vec<Seen>>>,
    bomb: Arc<Vec<u8>>,
    redirect: String,
) {
    while let Some((path, raw)) = read_request(&mut sock).await {
        log.lock().unwrap().push(Seen {
            behaviour,
            path: path.clone(),
            raw,
        });
        let token = path.contains("/oauth/");
        let ok = if token && behaviour == Behaviour::RedirectToken {
            let head = format!(
                "HTTP/1.1 307 Temporary Redirect\r\nlocation: {redirect}\r\ncontent-length: 0\r\n\r\n"
            );
            sock.write_all(head.as_bytes()).await.is_ok()
        } else if token || behaviour == Behaviour::Attacker {
            let body = r#"{"access_token":"hostile-access-token","token_type":"bearer","expires_in":3600}"#;
            let head = format!(
                "HTTP/1.1 200 OK\r\ncontent-type: application/json\r\ncontent-length: {}\r\n\r\n{body}",
                body.len()
            );
            sock.write_all(head.as_bytes()).await.is_ok()
        } else if behaviour == Behaviour::GzipBomb {
            let head = format!(
                "HTTP/1.1 200 OK\r\ncontent-type: application/json\r\ncontent-encoding: gzip\r\n\
                 content-length: {}\r\n\r\n",
                bomb.len()
            );
            sock.write_all(head.as_bytes()).await.is_ok() && sock.write_all(&bomb).await.is_ok()
        } else {
            let head = "HTTP/1.1 200 OK\r\ncontent-type: application/json\r\n\
                        transfer-encoding: chunked\r\n\r\n";
            let _ = sock.write_all(head.as_bytes()).await;
            let chunk = [b' '; 64 * 1024];
            let framed = format!("{:x}\r\n", chunk.len());
            // Until the client hangs up (at most 4 GiB, so the test always ends).
            for _ in 0..65_536 {
                if sock.write_all(framed.as_bytes()).await.is_err()
                    || sock.write_all(&chunk).await.is_err()
                    || sock.write_all(b"\r\n").await.is_err()
                {
                    break;
                }
            }
            false
        };
        if !ok {
            return;
        }
    }
}

/// 256 MiB of zeros, gzip-compressed, written through the encoder a MiB at a time.
fn gzip_bomb() -> Vec<u8> {
    let mut enc = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::best());
    let zeros = vec![b'0'; 1 << 20];
    for _ in 0..256 {
        enc.write_all(&zeros).unwrap();
    }
    enc.finish().unwrap()
}

/// `VmRSS` or `VmHWM` (peak) of this process, in bytes.
fn memory(field: &str) -> u64 {
    let status = std::fs::read_to_string("/proc/self/status").unwrap();
    let line = status.lines().find(|l| l.starts_with(field)).unwrap();
    let kb: u64 = line.split_whitespace().nth(1).unwrap().parse().unwrap();
    kb * 1024
}

fn hostile_tenants(endless: &Hostile, bomb: &Hostile, redirect: &Hostile) -> String {
    let zoom = |id: &str, h: &Hostile| {
        format!(
            "[[tenants]]\nid = \"{id}\"\nprovider = \"zoom\"\nplan = \"pro\"\nstreams = [\"operation_logs\"]\n\
             account_id = \"{id}-acct\"\nclient_id = \"{id}-client\"\nclient_secret = \"{CANARY}-{id}\"\n\
             api_base = \"{b}\"\noauth_base = \"{b}\"\n",
            b = h.base()
        )
    };
    format!(
        "{}{}[[tenants]]\nid = \"redirect\"\nprovider = \"zoho\"\nzoid = \"900001\"\nclient_id = \"redirect-client\"\n\
         client_secret = \"{CANARY}-redirect\"\nrefresh_token = \"{CANARY}-refresh\"\n\
         mail_base = \"{b}\"\naccounts_base = \"{b}\"\n",
        zoom("endless", endless),
        zoom("bomb", bomb),
        b = redirect.base()
    )
}

#[actix_rt::test]
async fn hostile_upstreams_hurt_only_their_own_stream() {
    // Alone in a process of its own: its peak memory is the process's.
    if !trawl_suite::child::alone(
        module_path!(),
        "hostile_upstreams_hurt_only_their_own_stream",
    ) {
        return;
    }
    let broker = TansuBroker::start();
    let honest = fleet(1, 1, 300);
    let sim_cfg: SimConfig = toml::from_str(&sim_toml(&honest, 3, "")).unwrap();
    let sim = Simulator::start(sim_cfg, "127.0.0.1:0".parse().unwrap())
        .await
        .unwrap();
    let bomb = Arc::new(gzip_bomb());
    assert!(bomb.len() < 1 << 20, "a bomb: {} bytes", bomb.len());
    let none = Arc::new(Vec::new());
    let attacker = Hostile::start(
        "127.0.0.2",
        Behaviour::Attacker,
        none.clone(),
        String::new(),
    )
    .await;
    let endless =
        Hostile::start("127.0.0.1", Behaviour::Endless, none.clone(), String::new()).await;
    let bombed = Hostile::start("127.0.0.1", Behaviour::GzipBomb, bomb, String::new()).await;
    let redirect = Hostile::start(
        "127.0.0.1",
        Behaviour::RedirectToken,
        none,
        format!("{}/oauth/v2/token", attacker.base()),
    )
    .await;

    let toml = engine_toml(
        &honest,
        &sim.base_url(),
        &broker.bootstrap(),
        "",
        "poll_interval = \"2s\"\nbackfill = \"2d\"\nlookback = \"1h\"\n",
    ) + &format!("[http]\nmax_body_bytes = {MAX_BODY}\n")
        + &hostile_tenants(&endless, &bombed, &redirect);
    let config = trawl::config::load_str(&toml).expect("test config loads");
    let start = backfill_start(2).await;
    let before = memory("VmRSS");
    let engine = Engine::start(config.engine, EngineOptions::default())
        .await
        .unwrap();

    // The hostile streams report their errors; the honest ones go live.
    let status = |t: &str| {
        engine
            .status
            .snapshot()
            .into_iter()
            .filter(|s| s.tenant == t)
            .collect::<Vec<_>>()
    };
    let error_of = |t: &str| status(t).first().and_then(|s| s.last_error.clone());
    wait_for(Duration::from_secs(240), "every stream settled", || {
        let honest_live = ["zoom00", "zoho00"]
            .iter()
            .all(|t| status(t).iter().all(|s| s.state == StreamState::Live));
        let endless_seen = error_of("endless").is_some_and(|e| e.contains("over the limit"));
        let bomb_seen = error_of("bomb").is_some_and(|e| e.contains("over the limit"));
        let redirect_seen = status("redirect")
            .first()
            .is_some_and(|s| s.state == StreamState::Failed);
        (honest_live && endless_seen && bomb_seen && redirect_seen).then_some(())
    })
    .await;
    let peak = memory("VmHWM");
    let metrics = engine.metrics.render();
    for t in ["endless", "bomb"] {
        let e = error_of(t).unwrap();
        println!("{t}: {e}");
        assert!(e.contains(&format!("tenant {t}")), "{e}");
        let malformed = sum(&metrics, "trawl_malformed_pages_total", &[("tenant", t)]);
        assert!(
            malformed >= 1.0,
            "{t}: counted as a malformed page: {malformed}"
        );
    }
    let e = error_of("redirect").unwrap();
    println!("redirect: {e}");
    assert!(
        e.contains("HTTP 307") && e.contains("\"127.0.0.2\""),
        "names the redirect's host: {e}"
    );
    assert!(!e.contains(CANARY), "{e}");

    // Memory: the engine never held a hostile body (a 256 MiB bomb, an endless stream),
    // only what the configured limit lets it: each of the two body-hostile streams one
    // answer of at most `max_body_bytes`, in at most four copies at once (the growing
    // buffer and its reallocation, the prefix kept for the error, its dead letter),
    // beside the engine's own working memory for this small fleet.
    let grew = peak.saturating_sub(before);
    let bound = 2 * 4 * MAX_BODY + ENGINE_WORKING_SET;
    println!(
        "RSS before the engine {} MiB, peak {} MiB: grew {} MiB (bound {} MiB)",
        before >> 20,
        peak >> 20,
        grew >> 20,
        bound >> 20
    );
    assert!(
        grew < bound,
        "peak memory grew by {} MiB, over {} MiB",
        grew >> 20,
        bound >> 20
    );

    // The honest tenants published exactly the simulator's records of the whole
    // backfill, by content and multiplicity.
    let watermarks = by_stream(
        &honest,
        &engine
            .status
            .snapshot()
            .into_iter()
            .filter_map(|s| Some(((s.tenant.clone(), s.source.clone()), s.watermark?)))
            .collect(),
    );
    engine.stop().await;
    let bootstrap = broker.bootstrap();
    let published = tokio::task::spawn_blocking(move || {
        let topics: Vec<String> = EVENT_TOPICS.iter().map(|t| t.to_string()).collect();
        read_published(&bootstrap, &topics, Isolation::ReadUncommitted)
    })
    .await
    .unwrap()
    .unwrap();
    let honest_published = published
        .into_iter()
        .filter(|(k, _)| honest.iter().any(|t| t.id == k.tenant.as_str()))
        .collect();
    truth::compare(&sim, &honest, &honest_published, &watermarks, start)
        .unwrap_or_else(|p| panic!("the honest tenants' ground truth: {p:#?}"));

    // Secrets went to their own token endpoints only; the attacker saw nothing.
    assert!(attacker.requests().is_empty(), "{:#?}", attacker.requests());
    for h in [&endless, &bombed, &redirect] {
        let reqs = h.requests();
        assert!(!reqs.is_empty());
        for r in reqs {
            if r.raw.contains(CANARY) || r.raw.to_lowercase().contains("authorization: basic") {
                assert!(
                    r.path.contains("/oauth/"),
                    "{:?} sent a secret to {}",
                    r.behaviour,
                    r.path
                );
            }
        }
    }
    sim.stop().await;
}
