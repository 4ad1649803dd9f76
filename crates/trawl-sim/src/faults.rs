//! Faults on demand: latency, 5xx, HTML error pages, malformed and slow bodies, and
//! dropped connections.
//!
//! Real networks and real vendors fail in these ways; an engine that only ever sees
//! clean answers has never been tested. Draws come from one seeded generator, so a
//! sequential test sees the same faults each run. Faults can be changed while the
//! simulator runs (`SimHandle::set_faults`, `POST /_sim/faults`).

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Mutex, RwLock};
use std::time::Duration;

use actix_web::body::SizedStream;
use actix_web::http::StatusCode;
use actix_web::web::Bytes;
use actix_web::HttpResponse;
use futures::stream;
use rand::rngs::SmallRng;
use rand::{Rng, SeedableRng};
use serde_json::{json, Value};

use crate::config::{Faults, Jitter};
use crate::reply::{Reply, Resp};
use crate::stats::FaultStats;

/// Which vendor's error style a fault speaks.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Style {
    Zoom,
    Zoho,
}

#[derive(Default)]
struct Counts {
    server_error: AtomicU64,
    html_error: AtomicU64,
    malformed: AtomicU64,
    dropped: AtomicU64,
    slow: AtomicU64,
    delayed: AtomicU64,
}

pub(crate) struct FaultBox {
    faults: RwLock<Faults>,
    rng: Mutex<SmallRng>,
    counts: Counts,
}

const HTML_502: &str = "<html>\r\n<head><title>502 Bad Gateway</title></head>\r\n<body>\r\n<center><h1>502 Bad Gateway</h1></center>\r\n<hr><center>nginx</center>\r\n</body>\r\n</html>\r\n";
const HTML_503: &str = "<!DOCTYPE HTML PUBLIC \"-//W3C//DTD HTML 4.01 Transitional//EN\" \"http://www.w3.org/TR/html4/loose.dtd\">\n<HTML><HEAD><META HTTP-EQUIV=\"Content-Type\" CONTENT=\"text/html; charset=iso-8859-1\">\n<TITLE>ERROR: The request could not be satisfied</TITLE>\n</HEAD><BODY>\n<H1>503 ERROR</H1>\n<H2>The request could not be satisfied.</H2>\n<HR noshade size=\"1px\">\nThe server is temporarily unable to service your request.\n</BODY></HTML>";

impl FaultBox {
    pub fn new(faults: Faults, seed: u64) -> Self {
        FaultBox {
            faults: RwLock::new(faults),
            rng: Mutex::new(SmallRng::seed_from_u64(seed ^ 0xFA17)),
            counts: Counts::default(),
        }
    }

    pub fn set(&self, faults: Faults) {
        *self.faults.write().unwrap_or_else(|e| e.into_inner()) = faults;
    }

    pub fn get(&self) -> Faults {
        self.faults
            .read()
            .unwrap_or_else(|e| e.into_inner())
            .clone()
    }

    fn draw(&self) -> f64 {
        self.rng
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .gen::<f64>()
    }

    /// Drop each rate-limit header with this probability.
    pub fn keep(&self, drop_rate: f64) -> bool {
        drop_rate <= 0.0 || self.draw() >= drop_rate
    }

    /// Latency for this request (wall clock), if any.
    pub fn latency(&self, oauth: bool) -> Option<Duration> {
        let f = self.get();
        if (oauth && !f.include_oauth) || (f.latency_ms == 0 && f.jitter_ms == 0) {
            return None;
        }
        let u = self.draw();
        let jitter = match f.jitter {
            Jitter::Uniform => u * f.jitter_ms as f64,
            Jitter::Exponential => -(1.0 - u).ln() * f.jitter_ms as f64,
        };
        self.counts.delayed.fetch_add(1, Ordering::Relaxed);
        Some(Duration::from_millis(
            f.latency_ms + jitter.min(60_000.0) as u64,
        ))
    }

    /// Faults that replace the answer (after the rate limiter admitted the request).
    pub fn before(&self, style: Style, oauth: bool) -> Option<Reply> {
        let f = self.get();
        if oauth && !f.include_oauth {
            return None;
        }
        if f.dropped_connection_rate > 0.0 && self.draw() < f.dropped_connection_rate {
            self.counts.dropped.fetch_add(1, Ordering::Relaxed);
            return Some(Reply::Dropped {
                partial: b"{\"page_size\":30,\"operation_logs\":[{\"time\":\"".to_vec(),
            });
        }
        if f.html_error_rate > 0.0 && self.draw() < f.html_error_rate {
            self.counts.html_error.fetch_add(1, Ordering::Relaxed);
            let (status, page) = if self.draw() < 0.5 {
                (502, HTML_502)
            } else {
                (503, HTML_503)
            };
            return Some(Resp::text(status, "text/html", page).into());
        }
        if f.server_error_rate > 0.0 && self.draw() < f.server_error_rate {
            self.counts.server_error.fetch_add(1, Ordering::Relaxed);
            let status = [500u16, 502, 503, 504][(self.draw() * 4.0) as usize % 4];
            let body = match style {
                Style::Zoom => {
                    json!({"code": status, "message": "Internal Error. Please try again later."})
                }
                Style::Zoho => {
                    json!({"status": {"code": status, "description": "Internal Error"}, "data": {"errorCode": "INTERNAL_SERVER_ERROR"}})
                }
            };
            return Some(Resp::json(status, &body).into());
        }
        None
    }

    /// Turns a reply into a response, corrupting or slowing data pages as configured.
    pub fn respond(&self, reply: Reply) -> HttpResponse {
        let mut resp = match reply {
            Reply::Dropped { partial } => return dropped(partial),
            Reply::Http(r) => r,
        };
        let f = self.get();
        let mut slow = None;
        if resp.data_page {
            if f.malformed_rate > 0.0 && self.draw() < f.malformed_rate {
                self.counts.malformed.fetch_add(1, Ordering::Relaxed);
                resp.body = if self.draw() < 0.5 {
                    let cut = (resp.body.len() as f64 * (0.1 + 0.8 * self.draw())) as usize;
                    resp.body[..cut.max(1).min(resp.body.len())].to_vec()
                } else {
                    wrong_shape(&resp.body)
                };
            }
            if f.slow_body_rate > 0.0 && self.draw() < f.slow_body_rate {
                self.counts.slow.fetch_add(1, Ordering::Relaxed);
                slow = Some(Duration::from_millis(f.slow_body_chunk_delay_ms));
            }
        }
        let mut b =
            HttpResponse::build(StatusCode::from_u16(resp.status).unwrap_or(StatusCode::OK));
        b.content_type(resp.content_type);
        for (k, v) in &resp.headers {
            b.insert_header((*k, v.as_str()));
        }
        match slow {
            None => b.body(resp.body),
            Some(delay) => {
                let len = resp.body.len() as u64;
                let chunks: Vec<Bytes> = resp
                    .body
                    .chunks(resp.body.len().div_ceil(8).max(1))
                    .map(Bytes::copy_from_slice)
                    .collect();
                let s = stream::unfold(chunks.into_iter(), move |mut it| async move {
                    let chunk = it.next()?;
                    tokio::time::sleep(delay).await;
                    Some((Ok::<_, std::io::Error>(chunk), it))
                });
                b.body(SizedStream::new(len, Box::pin(s)))
            }
        }
    }

    pub fn stats(&self) -> FaultStats {
        let c = &self.counts;
        FaultStats {
            server_error: c.server_error.load(Ordering::Relaxed),
            html_error: c.html_error.load(Ordering::Relaxed),
            malformed: c.malformed.load(Ordering::Relaxed),
            dropped_connection: c.dropped.load(Ordering::Relaxed),
            slow_body: c.slow.load(Ordering::Relaxed),
            delayed: c.delayed.load(Ordering::Relaxed),
        }
    }
}

/// A 200 whose declared length is never delivered: the connection closes mid-body.
fn dropped(partial: Vec<u8>) -> HttpResponse {
    let len = partial.len() as u64 + 4096;
    let s = stream::iter(vec![
        Ok(Bytes::from(partial)),
        Err(std::io::Error::new(
            std::io::ErrorKind::ConnectionReset,
            "simulated drop",
        )),
    ]);
    HttpResponse::Ok()
        .content_type("application/json;charset=UTF-8")
        .body(SizedStream::new(len, Box::pin(s)))
}

/// Valid JSON of the wrong shape: the first array becomes a string, so a strict parser
/// fails and nobody mistakes it for an empty page.
fn wrong_shape(body: &[u8]) -> Vec<u8> {
    fn visit(v: &mut Value) -> bool {
        match v {
            Value::Array(_) => {
                *v = Value::String("[object Object]".into());
                true
            }
            Value::Object(m) => m.values_mut().any(visit),
            _ => false,
        }
    }
    match serde_json::from_slice::<Value>(body) {
        Ok(mut v) => {
            if !visit(&mut v) {
                v = Value::Array(vec![v]);
            }
            v.to_string().into_bytes()
        }
        Err(_) => b"[]".to_vec(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn wrong_shape_replaces_the_records_array() {
        let out = wrong_shape(br#"{"page_size":30,"operation_logs":[{"time":"x"}]}"#);
        let v: Value = serde_json::from_slice(&out).unwrap();
        assert_eq!(v["operation_logs"], "[object Object]");
        let zoho = wrong_shape(br#"{"status":{"code":200},"data":{"audit":[]}}"#);
        let v: Value = serde_json::from_slice(&zoho).unwrap();
        assert_eq!(v["data"]["audit"], "[object Object]");
    }
}
