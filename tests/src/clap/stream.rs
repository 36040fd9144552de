//! State streams that move at most a chunk per call, as some hosts do.

use super::*;

/// A reader that returns at most `chunk` bytes per `read` call (hosts may do this; the CLAP
/// spec requires plugins to loop).
pub struct ChunkedReader<'a> {
    data: &'a [u8],
    chunk: usize,
}

impl<'a> ChunkedReader<'a> {
    /// Reads `data` in pieces of at most `chunk` (≥ 1) bytes.
    pub fn new(data: &'a [u8], chunk: usize) -> Self {
        Self {
            data,
            chunk: chunk.max(1),
        }
    }
}

impl Read for ChunkedReader<'_> {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        let n = buf.len().min(self.chunk).min(self.data.len());
        buf[..n].copy_from_slice(&self.data[..n]);
        self.data = &self.data[n..];
        Ok(n)
    }
}

/// A writer that accepts at most `chunk` bytes per `write` call.
pub struct ChunkedWriter {
    /// Everything written so far.
    pub data: Vec<u8>,
    chunk: usize,
}

impl ChunkedWriter {
    /// Accepts pieces of at most `chunk` (≥ 1) bytes.
    pub fn new(chunk: usize) -> Self {
        Self {
            data: Vec::new(),
            chunk: chunk.max(1),
        }
    }
}

impl Write for ChunkedWriter {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        let n = buf.len().min(self.chunk);
        self.data.extend_from_slice(&buf[..n]);
        Ok(n)
    }

    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}
