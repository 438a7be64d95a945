//! Security headers and charsets: one middleware ([`secure`]) around every HTTP answer of the
//! gateway, which sets them by what the path serves.
//!
//! | paths | headers |
//! | --- | --- |
//! | everything | `X-Content-Type-Options: nosniff`; `; charset=utf-8` added to a text type without one |
//! | `/console`, its modules and styles, any other page file | [`CONSOLE_CSP`], `X-Frame-Options: DENY`, `Referrer-Policy: same-origin`, `Cross-Origin-Opener-Policy: same-origin`, `Cross-Origin-Resource-Policy: same-origin` |
//! | `/demo` (`demo.html`, `demo.css`) | [`DEMO_CSP`], `X-Frame-Options: DENY`, `Referrer-Policy: strict-origin-when-cross-origin` |
//! | `/widget.js` | `Cross-Origin-Resource-Policy: cross-origin` (dealers' pages on any origin load it) |
//! | `/api/…` | [`API_CSP`]; on `/api/v1/…` `Cache-Control: no-store`, unless the handler set its own (headshots revalidate by ETag) |
//!
//! A path that is neither the API, a socket, the widget nor the demo gets the console's policy:
//! the strictest page policy is the default, so a new page file is covered before anyone
//! thinks of it.

use axum::extract::Request;
use axum::http::{HeaderMap, HeaderName, HeaderValue, header};
use axum::middleware::Next;
use axum::response::Response;

/// The console and Admin pages: only the gateway's own scripts, styles and sockets, no inline
/// script or style, never framed.
///
/// - `img-src 'self' blob:`: agents' headshots come from `/api/v1/agents/{id}/photo`, and the
///   headshot cropper (`console/admin/photo.js`) reads the chosen file through a `blob:` URL.
/// - `style-src 'self'` without `'unsafe-inline'`: `console.html` has no `style` attribute
///   and no `<style>`, and the modules style through the CSSOM (`el.style.x = …`), which a
///   policy does not restrict.
/// - `connect-src 'self'` covers the REST calls and the same-origin `ws:`/`wss:` socket (CSP
///   level 3).
/// - `form-action 'self'`: every form is handled by script; none posts elsewhere.
pub const CONSOLE_CSP: &str = "default-src 'none'; script-src 'self'; style-src 'self'; \
     img-src 'self' blob:; connect-src 'self'; base-uri 'none'; form-action 'self'; \
     object-src 'none'; frame-ancestors 'none'";

/// The demo dealer page: its own style sheet, `widget.js` and the widget's socket and uploads
/// (all on this origin); `img-src https:` because a bot's picture (`avatar_url`) may be any
/// `https` address, and `blob:` for the chat's image thumbnails (the widget fetches a file with
/// its visitor token and shows it from a `blob:` URL). The widget styles its shadow root with a constructed style sheet, so it
/// needs no `'unsafe-inline'` on a dealer's page either.
pub const DEMO_CSP: &str = "default-src 'none'; script-src 'self'; style-src 'self'; \
     img-src 'self' https: blob:; connect-src 'self'; base-uri 'none'; form-action 'none'; \
     object-src 'none'; frame-ancestors 'none'";

/// API answers are data, never documents: nothing loads from one opened in a tab, and no
/// page frames one.
pub const API_CSP: &str = "default-src 'none'; frame-ancestors 'none'";

/// What a path serves, for its headers.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Kind {
    Api,
    Socket,
    Widget,
    Demo,
    Page,
}

impl Kind {
    fn of(path: &str) -> Kind {
        match path {
            "/widget.js" => Kind::Widget,
            "/demo" | "/demo.html" | "/demo.css" => Kind::Demo,
            p if p.starts_with("/api/") => Kind::Api,
            p if p.starts_with("/ws/") => Kind::Socket,
            _ => Kind::Page,
        }
    }
}

/// The middleware: classifies the request's path, then sets the headers on the answer.
pub async fn secure(req: Request, next: Next) -> Response {
    let kind = Kind::of(req.uri().path());
    let versioned_api = req.uri().path().starts_with("/api/v1/");
    let mut resp = next.run(req).await;
    let h = resp.headers_mut();
    set(h, header::X_CONTENT_TYPE_OPTIONS, "nosniff");
    add_charset(h);
    match kind {
        Kind::Page => {
            set(h, header::CONTENT_SECURITY_POLICY, CONSOLE_CSP);
            set(h, header::X_FRAME_OPTIONS, "DENY");
            set(h, header::REFERRER_POLICY, "same-origin");
            set(h, COOP, "same-origin");
            set(h, CORP, "same-origin");
        }
        Kind::Demo => {
            set(h, header::CONTENT_SECURITY_POLICY, DEMO_CSP);
            set(h, header::X_FRAME_OPTIONS, "DENY");
            set(
                h,
                header::REFERRER_POLICY,
                "strict-origin-when-cross-origin",
            );
        }
        Kind::Widget => set(h, CORP, "cross-origin"),
        Kind::Api => {
            default(h, header::CONTENT_SECURITY_POLICY, API_CSP);
            if versioned_api {
                default(h, header::CACHE_CONTROL, "no-store");
            }
        }
        Kind::Socket => {}
    }
    resp
}

const COOP: HeaderName = HeaderName::from_static("cross-origin-opener-policy");
const CORP: HeaderName = HeaderName::from_static("cross-origin-resource-policy");

fn set(h: &mut HeaderMap, name: HeaderName, value: &'static str) {
    h.insert(name, HeaderValue::from_static(value));
}

/// Sets `name` unless the handler set it already.
fn default(h: &mut HeaderMap, name: HeaderName, value: &'static str) {
    h.entry(name)
        .or_insert_with(|| HeaderValue::from_static(value));
}

/// Appends `; charset=utf-8` to a text type without a charset (`ServeDir` sends `text/html`,
/// `text/css` and `text/javascript` bare; a page without `<meta charset>` then reads UTF-8 as
/// Windows-1252, and `widget.js`'s "×" showed as "Ã—"). Every text the gateway serves is UTF-8:
/// its files, and a `text/plain` attachment is stored as such only when it is valid UTF-8.
fn add_charset(h: &mut HeaderMap) {
    let Some(ct) = h.get(header::CONTENT_TYPE).and_then(|v| v.to_str().ok()) else {
        return;
    };
    let lower = ct.to_ascii_lowercase();
    let essence = lower.split(';').next().unwrap_or("").trim();
    let textual = essence.starts_with("text/")
        || matches!(
            essence,
            "application/javascript" | "application/ecmascript" | "application/xml"
        );
    if !textual || lower.contains("charset=") {
        return;
    }
    if let Ok(v) = HeaderValue::from_str(&format!("{}; charset=utf-8", ct.trim_end())) {
        h.insert(header::CONTENT_TYPE, v);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn with_type(ct: &str) -> HeaderMap {
        let mut h = HeaderMap::new();
        h.insert(header::CONTENT_TYPE, HeaderValue::from_str(ct).unwrap());
        add_charset(&mut h);
        h
    }

    #[test]
    fn text_types_get_utf8_and_others_are_left_alone() {
        let ct = |t: &str| {
            with_type(t)[header::CONTENT_TYPE]
                .to_str()
                .unwrap()
                .to_owned()
        };
        assert_eq!(ct("text/javascript"), "text/javascript; charset=utf-8");
        assert_eq!(ct("text/html"), "text/html; charset=utf-8");
        assert_eq!(
            ct("application/javascript"),
            "application/javascript; charset=utf-8"
        );
        assert_eq!(ct("text/plain; charset=utf-8"), "text/plain; charset=utf-8");
        assert_eq!(ct("text/css;Charset=UTF-8"), "text/css;Charset=UTF-8");
        assert_eq!(ct("application/json"), "application/json");
        assert_eq!(ct("image/svg+xml"), "image/svg+xml");
        assert_eq!(ct("image/png"), "image/png");
    }

    #[test]
    fn paths_are_classified_strictly() {
        assert_eq!(Kind::of("/widget.js"), Kind::Widget);
        assert_eq!(Kind::of("/demo"), Kind::Demo);
        assert_eq!(Kind::of("/demo.css"), Kind::Demo);
        assert_eq!(Kind::of("/api/v1/me"), Kind::Api);
        assert_eq!(Kind::of("/ws/console"), Kind::Socket);
        for p in [
            "/console",
            "/console/main.js",
            "/console.css",
            "/admin.css",
            "/console.html",
            "/demo/../console.html",
            "/%77idget.js",
            "/nope",
        ] {
            assert_eq!(Kind::of(p), Kind::Page, "{p}");
        }
    }

    #[test]
    fn console_scripts_are_the_gateways_own() {
        let script = CONSOLE_CSP
            .split(';')
            .map(str::trim)
            .find(|d| d.starts_with("script-src"))
            .unwrap();
        assert_eq!(script, "script-src 'self'");
        assert!(!CONSOLE_CSP.contains("unsafe"));
        assert!(!DEMO_CSP.contains("unsafe"));
    }
}
