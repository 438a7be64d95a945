//! Satisfaction ratings (table `chat_ratings`, owned here): after a chat with an agent ends,
//! the shopper rates it once, 1 to 5, with an optional comment (the widget's `rate` frame).
//! The same rating sent again (a retry) is answered as stored; a different one is refused.
//! Agents and managers read it with the chat (`history`, `GET /api/v1/conversations/{id}`).

use showroom_proto::message::Rating;
use showroom_proto::{CommandError, ErrorCode};
use showroom_store::read;
use sqlx::PgPool;
use uuid::Uuid;

/// Longest comment, in characters.
pub const MAX_COMMENT_CHARS: usize = 1000;

const INSERT: &str = "INSERT INTO chat_ratings (conversation_id, group_id, score, comment) \
     VALUES ($1, $2, $3, $4) ON CONFLICT (conversation_id) DO NOTHING \
     RETURNING created_at";

fn unavailable(e: sqlx::Error) -> CommandError {
    tracing::error!(error = %e, "rating storage failed");
    CommandError::new(ErrorCode::Unavailable, "could not store the rating; retry")
}

/// Checks a rating: a score of 1 to 5, a comment trimmed (empty: none) of at most
/// [`MAX_COMMENT_CHARS`].
pub fn check(score: i64, comment: Option<&str>) -> Result<(i16, Option<String>), CommandError> {
    if !(1..=5).contains(&score) {
        return Err(CommandError::new(
            ErrorCode::BadRequest,
            "`score` must be a whole number from 1 to 5",
        ));
    }
    let comment = comment.map(str::trim).filter(|c| !c.is_empty());
    if comment.is_some_and(|c| c.chars().count() > MAX_COMMENT_CHARS) {
        return Err(CommandError::new(
            ErrorCode::TooLarge,
            format!("the comment is longer than {MAX_COMMENT_CHARS} characters"),
        ));
    }
    Ok((score as i16, comment.map(str::to_string)))
}

/// Stores the rating of a chat of `group` that ended with an agent (the caller checked the
/// chat's state), once: the same rating again answers as stored, a different one is
/// `not_allowed`.
pub async fn rate(
    pool: &PgPool,
    group: Uuid,
    conversation: Uuid,
    score: i16,
    comment: Option<String>,
) -> Result<Rating, CommandError> {
    let stored: Option<(chrono::DateTime<chrono::Utc>,)> = sqlx::query_as(INSERT)
        .bind(conversation)
        .bind(group)
        .bind(score)
        .bind(comment.as_deref())
        .fetch_optional(pool)
        .await
        .map_err(unavailable)?;
    if let Some((at,)) = stored {
        return Ok(Rating {
            conversation_id: conversation,
            score,
            comment,
            at,
        });
    }
    let before = read::rating_of(pool, group, conversation)
        .await
        .map_err(unavailable)?
        .ok_or_else(|| {
            CommandError::new(ErrorCode::Unavailable, "could not read the rating; retry")
        })?;
    if before.score == score && before.comment == comment {
        return Ok(before);
    }
    Err(CommandError::new(
        ErrorCode::NotAllowed,
        "this chat was rated already",
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn scores_and_comments_are_checked() {
        assert_eq!(
            check(5, Some("  Great help  ")).unwrap(),
            (5, Some("Great help".into()))
        );
        assert_eq!(check(1, Some("   ")).unwrap(), (1, None));
        assert_eq!(check(3, None).unwrap(), (3, None));
        for bad in [0, 6, -1] {
            assert_eq!(check(bad, None).unwrap_err().code, ErrorCode::BadRequest);
        }
        let long = "x".repeat(MAX_COMMENT_CHARS + 1);
        assert_eq!(check(4, Some(&long)).unwrap_err().code, ErrorCode::TooLarge);
    }
}
