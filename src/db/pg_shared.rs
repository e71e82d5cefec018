//! PostgreSQL's read connections: a few per worker thread, each shared by
//! all the reads the worker has in flight, which tokio-postgres pipelines.
//!
//! A read checked out a pooled connection of its own until it was done, so a
//! connection carried one query at a time: every query woke its PostgreSQL
//! backend, and every result woke the worker, once each. On a shared
//! connection the queries of concurrent requests go out together in one
//! write, the backend runs them back to back without sleeping in between,
//! and their results come back in as few reads. A read takes the connection
//! with the fewest reads in flight, and opens another (up to the pool's size)
//! only when every open one is busy. Reads never open a transaction, so a
//! read that is dropped half-way (its client went away) leaves nothing open:
//! tokio-postgres reads and discards the rest of its result.

use std::cell::RefCell;
use std::rc::Rc;
use std::sync::Arc;
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::Duration;

use diesel_async::pooled_connection::PoolableConnection;
use futures_util::future::{FutureExt, LocalBoxFuture, Shared};

use super::{PgConn, establish_pg};

type Opening = Shared<LocalBoxFuture<'static, Result<Rc<PgConn>, String>>>;

enum Slot {
    Closed,
    Opening(Opening),
    Open(Rc<PgConn>),
}

/// One worker's shared read connections.
pub(super) struct SharedConns {
    url: Arc<str>,
    timeout: Duration,
    slots: RefCell<Vec<Slot>>,
    counts: Arc<Counts>,
}

/// How many of a worker's shared connections are open, and how many of
/// those carry no read: for the pool metrics, read from any thread.
#[derive(Default)]
pub(super) struct Counts {
    open: AtomicU32,
    idle: AtomicU32,
}

impl Counts {
    /// The open connections, and how many of them are idle.
    pub(super) fn read(&self) -> (u32, u32) {
        (
            self.open.load(Ordering::Relaxed),
            self.idle.load(Ordering::Relaxed),
        )
    }
}

/// A read's hold on a shared connection; dropping it ends the read.
pub(super) struct Lease {
    conns: Rc<SharedConns>,
    index: usize,
    conn: Rc<PgConn>,
}

impl Lease {
    pub(super) fn conn(&self) -> &PgConn {
        &self.conn
    }

    /// The connection failed as a whole (the database went away): no read
    /// gets it again; the reads still on it see the same failure.
    pub(super) fn lost(&self) {
        let mut slots = self.conns.slots.borrow_mut();
        if let Some(Slot::Open(open)) = slots.get(self.index)
            && Rc::ptr_eq(open, &self.conn)
        {
            slots[self.index] = Slot::Closed;
        }
    }
}

impl Drop for Lease {
    fn drop(&mut self) {
        self.conns.recount(Some(&self.conn));
    }
}

/// What a read does to get a connection, decided with the slots borrowed.
enum Next {
    Use(usize, Rc<PgConn>),
    Wait(usize, Opening),
    /// Not reached: with no slot open, opening or closed there are no slots.
    Unavailable,
}

impl SharedConns {
    pub(super) fn new(url: Arc<str>, size: usize, timeout: Duration) -> Rc<SharedConns> {
        Rc::new(SharedConns {
            url,
            timeout,
            slots: RefCell::new((0..size.max(1)).map(|_| Slot::Closed).collect()),
            counts: Arc::default(),
        })
    }

    pub(super) fn counts(&self) -> Arc<Counts> {
        Arc::clone(&self.counts)
    }

    /// A connection for one read: an idle open one; else one being opened,
    /// or a new one (waiting for it at most the pool's timeout); else, with
    /// every slot open and busy, the one with the fewest reads on it. The
    /// error says why there is none.
    pub(super) async fn get(self: &Rc<Self>) -> Result<Lease, String> {
        let next = self.choose();
        let (index, conn) = match next {
            Next::Use(index, conn) => (index, conn),
            Next::Wait(index, opening) => (index, opening.await?),
            Next::Unavailable => return Err("no connection slots".to_owned()),
        };
        let lease = Lease {
            conns: Rc::clone(self),
            index,
            conn,
        };
        self.recount(None);
        Ok(lease)
    }

    fn choose(self: &Rc<Self>) -> Next {
        let mut slots = self.slots.borrow_mut();
        // An idle connection that the server closed is dropped here, as the
        // pool's checkout did; a busy one fails its reads (`Lease::lost`).
        for slot in slots.iter_mut() {
            if let Slot::Open(conn) = slot
                && let Some(idle) = Rc::get_mut(conn)
                && idle.is_broken()
            {
                *slot = Slot::Closed;
            }
        }
        let least_busy = slots
            .iter()
            .enumerate()
            .filter_map(|(index, slot)| match slot {
                Slot::Open(conn) => Some((index, Rc::strong_count(conn) - 1, conn)),
                _ => None,
            })
            .min_by_key(|(_, reads, _)| *reads)
            .map(|(index, reads, conn)| (index, reads, Rc::clone(conn)));
        if let Some((index, 0, conn)) = least_busy {
            return Next::Use(index, conn);
        }
        // Every open connection is busy: one being opened is awaited (and so
        // driven on) by the reads that come while it opens, else a closed
        // slot is opened; only when all are open is a busy one shared.
        let opening = slots
            .iter()
            .enumerate()
            .find_map(|(index, slot)| match slot {
                Slot::Opening(opening) => Some((index, opening.clone())),
                _ => None,
            });
        if let Some((index, opening)) = opening {
            return Next::Wait(index, opening);
        }
        if let Some(index) = slots.iter().position(|slot| matches!(slot, Slot::Closed)) {
            let opening = self.open(index);
            slots[index] = Slot::Opening(opening.clone());
            return Next::Wait(index, opening);
        }
        match least_busy {
            Some((index, _, conn)) => Next::Use(index, conn),
            None => Next::Unavailable,
        }
    }

    /// Opens the connection of slot `index`; whoever awaits it first drives
    /// it, and its outcome is written back to the slot.
    fn open(self: &Rc<Self>, index: usize) -> Opening {
        let conns = Rc::downgrade(self);
        let url = self.url.to_string();
        let timeout = self.timeout;
        async move {
            let opened = match actix_web::rt::time::timeout(timeout, establish_pg(url)).await {
                Ok(Ok(conn)) => Ok(Rc::new(conn)),
                Ok(Err(error)) => Err(error.to_string()),
                Err(_) => Err(format!("no connection within {timeout:?}")),
            };
            if let Some(conns) = conns.upgrade() {
                conns.slots.borrow_mut()[index] = match &opened {
                    Ok(conn) => Slot::Open(Rc::clone(conn)),
                    Err(_) => Slot::Closed,
                };
                conns.recount(None);
            }
            opened
        }
        .boxed_local()
        .shared()
    }

    /// Updates [`Counts`]; `releasing` is the connection of a lease being
    /// dropped, which no longer counts as a read on it.
    fn recount(&self, releasing: Option<&Rc<PgConn>>) {
        let Ok(slots) = self.slots.try_borrow() else {
            return;
        };
        let (mut open, mut idle) = (0, 0);
        for slot in slots.iter() {
            if let Slot::Open(conn) = slot {
                let released = releasing.is_some_and(|mine| Rc::ptr_eq(mine, conn));
                open += 1;
                idle += u32::from(Rc::strong_count(conn) - usize::from(released) == 1);
            }
        }
        self.counts.open.store(open, Ordering::Relaxed);
        self.counts.idle.store(idle, Ordering::Relaxed);
    }
}
