//! One server per data dir: an exclusive OS lock on `DIR/gavel.lock`, held for the server's
//! life (the OS releases it when the process dies, however it dies). The lock file names its
//! holder (pid and listen address), so a second server can say who has the dir.

use std::fs::{File, OpenOptions, TryLockError};
use std::io::{Read as _, Seek as _, SeekFrom, Write as _};
use std::path::{Path, PathBuf};

/// Longest holder description read back from a lock file (anyone may have written it).
const MAX_HOLDER_LEN: usize = 200;

#[derive(Debug, thiserror::Error)]
pub enum DataDirError {
    #[error("data dir {dir} is in use by another gavel server ({holder}); stop it or use another --data")]
    InUse { dir: String, holder: String },
    #[error("cannot lock data dir {dir}: {source}")]
    Io {
        dir: String,
        #[source]
        source: std::io::Error,
    },
}

/// The held lock; dropping it releases the data dir.
#[derive(Debug)]
pub struct DataDirLock {
    file: File,
    path: PathBuf,
}

pub fn lock_path(data: &Path) -> PathBuf {
    data.join("gavel.lock")
}

impl DataDirLock {
    /// Takes the data dir for this process, or says who holds it.
    pub fn acquire(data: &Path) -> Result<DataDirLock, DataDirError> {
        let io = |source| DataDirError::Io {
            dir: data.display().to_string(),
            source,
        };
        let path = lock_path(data);
        let file = OpenOptions::new()
            .read(true)
            .write(true)
            .create(true)
            .truncate(false)
            .open(&path)
            .map_err(io)?;
        match file.try_lock() {
            Ok(()) => {}
            Err(TryLockError::WouldBlock) => {
                return Err(DataDirError::InUse {
                    dir: data.display().to_string(),
                    holder: holder(&file),
                })
            }
            Err(TryLockError::Error(e)) => return Err(io(e)),
        }
        let mut lock = DataDirLock { file, path };
        lock.describe("starting").map_err(io)?;
        Ok(lock)
    }

    /// Rewrites the holder line: `pid N, <what>`.
    pub fn describe(&mut self, what: &str) -> std::io::Result<()> {
        let line = format!("pid {}, {what}\n", std::process::id());
        self.file.set_len(0)?;
        self.file.seek(SeekFrom::Start(0))?;
        self.file.write_all(line.as_bytes())?;
        self.file.flush()
    }

    pub fn path(&self) -> &Path {
        &self.path
    }
}

/// The holder's line from a lock file, made inert and short.
fn holder(file: &File) -> String {
    let mut text = String::new();
    let read = file
        .take(MAX_HOLDER_LEN as u64 * 4)
        .read_to_string(&mut text);
    let line: String = text
        .lines()
        .next()
        .unwrap_or("")
        .chars()
        .filter(|c| !c.is_control())
        .take(MAX_HOLDER_LEN)
        .collect();
    match read {
        Ok(_) if !line.trim().is_empty() => line,
        _ => "its pid is not recorded".into(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_second_lock_is_refused_naming_the_holder_and_released_on_drop() {
        let dir = tempfile::tempdir().unwrap();
        let mut first = DataDirLock::acquire(dir.path()).unwrap();
        first.describe("listening on http://127.0.0.1:9").unwrap();
        let e = DataDirLock::acquire(dir.path()).unwrap_err().to_string();
        assert!(
            e.contains(&dir.path().display().to_string())
                && e.contains(&format!("pid {}", std::process::id()))
                && e.contains("http://127.0.0.1:9"),
            "{e}"
        );
        drop(first);
        DataDirLock::acquire(dir.path()).unwrap();
    }
}
