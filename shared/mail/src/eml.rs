//! Messages as `.eml` files in a folder: the local mode's outbox, and what tests read.
//!
//! Each message is `<dir>/<message id>.eml`, the id reduced to `[A-Za-z0-9._-]`. It is
//! written to a temporary file in the same folder, flushed to disk, then renamed over
//! the final name: a reader or a crash sees the whole message or none of it. Sending the
//! same message id again replaces the file, so a message sent twice is one file.

use crate::mime;
use async_trait::async_trait;
use billrun_app::model::deliveries::OutgoingMail;
use billrun_app::ports::{Accepted, Clock, Mailer, SendFailed, SystemClock};
use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::SystemTime;

/// Longest file name stem: well under the 255 bytes most file systems allow.
const MAX_STEM: usize = 200;

/// Writes each message as an `.eml` file.
#[derive(Clone)]
pub struct EmlDirMailer {
    dir: PathBuf,
    clock: Arc<dyn Clock>,
    /// Makes each temporary file name unique within the process, so that two sends of
    /// the same message at once never write into one temporary file.
    sequence: Arc<AtomicU64>,
}

impl std::fmt::Debug for EmlDirMailer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("EmlDirMailer")
            .field("dir", &self.dir)
            .finish_non_exhaustive()
    }
}

impl EmlDirMailer {
    /// Writes into `dir` (created on the first send if missing), dating messages by the
    /// wall clock.
    pub fn new(dir: impl Into<PathBuf>) -> EmlDirMailer {
        EmlDirMailer::with_clock(dir, Arc::new(SystemClock))
    }

    /// Dates messages by `clock`: with a fixed clock, the same message is the same bytes.
    pub fn with_clock(dir: impl Into<PathBuf>, clock: Arc<dyn Clock>) -> EmlDirMailer {
        EmlDirMailer {
            dir: dir.into(),
            clock,
            sequence: Arc::new(AtomicU64::new(0)),
        }
    }

    /// The file a message with this id is written to.
    pub fn path_of(&self, message_id: &str) -> Result<PathBuf, SendFailed> {
        Ok(self.dir.join(format!("{}.eml", file_stem(message_id)?)))
    }
}

/// The id's `[A-Za-z0-9._-]` characters, the others as `_` (`<r.d@billrun>` →
/// `r.d_billrun`), never a path: no separator can survive.
fn file_stem(message_id: &str) -> Result<String, SendFailed> {
    let inner = message_id.trim_start_matches('<').trim_end_matches('>');
    let stem: String = inner
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | '-') {
                c
            } else {
                '_'
            }
        })
        .collect();
    if stem.is_empty() || stem.len() > MAX_STEM || stem.chars().all(|c| c == '.') {
        return Err(SendFailed::Permanent(
            "Message-ID: cannot name an .eml file".to_string(),
        ));
    }
    Ok(stem)
}

#[async_trait]
impl Mailer for EmlDirMailer {
    async fn send(&self, mail: &OutgoingMail) -> Result<Accepted, SendFailed> {
        let bytes = mime::to_mime_at(mail, SystemTime::from(self.clock.now()))?;
        let path = self.path_of(&mail.message_id)?;
        let tmp = self.dir.join(format!(
            ".{}.{}.{}.tmp",
            file_stem(&mail.message_id)?,
            std::process::id(),
            self.sequence.fetch_add(1, Ordering::Relaxed)
        ));
        let dir = self.dir.clone();
        let written =
            tokio::task::spawn_blocking(move || write_atomically(&dir, &tmp, &path, &bytes))
                .await
                .map_err(|e| SendFailed::Transient(format!("the .eml writer stopped: {e}")))?;
        match written {
            Ok(()) => {
                tracing::debug!(message_id = %mail.message_id, "eml: written");
                Ok(Accepted { provider_id: None })
            }
            Err(e) => {
                tracing::warn!(message_id = %mail.message_id, error = %e, "eml: not written");
                Err(SendFailed::Transient(format!(
                    "the .eml file could not be written: {e}"
                )))
            }
        }
    }
}

/// Writes `bytes` to `tmp`, flushes it to disk, renames it to `path` and flushes the
/// folder, so that the rename itself survives a crash. On failure the temporary file
/// is removed.
fn write_atomically(dir: &Path, tmp: &Path, path: &Path, bytes: &[u8]) -> std::io::Result<()> {
    std::fs::create_dir_all(dir)?;
    let result = (|| {
        let mut f = std::fs::File::create(tmp)?;
        f.write_all(bytes)?;
        f.sync_all()?;
        drop(f);
        std::fs::rename(tmp, path)
    })();
    if result.is_err() {
        // Best effort: the error being reported is the write's, not the clean-up's.
        let _ = std::fs::remove_file(tmp);
    }
    result?;
    // A folder can be opened and synced on Unix; elsewhere the rename stands as it is.
    #[cfg(unix)]
    std::fs::File::open(dir)?.sync_all()?;
    Ok(())
}
