//! The `local` DA backend (the default): frames written to a directory of the node's home
//! (`<home>/data/da/`), synced before the receipt is answered, so a frame is available once
//! `submit` returns. It keeps nothing off the node: it is what a network without an L1 runs.

use std::path::{Path, PathBuf};

use async_trait::async_trait;
use ordo_types::Limits;
use ordo_types::da::{Frame, frame_capacity};

use super::{Confirmation, DaBackend, DaError, Locator, Receipt};

/// Frames in a directory.
#[derive(Debug, Clone)]
pub struct LocalDa {
    dir: PathBuf,
    limits: Limits,
}

impl LocalDa {
    /// Frames under `dir` (created if missing).
    pub fn open(dir: &Path, limits: Limits) -> Result<LocalDa, DaError> {
        std::fs::create_dir_all(dir)
            .map_err(|e| DaError::Fatal(format!("DA directory {}: {e}", dir.display())))?;
        Ok(LocalDa {
            dir: dir.to_path_buf(),
            limits,
        })
    }

    /// `<first>-<last>-<part>of<parts>.frame`, zero-padded so names sort by height.
    fn file_name(frame: &Frame) -> String {
        format!(
            "{:020}-{:020}-{:05}of{:05}.frame",
            frame.first.0, frame.last.0, frame.part, frame.parts
        )
    }

    /// The highest height whose frames are all in the directory: frames are written in order,
    /// so a height counts once the last part of its frame is there (none of a restart's
    /// half-written split batch).
    pub fn head(&self) -> u64 {
        let Ok(entries) = std::fs::read_dir(&self.dir) else {
            return 0;
        };
        entries
            .filter_map(|e| {
                let name = e.ok()?.file_name().into_string().ok()?;
                let mut f = name.strip_suffix(".frame")?.split('-');
                let (_first, last, part) = (f.next()?, f.next()?, f.next()?);
                let (part, parts) = part.split_once("of")?;
                let whole = part.parse::<u16>().ok()? + 1 == parts.parse::<u16>().ok()?;
                whole.then(|| last.parse::<u64>().ok()).flatten()
            })
            .max()
            .unwrap_or(0)
    }

    fn path(&self, receipt: &Receipt) -> Result<PathBuf, DaError> {
        match &receipt.locator {
            // A receipt names a file of this directory, never a path elsewhere.
            Locator::Local { file }
                if !file.contains('/') && !file.contains('\\') && !file.starts_with('.') =>
            {
                Ok(self.dir.join(file))
            }
            other => Err(DaError::Fatal(format!("not a local DA receipt: {other:?}"))),
        }
    }
}

fn io(what: &str, path: &Path, e: std::io::Error) -> DaError {
    DaError::Retry(format!("{what} {}: {e}", path.display()))
}

#[async_trait]
impl DaBackend for LocalDa {
    fn describe(&self) -> String {
        format!("local({})", self.dir.display())
    }

    fn frame_capacity(&self) -> usize {
        frame_capacity(6)
    }

    async fn submit(&self, frame: &Frame) -> Result<Receipt, DaError> {
        let file = Self::file_name(frame);
        let path = self.dir.join(&file);
        let tmp = self.dir.join(format!(".{file}.tmp"));
        let bytes = frame.encode();
        let dir = self.dir.clone();
        let (p, t) = (path.clone(), tmp.clone());
        tokio::task::spawn_blocking(move || -> std::io::Result<()> {
            use std::io::Write;
            let mut f = std::fs::File::create(&t)?;
            f.write_all(&bytes)?;
            f.sync_all()?;
            std::fs::rename(&t, &p)?;
            std::fs::File::open(&dir)?.sync_all()
        })
        .await
        .map_err(|e| DaError::Retry(format!("DA write task: {e}")))?
        .map_err(|e| io("writing", &path, e))?;
        Ok(Receipt::of(frame, Locator::Local { file }))
    }

    async fn confirm(&self, receipt: &Receipt) -> Result<Confirmation, DaError> {
        let path = self.path(receipt)?;
        match tokio::fs::try_exists(&path).await {
            Ok(true) => Ok(Confirmation::Available { l1_block: 0 }),
            Ok(false) => Ok(Confirmation::Dropped),
            Err(e) => Err(io("reading", &path, e)),
        }
    }

    async fn fetch(&self, receipt: &Receipt) -> Result<Frame, DaError> {
        let path = self.path(receipt)?;
        let bytes = tokio::fs::read(&path)
            .await
            .map_err(|e| io("reading", &path, e))?;
        let frame = Frame::decode(&bytes, &self.limits)
            .map_err(|e| DaError::Fatal(format!("{}: {e}", path.display())))?;
        if (frame.first, frame.last, frame.part) != (receipt.first, receipt.last, receipt.part) {
            return Err(DaError::Fatal(format!(
                "{} holds heights {}..={} part {}, not the receipt's",
                path.display(),
                frame.first.0,
                frame.last.0,
                frame.part
            )));
        }
        Ok(frame)
    }
}
