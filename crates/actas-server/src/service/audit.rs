//! Reading and verifying the audit trail.

use std::collections::BTreeMap;

use actas_api as api;
use actas_core::audit::{ChainVerifier, Event};
use actas_core::model::Staff;
use actas_core::Result;
use actas_store::{read_fn, EventFilter};

use super::Ctx;

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
pub async fn verify_against(
    ctx: &Ctx,
    known_heads: &[(i64, String)],
    witnessed: &[crate::witness::Line],
) -> Result<api::Verification> {
    // Checkpoints may be signed by keys made elsewhere since this node
    // loaded its own. Keys that do not open here (put in by someone without
    // the KEK) are not taken on: what they signed shows as unsigned.
    if let Err(e) = ctx.keys.refresh(&ctx.store).await {
        tracing::warn!(error = %e, "verifying with the keys loaded before: the stored keys cannot be loaded");
    }
    let checkpoints = ctx.store.read(read_fn(|tx| Box::pin(async move { tx.list_checkpoints().await }))).await?;
    let mut bad: Option<(i64, String)> = None;
    let mut vouched: BTreeMap<i64, (String, Vouch)> = BTreeMap::new();
    for cp in &checkpoints {
        if !ctx.keys.verify_checkpoint(cp) {
            bad.get_or_insert((cp.seq, format!("the checkpoint for event {} has no valid signature", cp.seq)));
        }
        vouched.insert(cp.seq, (cp.hash.clone(), Vouch::Checkpoint));
    }
    for (seq, hash) in known_heads {
        vouched.insert(*seq, (hash.clone(), Vouch::Head));
    }
    // The witness is trusted over the database: its entry wins a seq both name.
    for w in witnessed {
        if !ctx.keys.verify_head(&w.kid, w.seq, &w.hash, &w.signature) {
            let problem = format!(
                "the witness line for event {} (recorded at {}) does not verify with checkpoint key {} of this database: its checkpoint keys were replaced",
                w.seq, w.at, w.kid
            );
            bad = Some(match bad {
                Some(prev) if prev.0 <= w.seq => prev,
                _ => (w.seq, problem),
            });
        }
        vouched.insert(w.seq, (w.hash.clone(), Vouch::Witness { at: w.at.clone() }));
    }
    let mut chain = ChainVerifier::default();
    let mut f = EventFilter { limit: MAX_PAGE, ..Default::default() };
    'pages: loop {
        let page = {
            let f = f.clone();
            ctx.store.read(read_fn(move |tx| Box::pin(async move { tx.list_events(&f).await }))).await?
        };
        for e in &page {
            if let Err(b) = chain.push(e) {
                bad = Some(match bad {
                    Some(prev) if prev.0 < b.seq => prev,
                    _ => (b.seq, b.problem),
                });
                break 'pages;
            }
            if let Some((h, by)) = vouched.get(&e.seq) {
                if *h != e.hash {
                    bad = Some(match bad {
                        Some(prev) if prev.0 <= e.seq => prev,
                        _ => (e.seq, by.mismatch(e.seq)),
                    });
                }
            }
        }
        match page.last() {
            Some(last) if page.len() as i64 == MAX_PAGE => f.after_seq = Some(last.seq),
            _ => break,
        }
    }
    let (head_seq, head_hash) = chain.head();
    if let Some((&seq, (_, by))) = vouched.range(head_seq + 1..).next() {
        if bad.is_none() {
            bad = Some((
                head_seq + 1,
                format!(
                    "the chain ends at event {head_seq}, but {} event {seq}: events after {head_seq} were removed",
                    by.says()
                ),
            ));
        }
    }
    Ok(api::Verification {
        ok: bad.is_none(),
        events: chain.count(),
        head: (head_seq > 0).then(|| head_hash.to_string()),
        first_bad: bad.as_ref().map(|b| b.0),
        problem: bad.map(|b| b.1),
        checkpoints: checkpoints.len() as u64,
    })
}
