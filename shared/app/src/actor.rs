//! Who is making the changes of the request being served: the API layer runs each
//! request's handler as its caller ([`acting_as`], set where the caller is known:
//! `billrun_api::access`), and every change the use cases write in it records that
//! name ([`current`]: a run's events). Work done by queue workers and the scheduler
//! has no caller: its changes record none (the system's).

use std::future::Future;

tokio::task_local! {
    static ACTOR: String;
}

/// Runs `f` with `name` as the actor of the changes it makes.
pub async fn acting_as<F: Future>(name: String, f: F) -> F::Output {
    ACTOR.scope(name, f).await
}

/// The actor of the request being served, if any.
pub fn current() -> Option<String> {
    ACTOR.try_with(Clone::clone).ok()
}
