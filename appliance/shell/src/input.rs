//! Standard input read one byte at a time. The console hands its standard
//! input to `bash` when `unsupported` execs it, and to the programs it
//! runs: a buffered reader would have taken the lines after the one it
//! needed (from a pipe or a pasted block) and they would be lost.

use std::io::{self, BufRead, Read};

/// A [`BufRead`] that never reads past the byte it hands out.
#[derive(Debug)]
pub struct Unbuffered<R> {
    inner: R,
    byte: [u8; 1],
    filled: bool,
}

impl<R: Read> Unbuffered<R> {
    /// Wraps `inner` (an unbuffered reader: a `File` of the descriptor).
    pub fn new(inner: R) -> Unbuffered<R> {
        Unbuffered {
            inner,
            byte: [0],
            filled: false,
        }
    }
}

impl<R: Read> Read for Unbuffered<R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let n = {
            let b = self.fill_buf()?;
            let n = b.len().min(buf.len());
            buf[..n].copy_from_slice(&b[..n]);
            n
        };
        self.consume(n);
        Ok(n)
    }
}

impl<R: Read> BufRead for Unbuffered<R> {
    fn fill_buf(&mut self) -> io::Result<&[u8]> {
        if !self.filled {
            let n = loop {
                match self.inner.read(&mut self.byte) {
                    Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                    r => break r?,
                }
            };
            if n == 0 {
                return Ok(&[]);
            }
            self.filled = true;
        }
        Ok(&self.byte)
    }

    fn consume(&mut self, amt: usize) {
        if amt > 0 {
            self.filled = false;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_line_leaves_the_rest_unread() {
        let mut src = io::Cursor::new(b"unsupported\ny\necho rest\n".to_vec());
        {
            let mut r = Unbuffered::new(&mut src);
            let mut line = Vec::new();
            r.read_until(b'\n', &mut line).unwrap();
            assert_eq!(line, b"unsupported\n");
            line.clear();
            r.read_until(b'\n', &mut line).unwrap();
            assert_eq!(line, b"y\n");
        }
        assert_eq!(src.position(), 14, "nothing after the answer was taken");
        let mut r = Unbuffered::new(&mut src);
        let mut rest = String::new();
        r.read_to_string(&mut rest).unwrap();
        assert_eq!(rest, "echo rest\n");
        assert_eq!(r.fill_buf().unwrap(), b"");
    }
}
