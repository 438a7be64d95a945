//! What text anyone sends may hold: no control characters below U+0020 except tab, line feed
//! and carriage return (Postgres refuses NUL outright; the rest break logs, e-mails, CSV and the
//! CRM's XML). Checked once at the edge, over a whole JSON document (a REST body, a query, a
//! socket frame), so that every field of every request is covered; the answer names the field.
//! Fields that must be one line (names, e-mails) refuse line breaks in their own checks.

use serde_json::Value;

/// Why a field was refused, for the 400's or the error frame's `fields`.
pub const CONTROL_REFUSED: &str =
    "must not contain control characters (U+0000 to U+001F other than tab and line breaks)";

/// A character no text may hold.
pub fn is_refused_control(c: char) -> bool {
    c < ' ' && !matches!(c, '\t' | '\n' | '\r')
}

/// Whether `s` holds a character no text may hold.
pub fn has_refused_control(s: &str) -> bool {
    s.chars().any(is_refused_control)
}

/// The path of the first string (or object key) in `value` that holds a refused control
/// character: `email`, `contact.first_name`, `answers[2].value`; `None` when all are clean.
pub fn refused_field(value: &Value) -> Option<String> {
    fn walk(v: &Value, path: &mut String) -> bool {
        match v {
            Value::String(s) => has_refused_control(s),
            Value::Array(items) => items.iter().enumerate().any(|(i, item)| {
                let len = path.len();
                path.push_str(&format!("[{i}]"));
                let found = walk(item, path);
                if !found {
                    path.truncate(len);
                }
                found
            }),
            Value::Object(map) => map.iter().any(|(k, item)| {
                let len = path.len();
                if !path.is_empty() {
                    path.push('.');
                }
                if has_refused_control(k) {
                    // The key itself: name it with its control characters escaped.
                    path.push_str(&k.escape_default().to_string());
                    return true;
                }
                path.push_str(k);
                let found = walk(item, path);
                if !found {
                    path.truncate(len);
                }
                found
            }),
            _ => false,
        }
    }
    let mut path = String::new();
    walk(value, &mut path).then_some(path)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn names_the_field_that_holds_a_control_character() {
        assert_eq!(
            refused_field(&json!({"email": "a\u{0}@b.c"})),
            Some("email".into())
        );
        assert_eq!(
            refused_field(&json!({"contact": {"name": "ok", "phone": "5\u{1b}"}})),
            Some("contact.phone".into())
        );
        assert_eq!(
            refused_field(&json!({"answers": [{"v": "x"}, {"v": "\u{7}"}]})),
            Some("answers[1].v".into())
        );
        assert_eq!(refused_field(&json!({"a\u{0}": 1})), Some("a\\u{0}".into()));
        assert_eq!(refused_field(&json!(["\u{0}"])), Some("[0]".into()));
    }

    #[test]
    fn tabs_line_breaks_and_other_text_pass() {
        let v = json!({"text": "line one\r\nline\ttwo — ¿sí? 🚗", "n": 3, "b": [true, null]});
        assert_eq!(refused_field(&v), None);
        assert!(!has_refused_control("\u{7f}é"));
        assert!(has_refused_control("\u{1f}"));
    }
}
