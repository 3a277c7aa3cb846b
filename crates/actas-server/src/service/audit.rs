//! Reading and verifying the audit trail.

use std::collections::BTreeMap;
use std::sync::Arc;

use actas_api as api;
use actas_core::audit::segment::{Line, Manifest};
use actas_core::audit::{ChainVerifier, Checkpoint, Event, StoredPage};
use actas_core::model::Staff;
use actas_core::Result;
use actas_store::{read_fn, EventFilter, Segment};
use futures::StreamExt;

use super::Ctx;
use crate::keys::KeyRing;

/// Most events in one page.
pub const MAX_PAGE: i64 = 1000;

/// Events matching `f`, oldest first, and the cursor of the next page.
pub async fn list_events(ctx: &Ctx, who: &Staff, mut f: EventFilter) -> Result<(Vec<Event>, Option<i64>)> {
    crate::authz::allow(who, crate::authz::Act::ReadAudit, ctx.clock.now())?;
    f.limit = f.limit.clamp(1, MAX_PAGE) + 1;
    let want = f.limit;
    let mut events = ctx.store.read(read_fn(move |tx| Box::pin(async move { tx.list_events(&f).await }))).await?;
    let more = events.len() as i64 == want;
    if more {
        events.pop();
    }
    let next = if more { events.last().map(|e| e.seq) } else { None };
    Ok((events, next))
}

/// Every event, oldest first, in pages; for exports.
pub async fn all_events(ctx: &Ctx, mut f: EventFilter, mut each: impl FnMut(&Event) -> Result<()>) -> Result<u64> {
    let mut n = 0;
    loop {
        f.limit = MAX_PAGE;
        let page = {
            let f = f.clone();
            ctx.store.read(read_fn(move |tx| Box::pin(async move { tx.list_events(&f).await }))).await?
        };
        for e in &page {
            each(e)?;
            n += 1;
        }
        match page.last() {
            Some(last) if page.len() as i64 == MAX_PAGE => f.after_seq = Some(last.seq),
            _ => return Ok(n),
        }
    }
}

/// Re-computes the whole chain and checks every signed checkpoint.
pub async fn verify(ctx: &Ctx) -> Result<api::Verification> {
    verify_against(ctx, &[], &[]).await
}

/// Events in one page of verification.
const VERIFY_PAGE: i64 = 4096;

/// Pages read at once, each in a read transaction of its own, while the
/// page before them is checked.
const READ_AHEAD: usize = 4;

/// Who vouches for a head the chain must still hold.
#[derive(Debug, Clone)]
enum Vouch {
    Checkpoint,
    Head,
    Witness { at: String },
}

impl Vouch {
    fn says(&self) -> String {
        match self {
            Vouch::Checkpoint => "a signed checkpoint vouches for".into(),
            Vouch::Head => "the head given to check is".into(),
            Vouch::Witness { at } => format!("the witness recorded, at {at}, a head at"),
        }
    }

    fn mismatch(&self, seq: i64) -> String {
        match self {
            Vouch::Checkpoint => format!("event {seq} does not match its signed checkpoint"),
            Vouch::Head => format!("event {seq} does not match the head given to check"),
            Vouch::Witness { at } => format!(
                "event {seq} does not match the head the witness recorded at {at}: the trail was rewritten at or before event {seq}"
            ),
        }
    }
}

/// [`verify`], also checking heads kept outside the database: `(seq,
/// hash)` pairs the chain must still contain (the server logs its head
/// every minute), and the lines of witness files (`serve --witness`), whose
/// signatures must verify with the database's checkpoint keys. A tail cut
/// together with its checkpoints shows here, and so does a rewrite whose
/// checkpoints were signed again with a key the rewriter made.
///
/// The trail is walked a page at a time, each page read as stored (see
/// [`StoredPage`]) with its checkpoints, and nothing of an event is kept
/// past its page: the next pages are read while one is checked, the
/// events' own hashes are checked on every core at once (an event's hash
/// depends on its row alone), the signatures of the page's checkpoints
/// meanwhile, and then the links from each event to the next, in order.
pub async fn verify_against(
    ctx: &Ctx,
    known_heads: &[(i64, String)],
    witnessed: &[crate::witness::Line],
) -> Result<api::Verification> {
    Ok(verify_trail(ctx, known_heads, witnessed, None).await?.0)
}

/// What a verification found of the archive (`actas audit archive`).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ArchiveCheck {
    /// Segments recorded in the database.
    pub segments: usize,
    /// The last sealed event: the live part starts after it.
    pub sealed_through: Option<i64>,
    /// Events checked in the archive's files (none without a folder).
    pub archived_events: u64,
}

/// [`verify_against`], from the first event ever written when `archive`
/// names the folder of the sealed segments (every segment the database
/// records must be there, match its signed manifest and chain on), else
/// from the last sealed head, whose manifest must be signed.
///
/// An archive may seal and remove events while they are walked: a page
/// that finds them gone and, in the same read transaction, sealed in
/// segments recorded since, goes on as a verification started then would
/// (past the newest segment's signed head, or through the new segments'
/// files when `archive` names a folder).
pub async fn verify_trail(
    ctx: &Ctx,
    known_heads: &[(i64, String)],
    witnessed: &[crate::witness::Line],
    archive: Option<&std::path::Path>,
) -> Result<(api::Verification, ArchiveCheck)> {
    verify_trail_paged(ctx, known_heads, witnessed, archive, &Paging::default()).await
}

/// How the trail is read a page at a time ([`verify_trail_paged`],
/// [`archive_paged`](super::archive_paged)).
#[derive(Clone)]
pub struct Paging {
    pub(super) size: i64,
    read_ahead: usize,
    pub(super) before_read: Option<BeforeRead>,
}

/// Awaited before a page is read, with the seq the page starts after.
pub type BeforeRead = Arc<dyn Fn(i64) -> futures::future::BoxFuture<'static, ()> + Send + Sync>;

impl Default for Paging {
    /// Pages of 4,096 events, four read at once.
    fn default() -> Self {
        Paging { size: VERIFY_PAGE, read_ahead: READ_AHEAD, before_read: None }
    }
}

impl Paging {
    /// Pages of `size` events, `read_ahead` of them read at once (at least
    /// one of each).
    pub fn of(size: i64, read_ahead: usize) -> Paging {
        Paging { size: size.max(1), read_ahead: read_ahead.max(1), before_read: None }
    }

    /// Awaits `f` before each page is read: what happens to the trail
    /// between two reads (an archive, a write) happens there.
    pub fn before_each_read(self, f: BeforeRead) -> Paging {
        Paging { before_read: Some(f), ..self }
    }
}

/// [`verify_trail`], the database's part read as `paging` says.
pub async fn verify_trail_paged(
    ctx: &Ctx,
    known_heads: &[(i64, String)],
    witnessed: &[crate::witness::Line],
    archive: Option<&std::path::Path>,
    paging: &Paging,
) -> Result<(api::Verification, ArchiveCheck)> {
    // Checkpoints may be signed by keys made elsewhere since this node
    // loaded its own. Keys that do not open here (put in by someone without
    // the KEK) are not taken on: what they signed shows as unsigned.
    if let Err(e) = ctx.keys.refresh(&ctx.store).await {
        tracing::warn!(error = %e, "verifying with the keys loaded before: the stored keys cannot be loaded");
    }
    let mut walk = Walk::new(ctx, known_heads, witnessed);
    let mut manifests = super::archive::segments(ctx).await?;
    let mut check = ArchiveCheck::default();
    let mut walked = 0;
    loop {
        // The segments recorded since the walk began (all of them at
        // first), which must follow those walked and be signed.
        check.segments = manifests.len();
        check.sealed_through = manifests.last().map(|m| m.last_seq);
        if let Some(problem) = segments_problem(&ctx.keys, &manifests) {
            walk.found(problem.0, Rank::Chain, || problem.1);
            return Ok((walk.verdict(), check));
        }
        let new = &manifests[walked..];
        match (archive, new.first(), new.last()) {
            (Some(dir), Some(first), _) => {
                walk.chain.resume_after(first.first_seq - 1, &first.prev_hash);
                for m in new {
                    let going;
                    (walk, going) = walk_segment(ctx, walk, dir, m).await?;
                    check.archived_events = walk.chain.count();
                    if !going {
                        return Ok((walk.verdict(), check));
                    }
                }
            }
            (None, _, Some(last)) => walk.chain.resume_after(last.last_seq, &last.last_hash),
            _ => {}
        }
        let start = manifests.last().map_or(0, |m| m.last_seq);
        walked = manifests.len();
        let sealed_since;
        (walk, sealed_since) = walk_live(ctx, walk, start, paging).await?;
        match sealed_since {
            None => return Ok((walk.verdict(), check)),
            Some(now) => {
                let before = &manifests[..];
                if now.len() <= before.len() || now[..before.len()] != *before {
                    let seq = walk.chain.head().0 + 1;
                    walk.found(seq, Rank::Chain, || {
                        format!(
                            "the archived segments changed while the trail was verified: event {seq} and those \
                             after it are gone, and the segments recorded before are not all there as they were"
                        )
                    });
                    return Ok((walk.verdict(), check));
                }
                manifests = now;
            }
        }
    }
}

/// Walks the database's part of the trail after seq `start`, and answers
/// the recorded segments when a page found events gone that a segment
/// recorded since has sealed (the walk goes on past them), else `None`.
async fn walk_live(ctx: &Ctx, mut walk: Walk, start: i64, paging: &Paging) -> Result<(Walk, Option<Vec<Manifest>>)> {
    let (pages, mut received) = tokio::sync::mpsc::channel(1);
    let reading = std::pin::pin!(read_pages(ctx, start, paging, pages));
    let checking = std::pin::pin!(async {
        let mut sealed_since = None;
        while let Some(page) = received.recv().await {
            let Page { events, checkpoints, through, sealed } = page?;
            if let Some(segments) = sealed {
                sealed_since = Some(segments.iter().map(super::archive::parse_manifest).collect::<Result<Vec<_>>>()?);
                break;
            }
            let going;
            (walk, going) = check_page(ctx, walk, events, checkpoints).await?;
            if !going {
                // The chain broke in this page: the checkpoints after it
                // are counted, not checked.
                let after = through;
                let more = ctx
                    .store
                    .read(read_fn(move |tx| Box::pin(async move { tx.count_checkpoints(after).await })))
                    .await?;
                walk.checkpoints += u64::try_from(more).unwrap_or(0);
                break;
            }
            if through == i64::MAX {
                walk.end();
                break;
            }
        }
        Ok::<_, actas_core::Error>((walk, sealed_since))
    });
    // The reads stop with the check: a broken chain needs no further page.
    match futures::future::select(checking, reading).await {
        futures::future::Either::Left((walked, _)) => walked,
        futures::future::Either::Right(((), checking)) => checking.await,
    }
}

/// Checks one page: each event's own hash on as many blocking threads as
/// there are cores while its checkpoints' signatures are checked on
/// others, then the links from event to event in order; `false` once the
/// chain broke.
async fn check_page(ctx: &Ctx, walk: Walk, events: StoredPage, checkpoints: Vec<Checkpoint>) -> Result<(Walk, bool)> {
    let checkpoints: Arc<[Checkpoint]> = checkpoints.into();
    let events = Arc::new(events);
    let (unmatched, unsigned) = futures::join!(first_unmatched(&events), unsigned(&ctx.keys, checkpoints.clone()));
    let unmatched = unmatched?;
    let (mut walk, going) = blocking(move || {
        let mut walk = walk;
        let going = walk.page(&events, &checkpoints, unmatched);
        (walk, going)
    })
    .await?;
    walk.unsigned(unsigned?);
    Ok((walk, going))
}

/// The page's first event whose text does not match its own hash
/// ([`StoredPage::first_unmatched`]), the page cut into one part per core.
async fn first_unmatched(events: &Arc<StoredPage>) -> Result<Option<(usize, std::result::Result<bool, String>)>> {
    let events = events.clone();
    let parts = per_core(events.len(), 256, move |part| events.first_unmatched(part)).await?;
    Ok(parts.into_iter().flatten().next())
}

/// Whether the recorded segments follow each other from the first event
/// and each manifest is signed by a checkpoint key: the first problem's
/// seq and words.
fn segments_problem(keys: &KeyRing, manifests: &[Manifest]) -> Option<(i64, String)> {
    let mut next = (1, actas_core::audit::GENESIS.to_string());
    for m in manifests {
        if m.first_seq != next.0 || m.prev_hash != next.1 || m.last_seq < m.first_seq {
            return Some((
                m.first_seq.min(next.0),
                format!(
                    "the archived segment of events {} to {} does not follow the one before it (which ends at event {})",
                    m.first_seq,
                    m.last_seq,
                    next.0 - 1
                ),
            ));
        }
        if !keys.verify_segment(m) {
            return Some((
                m.first_seq,
                format!(
                    "the manifest of the archived segment of events {} to {} has no valid signature",
                    m.first_seq, m.last_seq
                ),
            ));
        }
        next = (m.last_seq + 1, m.last_hash.clone());
    }
    None
}

/// Checks one sealed segment's files in `dir` against its manifest as the
/// database records it, then walks its events like the database's pages;
/// `false` once something is wrong (the walk holds what).
async fn walk_segment(ctx: &Ctx, mut walk: Walk, dir: &std::path::Path, m: &Manifest) -> Result<(Walk, bool)> {
    let missing = |what: &str, e: &dyn std::fmt::Display| {
        format!(
            "the archived segment of events {} to {} cannot be checked: its {what} in {} cannot be read ({e})",
            m.first_seq,
            m.last_seq,
            dir.display()
        )
    };
    let on_disk = match std::fs::read_to_string(dir.join(m.manifest_name())) {
        Ok(text) => text,
        Err(e) => {
            let problem = missing("manifest", &e);
            walk.found(m.first_seq, Rank::Chain, || problem);
            return Ok((walk, false));
        }
    };
    if serde_json::from_str::<Manifest>(&on_disk).ok().as_ref() != Some(m) {
        walk.found(m.first_seq, Rank::Chain, || {
            format!(
                "the manifest of the archived segment of events {} to {} in {} differs from the one the database recorded",
                m.first_seq,
                m.last_seq,
                dir.display()
            )
        });
        return Ok((walk, false));
    }
    let path = dir.join(&m.file);
    let bytes = match tokio::fs::read(&path).await {
        Ok(b) => b,
        Err(e) => {
            let problem = missing("events file", &e);
            walk.found(m.first_seq, Rank::Chain, || problem);
            return Ok((walk, false));
        }
    };
    let (bytes, digest) = blocking(move || {
        use sha2::Digest;
        let digest = hex::encode(sha2::Sha256::digest(&bytes));
        (bytes, digest)
    })
    .await?;
    if digest != m.sha256 {
        walk.found(m.first_seq, Rank::Chain, || {
            format!(
                "the events file of the archived segment of events {} to {} was changed: its SHA-256 is not the one its signed manifest gives",
                m.first_seq, m.last_seq
            )
        });
        return Ok((walk, false));
    }
    let mut current = walk;
    let mut at = 0;
    while at < bytes.len() {
        let mut page = StoredPage::for_rows(VERIFY_PAGE as usize);
        let mut unreadable = None;
        while page.len() < VERIFY_PAGE as usize && at < bytes.len() {
            let end = bytes[at..].iter().position(|b| *b == b'\n').map_or(bytes.len(), |i| at + i);
            let line = &bytes[at..end];
            at = end + 1;
            if line.is_empty() {
                continue;
            }
            match serde_json::from_slice::<Line<'_>>(line) {
                Ok(l) => page.push(&l.as_stored()),
                Err(e) => {
                    unreadable = Some(e.to_string());
                    break;
                }
            }
        }
        if let Some(e) = unreadable {
            let seq = page.last_seq().map_or(current.chain.head().0 + 1, |s| s + 1);
            current.found(seq, Rank::Chain, || format!("event {seq} in the archive cannot be read: {e}"));
            return Ok((current, false));
        }
        let (after, through) = (page.iter().next().map_or(0, |e| e.seq - 1), page.last_seq().unwrap_or(0));
        let checkpoints = ctx
            .store
            .read(read_fn(move |tx| Box::pin(async move { tx.list_checkpoints(after, through).await })))
            .await?;
        let going;
        (current, going) = check_page(ctx, current, page, checkpoints).await?;
        if !going {
            return Ok((current, false));
        }
    }
    let ends_right = current.chain.head() == (m.last_seq, m.last_hash.as_str());
    if !ends_right {
        let head = current.chain.head().0;
        current.found(head + 1, Rank::Chain, || {
            format!(
                "the archived segment of events {} to {} ends at event {head}, not where its signed manifest says",
                m.first_seq, m.last_seq
            )
        });
    }
    Ok((current, ends_right))
}

/// One page of the trail as stored, and the checkpoints with seqs after
/// the page's start through `through`, read in the same transaction so
/// that each checkpoint up to the page's last event names an event the
/// page holds. The last page (shorter than a full one) reaches to
/// `i64::MAX`: its checkpoints beyond its last event vouch for events
/// that are not there.
struct Page {
    events: StoredPage,
    checkpoints: Vec<Checkpoint>,
    through: i64,
    /// The recorded segments, when the events the page starts after were
    /// sealed and removed since the walk began (the page is not checked).
    sealed: Option<Vec<Segment>>,
}

/// Reads the trail in pages, as many at once as `paging` says, and sends them in
/// order; stops after the last page, a failed read or one that found
/// events sealed away, or when nobody takes them any more.
///
/// Page `k` is the first events after seq `start + k × size`: where the
/// chain is whole up to there, that is exactly the page that follows page
/// `k - 1`, and where it is not, the check stops before page `k`.
async fn read_pages(ctx: &Ctx, start: i64, paging: &Paging, pages: tokio::sync::mpsc::Sender<Result<Page>>) {
    let size = paging.size;
    let reads = futures::stream::iter(0i64..).map(|k| {
        let store = ctx.store.clone();
        let before_read = paging.before_read.clone();
        let after = start.saturating_add(k.saturating_mul(size));
        async move {
            if let Some(f) = before_read {
                f(after).await;
            }
            store
                .read(read_fn(move |tx| {
                    Box::pin(async move {
                        let events = tx.read_chain(after, size).await?;
                        // Events missing after `after` that a segment
                        // sealed meanwhile: the walk goes on past it.
                        if events.iter().next().is_some_and(|e| e.seq > after + 1) {
                            let segments = tx.list_segments().await?;
                            if segments.last().is_some_and(|s| s.last_seq > after) {
                                return Ok(Page {
                                    events,
                                    checkpoints: Vec::new(),
                                    through: after,
                                    sealed: Some(segments),
                                });
                            }
                        }
                        let through = match events.last_seq() {
                            Some(last) if events.len() as i64 == size => last,
                            _ => i64::MAX,
                        };
                        let checkpoints = tx.list_checkpoints(after, through).await?;
                        Ok(Page { events, checkpoints, through, sealed: None })
                    })
                }))
                .await
        }
    });
    let mut reads = std::pin::pin!(reads.buffered(paging.read_ahead));
    while let Some(page) = reads.next().await {
        let last = !matches!(&page, Ok(p) if p.through != i64::MAX && p.sealed.is_none());
        if pages.send(page).await.is_err() || last {
            return;
        }
    }
}

/// The seqs of the checkpoints whose signatures do not verify, checked on
/// as many blocking threads as there are cores: a quiet server signs the
/// head of nearly every write (more than a second apart), and a signature
/// costs more to check than an event's hash.
async fn unsigned(keys: &Arc<KeyRing>, checkpoints: Arc<[Checkpoint]>) -> Result<Vec<i64>> {
    let (keys, len) = (keys.clone(), checkpoints.len());
    let parts = per_core(len, 32, move |part| {
        checkpoints[part].iter().filter(|cp| !keys.verify_checkpoint(cp)).map(|cp| cp.seq).collect::<Vec<_>>()
    })
    .await?;
    Ok(parts.concat())
}

/// `check` of `0..len` cut into one part per core (at least `min` items
/// a part), each on a blocking thread at once: the parts' answers, in
/// order.
async fn per_core<T: Send + 'static>(
    len: usize,
    min: usize,
    check: impl Fn(std::ops::Range<usize>) -> T + Clone + Send + 'static,
) -> Result<Vec<T>> {
    let threads = std::thread::available_parallelism().map_or(1, |n| n.get());
    let per_thread = len.div_ceil(threads).max(min).max(1);
    let parts = (0..len).step_by(per_thread).map(|from| {
        let check = check.clone();
        blocking(move || check(from..(from + per_thread).min(len)))
    });
    futures::future::try_join_all(parts).await
}

/// Runs `f` on a thread where blocking is fine.
async fn blocking<T: Send + 'static>(f: impl FnOnce() -> T + Send + 'static) -> Result<T> {
    tokio::task::spawn_blocking(f)
        .await
        .map_err(|e| actas_core::Error::Internal(anyhow::anyhow!("verifying the audit trail failed: {e}")))
}

/// Where a problem ranks among those found at the same seq: the first
/// listed wins, as it always did.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
enum Rank {
    /// The chain breaks (missing, unlinked or altered event).
    Chain,
    /// A stored checkpoint's signature does not verify.
    CheckpointSignature,
    /// A witness line's signature does not verify.
    WitnessSignature,
    /// An event differs from a head vouched for.
    Mismatch,
}

/// What a verification has found so far.
struct Walk {
    chain: ChainVerifier,
    /// Heads vouched for outside the database (given and witnessed); a
    /// witness line wins a seq both name.
    outside: BTreeMap<i64, (String, Vouch)>,
    /// The first problem: the lowest seq, then the lowest [`Rank`], then
    /// the first found.
    first: Option<(i64, Rank, String)>,
    checkpoints: u64,
    /// The last checkpoint counted.
    counted_through: i64,
    /// The first checkpoint after the last event of the page last walked.
    beyond: Option<i64>,
}

impl Walk {
    fn new(ctx: &Ctx, known_heads: &[(i64, String)], witnessed: &[crate::witness::Line]) -> Walk {
        let mut walk = Walk {
            chain: ChainVerifier::default(),
            outside: BTreeMap::new(),
            first: None,
            checkpoints: 0,
            counted_through: 0,
            beyond: None,
        };
        for (seq, hash) in known_heads {
            walk.outside.insert(*seq, (hash.clone(), Vouch::Head));
        }
        for w in witnessed {
            if !ctx.keys.verify_head(&w.kid, w.seq, &w.hash, &w.signature) {
                walk.found(w.seq, Rank::WitnessSignature, || {
                    format!(
                        "the witness line for event {} (recorded at {}) does not verify with checkpoint key {} of this database: its checkpoint keys were replaced",
                        w.seq, w.at, w.kid
                    )
                });
            }
            walk.outside.insert(w.seq, (w.hash.clone(), Vouch::Witness { at: w.at.clone() }));
        }
        walk
    }

    fn found(&mut self, seq: i64, rank: Rank, problem: impl FnOnce() -> String) {
        if self.first.as_ref().is_none_or(|(s, r, _)| (seq, rank) < (*s, *r)) {
            self.first = Some((seq, rank, problem()));
        }
    }

    /// Notes the checkpoints whose signatures do not verify (see
    /// [`unsigned`]).
    fn unsigned(&mut self, seqs: Vec<i64>) {
        for seq in seqs {
            self.found(seq, Rank::CheckpointSignature, || {
                format!("the checkpoint for event {seq} has no valid signature")
            });
        }
    }

    /// Checks the next page of events against its checkpoints (all of
    /// which it counts); `false` once the chain broke. The checkpoints
    /// after the page's last event are kept for [`Walk::end`].
    ///
    /// `unmatched` is the first event whose text does not match its own
    /// hash, by position in the page ([`StoredPage::first_unmatched`]): the
    /// events before it match theirs.
    fn page(
        &mut self,
        events: &StoredPage,
        checkpoints: &[Checkpoint],
        mut unmatched: Option<(usize, std::result::Result<bool, String>)>,
    ) -> bool {
        // A part walked again from its files (see [`verify_trail`]) counts
        // its checkpoints once.
        let new = checkpoints.iter().filter(|cp| cp.seq > self.counted_through).count();
        self.checkpoints += new as u64;
        self.counted_through = checkpoints.last().map_or(self.counted_through, |cp| cp.seq.max(self.counted_through));
        let mut checkpoints = checkpoints.iter().peekable();
        for (i, e) in events.iter().enumerate() {
            let mut signed = None;
            while let Some(cp) = checkpoints.next_if(|cp| cp.seq <= e.seq) {
                if cp.seq == e.seq {
                    signed = Some(cp.hash.as_str());
                }
            }
            let matched = match unmatched.take_if(|(at, _)| *at == i) {
                Some((_, matched)) => matched,
                None => Ok(true),
            };
            if let Err(b) = self.chain.push_checked(&e, matched) {
                self.found(b.seq, Rank::Chain, || b.problem);
                return false;
            }
            let vouched = match self.outside.get(&e.seq) {
                Some((hash, by)) => Some((hash.as_str(), by)),
                None => signed.map(|hash| (hash, &Vouch::Checkpoint)),
            };
            if let Some((hash, by)) = vouched {
                if hash != e.hash {
                    let problem = by.mismatch(e.seq);
                    self.found(e.seq, Rank::Mismatch, || problem);
                }
            }
        }
        self.beyond = checkpoints.map(|cp| cp.seq).min();
        true
    }

    /// After the last page of a whole chain: checks whether anything
    /// vouches for a seq beyond the chain's end.
    fn end(&mut self) {
        let head = self.chain.head().0;
        if self.first.is_some() {
            return;
        }
        let outside = self.outside.range(head + 1..).next().map(|(seq, (_, by))| (*seq, by));
        let next = match (outside, self.beyond) {
            (Some((seq, _)), Some(cp)) if cp < seq => Some((cp, &Vouch::Checkpoint)),
            (Some(o), _) => Some(o),
            (None, cp) => cp.map(|seq| (seq, &Vouch::Checkpoint)),
        };
        if let Some((seq, by)) = next {
            let problem = format!(
                "the chain ends at event {head}, but {} event {seq}: events after {head} were removed",
                by.says()
            );
            self.first = Some((head + 1, Rank::Chain, problem));
        }
    }

    fn verdict(self) -> api::Verification {
        let (head_seq, head_hash) = self.chain.head();
        api::Verification {
            ok: self.first.is_none(),
            events: self.chain.count(),
            head: (head_seq > 0).then(|| head_hash.to_string()),
            first_bad: self.first.as_ref().map(|b| b.0),
            problem: self.first.map(|b| b.2),
            checkpoints: self.checkpoints,
        }
    }
}
