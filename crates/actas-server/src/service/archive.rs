//! Archiving the oldest part of the trail (`actas audit archive`): events
//! before a date move into sealed segment files (see
//! `actas_core::audit::segment`), and out of the database.
//!
//! Each segment is written in full, flushed to disk, signed, and recorded
//! in the database before any of its events are removed, and removal goes
//! in small writes (the writer's lock is held for milliseconds, so
//! authorizations go on). An archive that stops halfway (a crash, a full
//! disk) leaves a segment that is not recorded (its staged files are
//! written again by the next run), a recorded one whose files still have
//! their staged names, or one whose events are not all removed yet: the
//! next run names the files and removes the events first. Nothing is
//! removed that is not in a recorded, signed segment; the database refuses
//! it. Two runs at once: the second to record a segment loses, and its
//! files never take the winner's names.
//!
//! The part to archive is checked as it is read: a trail that does not
//! verify there is not archived, so a segment never seals a rewrite.

use std::io::Write;
use std::path::{Path, PathBuf};

use actas_core::audit::segment::{self, Manifest};
use actas_core::audit::{ChainVerifier, StoredEvent, GENESIS};
use actas_core::{Error, Result, Timestamp};
use actas_store::{read_fn, write_fn, Segment};
use sha2::{Digest, Sha256};

use super::{Ctx, Paging};

/// Events read from the database at once.
const PAGE: i64 = 4096;

/// Events removed in one write: the writer's lock is held for about that
/// many row deletions.
const REMOVE_AT_ONCE: i64 = 2000;

/// What an archive did.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Archived {
    /// The segments written by this run, oldest first.
    pub segments: Vec<Manifest>,
    /// Events removed from the database by this run (those of earlier,
    /// interrupted runs included).
    pub removed: u64,
    /// The last sealed event now (`None`: nothing was ever archived).
    pub sealed_through: Option<i64>,
    /// The webhook that held the cut back, and the last event it took:
    /// events it has not received stay until it has.
    pub held_by: Option<(String, i64)>,
}

/// The recorded segments' manifests, oldest first.
pub async fn segments(ctx: &Ctx) -> Result<Vec<Manifest>> {
    let rows = ctx.store.read(read_fn(|tx| Box::pin(async move { tx.list_segments().await }))).await?;
    rows.iter().map(parse_manifest).collect()
}

pub(super) fn parse_manifest(s: &Segment) -> Result<Manifest> {
    serde_json::from_str(&s.manifest).map_err(|e| {
        Error::Internal(anyhow::anyhow!(
            "the manifest of archived segment {}..{} cannot be read: {e}",
            s.first_seq,
            s.last_seq
        ))
    })
}

/// Moves the events before `before` into segments of at most
/// `per_segment` events in `dir`, and removes them from the database. The
/// trail's newest event always stays (the chain continues from it).
pub async fn archive(ctx: &Ctx, before: Timestamp, dir: &Path, per_segment: i64) -> Result<Archived> {
    archive_paged(ctx, before, dir, per_segment, &Paging::of(PAGE, 1)).await
}

/// [`archive`], the trail read as `paging` says (one page at a time).
pub async fn archive_paged(
    ctx: &Ctx,
    before: Timestamp,
    dir: &Path,
    per_segment: i64,
    paging: &Paging,
) -> Result<Archived> {
    ctx.keys.require_signing().map_err(|e| Error::Internal(e.into()))?;
    let per_segment = per_segment.max(1);
    std::fs::create_dir_all(dir).map_err(|e| io(dir, e))?;
    let sealed = segments(ctx).await?;
    let (mut through, mut hash) = match sealed.last() {
        Some(m) => (m.last_seq, m.last_hash.clone()),
        None => (0, GENESIS.to_string()),
    };
    mend(dir, sealed.last())?;
    let mut done = Archived { removed: remove_through(ctx, through).await?, ..Archived::default() };
    let head = ctx.store.read(read_fn(|tx| Box::pin(async move { tx.get_event_head().await }))).await?;
    let Some((head_seq, _)) = head else {
        done.sealed_through = (through > 0).then_some(through);
        return Ok(done);
    };
    // An event a webhook has not received yet stays: a SIEM behind on its
    // feed (or paused) would otherwise never get it.
    let hooks = ctx.store.read(read_fn(|tx| Box::pin(async move { tx.list_webhooks().await }))).await?;
    let behind = hooks.iter().map(|w| (w.id.clone(), w.after_seq)).min_by_key(|(_, after)| *after);
    let keep_from = match &behind {
        Some((_, after)) => head_seq.min(after + 1),
        None => head_seq,
    };
    let until = actas_core::clock::format_ms(before);
    let run = ctx.ids.id("run");
    let mut chain = ChainVerifier::after(through, &hash);
    let mut writer: Option<SegmentFile> = None;
    let mut after = through;
    let size = paging.size;
    'read: loop {
        if let Some(f) = &paging.before_read {
            f(after).await;
        }
        let (page, sealed) = ctx
            .store
            .read(read_fn(move |tx| {
                Box::pin(async move {
                    let page = tx.read_chain(after, size).await?;
                    let gap = page.iter().next().is_some_and(|e| e.seq > after + 1);
                    let sealed = if gap { tx.list_segments().await?.last().map(|s| s.last_seq) } else { None };
                    Ok((page, sealed))
                })
            }))
            .await?;
        if let Some(sealed) = sealed.filter(|s| *s > after) {
            return Err(Error::Internal(anyhow::anyhow!(
                "another archive sealed events through {sealed} meanwhile; this one stopped after event {after}: run \
                 it again"
            )));
        }
        if page.is_empty() {
            break;
        }
        for e in page.iter() {
            // Nothing from `before` on goes, nor the newest event, nor one
            // a webhook still has to send.
            if e.at >= until.as_str() {
                break 'read;
            }
            if e.seq >= keep_from {
                if e.seq < head_seq {
                    done.held_by = behind.clone();
                }
                break 'read;
            }
            chain.push_stored(&e).map_err(|b| {
                Error::Internal(anyhow::anyhow!(
                    "the trail does not verify at event {}: {}; nothing from there on was archived (run actas audit verify)",
                    b.seq,
                    b.problem
                ))
            })?;
            let file = match &mut writer {
                Some(f) => f,
                None => writer.insert(SegmentFile::create(dir, &run, &e, hash.clone())?),
            };
            file.push(&e)?;
            if file.events >= per_segment {
                if let Some(full) = writer.take() {
                    let m = seal(ctx, full).await?;
                    done.removed += remove_through(ctx, m.last_seq).await?;
                    (through, hash) = (m.last_seq, m.last_hash.clone());
                    done.segments.push(m);
                }
            }
        }
        after = page.last_seq().unwrap_or(after);
    }
    if let Some(rest) = writer.take() {
        let m = seal(ctx, rest).await?;
        done.removed += remove_through(ctx, m.last_seq).await?;
        through = m.last_seq;
        done.segments.push(m);
    }
    done.sealed_through = (through > 0).then_some(through);
    Ok(done)
}

/// Removes the stored events up to `through` (all sealed), a few at a
/// time; answers how many went.
async fn remove_through(ctx: &Ctx, through: i64) -> Result<u64> {
    let mut removed = 0;
    if through <= 0 {
        return Ok(0);
    }
    loop {
        let gone = ctx
            .store
            .write(write_fn(move |tx| Box::pin(async move { tx.remove_sealed_events(through, REMOVE_AT_ONCE).await })))
            .await?;
        removed += gone;
        if gone == 0 {
            return Ok(removed);
        }
    }
}

/// A segment's events file being written.
struct SegmentFile {
    dir: PathBuf,
    partial: PathBuf,
    out: std::io::BufWriter<std::fs::File>,
    sha: Sha256,
    line: Vec<u8>,
    first_seq: i64,
    prev_hash: String,
    first_at: String,
    last: Option<(i64, String, String)>,
    events: i64,
}

impl SegmentFile {
    /// Starts the file of the segment beginning with `first`, under a name
    /// unique to this `run` (another run at the same time writes its own).
    fn create(dir: &Path, run: &str, first: &StoredEvent<'_>, prev_hash: String) -> Result<SegmentFile> {
        let partial = dir.join(format!("actas-audit-{:012}.{run}.partial", first.seq));
        let file = std::fs::File::create(&partial).map_err(|e| io(&partial, e))?;
        Ok(SegmentFile {
            dir: dir.to_path_buf(),
            partial,
            out: std::io::BufWriter::with_capacity(1 << 20, file),
            sha: Sha256::new(),
            line: Vec::with_capacity(2048),
            first_seq: first.seq,
            prev_hash,
            first_at: first.at.to_string(),
            last: None,
            events: 0,
        })
    }

    fn push(&mut self, e: &StoredEvent<'_>) -> Result<()> {
        self.line.clear();
        segment::write_line(e, &mut self.line).map_err(|m| Error::Internal(anyhow::anyhow!("cannot archive: {m}")))?;
        self.sha.update(&self.line);
        self.out.write_all(&self.line).map_err(|err| io(&self.partial, err))?;
        self.last = Some((e.seq, e.hash.to_string(), e.at.to_string()));
        self.events += 1;
        Ok(())
    }
}

/// Finishes a segment's events file, writes its signed manifest beside it,
/// records it in the database, and only then gives both files their names:
/// an archive run at the same time into the same folder loses at the
/// record and leaves the winner's files as they are. A crash between the
/// record and the names is mended by the next run ([`mend`]).
async fn seal(ctx: &Ctx, f: SegmentFile) -> Result<Manifest> {
    let Some((last_seq, last_hash, last_at)) = f.last.clone() else {
        return Err(Error::Internal(anyhow::anyhow!("an empty segment")));
    };
    let SegmentFile { dir, partial, out, sha, first_seq, prev_hash, first_at, .. } = f;
    let file = out.into_inner().map_err(|e| io(&partial, e.into_error()))?;
    file.sync_all().map_err(|e| io(&partial, e))?;
    drop(file);
    let mut m = Manifest {
        format: segment::FORMAT.to_string(),
        file: Manifest::file_name(first_seq, last_seq),
        first_seq,
        last_seq,
        prev_hash,
        last_hash,
        first_at,
        last_at,
        sha256: hex::encode(sha.finalize()),
        sealed_at: actas_core::clock::format_ms(ctx.clock.now()),
        kid: String::new(),
        signature: String::new(),
    };
    ctx.keys.sign_segment(&mut m).map_err(|e| Error::Internal(e.into()))?;
    let json = serde_json::to_string_pretty(&m).map_err(|e| Error::Internal(e.into()))?;
    let staged_events = dir.join(format!("{}.{}", m.file, staged_suffix(&m)));
    let staged_manifest = dir.join(format!("{}.{}", m.manifest_name(), staged_suffix(&m)));
    std::fs::rename(&partial, &staged_events).map_err(|e| io(&staged_events, e))?;
    write_synced(&staged_manifest, format!("{json}\n").as_bytes())?;
    sync_dir(&dir)?;
    let row = Segment { first_seq, last_seq, manifest: json, sealed_at: ctx.clock.now() };
    // Recorded only where the last recorded segment ends: an archive run
    // at the same time elsewhere loses here, and records nothing.
    let recorded = ctx
        .store
        .write(write_fn(move |tx| {
            Box::pin(async move {
                let sealed = tx.list_segments().await?.last().map_or(0, |s| s.last_seq);
                if sealed + 1 != row.first_seq {
                    return Err(Error::Internal(anyhow::anyhow!(
                        "another archive sealed events through {sealed} meanwhile; this one (events {} to {}) was \
                         not recorded: run it again",
                        row.first_seq,
                        row.last_seq
                    )));
                }
                tx.insert_segment(&row).await
            })
        }))
        .await;
    if let Err(e) = recorded {
        let _ = std::fs::remove_file(&staged_events);
        let _ = std::fs::remove_file(&staged_manifest);
        return Err(e);
    }
    name_files(&dir, &m, &staged_events, &staged_manifest)?;
    tracing::info!(first_seq, last_seq, file = %dir.join(&m.file).display(), "sealed an archive segment");
    Ok(m)
}

/// What a sealed segment's files are called before the database records
/// it: unique to the manifest (its signature differs from run to run).
fn staged_suffix(m: &Manifest) -> String {
    let sig: String = m.signature.chars().filter(char::is_ascii_alphanumeric).take(16).collect();
    format!("staged-{sig}")
}

/// Gives a recorded segment's staged files their names.
fn name_files(dir: &Path, m: &Manifest, events: &Path, manifest: &Path) -> Result<()> {
    let (to_events, to_manifest) = (dir.join(&m.file), dir.join(m.manifest_name()));
    std::fs::rename(events, &to_events).map_err(|e| io(&to_events, e))?;
    std::fs::rename(manifest, &to_manifest).map_err(|e| io(&to_manifest, e))?;
    sync_dir(dir)
}

/// A run that stopped after recording its last segment and before naming
/// its files left them staged: they get their names now.
fn mend(dir: &Path, last: Option<&Manifest>) -> Result<()> {
    let Some(m) = last else { return Ok(()) };
    let (events, manifest) = (
        dir.join(format!("{}.{}", m.file, staged_suffix(m))),
        dir.join(format!("{}.{}", m.manifest_name(), staged_suffix(m))),
    );
    if !dir.join(&m.file).exists() && events.exists() && manifest.exists() {
        name_files(dir, m, &events, &manifest)?;
    }
    Ok(())
}

fn write_synced(path: &Path, bytes: &[u8]) -> Result<()> {
    let mut f = std::fs::File::create(path).map_err(|e| io(path, e))?;
    f.write_all(bytes).and_then(|()| f.sync_all()).map_err(|e| io(path, e))
}

fn sync_dir(dir: &Path) -> Result<()> {
    #[cfg(unix)]
    std::fs::File::open(dir).and_then(|d| d.sync_all()).map_err(|e| io(dir, e))?;
    Ok(())
}

fn io(path: &Path, e: std::io::Error) -> Error {
    Error::Unavailable(anyhow::anyhow!("{}: {e}", path.display()))
}
