//! [`MediaFile`]: an upload as `check_media_file_for_spam` sees it, read in chunks as
//! Synapse's `ReadableFileWrapper` is, so a module that scans a file never needs all of it
//! in memory at once.

use std::{io, path::PathBuf};

use bytes::Bytes;
use tokio::io::AsyncReadExt;

/// A media file being stored (Synapse's `ReadableFileWrapper`): the host hands the file
/// as it was written to disk, and a module reads it chunk by chunk.
///
/// ```
/// # tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap().block_on(async {
/// use mxmod::types::MediaFile;
///
/// let file = MediaFile::from_bytes("a picture of a cat");
/// let mut seen = Vec::new();
/// file.write_chunks_to(|chunk| seen.extend_from_slice(chunk)).await.unwrap();
/// assert_eq!(seen, b"a picture of a cat");
/// # });
/// ```
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct MediaFile {
    source: Source,
}

#[derive(Clone, Debug, PartialEq, Eq)]
enum Source {
    /// A file on disk (the host's uploads).
    Path(PathBuf),
    /// Bytes in memory (tests, and modules that build one).
    Bytes(Bytes),
}

impl MediaFile {
    /// The size of each chunk [`MediaFile::write_chunks_to`] hands over (Synapse's 64 KiB).
    pub const CHUNK_SIZE: usize = 1 << 16;

    /// The file at `path`, read when a module asks.
    pub fn from_path(path: impl Into<PathBuf>) -> Self {
        MediaFile { source: Source::Path(path.into()) }
    }

    /// A file held in memory.
    pub fn from_bytes(bytes: impl Into<Bytes>) -> Self {
        MediaFile { source: Source::Bytes(bytes.into()) }
    }

    /// Calls `each` with the file's content in order, [`Self::CHUNK_SIZE`] bytes at a time (the
    /// last chunk may be shorter), as Synapse's `write_chunks_to`; only one chunk is in
    /// memory at a time.
    pub async fn write_chunks_to(&self, mut each: impl FnMut(&[u8])) -> io::Result<()> {
        match &self.source {
            Source::Bytes(bytes) => bytes.chunks(Self::CHUNK_SIZE).for_each(each),
            Source::Path(path) => {
                let mut file = tokio::fs::File::open(path).await?;
                let mut buffer = vec![0; Self::CHUNK_SIZE];
                loop {
                    let mut filled = 0;
                    while filled < Self::CHUNK_SIZE {
                        match file.read(&mut buffer[filled..]).await? {
                            0 => break,
                            read => filled += read,
                        }
                    }
                    if filled == 0 {
                        break;
                    }
                    each(&buffer[..filled]);
                    if filled < Self::CHUNK_SIZE {
                        break;
                    }
                }
            }
        }
        Ok(())
    }

    /// The whole content, if it is at most `limit` bytes (an [`io::ErrorKind::FileTooLarge`]
    /// error otherwise): for a module that needs the file whole, with a bound it chooses.
    pub async fn read_to_end(&self, limit: u64) -> io::Result<Bytes> {
        let too_large = || io::Error::new(io::ErrorKind::FileTooLarge, format!("the file is over {limit} bytes"));
        match &self.source {
            Source::Bytes(bytes) if bytes.len() as u64 > limit => Err(too_large()),
            Source::Bytes(bytes) => Ok(bytes.clone()),
            Source::Path(path) => {
                let file = tokio::fs::File::open(path).await?;
                let mut content = Vec::new();
                file.take(limit.saturating_add(1)).read_to_end(&mut content).await?;
                if content.len() as u64 > limit {
                    return Err(too_large());
                }
                Ok(content.into())
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const CHUNK_SIZE: usize = MediaFile::CHUNK_SIZE;

    #[tokio::test]
    async fn a_file_on_disk_comes_in_chunks_of_64_kib_and_whole_within_a_limit() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("upload");
        let content: Vec<u8> = (0..(2 * CHUNK_SIZE + 10)).map(|n| (n % 251) as u8).collect();
        std::fs::write(&path, &content).unwrap();
        let file = MediaFile::from_path(&path);

        let mut sizes = Vec::new();
        let mut seen = Vec::new();
        file.write_chunks_to(|chunk| {
            sizes.push(chunk.len());
            seen.extend_from_slice(chunk);
        })
        .await
        .unwrap();
        assert_eq!(sizes, [CHUNK_SIZE, CHUNK_SIZE, 10]);
        assert_eq!(seen, content);

        assert_eq!(file.read_to_end(content.len() as u64).await.unwrap(), content);
        let error = file.read_to_end(content.len() as u64 - 1).await.unwrap_err();
        assert_eq!(error.kind(), io::ErrorKind::FileTooLarge);
    }

    #[tokio::test]
    async fn bytes_in_memory_read_the_same_way() {
        let file = MediaFile::from_bytes(vec![7; CHUNK_SIZE + 1]);
        let mut sizes = Vec::new();
        file.write_chunks_to(|chunk| sizes.push(chunk.len())).await.unwrap();
        assert_eq!(sizes, [CHUNK_SIZE, 1]);
        assert!(file.read_to_end(CHUNK_SIZE as u64).await.is_err());
        assert_eq!(file.read_to_end(CHUNK_SIZE as u64 + 1).await.unwrap().len(), CHUNK_SIZE + 1);
        let mut none = 0;
        MediaFile::from_bytes(Vec::new()).write_chunks_to(|_| none += 1).await.unwrap();
        assert_eq!(none, 0, "an empty file has no chunk");
    }
}
