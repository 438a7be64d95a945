//! How a website's widget looks: colours, icon, position and default language, chosen on the
//! admin pages (`PUT /api/v1/websites/{id}`), stored in `websites.appearance` and sent to the
//! widget in its `welcome` frame.

use serde::{Deserialize, Serialize};

/// The widget's look on one website. Every field has a default, so `{}` is a valid
/// appearance and a widget from before this setting existed looks as it did.
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct Appearance {
    /// The launcher's and the header's background, `#rrggbb`.
    pub color: String,
    /// Text and icons drawn on `color`, `#rrggbb`; checked for contrast against `color`.
    pub text_color: String,
    /// Which bottom corner of the dealer's page the launcher sits in.
    pub position: Position,
    /// The launcher's icon.
    pub icon: Icon,
    /// The shopper's language unless they switch: the browser's (`auto`), or fixed.
    pub language: LanguageChoice,
    /// Text beside the launcher icon; none shows the widget's own "Chat with us" in the
    /// shopper's language.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub launcher_label: Option<String>,
}

impl Default for Appearance {
    fn default() -> Self {
        Self {
            color: "#1f4fd1".into(),
            text_color: "#ffffff".into(),
            position: Position::Right,
            icon: Icon::Chat,
            language: LanguageChoice::Auto,
            launcher_label: None,
        }
    }
}

/// A bottom corner of the page.
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Position {
    /// Bottom right (the default).
    Right,
    /// Bottom left, for sites whose own buttons sit on the right.
    Left,
}

/// The launcher icons the widget draws (inline SVG, nothing fetched).
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Icon {
    /// A speech bubble.
    Chat,
    /// A car.
    Car,
    /// A question mark.
    Question,
}

/// The widget's starting language.
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum LanguageChoice {
    /// From the browser's `navigator.languages` (English unless Spanish comes first).
    Auto,
    /// English.
    En,
    /// Spanish.
    Es,
}

/// What is wrong with an appearance: the field and why.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{field}: {reason}")]
pub struct AppearanceError {
    /// The JSON field at fault.
    pub field: &'static str,
    /// What is wrong with it, for the manager.
    pub reason: String,
}

impl Appearance {
    /// The stored JSON read back; a value that no longer parses (never written by us) falls
    /// back to the defaults rather than breaking the widget.
    pub fn from_stored(value: &serde_json::Value) -> Self {
        serde_json::from_value(value.clone()).unwrap_or_default()
    }

    /// Checks every field; the first fault found, named.
    pub fn validate(&self) -> Result<(), AppearanceError> {
        let color = rgb(&self.color).ok_or_else(|| AppearanceError {
            field: "color",
            reason: "must be a colour like #1f4fd1".into(),
        })?;
        let text = rgb(&self.text_color).ok_or_else(|| AppearanceError {
            field: "text_color",
            reason: "must be a colour like #ffffff".into(),
        })?;
        let ratio = contrast(color, text);
        if ratio < 3.0 {
            return Err(AppearanceError {
                field: "text_color",
                reason: format!(
                    "is too close to color (contrast {ratio:.1}:1, at least 3:1 is needed to be readable)"
                ),
            });
        }
        if let Some(label) = &self.launcher_label {
            let n = label.trim().chars().count();
            if n == 0 || n > 40 || label.chars().any(char::is_control) {
                return Err(AppearanceError {
                    field: "launcher_label",
                    reason: "must be 1 to 40 characters of plain text, or left out".into(),
                });
            }
        }
        Ok(())
    }
}

/// `#rrggbb` as three bytes.
fn rgb(s: &str) -> Option<[u8; 3]> {
    let hex = s.strip_prefix('#')?;
    if hex.len() != 6 || !hex.chars().all(|c| c.is_ascii_hexdigit()) {
        return None;
    }
    let byte = |i: usize| u8::from_str_radix(&hex[i..i + 2], 16).ok();
    Some([byte(0)?, byte(2)?, byte(4)?])
}

/// WCAG 2 contrast ratio of two colours (1 to 21).
fn contrast(a: [u8; 3], b: [u8; 3]) -> f64 {
    fn luminance(c: [u8; 3]) -> f64 {
        let lin = |v: u8| {
            let s = f64::from(v) / 255.0;
            if s <= 0.039_28 {
                s / 12.92
            } else {
                ((s + 0.055) / 1.055).powf(2.4)
            }
        };
        0.2126 * lin(c[0]) + 0.7152 * lin(c[1]) + 0.0722 * lin(c[2])
    }
    let (x, y) = (luminance(a), luminance(b));
    (x.max(y) + 0.05) / (x.min(y) + 0.05)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_default_is_valid_and_empty_json_gives_it() {
        assert!(Appearance::default().validate().is_ok());
        let parsed: Appearance = serde_json::from_str("{}").unwrap();
        assert_eq!(parsed, Appearance::default());
    }

    #[test]
    fn bad_colours_and_low_contrast_are_named() {
        let a = Appearance {
            color: "blue".into(),
            ..Default::default()
        };
        assert_eq!(a.validate().unwrap_err().field, "color");
        let a = Appearance {
            color: "#ffffff".into(),
            text_color: "#eeeeee".into(),
            ..Default::default()
        };
        let e = a.validate().unwrap_err();
        assert_eq!(e.field, "text_color");
        assert!(e.reason.contains("contrast"), "{e}");
    }

    #[test]
    fn unknown_fields_and_long_labels_are_refused() {
        assert!(serde_json::from_str::<Appearance>(r##"{"colour":"#000000"}"##).is_err());
        let a = Appearance {
            launcher_label: Some("x".repeat(41)),
            ..Default::default()
        };
        assert_eq!(a.validate().unwrap_err().field, "launcher_label");
    }

    #[test]
    fn stored_garbage_falls_back_to_defaults() {
        let v = serde_json::json!({"position": "top"});
        assert_eq!(Appearance::from_stored(&v), Appearance::default());
    }
}
