//! Lifecycle transitions that write effects beyond the run record (post, cancel, retry
//! of failed accounts) claim the run with a conditional write first
//! ([`TransitionClaim`]): of two racing commands exactly one acts, and the other is
//! refused (409 `run_transition_in_progress`, or the code its own status check gives)
//! having written nothing. A claim is only rolled forward, never undone.

use super::RunPipeline;
use crate::error::AppError;
use crate::error::ConflictCode;
use crate::model::{RunRecord, Transition, TransitionClaim};
use billrun_domain::ids::RunId;
use tracing::warn;

/// How long a claim's holder is taken to be alive and writing. Longer than any API
/// function's timeout (29 s), so a live holder is never taken over on AWS; a holder
/// that fails shortens it to now ([`RunPipeline::yield_claim`]), so a retry acts at once.
pub(crate) const TRANSITION_LEASE: chrono::TimeDelta = chrono::TimeDelta::minutes(2);

/// What a command's status check says of the run it read.
pub(crate) enum Admit {
    /// The transition's end is already reached (an earlier command finished it).
    Done,
    /// Claim the run, then write the effects.
    Claim,
    /// The change made to the record is the whole transition (no effects elsewhere):
    /// store it, no claim.
    Apply,
}

/// The outcome of [`RunPipeline::claim`].
pub(crate) struct Claim {
    /// The run as stored by the claim (or as read, when nothing was stored).
    pub run: RunRecord,
    /// This command's token when it holds the claim: it writes the effects.
    pub token: Option<String>,
    /// The claim was taken over from a holder that stopped: its effects may be partly
    /// written, and this command finishes them.
    pub resumed: bool,
}

impl RunPipeline {
    /// Claims `kind` on the run. A claim of another kind, or a live one of the same
    /// kind, refuses with `run_transition_in_progress`; a stale one of the same kind is
    /// taken over (`resumed`) without `admit`, whose status check held when it was
    /// claimed. Otherwise `admit` checks the run's status (its error is the refusal)
    /// and may change the record; the change and the claim are one conditional write.
    pub(crate) async fn claim(
        &self,
        id: RunId,
        kind: Transition,
        mut admit: impl FnMut(&mut RunRecord) -> Result<Admit, AppError>,
    ) -> Result<Claim, AppError> {
        let token = uuid::Uuid::new_v4().to_string();
        let now = self.clock.now();
        let mine = TransitionClaim {
            kind,
            holder: token.clone(),
            until: now + TRANSITION_LEASE,
        };
        let mut resumed = false;
        let mut claimed = false;
        let run = self
            .modify_run(id, |r| {
                resumed = false;
                claimed = false;
                // Posting, canceling or retrying a preview would write what a preview
                // never writes.
                super::refuse_preview(r, kind.done())?;
                match &r.transition {
                    Some(c) if c.kind != kind || c.until > now => {
                        return Err(in_progress(r, c.kind));
                    }
                    Some(_) => {
                        resumed = true;
                        claimed = true;
                        r.transition = Some(mine.clone());
                        return Ok(true);
                    }
                    None => {}
                }
                match admit(r)? {
                    Admit::Done => Ok(false),
                    Admit::Apply => Ok(true),
                    Admit::Claim => {
                        claimed = true;
                        r.transition = Some(mine.clone());
                        Ok(true)
                    }
                }
            })
            .await?;
        Ok(Claim {
            run,
            token: claimed.then_some(token),
            resumed,
        })
    }

    /// Ends the transition: `apply` changes the record (the status it announces) and the
    /// claim goes, in one conditional write. A no-op when the claim is gone (another
    /// holder took it over and finished first).
    pub(crate) async fn finish(
        &self,
        id: RunId,
        kind: Transition,
        mut apply: impl FnMut(&mut RunRecord),
    ) -> Result<RunRecord, AppError> {
        self.modify_run(id, |r| match &r.transition {
            Some(c) if c.kind == kind => {
                apply(r);
                r.transition = None;
                Ok(true)
            }
            _ => Ok(false),
        })
        .await
    }

    /// Gives the claim up: for a command whose effect reported that it wrote nothing.
    pub(crate) async fn release_transition(&self, id: RunId, token: &str) -> Result<(), AppError> {
        self.modify_run(id, |r| match &r.transition {
            Some(c) if c.holder == token => {
                r.transition = None;
                Ok(true)
            }
            _ => Ok(false),
        })
        .await?;
        Ok(())
    }

    /// A holder whose effects failed part-way keeps the claim (they may be partly
    /// written) but ends its lease, so that a retry of the command resumes at once;
    /// best effort. Returns the error it failed with.
    pub(crate) async fn yield_claim(&self, id: RunId, token: &str, error: AppError) -> AppError {
        let now = self.clock.now();
        let ended = self
            .modify_run(id, |r| match &mut r.transition {
                Some(c) if c.holder == token => {
                    c.until = now;
                    Ok(true)
                }
                _ => Ok(false),
            })
            .await;
        if let Err(e) = ended {
            warn!(run_id = %id, error = %crate::error::chain(&e), "could not end the transition's lease");
        }
        error
    }
}

fn in_progress(r: &RunRecord, kind: Transition) -> AppError {
    AppError::conflict(
        ConflictCode::RunTransitionInProgress,
        format!(
            "run {} is {}; try again once that has finished",
            r.number,
            kind.doing()
        ),
    )
}
