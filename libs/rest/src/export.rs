//! Files people download: CSV for spreadsheets (the audit trail, leads, reports; RFC 4180,
//! UTF-8 with a byte-order mark) with the formula guard, and the response that carries a file. Written once here; each export's columns live with
//! its handler.

use axum::http::header::{CONTENT_DISPOSITION, CONTENT_TYPE};
use axum::response::{IntoResponse, Response};

/// One CSV cell: quoted, quotes doubled; a cell a spreadsheet would run as a formula
/// (starting with `=`, `+`, `-`, `@`, a tab or a carriage return) starts with `'` instead.
pub(crate) fn cell(value: &str) -> String {
    let guarded = if value.starts_with(['=', '+', '-', '@', '\t', '\r']) {
        format!("'{value}")
    } else {
        value.to_string()
    };
    format!("\"{}\"", guarded.replace('"', "\"\""))
}

/// A CSV document (RFC 4180, CRLF line ends): the header row, then one line per row, every
/// value through [`cell`].
pub(crate) fn csv<R>(header: &[&str], rows: impl IntoIterator<Item = R>) -> String
where
    R: IntoIterator<Item = String>,
{
    let line = |values: Vec<String>| {
        let mut l = values.iter().map(|v| cell(v)).collect::<Vec<_>>().join(",");
        l.push_str("\r\n");
        l
    };
    let mut out = line(header.iter().map(|h| h.to_string()).collect());
    for row in rows {
        out.push_str(&line(row.into_iter().collect()));
    }
    out
}

/// A CSV document as a download named `filename`: UTF-8 with a byte-order mark first, so a
/// spreadsheet (Excel above all) opens accented names ("Peña") right.
pub(crate) fn csv_download(filename: &str, document: String) -> Response {
    download(
        "text/csv; charset=utf-8",
        filename,
        format!("\u{feff}{document}"),
    )
}

/// `body` as a download named `filename` of type `content_type`.
pub(crate) fn download(content_type: &'static str, filename: &str, body: String) -> Response {
    // The name is ours (ASCII, no quotes), never typed by a user.
    let disposition = format!("attachment; filename=\"{filename}\"");
    (
        [
            (CONTENT_TYPE, content_type.to_string()),
            (CONTENT_DISPOSITION, disposition),
        ],
        body,
    )
        .into_response()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cells_are_quoted_and_formulas_neutralised() {
        assert_eq!(cell("plain"), "\"plain\"");
        assert_eq!(cell("say \"hi\""), "\"say \"\"hi\"\"\"");
        assert_eq!(cell("=HYPERLINK(\"x\")"), "\"'=HYPERLINK(\"\"x\"\")\"");
        for f in ["+1", "-1", "@SUM(A1)", "\tx"] {
            assert!(cell(f).starts_with("\"'"), "{f}");
        }
        let doc = csv(&["a", "b"], [vec!["1".to_string(), "@x".to_string()]]);
        assert_eq!(doc, "\"a\",\"b\"\r\n\"1\",\"'@x\"\r\n");
    }
}
