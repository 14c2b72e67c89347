//! `ordo-mempool`: the bounded transaction pool of a validator and the fair selection of each
//! batch's transactions. No I/O, no clock: every rule here is a pure function of the pool's
//! state and its inputs, table- and property-tested.
//!
//! - [`Mempool::admit`]: typed outcomes: accepted, duplicate (in the pool or recently ordered),
//!   too large, malformed, namespace not allowed, namespace over quota, pool full. Overflow
//!   policy: new transactions are refused; nothing admitted is dropped to make room.
//! - [`Mempool::select`]: deficit round robin by bytes across namespaces, FIFO inside a
//!   namespace, within a batch's byte and count limits; the result is in body order (grouped by
//!   namespace, ascending). Selection removes nothing, so a failed proposal loses nothing.
//! - [`compose`]: a batch body: the forced entries due, then the pool's fair selection in the
//!   room they leave, within the batch limits.
//! - [`Mempool::commit`]: removes what a decided batch ordered and remembers the ids, bounded,
//!   so a resubmission is refused as already ordered.

mod compose;
mod pool;
mod recent;

pub use compose::{NoOrdinary, Selection, compose};
pub use pool::{Mempool, MempoolConfig, Rejection};
pub use recent::RecentIds;
