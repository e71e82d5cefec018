//! PostgreSQL `LISTEN` on a connection of its own: how one instance hears
//! what another changed (today: which users were deleted).

use std::pin::pin;
use std::time::Duration;

use diesel_async::RunQueryDsl;
use futures_util::StreamExt;
use futures_util::future::{Either, select};

use super::establish_pg;

/// How often a quiet listening connection is checked: the driver's
/// notification stream does not end when the server closes the socket.
const KEEPALIVE: Duration = Duration::from_secs(10);
/// Wait between reconnection attempts.
const RECONNECT_AFTER: Duration = Duration::from_secs(1);

/// What the listener saw.
pub enum Heard<'a> {
    /// A notification's payload.
    Message(&'a str),
    /// The listening connection was (re)established or lost: notifications
    /// may have been missed, so act as if everything had changed.
    Gap,
}

/// Listens on `channel` of the database at `url` for as long as the task
/// runs, calling `on` for every notification and for every gap in
/// listening. Reconnects by itself; a database that is down is retried
/// every second, and said once in the log per outage.
pub async fn listen(url: String, channel: &'static str, on: impl Fn(Heard<'_>)) {
    let mut reported = false;
    loop {
        let Err(error) = listen_once(&url, channel, &on, &mut reported).await;
        if !reported {
            tracing::warn!(%error, channel, "not listening for notifications; retrying");
            reported = true;
        }
        on(Heard::Gap);
        actix_web::rt::time::sleep(RECONNECT_AFTER).await;
    }
}

/// One listening connection, until it fails; `reported` is cleared once it
/// listens, so the next failure is logged again.
async fn listen_once(
    url: &str,
    channel: &'static str,
    on: &impl Fn(Heard<'_>),
    reported: &mut bool,
) -> Result<std::convert::Infallible, String> {
    let mut conn = establish_pg(url.to_owned())
        .await
        .map_err(|error| error.to_string())?;
    // `channel` is one of our constants, never input.
    diesel::sql_query(format!("LISTEN {channel}"))
        .execute(&mut conn)
        .await
        .map_err(|error| error.to_string())?;
    tracing::info!(channel, "listening for notifications");
    *reported = false;
    on(Heard::Gap);
    loop {
        let next = {
            let mut stream = pin!(conn.notifications_stream());
            let tick = pin!(actix_web::rt::time::sleep(KEEPALIVE));
            match select(stream.next(), tick).await {
                Either::Left((item, _)) => Some(item),
                Either::Right(_) => None,
            }
        };
        match next {
            Some(Some(Ok(notification))) => on(Heard::Message(&notification.payload)),
            Some(Some(Err(error))) => return Err(error.to_string()),
            Some(None) => return Err("the notification stream ended".to_owned()),
            None => {
                diesel::sql_query("SELECT 1")
                    .execute(&mut conn)
                    .await
                    .map_err(|error| error.to_string())?;
            }
        }
    }
}
