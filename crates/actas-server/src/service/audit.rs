//! Reading and verifying the audit trail.

use std::collections::BTreeMap;

use actas_api as api;
use actas_core::audit::{ChainVerifier, Event};
use actas_core::model::Staff;
use actas_core::Result;
use actas_store::{tx_fn, EventFilter};

use super::Ctx;

/// Most events in one page.
pub const MAX_PAGE: i64 = 1000;

/// Events matching `f`, oldest first, and the cursor of the next page.
pub async fn list_events(ctx: &Ctx, who: &Staff, mut f: EventFilter) -> Result<(Vec<Event>, Option<i64>)> {
    crate::authz::allow(who, crate::authz::Act::ReadAudit, ctx.clock.now())?;
    f.limit = f.limit.clamp(1, MAX_PAGE) + 1;
    let want = f.limit;
    let mut events = ctx.store.read(tx_fn(move |tx| Box::pin(async move { tx.list_events(&f).await }))).await?;
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
            ctx.store.read(tx_fn(move |tx| Box::pin(async move { tx.list_events(&f).await }))).await?
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
    verify_against(ctx, &[]).await
}

/// [`verify`], also checking heads recorded outside the database (the
/// server logs its head every minute): `(seq, hash)` pairs the chain must
/// still contain. A tail cut together with its checkpoints shows here.
pub async fn verify_against(ctx: &Ctx, known_heads: &[(i64, String)]) -> Result<api::Verification> {
    // Checkpoints may be signed by keys made elsewhere since this node loaded its own.
    ctx.keys.refresh(&ctx.store).await?;
    let checkpoints = ctx.store.read(tx_fn(|tx| Box::pin(async move { tx.list_checkpoints().await }))).await?;
    let mut bad: Option<(i64, String)> = None;
    let mut vouched: BTreeMap<i64, String> = BTreeMap::new();
    for cp in &checkpoints {
        if !ctx.keys.verify_checkpoint(cp) {
            bad.get_or_insert((cp.seq, format!("the checkpoint for event {} has no valid signature", cp.seq)));
        }
        vouched.insert(cp.seq, cp.hash.clone());
    }
    for (seq, hash) in known_heads {
        vouched.insert(*seq, hash.clone());
    }
    let mut chain = ChainVerifier::default();
    let mut f = EventFilter { limit: MAX_PAGE, ..Default::default() };
    'pages: loop {
        let page = {
            let f = f.clone();
            ctx.store.read(tx_fn(move |tx| Box::pin(async move { tx.list_events(&f).await }))).await?
        };
        for e in &page {
            if let Err(b) = chain.push(e) {
                bad = Some(match bad {
                    Some(prev) if prev.0 < b.seq => prev,
                    _ => (b.seq, b.problem),
                });
                break 'pages;
            }
            if let Some(h) = vouched.get(&e.seq) {
                if *h != e.hash {
                    bad.get_or_insert((e.seq, format!("event {} does not match its signed checkpoint", e.seq)));
                }
            }
        }
        match page.last() {
            Some(last) if page.len() as i64 == MAX_PAGE => f.after_seq = Some(last.seq),
            _ => break,
        }
    }
    let (head_seq, head_hash) = chain.head();
    if let Some((&seq, _)) = vouched.range(head_seq + 1..).next() {
        if bad.is_none() {
            bad = Some((
                head_seq + 1,
                format!("the chain ends at event {head_seq}, but a signed checkpoint vouches for event {seq}: events after {head_seq} were removed"),
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
