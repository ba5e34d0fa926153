//! Controls a deployment can require of the people who run billing. Maker–checker: a
//! run is posted by someone other than the person who created it, so no one person can
//! both bill and commit the billing (a SOX segregation of duties). Under it, a poster
//! must be identified (a token's name, a JWT's `sub`, an IAM ARN) and differ from the
//! run's creator; `autoPost` (the system posting for the creator) is refused when a run
//! is requested and not honoured at completion, so a scheduled run with `autoPost` stops
//! at Completed for a second person (docs/decisions.md "Maker–checker").

use crate::error::{AppError, ConflictCode};
use crate::model::events::RunEventType;
use crate::model::RunRecord;
use billrun_domain::request::RunRequest;

/// The controls in force.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Controls {
    /// A run's poster differs from its creator.
    pub maker_checker: bool,
}

impl Controls {
    /// Refuses `poster` posting `run` when maker–checker is on and `poster` is unknown
    /// or created the run (409 `maker_checker`). A run the system created (a schedule's)
    /// has no creator to differ from: any identified poster may post it.
    pub fn check_poster(&self, run: &RunRecord, poster: Option<&str>) -> Result<(), AppError> {
        if !self.maker_checker {
            return Ok(());
        }
        let Some(poster) = poster else {
            return Err(AppError::conflict(
                ConflictCode::MakerChecker,
                "this deployment requires a second person to post a run, and the caller is \
                 not identified",
            ));
        };
        if run.actor_of(RunEventType::Created) == Some(poster) {
            return Err(AppError::conflict(
                ConflictCode::MakerChecker,
                format!(
                    "run {} was created by the caller: this deployment requires a second \
                     person to post it",
                    run.id
                ),
            ));
        }
        Ok(())
    }

    /// Refuses a run request that would post itself (`autoPost`) when maker–checker is
    /// on (409 `maker_checker`, field `autoPost`), before anything is stored.
    pub fn check_request(&self, request: &RunRequest) -> Result<(), AppError> {
        if self.maker_checker && request.auto_post {
            return Err(AppError::Conflict {
                code: ConflictCode::MakerChecker,
                message: "this deployment requires a second person to post a run: autoPost \
                          is not allowed"
                    .into(),
                field: Some("autoPost".into()),
            });
        }
        Ok(())
    }

    /// Whether a completed run with `autoPost` is posted by the system.
    pub fn honours_auto_post(&self) -> bool {
        !self.maker_checker
    }
}
