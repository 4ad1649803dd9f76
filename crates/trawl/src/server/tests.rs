//! The endpoints as a client sees them: who may read `/status`, how often its document
//! is built, and what `/healthz` says about a live and a wedged engine.

use std::time::{Duration, Instant};

use actix_web::http::StatusCode;
use actix_web::{test, web, App};
use secrecy::SecretString;
use trawl_engine::liveness::Halt;
use trawl_engine::{Engine, EngineOptions};
use trawl_kafka::KafkaSettings;

use super::*;

fn settings(listen: &str, token: Option<&str>) -> ServerSettings {
    ServerSettings {
        listen: listen.parse().unwrap(),
        status_token: token.map(SecretString::from),
    }
}

macro_rules! app {
    ($state:expr) => {
        test::init_service(
            App::new()
                .app_data(web::Data::from($state.clone()))
                .configure(routes),
        )
        .await
    };
}

#[actix_web::test]
async fn without_an_engine_alive_but_not_ready() {
    // Nothing listens on port 1: the probe fails fast.
    let state = AppState::new(
        &KafkaSettings::new("127.0.0.1:1"),
        &ServerSettings::default(),
    );
    let app = app!(state);
    let res = test::call_service(&app, test::TestRequest::get().uri("/healthz").to_request()).await;
    assert_eq!(res.status(), StatusCode::OK);
    let res = test::call_service(&app, test::TestRequest::get().uri("/readyz").to_request()).await;
    assert_eq!(res.status(), StatusCode::SERVICE_UNAVAILABLE);
    let body: serde_json::Value = test::read_body_json(res).await;
    assert_eq!(body["ready"], false);
    let reasons = body["reasons"].as_array().unwrap();
    assert!(reasons[0].as_str().unwrap().contains("engine starting"));
    assert!(reasons[1].as_str().unwrap().contains("Kafka not reachable"));
    let res = test::call_service(&app, test::TestRequest::get().uri("/metrics").to_request()).await;
    assert_eq!(
        res.headers().get("content-type").unwrap(),
        "text/plain; version=0.0.4; charset=utf-8"
    );
    let res = test::call_service(&app, test::TestRequest::get().uri("/status").to_request()).await;
    let body: serde_json::Value = test::read_body_json(res).await;
    assert_eq!(body["engine_running"], false);
    assert_eq!(body["streams"], serde_json::json!([]));
}

#[actix_web::test]
async fn status_needs_the_token_and_the_probes_do_not() {
    let state = AppState::new(
        &KafkaSettings::new("127.0.0.1:1"),
        &settings("0.0.0.0:9090", Some("s3cret-t0ken")),
    );
    let app = app!(state);
    let get = |uri: &str, auth: Option<&str>| {
        let mut r = test::TestRequest::get().uri(uri);
        if let Some(a) = auth {
            r = r.insert_header(("authorization", a));
        }
        r.to_request()
    };
    for auth in [
        None,
        Some("Bearer wrong"),
        Some("s3cret-t0ken"),
        Some("Basic s3cret-t0ken"),
    ] {
        let res = test::call_service(&app, get("/status", auth)).await;
        assert_eq!(res.status(), StatusCode::UNAUTHORIZED, "{auth:?}");
        assert_eq!(
            res.headers().get("www-authenticate").unwrap(),
            "Bearer realm=\"trawl\""
        );
        let body = test::read_body(res).await;
        assert!(!String::from_utf8_lossy(&body).contains("s3cret"));
    }
    let res = test::call_service(&app, get("/status", Some("Bearer s3cret-t0ken"))).await;
    assert_eq!(res.status(), StatusCode::OK);
    let body: serde_json::Value = test::read_body_json(res).await;
    assert_eq!(body["engine_running"], false);
    assert!(body["config"]["rejected_files"].is_array());
    for open in ["/metrics", "/healthz"] {
        let res = test::call_service(&app, get(open, None)).await;
        assert_eq!(res.status(), StatusCode::OK, "{open}");
    }
    let res = test::call_service(&app, get("/readyz", None)).await;
    assert_ne!(res.status(), StatusCode::UNAUTHORIZED);

    // No token on a non-loopback listener: refused, saying what to set.
    let state = AppState::new(
        &KafkaSettings::new("127.0.0.1:1"),
        &settings("0.0.0.0:9090", None),
    );
    let app = app!(state);
    let res = test::call_service(&app, get("/status", None)).await;
    assert_eq!(res.status(), StatusCode::FORBIDDEN);
    let body = test::read_body(res).await;
    assert!(String::from_utf8_lossy(&body).contains("status_token"));
}

#[actix_web::test]
async fn a_thousand_status_requests_in_a_second_cost_a_few_builds() {
    let state = AppState::new(
        &KafkaSettings::new("127.0.0.1:1"),
        &settings("127.0.0.1:9090", Some("t")),
    );
    let app = app!(state);
    let started = Instant::now();
    let mut ok = 0;
    for _ in 0..1000 {
        let req = test::TestRequest::get()
            .uri("/status")
            .insert_header(("authorization", "Bearer t"))
            .to_request();
        let res = test::call_service(&app, req).await;
        ok += usize::from(res.status() == StatusCode::OK);
    }
    assert_eq!(ok, 1000);
    // One build per started second of the loop (under a loaded CPU it may span two).
    let seconds = started.elapsed().as_secs() + 1;
    let builds = state.status_builds();
    assert!(
        builds >= 1 && builds <= seconds,
        "{builds} builds in {seconds} s"
    );
}

#[actix_web::test]
async fn healthz_fails_soon_after_the_publisher_stops() {
    let cluster = rdkafka::mocking::MockCluster::new(1).unwrap();
    let dir = tempfile::tempdir().unwrap();
    let toml = format!(
        "[kafka]\nbrokers = \"{}\"\n[checkpoints]\nstore = \"file\"\ndir = \"{}\"\n",
        cluster.bootstrap_servers(),
        dir.path().display()
    );
    let config = crate::config::load_str(&toml).unwrap();
    let opts = EngineOptions {
        create_topics: false,
        workers: 2,
        ..EngineOptions::default()
    };
    let kafka = config.engine.kafka.clone();
    let engine = Engine::start(config.engine, opts).await.unwrap();
    let state = AppState::new(&kafka, &ServerSettings::default());
    state.set_engine(engine.clone());
    let app = app!(state);
    let health = || test::TestRequest::get().uri("/healthz").to_request();
    let res = test::call_service(&app, health()).await;
    assert_eq!(res.status(), StatusCode::OK);

    engine.publisher.do_send(Halt);
    let started = Instant::now();
    let body = loop {
        let res = test::call_service(&app, health()).await;
        if res.status() == StatusCode::SERVICE_UNAVAILABLE {
            break String::from_utf8_lossy(&test::read_body(res).await).into_owned();
        }
        assert!(
            started.elapsed() < LIVENESS_TIMEOUT + Duration::from_secs(2),
            "/healthz still 200 after {:?}",
            started.elapsed()
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    };
    assert!(body.contains("publisher actor stopped"), "{body}");
    assert!(!body.contains("supervisor"), "{body}");
    engine.stop().await;
}

/// librdkafka quotes a refused value in its message; a secret one never reaches
/// `/readyz`.
#[actix_web::test]
async fn readyz_never_shows_a_secret_property_value() {
    let mut kafka = KafkaSettings::new("127.0.0.1:1");
    kafka
        .properties
        .insert("security.protocol".into(), "CANARY-readyz-3f".into());
    kafka.secret_properties.insert("security.protocol".into());
    let state = AppState::new(&kafka, &ServerSettings::default());
    let app = app!(state);
    let res = test::call_service(&app, test::TestRequest::get().uri("/readyz").to_request()).await;
    let body = String::from_utf8(test::read_body(res).await.to_vec()).unwrap();
    assert!(
        body.contains("security.protocol"),
        "the property is named: {body}"
    );
    assert!(!body.contains("CANARY-readyz-3f"), "{body}");
}
