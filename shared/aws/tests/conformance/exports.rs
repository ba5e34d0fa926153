//! Exports on every backend: a record created once and moved on by versioned writes
//! (of two writers of one version, the first wins; a finished record stays), and a file written in parts that appears whole, only when completed
//! (S3 multipart uploads on the AWS backend, with a presigned link that downloads it).

use super::at;
use crate::common::Backend;
use billrun_app::model::exports::{Export, ExportStatus, UploadProgress, UploadedPart};
use billrun_app::ports::ExportCreated;
use billrun_domain::export::{ExportContent, ExportFormat};
use billrun_domain::ids::{ExportId, RunId};
use std::time::Duration;

pub(super) async fn an_export_is_created_once_and_moved_on_one_version_at_a_time(b: Backend) {
    let store = &b.app.exports;
    let id = ExportId(uuid::Uuid::new_v4());
    let run = RunId(uuid::Uuid::new_v4());
    let pending = Export::pending(
        id,
        run,
        ExportContent::Lines,
        ExportFormat::JsonLines,
        at("2026-02-01T10:00:00Z"),
    );
    assert_eq!(store.get_export(id).await.unwrap(), None);
    assert_eq!(
        store.create_export(&pending).await.unwrap(),
        ExportCreated::New
    );
    let mut other = pending.clone();
    other.content = ExportContent::Documents;
    assert_eq!(
        store.create_export(&other).await.unwrap(),
        ExportCreated::Exists
    );
    assert_eq!(store.get_export(id).await.unwrap(), Some(pending.clone()));
    let progress = |rows| {
        pending.next(|e| {
            e.progress = Some(UploadProgress {
                upload: "u-1".into(),
                parts: vec![UploadedPart {
                    number: 1,
                    tag: "\"e1\"".into(),
                }],
                after: None,
                rows,
                bytes: 10,
                uploaded: false,
            })
        })
    };
    assert!(store.save_export(&progress(3)).await.unwrap());
    assert!(
        !store.save_export(&progress(4)).await.unwrap(),
        "a second writer of the same version writes nothing"
    );
    assert_eq!(store.get_export(id).await.unwrap(), Some(progress(3)));
    assert!(!store.save_export(&pending).await.unwrap(), "no going back");
    let done = progress(3).next(|e| {
        e.status = ExportStatus::Completed;
        e.rows = 7;
        e.bytes = 1234;
        e.completed_at = Some(at("2026-02-01T10:01:00Z"));
        e.progress = None;
    });
    assert!(store.save_export(&done).await.unwrap());
    let failed = done.next(|e| {
        e.status = ExportStatus::Failed;
        e.error = Some("late".into());
    });
    assert!(
        !store.save_export(&failed).await.unwrap(),
        "a finished export is not written again"
    );
    assert_eq!(store.get_export(id).await.unwrap(), Some(done));
    let unknown = Export::pending(
        ExportId(uuid::Uuid::new_v4()),
        run,
        ExportContent::Documents,
        ExportFormat::Csv,
        at("2026-02-01T10:00:00Z"),
    );
    assert!(!store.save_export(&unknown.next(|_| ())).await.unwrap());
    assert_eq!(store.get_export(unknown.id).await.unwrap(), None);
}

pub(super) async fn an_export_file_appears_whole_when_its_upload_completes(b: Backend) {
    let files = &b.app.export_files;
    let key = format!(
        "exports/{}/{}.csv",
        uuid::Uuid::new_v4(),
        uuid::Uuid::new_v4()
    );
    // S3 takes parts of 5 MiB and more but the last.
    let first: Vec<u8> = (0..5 * 1024 * 1024 + 17)
        .map(|i| b"abcdefgh\r\n"[i % 10])
        .collect();
    let second = b"last,row\r\n".to_vec();
    let upload = files
        .begin_upload(&key, "text/csv; charset=utf-8")
        .await
        .unwrap();
    let p1 = files
        .upload_part(&key, &upload, 1, first.clone())
        .await
        .unwrap();
    let p2 = files
        .upload_part(&key, &upload, 2, second.clone())
        .await
        .unwrap();
    assert_eq!(
        files.read_file_range(&key, 0, 10).await.unwrap(),
        None,
        "nothing at the key before the upload completes"
    );
    files
        .complete_upload(&key, &upload, &[p1, p2])
        .await
        .unwrap();
    let whole = first.len() as u64 + second.len() as u64;
    assert_eq!(
        files
            .read_file_range(&key, whole - 12, 12)
            .await
            .unwrap()
            .as_deref(),
        Some(&[&first[first.len() - 2..], &second[..]].concat()[..])
    );
    // An upload dropped before completing leaves the file as it was.
    let dropped = files.begin_upload(&key, "text/csv").await.unwrap();
    files
        .upload_part(&key, &dropped, 1, b"other".to_vec())
        .await
        .unwrap();
    files.abort_upload(&key, &dropped).await.unwrap();
    assert_eq!(
        files.read_file_range(&key, 0, 10).await.unwrap().as_deref(),
        Some(&first[..10])
    );
    match files
        .download_url(&key, Duration::from_secs(900))
        .await
        .unwrap()
    {
        // The embedded stores have no link: the API serves the file.
        None => assert!(b.aws.is_none()),
        Some(url) => {
            assert!(url.contains("X-Amz-Signature="), "{url}");
            // Without credentials: Python's urllib, as a customer's script would.
            let out = std::process::Command::new("python3")
                .args([
                    "-c",
                    "import sys, urllib.request; \
                     sys.stdout.buffer.write(urllib.request.urlopen(sys.argv[1]).read())",
                    &url,
                ])
                .output()
                .expect("python3 runs (the test script installs it)");
            assert!(out.status.success(), "{url}");
            assert_eq!(out.stdout.len() as u64, whole);
            assert!(out.stdout.ends_with(&second));
        }
    }
}
