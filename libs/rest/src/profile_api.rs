//! REST for an agent's own profile: names, login e-mail, the console's language and time zone,
//! and a headshot. The headshot is served publicly (`GET /api/v1/agents/{id}/photo`) because
//! shoppers' widgets on dealers' sites show it in an `<img>`, where no session exists; its URL
//! carries the photo's version, so it can be cached and a new upload is a new URL.
//!
//! A headshot is a PNG or JPEG of exactly 222 × 222 pixels (the console crops it), at most
//! 256 KiB. Its real type is read from its bytes (`infer`), never trusted from the header, and
//! its size from the image header (`imagesize`), without decoding it.

use std::sync::Arc;

use axum::Json;
use axum::body::Bytes;
use axum::extract::rejection::BytesRejection;
use axum::extract::{Path, State};
use axum::http::header::{
    CACHE_CONTROL, CONTENT_TYPE, ETAG, IF_NONE_MATCH, X_CONTENT_TYPE_OPTIONS,
};
use axum::http::{HeaderMap, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use serde::{Deserialize, Serialize};
use uuid::Uuid;

use crate::Rest;
use crate::auth::Session;
use crate::directory::{self, Profile, ProfileInput};
use crate::error::{ApiError, ErrorBody};
use crate::extract::ApiJson;
use crate::validate::{Problems, email, invalid, text, time_zone};

/// Largest headshot file, in bytes (the `agent_photos` table's limit).
pub const MAX_PHOTO_BYTES: usize = 256 * 1024;
/// A headshot's width and height, in pixels.
pub const PHOTO_SIDE: usize = 222;
/// Longest first or last name, in characters.
const MAX_PERSON_NAME: usize = 80;

/// Why a headshot was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PhotoError {
    /// The body is empty.
    #[error("the photo is empty")]
    Empty,
    /// Over [`MAX_PHOTO_BYTES`].
    #[error("the photo may be at most 256 KiB")]
    TooLarge,
    /// The declared `Content-Type` is not one we take.
    #[error("send the photo as image/png or image/jpeg (the Content-Type header)")]
    DeclaredType,
    /// The bytes are not a PNG or a JPEG, whatever the header says.
    #[error("the file is not a real PNG or JPEG image")]
    NotAnImage,
    /// The bytes are the other of the two types.
    #[error("the file is {real}, not {declared} as its Content-Type says")]
    Mismatch {
        /// The type its bytes show.
        real: &'static str,
        /// The type declared.
        declared: &'static str,
    },
    /// The image header does not give a size.
    #[error("the photo's size cannot be read from its header (a damaged image?)")]
    Unreadable,
    /// Not 222 × 222.
    #[error("the photo must be 222 × 222 pixels (got {width} × {height})")]
    WrongSize {
        /// Its width.
        width: usize,
        /// Its height.
        height: usize,
    },
}

/// Checks a headshot: declared type, real type, size in bytes and in pixels. Answers the
/// content type to store and serve it with.
pub fn check_photo(declared: Option<&str>, bytes: &[u8]) -> Result<&'static str, PhotoError> {
    let declared = match declared
        .map(|d| {
            d.split(';')
                .next()
                .unwrap_or("")
                .trim()
                .to_ascii_lowercase()
        })
        .as_deref()
    {
        Some("image/png") => "image/png",
        Some("image/jpeg") => "image/jpeg",
        _ => return Err(PhotoError::DeclaredType),
    };
    if bytes.is_empty() {
        return Err(PhotoError::Empty);
    }
    if bytes.len() > MAX_PHOTO_BYTES {
        return Err(PhotoError::TooLarge);
    }
    let real = match infer::get(bytes).map(|t| t.mime_type()) {
        Some("image/png") => "image/png",
        Some("image/jpeg") => "image/jpeg",
        _ => return Err(PhotoError::NotAnImage),
    };
    if real != declared {
        return Err(PhotoError::Mismatch { real, declared });
    }
    let size = imagesize::blob_size(bytes).map_err(|_| PhotoError::Unreadable)?;
    if size.width != PHOTO_SIDE || size.height != PHOTO_SIDE {
        return Err(PhotoError::WrongSize {
            width: size.width,
            height: size.height,
        });
    }
    Ok(real)
}

impl From<PhotoError> for ApiError {
    fn from(e: PhotoError) -> Self {
        match e {
            PhotoError::TooLarge => {
                ApiError::new(StatusCode::PAYLOAD_TOO_LARGE, "too_large", e.to_string())
            }
            PhotoError::DeclaredType => ApiError::new(
                StatusCode::UNSUPPORTED_MEDIA_TYPE,
                "type_not_accepted",
                e.to_string(),
            ),
            other => invalid("photo", other.to_string()),
        }
    }
}

/// The agent of the session's profile.
#[utoipa::path(get, path = "/api/v1/me/profile", tag = "auth",
    responses((status = 200, body = Profile), (status = 401, body = ErrorBody)))]
pub async fn get_profile(
    State(state): State<Arc<Rest>>,
    session: Session,
) -> Result<Json<Profile>, ApiError> {
    directory::profile(&state.pool, session.agent.id)
        .await?
        .map(Json)
        .ok_or_else(ApiError::unauthorized)
}

/// A profile change.
#[derive(Debug, Deserialize, utoipa::ToSchema)]
pub struct ProfileBody {
    /// First name, 1 to 80 characters.
    #[serde(default)]
    pub first_name: String,
    /// Last name, 1 to 80 characters.
    #[serde(default)]
    pub last_name: String,
    /// Login e-mail; unique within the group.
    #[serde(default)]
    pub email: String,
    /// The console's language: `en` or `es`.
    #[serde(default)]
    pub locale: String,
    /// IANA time zone (`America/Chicago`); `null` or blank: the browser's (the console shows
    /// times in the computer's own zone).
    pub time_zone: Option<String>,
}

/// Changes the agent's own names, login e-mail, language and time zone. 400 naming each wrong
/// field; 409 naming `email` when another agent of the group has it. The role and the departments
/// are the admin pages' (`PUT /api/v1/agents/{id}`).
#[utoipa::path(put, path = "/api/v1/me/profile", tag = "auth", request_body = ProfileBody,
    responses((status = 200, body = Profile), (status = 400, body = ErrorBody),
        (status = 401, body = ErrorBody), (status = 409, body = ErrorBody)))]
pub async fn put_profile(
    State(state): State<Arc<Rest>>,
    session: Session,
    ApiJson(b): ApiJson<ProfileBody>,
) -> Result<Json<Profile>, ApiError> {
    let mut p = Problems::default();
    let first = p.check("first_name", text(&b.first_name, MAX_PERSON_NAME));
    let last = p.check("last_name", text(&b.last_name, MAX_PERSON_NAME));
    let mail = p.check("email", email(&b.email));
    let locale = p.check(
        "locale",
        match b.locale.trim() {
            "en" => Ok("en"),
            "es" => Ok("es"),
            _ => Err("must be en or es".to_string()),
        },
    );
    let tz = match b.time_zone.as_deref().map(str::trim) {
        None | Some("") => Some(None),
        Some(t) => p.check("time_zone", time_zone(t)).map(Some),
    };
    p.finish()?;
    let (Some(first), Some(last), Some(mail), Some(locale), Some(tz)) =
        (first, last, mail, locale, tz)
    else {
        return Err(ApiError::internal("profile checks passed without values"));
    };
    directory::update_profile(
        &state.pool,
        session.group(),
        session.agent.id,
        ProfileInput {
            first_name: &first,
            last_name: &last,
            email: &mail,
            locale,
            time_zone: tz.as_deref(),
        },
    )
    .await?;
    get_profile(State(state), session).await
}

/// Where the new headshot is.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct PhotoRef {
    /// `/api/v1/agents/{id}/photo?v={version}`.
    pub photo_url: String,
}

/// Replaces the agent's headshot. The body is the image itself, `Content-Type` `image/png` or
/// `image/jpeg`, at most 256 KiB, exactly 222 × 222 pixels. 400 naming `photo` (not really
/// that type, or the wrong size), 413 over the limit, 415 for another declared type.
#[utoipa::path(put, path = "/api/v1/me/photo", tag = "auth",
    request_body(content = Vec<u8>, content_type = "image/png"),
    responses((status = 200, body = PhotoRef), (status = 400, body = ErrorBody),
        (status = 401, body = ErrorBody), (status = 413, body = ErrorBody), (status = 415, body = ErrorBody)))]
pub async fn put_photo(
    State(state): State<Arc<Rest>>,
    session: Session,
    headers: HeaderMap,
    b: Result<Bytes, BytesRejection>,
) -> Result<Json<PhotoRef>, ApiError> {
    let bytes = b.map_err(|e| match e.status() {
        StatusCode::PAYLOAD_TOO_LARGE => ApiError::from(PhotoError::TooLarge),
        _ => ApiError::bad_request("bad_body", "the photo could not be read"),
    })?;
    let declared = headers.get(CONTENT_TYPE).and_then(|v| v.to_str().ok());
    let content_type = check_photo(declared, &bytes)?;
    let version = directory::put_photo(
        &state.pool,
        session.group(),
        session.agent.id,
        content_type,
        &bytes,
    )
    .await?;
    Ok(Json(PhotoRef {
        photo_url: directory::photo_url(session.agent.id, version),
    }))
}

/// Removes the agent's headshot (204 also when there was none).
#[utoipa::path(delete, path = "/api/v1/me/photo", tag = "auth",
    responses((status = 204), (status = 401, body = ErrorBody)))]
pub async fn delete_photo(
    State(state): State<Arc<Rest>>,
    session: Session,
) -> Result<StatusCode, ApiError> {
    directory::delete_photo(&state.pool, session.group(), session.agent.id).await?;
    Ok(StatusCode::NO_CONTENT)
}

/// An agent's headshot, for anyone (shoppers' widgets show it): the image with its type, an
/// `ETag` of its version (304 to a matching `If-None-Match`), cacheable for 5 minutes; 404 JSON
/// when the agent has none. Agent ids are random UUIDs, so this lists nobody.
#[utoipa::path(get, path = "/api/v1/agents/{id}/photo", tag = "auth",
    params(("id" = uuid::Uuid, Path, description = "Agent id (UUID)"),
        ("v" = Option<i64>, Query, description = "The photo's version, from `photo_url` (cache busting only)")),
    responses((status = 200, description = "The image (image/png or image/jpeg)"),
        (status = 304, description = "Not modified"), (status = 400, body = ErrorBody), (status = 404, body = ErrorBody)))]
pub async fn agent_photo(
    State(state): State<Arc<Rest>>,
    headers: HeaderMap,
    Path(id): Path<String>,
) -> Result<Response, ApiError> {
    let id: Uuid = id
        .parse()
        .map_err(|_| ApiError::bad_request("bad_id", "the agent id must be a UUID"))?;
    let photo = directory::photo(&state.pool, id)
        .await?
        .ok_or_else(|| ApiError::not_found("photo"))?;
    let etag = format!("\"{}\"", photo.version);
    let matches = headers
        .get_all(IF_NONE_MATCH)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(','))
        .any(|t| {
            let t = t.trim();
            t == "*" || t.trim_start_matches("W/") == etag
        });
    let mut resp = if matches {
        StatusCode::NOT_MODIFIED.into_response()
    } else {
        photo.bytes.into_response()
    };
    let h = resp.headers_mut();
    if !matches {
        h.insert(
            CONTENT_TYPE,
            HeaderValue::from_str(&photo.content_type)
                .unwrap_or(HeaderValue::from_static("application/octet-stream")),
        );
    }
    if let Ok(v) = HeaderValue::from_str(&etag) {
        h.insert(ETAG, v);
    }
    h.insert(CACHE_CONTROL, HeaderValue::from_static("public, no-cache"));
    h.insert(X_CONTENT_TYPE_OPTIONS, HeaderValue::from_static("nosniff"));
    // Shown on dealers' sites, which may isolate themselves (COEP): allowed to be embedded.
    h.insert(
        "cross-origin-resource-policy",
        HeaderValue::from_static("cross-origin"),
    );
    Ok(resp)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A PNG signature and IHDR chunk of `w` × `h` (enough for the header readers).
    fn png_header(w: u32, h: u32) -> Vec<u8> {
        let mut b = vec![0x89, b'P', b'N', b'G', 0x0d, 0x0a, 0x1a, 0x0a];
        b.extend_from_slice(&13u32.to_be_bytes());
        b.extend_from_slice(b"IHDR");
        b.extend_from_slice(&w.to_be_bytes());
        b.extend_from_slice(&h.to_be_bytes());
        b.extend_from_slice(&[8, 2, 0, 0, 0]);
        b.extend_from_slice(&[0, 0, 0, 0]); // CRC (not checked by a size reader)
        b
    }

    /// A JPEG start, a JFIF APP0 and a baseline SOF0 of `w` × `h`.
    fn jpeg_header(w: u16, h: u16) -> Vec<u8> {
        let mut b = vec![0xff, 0xd8, 0xff, 0xe0, 0x00, 0x10];
        b.extend_from_slice(b"JFIF\0");
        b.extend_from_slice(&[1, 1, 0, 0, 1, 0, 1, 0, 0]);
        b.extend_from_slice(&[0xff, 0xc0, 0x00, 0x11, 0x08]);
        b.extend_from_slice(&h.to_be_bytes());
        b.extend_from_slice(&w.to_be_bytes());
        b.extend_from_slice(&[3, 1, 0x22, 0, 2, 0x11, 1, 3, 0x11, 1]);
        b.extend_from_slice(&[0xff, 0xd9]);
        b
    }

    #[test]
    fn dimensions_come_from_the_header() {
        assert_eq!(
            check_photo(Some("image/png"), &png_header(222, 222)),
            Ok("image/png")
        );
        assert_eq!(
            check_photo(Some("image/jpeg"), &jpeg_header(222, 222)),
            Ok("image/jpeg")
        );
        let e = check_photo(Some("image/png"), &png_header(223, 200)).unwrap_err();
        assert_eq!(
            e.to_string(),
            "the photo must be 222 × 222 pixels (got 223 × 200)"
        );
        assert_eq!(
            check_photo(Some("image/jpeg"), &jpeg_header(640, 480)),
            Err(PhotoError::WrongSize {
                width: 640,
                height: 480
            })
        );
    }

    #[test]
    fn the_real_type_and_the_declared_one_must_agree() {
        assert_eq!(
            check_photo(Some("image/png"), b"<svg onload=alert(1)>"),
            Err(PhotoError::NotAnImage)
        );
        assert_eq!(
            check_photo(Some("image/jpeg; charset=binary"), &png_header(222, 222)),
            Err(PhotoError::Mismatch {
                real: "image/png",
                declared: "image/jpeg"
            })
        );
        assert_eq!(
            check_photo(Some("image/gif"), &png_header(222, 222)),
            Err(PhotoError::DeclaredType)
        );
        assert_eq!(
            check_photo(None, &png_header(222, 222)),
            Err(PhotoError::DeclaredType)
        );
        assert_eq!(check_photo(Some("image/png"), &[]), Err(PhotoError::Empty));
        // A PNG signature followed by garbage: the type sniffs as PNG, the size cannot be read.
        let mut fake = png_header(222, 222);
        fake.truncate(12);
        assert_eq!(
            check_photo(Some("image/png"), &fake),
            Err(PhotoError::Unreadable)
        );
        let big = {
            let mut b = png_header(222, 222);
            b.resize(MAX_PHOTO_BYTES + 1, 0);
            b
        };
        assert_eq!(
            check_photo(Some("image/png"), &big),
            Err(PhotoError::TooLarge)
        );
    }
}
