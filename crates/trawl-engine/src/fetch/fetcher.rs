//! `StreamFetcher`: one per tenant stream.
//!
//! Owns: the stream's fetch loop ([`run_stream`]): checkpoint, windows in flight, scans.
//! Receives: [`StopFetcher`]. Sends: (through its loop's handles) permit requests to its
//! bucket's `RateLimiter` and writes to the `Publisher`, and one [`FetcherExited`] with
//! the typed [`Exit`] to the supervisor when its loop ends. Stopping it drops the loop at
//! whatever await it is in; that is safe because nothing is marked published before
//! Kafka acknowledged it, and a restart reads back what was acknowledged after the last
//! checkpoint. A write already handed to the publisher still completes, and the next
//! fetcher of the stream waits for it before it recovers (`publisher::Settled`).

use actix::prelude::*;
use trawl_model::StreamKey;

use super::{run_stream, Exit, FetcherDeps};

/// Sent to the supervisor when a fetch loop ends by itself.
#[derive(Message, Debug)]
#[rtype(result = "()")]
pub struct FetcherExited {
    pub key: StreamKey,
    /// Which fetcher: a late report of one the supervisor already replaced is ignored.
    pub fetcher: Addr<StreamFetcher>,
    pub exit: Exit,
    /// How long the loop ran.
    pub ran_for: std::time::Duration,
}

/// Stops the fetcher at once.
#[derive(Message)]
#[rtype(result = "()")]
pub struct StopFetcher;

pub struct StreamFetcher {
    deps: Option<FetcherDeps>,
    supervisor: Recipient<FetcherExited>,
}

impl StreamFetcher {
    pub fn new(deps: FetcherDeps, supervisor: Recipient<FetcherExited>) -> Self {
        Self {
            deps: Some(deps),
            supervisor,
        }
    }
}

impl Actor for StreamFetcher {
    type Context = Context<Self>;

    fn started(&mut self, ctx: &mut Context<Self>) {
        let deps = self.deps.take().expect("started once");
        let key = deps.probe.key().clone();
        let started = tokio::time::Instant::now();
        let me = ctx.address();
        ctx.spawn(
            run_stream(deps)
                .into_actor(self)
                .map(move |exit, act, ctx| {
                    act.supervisor.do_send(FetcherExited {
                        key,
                        fetcher: me,
                        exit,
                        ran_for: started.elapsed(),
                    });
                    ctx.stop();
                }),
        );
    }
}

impl Handler<StopFetcher> for StreamFetcher {
    type Result = ();

    fn handle(&mut self, _: StopFetcher, ctx: &mut Context<Self>) {
        ctx.stop();
    }
}
