//! Export files in a folder (the local mode's out folder, or the data folder): each
//! upload's parts are files in `.uploads/<upload>/` under the folder, and completing
//! the upload writes them, in order, to a temporary file that is renamed to the key's
//! path, so a reader sees the whole file or none. Memory holds one part at a time.

use async_trait::async_trait;
use billrun_app::error::StoreError;
use billrun_app::model::exports::{UploadId, UploadedPart};
use billrun_app::ports::{ExportFiles, StoreResult};
use std::io::{Read, Seek, SeekFrom, Write};
use std::path::{Component, Path, PathBuf};
use std::time::Duration;

/// Export files under `root`, at `root/<key>`.
#[derive(Debug, Clone)]
pub struct DirectoryExportFiles {
    root: PathBuf,
}

impl DirectoryExportFiles {
    pub fn new(root: impl Into<PathBuf>) -> Self {
        DirectoryExportFiles { root: root.into() }
    }

    /// Where the file of `key` is: keys are relative paths of plain names
    /// (`exports/<run>/<id>.csv`); any other is refused.
    pub fn path(&self, key: &str) -> StoreResult<PathBuf> {
        let relative = Path::new(key);
        if key.is_empty()
            || !relative
                .components()
                .all(|c| matches!(c, Component::Normal(_)))
        {
            return Err(StoreError::fatal(format!("not a file key: {key}")));
        }
        Ok(self.root.join(relative))
    }

    fn upload_dir(&self, upload: &UploadId) -> StoreResult<PathBuf> {
        if upload.0.is_empty()
            || !upload
                .0
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || c == '-')
        {
            return Err(StoreError::fatal(format!("not an upload id: {}", upload.0)));
        }
        Ok(self.root.join(".uploads").join(&upload.0))
    }
}

fn io(what: String) -> impl FnOnce(std::io::Error) -> StoreError {
    move |e| StoreError::transient_from(what, e)
}

/// Runs blocking file work off the async workers.
async fn blocking<T: Send + 'static>(
    f: impl FnOnce() -> StoreResult<T> + Send + 'static,
) -> StoreResult<T> {
    tokio::task::spawn_blocking(f)
        .await
        .map_err(|e| StoreError::transient(format!("file task: {e}")))?
}

#[async_trait]
impl ExportFiles for DirectoryExportFiles {
    async fn begin_upload(&self, _key: &str, _content_type: &str) -> StoreResult<UploadId> {
        let upload = UploadId(uuid::Uuid::new_v4().to_string());
        let dir = self.upload_dir(&upload)?;
        blocking(move || {
            std::fs::create_dir_all(&dir).map_err(io(format!("creating {}", dir.display())))
        })
        .await?;
        Ok(upload)
    }

    async fn upload_part(
        &self,
        _key: &str,
        upload: &UploadId,
        number: u32,
        bytes: Vec<u8>,
    ) -> StoreResult<UploadedPart> {
        let path = self.upload_dir(upload)?.join(format!("part-{number:05}"));
        let len = bytes.len();
        blocking(move || {
            std::fs::write(&path, &bytes).map_err(io(format!("writing {}", path.display())))
        })
        .await?;
        Ok(UploadedPart {
            number,
            tag: format!("{number}:{len}"),
        })
    }

    async fn complete_upload(
        &self,
        key: &str,
        upload: &UploadId,
        parts: &[UploadedPart],
    ) -> StoreResult<()> {
        let dir = self.upload_dir(upload)?;
        let target = self.path(key)?;
        let numbers: Vec<u32> = parts.iter().map(|p| p.number).collect();
        blocking(move || {
            let parent = target
                .parent()
                .ok_or_else(|| StoreError::fatal("an export key has a folder"))?;
            std::fs::create_dir_all(parent)
                .map_err(io(format!("creating {}", parent.display())))?;
            let temporary = dir.join("whole");
            let mut out = std::fs::File::create(&temporary)
                .map_err(io(format!("creating {}", temporary.display())))?;
            for n in numbers {
                let part = dir.join(format!("part-{n:05}"));
                let mut input = std::fs::File::open(&part)
                    .map_err(io(format!("reading {}", part.display())))?;
                std::io::copy(&mut input, &mut out)
                    .map_err(io(format!("copying {}", part.display())))?;
            }
            out.flush()
                .and_then(|()| out.sync_all())
                .map_err(io(format!("writing {}", temporary.display())))?;
            std::fs::rename(&temporary, &target)
                .map_err(io(format!("renaming to {}", target.display())))?;
            std::fs::remove_dir_all(&dir).map_err(io(format!("removing {}", dir.display())))
        })
        .await
    }

    async fn abort_upload(&self, _key: &str, upload: &UploadId) -> StoreResult<()> {
        let dir = self.upload_dir(upload)?;
        blocking(move || match std::fs::remove_dir_all(&dir) {
            Err(e) if e.kind() != std::io::ErrorKind::NotFound => {
                Err(io(format!("removing {}", dir.display()))(e))
            }
            _ => Ok(()),
        })
        .await
    }

    async fn download_url(&self, _key: &str, _ttl: Duration) -> StoreResult<Option<String>> {
        Ok(None)
    }

    async fn read_file_range(
        &self,
        key: &str,
        offset: u64,
        length: u64,
    ) -> StoreResult<Option<Vec<u8>>> {
        let path = self.path(key)?;
        blocking(move || {
            let mut file = match std::fs::File::open(&path) {
                Ok(f) => f,
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
                Err(e) => return Err(io(format!("opening {}", path.display()))(e)),
            };
            file.seek(SeekFrom::Start(offset))
                .map_err(io(format!("reading {}", path.display())))?;
            let mut out = Vec::new();
            file.take(length)
                .read_to_end(&mut out)
                .map_err(io(format!("reading {}", path.display())))?;
            Ok(Some(out))
        })
        .await
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn parts_become_one_file_at_once_and_an_abort_leaves_nothing() {
        let dir = tempfile::tempdir().unwrap();
        let files = DirectoryExportFiles::new(dir.path());
        let key = "exports/r/e.csv";
        let up = files.begin_upload(key, "text/csv").await.unwrap();
        let a = files
            .upload_part(key, &up, 1, b"abc".to_vec())
            .await
            .unwrap();
        let b = files
            .upload_part(key, &up, 2, b"de".to_vec())
            .await
            .unwrap();
        assert_eq!(files.read_file_range(key, 0, 10).await.unwrap(), None);
        files.complete_upload(key, &up, &[a, b]).await.unwrap();
        assert_eq!(
            files.read_file_range(key, 1, 3).await.unwrap().as_deref(),
            Some(&b"bcd"[..])
        );
        let dropped = files.begin_upload(key, "text/csv").await.unwrap();
        files
            .upload_part(key, &dropped, 1, b"x".to_vec())
            .await
            .unwrap();
        files.abort_upload(key, &dropped).await.unwrap();
        assert_eq!(
            std::fs::read_dir(dir.path().join(".uploads"))
                .unwrap()
                .count(),
            0
        );
        assert!(files.path("../etc/passwd").is_err());
        assert!(files.path("/etc/passwd").is_err());
    }
}
