//! Calls from WeChat's servers ([`Step::Push`], an official account's server URL). WeChat waits
//! 5 seconds, then retries and finally shows the person "该公众号暂时无法提供服务": so a push
//! is answered within [`PUSH_DEADLINE`] whatever happens. A refusal (not WeChat: 403; not a
//! push: 400) is answered as such; any other failure (the database, WeChat, a bug, the
//! deadline) is answered `success`, logged and counted, and the login it carried simply does
//! not complete.

use super::Pending;
use crate::rescue::{ApiError, ErrorCode};
use crate::respond::Answer;
use crate::tickets;
use std::future::Future;
use std::time::Duration;
use wxgate_providers::provider::{PushAnswers, TicketMove};

/// WeChat's 5 seconds, less the time to write the answer and cross the network.
pub(super) const PUSH_DEADLINE: Duration = Duration::from_millis(4500);

fn success() -> Answer {
    Answer::Text {
        body: "success".into(),
    }
}

/// Runs a push's turn within the deadline. Returns the answer, and the outcome to count when a
/// failure was answered `success`.
pub(super) async fn within_deadline(
    channel: &str,
    turn: impl Future<Output = Result<Answer, ApiError>>,
) -> (Result<Answer, ApiError>, Option<&'static str>) {
    match tokio::time::timeout(PUSH_DEADLINE, turn).await {
        Ok(Err(e))
            if matches!(
                e.code,
                ErrorCode::Forbidden | ErrorCode::InvalidRequest | ErrorCode::MethodNotAllowed
            ) =>
        {
            tracing::info!(channel, error = e.code.as_str(), message = %e.message, "push refused");
            (Err(e), None)
        }
        Ok(Err(e)) => {
            tracing::warn!(
                channel,
                error = e.code.as_str(),
                "push failed; answered success (a login it carried does not complete)"
            );
            (Ok(success()), Some(e.label()))
        }
        Ok(Ok(answer)) => (Ok(answer), None),
        Err(_) => {
            tracing::warn!(
                channel,
                deadline_ms = PUSH_DEADLINE.as_millis() as u64,
                "push took too long; answered success"
            );
            (Ok(success()), Some("push_timeout"))
        }
    }
}

impl Pending<'_> {
    /// A push that moves the ticket named `scene`: applied once, on any replica, when the
    /// ticket is open and this channel's; answered with the text of `answers` that fits.
    pub(super) async fn push_move(
        &mut self,
        scene: &str,
        change: TicketMove,
        answers: PushAnswers,
    ) -> Result<Answer, ApiError> {
        let g = self.g;
        let found = if tickets::well_formed(scene) {
            g.tickets.by_scene(scene).await?
        } else {
            None
        };
        let gone = |this: &Self| {
            this.count("ticket_gone");
            Ok(Answer::Text {
                body: answers.gone.clone(),
            })
        };
        let Some(ticket) =
            found.filter(|t| t.record.status.is_open() && t.record.c == self.channel)
        else {
            return gone(self);
        };
        match self.apply_move(ticket, change).await {
            Ok(_) => Ok(Answer::Text {
                body: answers.moved,
            }),
            // Moved by a racing push on another replica meanwhile.
            Err(e) if e.code == ErrorCode::InvalidState => gone(self),
            Err(e) => Err(e),
        }
    }
}
