//! Sessions per client process (`_pid` connect attribute): counted in the pass over the
//! session list that the Threads source makes, or in a pass of its own when Threads was not
//! read this scrape.

use mysql_async::Conn;

use super::threads::{self, SessionCache};
use super::{classify, SourceError};
use crate::snapshot::{Capabilities, ClientProcessGroup, ConnectAttributes, Plan, Source};

/// `folded`: the counts of this scrape's Threads pass, if it made them.
pub(super) async fn read(
    conn: &mut Conn,
    caps: &Capabilities,
    plan: &Plan,
    cache: &mut SessionCache,
    folded: Option<Vec<ClientProcessGroup>>,
) -> Result<Vec<ClientProcessGroup>, SourceError> {
    if let ConnectAttributes::Unavailable(why) = &caps.connect_attributes {
        return Err(SourceError::Unavailable(why.clone()));
    }
    if let Some(processes) = folded {
        return Ok(processes);
    }
    let plan = Plan {
        per_process: true,
        ..plan.clone()
    };
    let pass = threads::read(conn, caps, &plan, cache)
        .await
        .map_err(|e| classify(e, Source::ClientProcesses))?;
    Ok(pass.client_processes.unwrap_or_default())
}
