//! Files shoppers attach to a form's attachment field, and files sent in a chat: uploaded from
//! the widget (the website key, the visitor token, the form and field named, or `form=chat`) or
//! by an agent for a chat (`POST /api/v1/conversations/{id}/files`), checked by size and by their
//! real type (read from their bytes, never from the name or the declared type), stored in
//! Postgres (`attachments`, owned here), and served to agents of the same dealer group, and a
//! chat's files also to that chat's shopper (`GET /api/v1/widget/{key}/files/{id}`). A chat file
//! becomes a message with the socket's `send` frame (`file_id`), which claims it for its chat
//! (`services/gateway/src/transcript.rs`).

use std::sync::Arc;

use axum::Json;
use axum::body::Bytes;
use axum::extract::rejection::BytesRejection;
use axum::extract::{Path, State};
use axum::http::header::{CACHE_CONTROL, CONTENT_DISPOSITION, CONTENT_TYPE, ORIGIN};
use axum::http::{HeaderMap, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use serde::Deserialize;
use showroom_proto::forms::{self, AttachmentRef, FieldKind, FormKind, MAX_ATTACHMENT_BYTES};
use showroom_proto::message::CHAT_FILE_TYPES;
use showroom_store::read;
use uuid::Uuid;

use crate::Rest;
use crate::auth::Session;
use crate::error::{ApiError, ErrorBody};
use crate::extract::{ApiQuery, Client, website_for};

/// Which form field a file is for.
#[derive(Debug, Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
pub struct UploadQuery {
    /// `pre_chat` or `offline`; or `chat` for a file to send in the chat (an image, a PDF or
    /// plain text), then with no `field`.
    form: String,
    /// The attachment field's key (a form's).
    #[serde(default)]
    field: Option<String>,
}

/// The `field` of a file sent in a chat.
const CHAT_FIELD: &str = "chat";

/// The 413 of a file over 10 MB.
fn too_large() -> ApiError {
    ApiError::new(
        StatusCode::PAYLOAD_TOO_LARGE,
        "too_large",
        "a file may be at most 10 MB",
    )
}

/// An upload's body, or why it could not be read (413 when too large).
fn file_body(body: Result<Bytes, BytesRejection>) -> Result<Bytes, ApiError> {
    body.map_err(|e| match e.status() {
        StatusCode::PAYLOAD_TOO_LARGE => too_large(),
        _ => ApiError::bad_request("bad_body", "the file could not be read"),
    })
}

/// Checks an uploaded file: not empty, at most 10 MB, its real type one `accept` takes.
/// Returns its cleaned name (from `X-Filename`) and its real type.
fn checked_file(
    headers: &HeaderMap,
    body: &[u8],
    accept: &str,
    what: &str,
) -> Result<(String, String), ApiError> {
    if body.is_empty() {
        return Err(ApiError::bad_request("empty_file", "the file is empty"));
    }
    if body.len() > MAX_ATTACHMENT_BYTES {
        return Err(too_large());
    }
    let filename = clean_name(
        headers
            .get("x-filename")
            .and_then(|v| v.to_str().ok())
            .unwrap_or("file"),
    );
    let (mime, ext) = sniff(body);
    if !forms::accepts(accept, &mime, &ext, &filename) {
        return Err(ApiError::new(
            StatusCode::UNSUPPORTED_MEDIA_TYPE,
            "type_not_accepted",
            format!("this file is {mime}; {what} takes {accept}"),
        ));
    }
    Ok((filename, mime))
}

/// Who a stored file is of.
struct Owner {
    group: Uuid,
    website: Uuid,
    visitor: Uuid,
    field: String,
    conversation: Option<Uuid>,
    agent: Option<Uuid>,
}

/// Stores a checked file; the reference to answer with.
async fn store(
    pool: &sqlx::PgPool,
    owner: Owner,
    filename: String,
    mime: String,
    body: &[u8],
) -> Result<AttachmentRef, ApiError> {
    let id = Uuid::now_v7();
    sqlx::query(
        "INSERT INTO attachments (id, group_id, website_id, visitor_id, field, filename, content_type, \
         size, data, conversation_id, agent_id) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11)",
    )
    .bind(id)
    .bind(owner.group)
    .bind(owner.website)
    .bind(owner.visitor)
    .bind(&owner.field)
    .bind(&filename)
    .bind(&mime)
    .bind(body.len() as i64)
    .bind(body)
    .bind(owner.conversation)
    .bind(owner.agent)
    .execute(pool)
    .await?;
    Ok(AttachmentRef {
        id,
        filename,
        content_type: mime,
        size: body.len() as i64,
    })
}

/// A stored file as a download: its real type, `attachment` disposition, never cached, never
/// sniffed.
fn file_response(filename: &str, content_type: &str, data: Vec<u8>) -> Response {
    let encoded =
        percent_encoding::utf8_percent_encode(filename, percent_encoding::NON_ALPHANUMERIC);
    let disposition = format!("attachment; filename*=UTF-8''{encoded}");
    let mut resp = data.into_response();
    let h = resp.headers_mut();
    h.insert(
        CONTENT_TYPE,
        HeaderValue::from_str(content_type)
            .unwrap_or(HeaderValue::from_static("application/octet-stream")),
    );
    if let Ok(v) = HeaderValue::from_str(&disposition) {
        h.insert(CONTENT_DISPOSITION, v);
    }
    h.insert(CACHE_CONTROL, HeaderValue::from_static("private, no-store"));
    h.insert(
        "x-content-type-options",
        HeaderValue::from_static("nosniff"),
    );
    resp
}

/// A path's attachment id.
fn file_id(id: &str) -> Result<Uuid, ApiError> {
    id.parse()
        .map_err(|_| ApiError::bad_request("bad_id", "the attachment id must be a UUID"))
}

/// The real type of a file from its first bytes: `(mime, extension)`. Text without a
/// signature is `text/plain` when it is UTF-8.
pub fn sniff(bytes: &[u8]) -> (String, String) {
    match infer::get(bytes) {
        Some(t) => (t.mime_type().to_string(), t.extension().to_string()),
        None if std::str::from_utf8(bytes).is_ok() => ("text/plain".into(), "txt".into()),
        None => ("application/octet-stream".into(), "bin".into()),
    }
}

/// A file name safe to store and to send back in a header: the last path part, without
/// control characters, at most 200 characters.
fn clean_name(raw: &str) -> String {
    let decoded = percent_encoding::percent_decode_str(raw).decode_utf8_lossy();
    let base = decoded.rsplit(['/', '\\']).next().unwrap_or("");
    let name: String = base
        .chars()
        .filter(|c| !c.is_control() && !matches!(c, '"' | ';'))
        .take(200)
        .collect();
    let name = name.trim().to_string();
    if name.is_empty() { "file".into() } else { name }
}

/// Uploads a file for a form's attachment field. The body is the file itself; headers
/// `X-Visitor-Token` (the widget's) and `X-Filename` (percent-encoded). Answers 201 with the
/// attachment to put in the form's answers; 413 `too_large` over 10 MB; 415
/// `type_not_accepted` when the file's real type is not one the field takes; 429
/// `rate_limited` past 20 files per visitor per hour (10 at once), counted by the visitor token
/// (by the address when the token is not valid).
#[utoipa::path(post, path = "/api/v1/widget/{key}/attachments", tag = "bot",
    params(("key" = String, Path, description = "The website's widget key"), UploadQuery,
        ("X-Visitor-Token" = String, Header, description = "The widget's visitor token"),
        ("X-Filename" = String, Header, description = "The file's name, percent-encoded")),
    request_body(content = Vec<u8>, content_type = "application/octet-stream"),
    responses((status = 201, body = AttachmentRef), (status = 400, body = ErrorBody),
        (status = 401, body = ErrorBody), (status = 403, body = ErrorBody), (status = 404, body = ErrorBody),
        (status = 413, body = ErrorBody), (status = 415, body = ErrorBody),
        (status = 429, description = "Too many files from this visitor: wait `Retry-After` seconds", body = ErrorBody,
            headers(("Retry-After" = u64, description = "Seconds to wait")))))]
pub async fn upload(
    State(state): State<Arc<Rest>>,
    Path(key): Path<String>,
    ApiQuery(q): ApiQuery<UploadQuery>,
    headers: HeaderMap,
    client: Client,
    body: Result<Bytes, BytesRejection>,
) -> Result<(StatusCode, Json<AttachmentRef>), ApiError> {
    let body = file_body(body)?;
    let origin = headers.get(ORIGIN).and_then(|v| v.to_str().ok());
    let website = website_for(&state.pool, &key, origin).await?;
    let visitor = headers
        .get("x-visitor-token")
        .and_then(|v| v.to_str().ok())
        .and_then(|t| state.visitor_keys.verify(website.id, t));
    // Counted per visitor (per address without a valid token) before anything is read or
    // stored.
    let ip = client.ip();
    state.limits.upload(visitor, ip.as_deref()).await?;
    let visitor = visitor.ok_or_else(|| {
        ApiError::new(
            StatusCode::UNAUTHORIZED,
            "bad_visitor",
            "X-Visitor-Token must be the widget's visitor token for this website",
        )
    })?;
    let (accept, field) = if q.form == CHAT_FIELD {
        (CHAT_FILE_TYPES.join(","), CHAT_FIELD.to_string())
    } else {
        let kind = FormKind::parse(&q.form).ok_or_else(|| {
            ApiError::bad_request("bad_form", "`form` must be pre_chat, offline or chat")
        })?;
        let form = read::form(&state.pool, website.id, kind).await?;
        let field = q.field.unwrap_or_default();
        let accept = form
            .as_ref()
            .and_then(|f| f.fields.iter().find(|f| f.id == field))
            .and_then(|f| match &f.kind {
                FieldKind::Attachment { accept, .. } => Some(accept.clone()),
                _ => None,
            })
            .ok_or_else(|| {
                ApiError::bad_request("bad_field", "this form has no such attachment field")
            })?;
        (accept, format!("{}:{field}", kind.as_str()))
    };
    let what = if field == CHAT_FIELD {
        "a chat"
    } else {
        "this field"
    };
    let (filename, mime) = checked_file(&headers, &body, &accept, what)?;
    let owner = Owner {
        group: website.group_id,
        website: website.id,
        visitor,
        field,
        conversation: None,
        agent: None,
    };
    let stored = store(&state.pool, owner, filename, mime, &body).await?;
    Ok((StatusCode::CREATED, Json(stored)))
}

/// An agent uploads a file to send in a chat of their group (then a `send` frame with its id
/// makes the message). The body is the file; header `X-Filename` (percent-encoded). Images
/// (JPEG, PNG, WebP, HEIC), PDF and plain text, by their real bytes; 413 `too_large` over
/// 10 MB; 415 `type_not_accepted`; 429 `rate_limited` past 20 files per agent per hour.
#[utoipa::path(post, path = "/api/v1/conversations/{id}/files", tag = "conversations",
    params(("id" = uuid::Uuid, Path, description = "Conversation id (UUID)"),
        ("X-Filename" = String, Header, description = "The file's name, percent-encoded")),
    request_body(content = Vec<u8>, content_type = "application/octet-stream"),
    responses((status = 201, body = AttachmentRef), (status = 400, body = ErrorBody),
        (status = 401, body = ErrorBody), (status = 404, body = ErrorBody),
        (status = 413, body = ErrorBody), (status = 415, body = ErrorBody),
        (status = 429, description = "Too many files: wait `Retry-After` seconds", body = ErrorBody,
            headers(("Retry-After" = u64, description = "Seconds to wait")))))]
pub async fn upload_for_chat(
    State(state): State<Arc<Rest>>,
    session: Session,
    Path(id): Path<String>,
    headers: HeaderMap,
    body: Result<Bytes, BytesRejection>,
) -> Result<(StatusCode, Json<AttachmentRef>), ApiError> {
    let body = file_body(body)?;
    let conversation: Uuid = id
        .parse()
        .map_err(|_| ApiError::bad_request("bad_id", "the conversation id must be a UUID"))?;
    state.limits.upload(Some(session.agent.id), None).await?;
    let chat: Option<(Uuid, Uuid)> = sqlx::query_as(
        "SELECT website_id, visitor_id FROM conversations WHERE id = $1 AND group_id = $2",
    )
    .bind(conversation)
    .bind(session.group())
    .fetch_optional(&state.pool)
    .await?;
    let (website, visitor) = chat.ok_or_else(|| ApiError::not_found("conversation"))?;
    let (filename, mime) = checked_file(&headers, &body, &CHAT_FILE_TYPES.join(","), "a chat")?;
    let owner = Owner {
        group: session.group(),
        website,
        visitor,
        field: CHAT_FIELD.into(),
        conversation: Some(conversation),
        agent: Some(session.agent.id),
    };
    let stored = store(&state.pool, owner, filename, mime, &body).await?;
    Ok((StatusCode::CREATED, Json(stored)))
}

/// A file of the shopper's own chat (sent by them or by the agent), for the widget: header
/// `X-Visitor-Token`. 404 for any other file.
#[utoipa::path(get, path = "/api/v1/widget/{key}/files/{id}", tag = "bot",
    params(("key" = String, Path, description = "The website's widget key"),
        ("id" = uuid::Uuid, Path, description = "Attachment id (UUID)"),
        ("X-Visitor-Token" = String, Header, description = "The widget's visitor token")),
    responses((status = 200, description = "The file"), (status = 400, body = ErrorBody),
        (status = 401, body = ErrorBody), (status = 403, body = ErrorBody), (status = 404, body = ErrorBody)))]
pub async fn shopper_download(
    State(state): State<Arc<Rest>>,
    Path((key, id)): Path<(String, String)>,
    headers: HeaderMap,
) -> Result<Response, ApiError> {
    let id = file_id(&id)?;
    let (website, visitor) =
        crate::extract::widget_visitor(&state.pool, &state.visitor_keys, &key, &headers).await?;
    let row: Option<(String, String, Vec<u8>)> = sqlx::query_as(
        "SELECT a.filename, a.content_type, a.data FROM attachments a \
         JOIN conversations c ON c.id = a.conversation_id AND c.group_id = a.group_id \
         WHERE a.id = $1 AND a.field = 'chat' AND c.website_id = $2 AND c.visitor_id = $3",
    )
    .bind(id)
    .bind(website.id)
    .bind(visitor)
    .fetch_optional(&state.pool)
    .await?;
    let (filename, content_type, data) = row.ok_or_else(|| ApiError::not_found("attachment"))?;
    Ok(file_response(&filename, &content_type, data))
}

/// A file a shopper attached to a form or a file sent in a chat, for agents of the same dealer
/// group (404 for anyone else).
/// Always sent as a download with its real type, never rendered in the console's origin.
#[utoipa::path(get, path = "/api/v1/attachments/{id}", tag = "bot",
    params(("id" = uuid::Uuid, Path, description = "Attachment id (UUID)")),
    responses((status = 200, description = "The file"), (status = 400, body = ErrorBody),
        (status = 401, body = ErrorBody), (status = 404, body = ErrorBody)))]
pub async fn download(
    State(state): State<Arc<Rest>>,
    session: Session,
    Path(id): Path<String>,
) -> Result<Response, ApiError> {
    let id = file_id(&id)?;
    let row: Option<(String, String, Vec<u8>)> = sqlx::query_as(
        "SELECT filename, content_type, data FROM attachments WHERE id = $1 AND group_id = $2",
    )
    .bind(id)
    .bind(session.group())
    .fetch_optional(&state.pool)
    .await?;
    let (filename, content_type, data) = row.ok_or_else(|| ApiError::not_found("attachment"))?;
    Ok(file_response(&filename, &content_type, data))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn types_come_from_the_bytes_and_names_are_cleaned() {
        assert_eq!(
            sniff(b"%PDF-1.7\n..."),
            ("application/pdf".into(), "pdf".into())
        );
        assert_eq!(
            sniff(&[0x89, b'P', b'N', b'G', 0x0d, 0x0a, 0x1a, 0x0a, 0, 0]).0,
            "image/png"
        );
        assert_eq!(sniff(b"just text").0, "text/plain");
        assert_eq!(
            sniff(&[0x00, 0x81, 0xfe, 0x13]).0,
            "application/octet-stream"
        );
        assert_eq!(clean_name("..%2F..%2Fetc%2Fpasswd"), "passwd");
        assert_eq!(clean_name("quote%20%E2%82%AC.pdf"), "quote €.pdf");
        assert_eq!(clean_name(""), "file");
    }
}
