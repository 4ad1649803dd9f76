//! Is the engine alive, or wedged? The question `/healthz` asks, so an orchestrator can
//! restart a process whose actors stopped answering.
//!
//! [`check`] sends a [`Ping`] to the supervisor and to the publisher and runs a no-op on
//! every worker thread, each with a deadline: an actor that has stopped, or whose
//! mailbox is stuck behind a handler that never returns, misses it; so does a worker
//! thread that died or is blocked. The HTTP layer decides what to answer; this module
//! only says what did not answer. [`Halt`] stops an actor the way a crash would, for
//! tests of exactly that.
//! Topic creation (which waits for the broker) runs in the engine, outside every actor,
//! so a broker outage does not make the supervisor miss pings.

use std::time::Duration;

use actix::prelude::*;

use crate::publisher::Publisher;
use crate::supervisor::Supervisor;

/// "Are you there?": answered at once by the actors that keep the engine going.
#[derive(Message)]
#[rtype(result = "()")]
pub struct Ping;

/// Stops the receiving actor, as a panic in it would (tests of liveness).
#[doc(hidden)]
#[derive(Message)]
#[rtype(result = "()")]
pub struct Halt;

impl Handler<Ping> for Supervisor {
    type Result = ();
    fn handle(&mut self, _: Ping, _: &mut Context<Self>) {}
}

impl Handler<Ping> for Publisher {
    type Result = ();
    fn handle(&mut self, _: Ping, _: &mut Context<Self>) {}
}

impl Handler<Halt> for Supervisor {
    type Result = ();
    fn handle(&mut self, _: Halt, ctx: &mut Context<Self>) {
        ctx.stop();
    }
}

impl Handler<Halt> for Publisher {
    type Result = ();
    fn handle(&mut self, _: Halt, ctx: &mut Context<Self>) {
        ctx.stop();
    }
}

/// `None` when `actor` answered a [`Ping`] within `timeout`, else what went wrong.
async fn ask<A>(name: &str, actor: &Addr<A>, timeout: Duration) -> Option<String>
where
    A: Actor<Context = Context<A>> + Handler<Ping>,
{
    match tokio::time::timeout(timeout, actor.send(Ping)).await {
        Ok(Ok(())) => None,
        Ok(Err(_)) => Some(format!("{name} actor stopped")),
        Err(_) => Some(format!("{name} did not answer within {timeout:?}")),
    }
}

/// `Ok` when the supervisor, the publisher and every worker thread answered within
/// `timeout`; otherwise what did not, one phrase each.
pub async fn check(
    supervisor: &Addr<Supervisor>,
    publisher: &Addr<Publisher>,
    workers: &[ArbiterHandle],
    timeout: Duration,
) -> Result<(), Vec<String>> {
    let threads = async {
        let mut replies = Vec::with_capacity(workers.len());
        let mut dead = 0;
        for w in workers {
            let (tx, rx) = tokio::sync::oneshot::channel::<()>();
            if w.spawn(async move {
                let _ = tx.send(());
            }) {
                replies.push(rx);
            } else {
                dead += 1;
            }
        }
        let answered = tokio::time::timeout(timeout, futures::future::join_all(replies)).await;
        let stuck = match answered {
            Ok(r) => r.iter().filter(|r| r.is_err()).count(),
            Err(_) => workers.len() - dead,
        };
        match (dead + stuck, workers.len()) {
            (0, _) => None,
            (bad, all) => Some(format!("{bad} of {all} worker threads dead or stuck")),
        }
    };
    let (s, p, w) = futures::join!(
        ask("supervisor", supervisor, timeout),
        ask("publisher", publisher, timeout),
        threads
    );
    let problems: Vec<String> = [s, p, w].into_iter().flatten().collect();
    if problems.is_empty() {
        Ok(())
    } else {
        Err(problems)
    }
}
