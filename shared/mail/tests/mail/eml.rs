//! The `.eml` folder.

use crate::sample_mail;
use billrun_app::ports::{Clock, Mailer, SendFailed};
use billrun_mail::{to_mime_at, EmlDirMailer};
use chrono::{DateTime, TimeZone, Utc};
use std::path::Path;
use std::sync::Arc;

struct Fixed(DateTime<Utc>);

impl Clock for Fixed {
    fn now(&self) -> DateTime<Utc> {
        self.0
    }
}

fn fixed() -> Arc<Fixed> {
    Arc::new(Fixed(Utc.with_ymd_and_hms(2024, 2, 1, 9, 30, 0).unwrap()))
}

fn names(dir: &Path) -> Vec<String> {
    let mut v: Vec<String> = std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().file_name().into_string().unwrap())
        .collect();
    v.sort();
    v
}

#[tokio::test]
async fn a_message_is_written_whole_under_a_name_made_from_its_id() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("outbox");
    let clock = fixed();
    let mailer = EmlDirMailer::with_clock(&dir, clock.clone());
    let mail = sample_mail();
    let accepted = mailer.send(&mail).await.unwrap();
    assert_eq!(accepted.provider_id, None);
    assert_eq!(names(&dir), ["req-1.doc-1_billrun.eml"]);
    let written = std::fs::read(dir.join("req-1.doc-1_billrun.eml")).unwrap();
    assert_eq!(written, to_mime_at(&mail, clock.0.into()).unwrap());
}

#[tokio::test]
async fn sending_the_same_message_again_leaves_one_identical_file() {
    let tmp = tempfile::tempdir().unwrap();
    let mailer = EmlDirMailer::with_clock(tmp.path(), fixed());
    let mail = sample_mail();
    mailer.send(&mail).await.unwrap();
    let first = std::fs::read(mailer.path_of(&mail.message_id).unwrap()).unwrap();
    // At once, too: each send writes its own temporary file and renames it.
    let sends: Vec<_> = (0..16)
        .map(|_| {
            let (mailer, mail) = (mailer.clone(), mail.clone());
            tokio::spawn(async move { mailer.send(&mail).await })
        })
        .collect();
    for s in sends {
        s.await.unwrap().unwrap();
    }
    assert_eq!(names(tmp.path()), ["req-1.doc-1_billrun.eml"]);
    let again = std::fs::read(mailer.path_of(&mail.message_id).unwrap()).unwrap();
    assert_eq!(again, first);
}

#[tokio::test]
async fn a_message_id_cannot_name_a_file_outside_the_folder() {
    let tmp = tempfile::tempdir().unwrap();
    let mailer = EmlDirMailer::new(tmp.path());
    let mut mail = sample_mail();
    mail.message_id = "<../../etc/passwd@x>".to_string();
    mailer.send(&mail).await.unwrap();
    assert_eq!(names(tmp.path()), [".._.._etc_passwd_x.eml"]);
    let path = mailer.path_of(&mail.message_id).unwrap();
    assert_eq!(path.parent(), Some(tmp.path()));
}

#[tokio::test]
async fn a_folder_that_cannot_be_written_fails_transiently_and_leaves_nothing() {
    let tmp = tempfile::tempdir().unwrap();
    let not_a_dir = tmp.path().join("file");
    std::fs::write(&not_a_dir, b"x").unwrap();
    let mailer = EmlDirMailer::new(&not_a_dir);
    let Err(SendFailed::Transient(_)) = mailer.send(&sample_mail()).await else {
        panic!("a folder that is a file is a transient failure");
    };
    assert_eq!(names(tmp.path()), ["file"]);
}
