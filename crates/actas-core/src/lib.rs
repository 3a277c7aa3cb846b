//! The actas domain, free of I/O.
//!
//! Everything here is a pure function of its inputs: the current time is
//! passed in as `now`, storage and the network live in other crates. The
//! server loads state inside a transaction, asks these rules what to do, and
//! writes the result together with its audit event.
#![warn(missing_docs)]

pub mod audit;
pub mod authorize;
pub mod clock;
pub mod connector;
pub mod error;
pub mod flow;
pub mod id;
pub mod limits;
pub mod model;
pub mod policy;
pub mod reason;
pub mod redaction;
pub mod scim;
pub mod stepup;
pub mod webhook;

pub use clock::{Clock, ManualClock, SystemClock, Timestamp};
pub use error::{Code, Error, Result};
/// Every variant of an enum that travels on the wire (`EventType::VARIANTS`).
pub use strum::VariantArray;
