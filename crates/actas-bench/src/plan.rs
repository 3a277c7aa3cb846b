//! How long each measurement runs and how large the trail grows, in the
//! full and the quick mode.

use std::time::Duration;

/// Client tasks of the closed-loop levels.
pub const CLIENTS: [usize; 3] = [1, 16, 64];
/// Client tasks of the busy figures (trail sizes, memory).
pub const BUSY: usize = 64;
/// Connections of the open-loop generator: enough that at the fixed rate
/// none waits for a free one unless the server has fallen behind.
pub const OPEN_CONNECTIONS: usize = 256;

/// Lengths and sizes of one run.
#[derive(Debug, Clone, Copy)]
pub struct Plan {
    /// The quick mode (CI).
    pub quick: bool,
    /// Each closed-loop level.
    pub level: Duration,
    /// Unmeasured calls before the first level.
    pub warm_up: Duration,
    /// The open-loop rate, calls per second.
    pub open_rate: u32,
    /// The open-loop length.
    pub open_for: Duration,
    /// Each batch size of the SQLite insert ceiling.
    pub ceiling_for: Duration,
    /// pgbench's `-T`.
    pub pgbench_secs: u32,
    /// The trail sizes measured, in seeded events (0 first).
    pub trail_sizes: &'static [u64],
    /// Calls per read figure (access log, each audit search).
    pub reads: usize,
    /// Each read figure stops early past this time.
    pub read_budget: Duration,
    /// Sessions ended over HTTP at each trail size.
    pub ends: usize,
    /// Live sessions of the memory figures.
    pub live_sessions: usize,
    /// The idle stretch of the memory figures.
    pub idle_for: Duration,
}

impl Plan {
    /// `all`.
    pub fn full() -> Plan {
        Plan {
            quick: false,
            level: Duration::from_secs(5),
            warm_up: Duration::from_secs(1),
            open_rate: 2000,
            open_for: Duration::from_secs(10),
            ceiling_for: Duration::from_secs(4),
            pgbench_secs: 5,
            trail_sizes: &[0, 1_000_000, 10_000_000],
            reads: 500,
            read_budget: Duration::from_secs(30),
            ends: 10,
            live_sessions: 10_000,
            idle_for: Duration::from_secs(5),
        }
    }

    /// `quick`: under two minutes for SQLite and PostgreSQL together.
    pub fn quick() -> Plan {
        Plan {
            quick: true,
            level: Duration::from_millis(1500),
            warm_up: Duration::from_millis(500),
            open_rate: 2000,
            open_for: Duration::from_secs(3),
            ceiling_for: Duration::from_secs(1),
            pgbench_secs: 2,
            trail_sizes: &[0, 100_000],
            reads: 200,
            read_budget: Duration::from_secs(3),
            ends: 5,
            live_sessions: 1_000,
            idle_for: Duration::from_secs(2),
        }
    }

    /// [`Plan::quick`] when asked, else [`Plan::full`].
    pub fn pick(quick: bool) -> Plan {
        if quick {
            Plan::quick()
        } else {
            Plan::full()
        }
    }

    /// `full` or `quick`.
    pub fn name(&self) -> &'static str {
        if self.quick {
            "quick"
        } else {
            "full"
        }
    }

    /// The largest trail size.
    pub fn max_trail(&self) -> u64 {
        self.trail_sizes.iter().copied().max().unwrap_or(0)
    }
}
