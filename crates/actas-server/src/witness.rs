//! The witness: every signed head of the audit trail, appended to a file
//! outside the database (`actas serve --witness FILE`).
//!
//! Each line is one JSON object `{seq, hash, at, kid, signature}`: the head
//! a checkpoint signed, written only after its transaction committed. The
//! file is opened for appending only, each write is flushed to disk
//! (`fsync`) before the next one is taken, and it is never rewritten. Lines
//! that wait together are written together and flushed once.
//!
//! Whoever can write the database but not this file can no longer rewrite
//! or cut the trail unnoticed: `actas audit verify --witness FILE` checks
//! that every witnessed head is still in the chain and that the chain
//! reaches the last one. Keep the file where the database's readers and
//! writers cannot reach it (another disk, host or account; `chattr +a`).
//!
//! **Invariant:** a witnessed head was committed first, so the witness is
//! never ahead of the database, also across a crash.

use std::io::{BufRead, Read, Seek, SeekFrom, Write};
use std::path::{Path, PathBuf};
use std::sync::mpsc;
use std::time::Duration;

use actas_core::audit::Checkpoint;
use actas_store::{read_fn, EventFilter, Store};
use anyhow::{bail, Context};
use serde::{Deserialize, Serialize};

/// One witnessed head.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Line {
    /// The head event's seq.
    pub seq: i64,
    /// The head event's hash.
    pub hash: String,
    /// When the checkpoint was signed (UTC, milliseconds).
    pub at: String,
    /// The checkpoint key that signed it.
    pub kid: String,
    /// Ed25519 signature over `actas-audit-head\n{seq}\n{hash}`, base64url.
    pub signature: String,
}

impl Line {
    fn of(cp: &Checkpoint) -> Line {
        Line {
            seq: cp.seq,
            hash: cp.hash.clone(),
            at: actas_core::clock::format_ms(cp.at),
            kid: cp.kid.clone(),
            signature: cp.signature.clone(),
        }
    }
}

enum Message {
    Head(Line),
    Flush(mpsc::Sender<()>),
}

/// The witness file of a running server.
#[derive(Debug)]
pub struct Witness {
    path: PathBuf,
    queue: mpsc::Sender<Message>,
}

impl Witness {
    /// Opens (or creates) the witness file for appending. Refuses when the
    /// database does not hold the last head the file witnessed: it was cut,
    /// rewritten or restored from an older copy.
    pub async fn open(path: &Path, store: &Store) -> anyhow::Result<Witness> {
        if let Some(last) = last_line(path)? {
            let seq = last.seq;
            let held = store
                .read(read_fn(move |tx| {
                    Box::pin(async move {
                        let f = EventFilter { after_seq: Some(seq - 1), limit: 1, ..Default::default() };
                        Ok(tx.list_events(&f).await?.into_iter().find(|e| e.seq == seq).map(|e| e.hash))
                    })
                }))
                .await?;
            if held.as_deref() != Some(last.hash.as_str()) {
                bail!(
                    "the database does not hold the audit head its witness {} recorded last (event {} at {}): \
                     it was cut, rewritten or restored from an older copy; check it with `actas audit verify \
                     --witness {}`",
                    path.display(),
                    last.seq,
                    last.at,
                    path.display()
                );
            }
        }
        let mut file = std::fs::OpenOptions::new()
            .append(true)
            .create(true)
            .open(path)
            .with_context(|| format!("cannot open the witness {} for appending", path.display()))?;
        if ends_torn(path)? {
            // A crash cut the last write short: start on a line of its own.
            file.write_all(b"\n").and_then(|()| file.sync_data())?;
        }
        let (queue, rx) = mpsc::channel();
        let shown = path.display().to_string();
        std::thread::Builder::new()
            .name("actas-witness".into())
            .spawn(move || append_loop(file, rx, &shown))
            .context("cannot start the witness writer")?;
        Ok(Witness { path: path.to_path_buf(), queue })
    }

    /// The file.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Queues a committed checkpoint for the file.
    pub fn record(&self, cp: &Checkpoint) {
        let _ = self.queue.send(Message::Head(Line::of(cp)));
    }

    /// Waits until every head queued so far is on disk (at shutdown).
    pub fn flush(&self, within: Duration) {
        let (done, wait) = mpsc::channel();
        if self.queue.send(Message::Flush(done)).is_ok() {
            let _ = wait.recv_timeout(within);
        }
    }
}

fn append_loop(mut file: std::fs::File, rx: mpsc::Receiver<Message>, path: &str) {
    while let Ok(first) = rx.recv() {
        let mut waiting = vec![first];
        waiting.extend(rx.try_iter());
        let mut flushed = Vec::new();
        let mut text = String::new();
        for m in waiting {
            match m {
                Message::Head(line) => match serde_json::to_string(&line) {
                    Ok(json) => {
                        text.push_str(&json);
                        text.push('\n');
                    }
                    Err(e) => tracing::error!(error = %e, "cannot encode a witness line"),
                },
                Message::Flush(done) => flushed.push(done),
            }
        }
        if !text.is_empty() {
            if let Err(e) = file.write_all(text.as_bytes()).and_then(|()| file.sync_data()) {
                tracing::error!(witness = %path, error = %e, "cannot append to the witness: heads go unwitnessed");
            }
        }
        for done in flushed {
            let _ = done.send(());
        }
    }
}

fn ends_torn(path: &Path) -> anyhow::Result<bool> {
    let mut file = std::fs::File::open(path)?;
    let len = file.metadata()?.len();
    if len == 0 {
        return Ok(false);
    }
    file.seek(SeekFrom::Start(len - 1))?;
    let mut last = [0u8; 1];
    file.read_exact(&mut last)?;
    Ok(last[0] != b'\n')
}

/// Every line of a witness file, oldest first. A line cut short by a crash
/// (no closing brace) is skipped; any other line that is not a witness
/// line is an error naming its number.
pub fn read(path: &Path) -> anyhow::Result<Vec<Line>> {
    let file = std::fs::File::open(path).with_context(|| format!("cannot read the witness {}", path.display()))?;
    let mut lines = Vec::new();
    for (i, text) in std::io::BufReader::new(file).lines().enumerate() {
        let text = text.with_context(|| format!("cannot read the witness {}", path.display()))?;
        if text.trim().is_empty() || !text.trim_end().ends_with('}') {
            continue;
        }
        let line: Line =
            serde_json::from_str(&text).with_context(|| format!("{}:{}: not a witness line", path.display(), i + 1))?;
        lines.push(line);
    }
    Ok(lines)
}

/// The last complete line of a witness file, reading only its end.
fn last_line(path: &Path) -> anyhow::Result<Option<Line>> {
    let mut file = match std::fs::File::open(path) {
        Ok(f) => f,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
        Err(e) => return Err(e).with_context(|| format!("cannot read the witness {}", path.display())),
    };
    let len = file.metadata()?.len();
    let from = len.saturating_sub(8192);
    file.seek(SeekFrom::Start(from))?;
    let mut tail = String::new();
    file.read_to_string(&mut tail).with_context(|| format!("cannot read the witness {}", path.display()))?;
    // A line cut short by a crash mid-write is not a witnessed head.
    let Some(text) = tail.lines().rev().filter(|l| l.ends_with('}')).find(|l| !l.trim().is_empty()) else {
        return Ok(None);
    };
    let line = serde_json::from_str(text)
        .with_context(|| format!("{}: the last line is not a witness line", path.display()))?;
    Ok(Some(line))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lines_read_back_and_the_last_one_is_found_from_the_end() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("witness.jsonl");
        assert_eq!(last_line(&path).unwrap(), None);
        let mut text = String::new();
        for seq in 1..=500 {
            let l = Line { seq, hash: format!("{seq:064x}"), at: "t".into(), kid: "k_1".into(), signature: "s".into() };
            text.push_str(&serde_json::to_string(&l).unwrap());
            text.push('\n');
        }
        // A crash mid-write leaves half a line.
        text.push_str("{\"seq\":501,\"ha");
        std::fs::write(&path, &text).unwrap();
        assert_eq!(last_line(&path).unwrap().unwrap().seq, 500);
        assert!(ends_torn(&path).unwrap());
        assert_eq!(read(&path).unwrap().len(), 500);
        std::fs::write(&path, format!("{text}\n{{\"seq\":1}}\n")).unwrap();
        let err = read(&path).unwrap_err();
        assert!(format!("{err:#}").contains(":502: not a witness line"), "{err:#}");
    }
}
