//! The form builder: the pre-chat and offline forms a manager defines per website, the
//! answers a shopper sends, and what they become (contact fields, routing variables).

use std::collections::{BTreeMap, BTreeSet};

use serde::{Deserialize, Serialize};
use serde_json::Value;
use uuid::Uuid;

/// Most fields a form may have.
pub const MAX_FIELDS: usize = 30;
/// Most options of a select, radio or checkboxes field.
pub const MAX_OPTIONS: usize = 50;
/// Largest attachment, in bytes (10 MB).
pub const MAX_ATTACHMENT_BYTES: usize = 10 * 1024 * 1024;
/// Most files one attachment field takes.
pub const MAX_FILES: usize = 5;
/// Longest text answer, in characters.
pub const MAX_ANSWER: usize = 4000;

/// Which of a website's forms.
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[derive(Debug, Clone, Copy, Serialize, Deserialize, PartialEq, Eq, Hash, PartialOrd, Ord)]
#[serde(rename_all = "snake_case")]
pub enum FormKind {
    /// Shown before the chat starts; its answers go to the Lead Gate and the router.
    PreChat,
    /// Shown when the chat cannot go live, in place of the built-in leave-a-message form.
    Offline,
}

impl FormKind {
    /// The wire, path and database name.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::PreChat => "pre_chat",
            Self::Offline => "offline",
        }
    }

    /// Parses the wire name.
    pub fn parse(s: &str) -> Option<Self> {
        match s {
            "pre_chat" => Some(Self::PreChat),
            "offline" => Some(Self::Offline),
            _ => None,
        }
    }
}

/// What an `input` field takes.
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[derive(Debug, Clone, Copy, Serialize, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "snake_case")]
pub enum InputKind {
    /// One line of text.
    Text,
    /// A number (decimal).
    Number,
    /// An e-mail address.
    Email,
}

/// The kinds of field, with what each needs.
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum FieldKind {
    /// A heading or a line of text; takes no answer.
    Label,
    /// One of `options`, from a list.
    Select {
        /// The choices.
        options: Vec<String>,
    },
    /// A one-line answer.
    Input {
        /// Text, number or e-mail.
        input: InputKind,
    },
    /// A longer answer.
    Textarea,
    /// One of `options`, as radio buttons.
    Radio {
        /// The choices.
        options: Vec<String>,
    },
    /// Any of `options`.
    Checkboxes {
        /// The choices.
        options: Vec<String>,
    },
    /// A checkbox the shopper must tick; its text is stored with the answer.
    Agreement {
        /// What the shopper agrees to.
        text: String,
    },
    /// Files, at most 10 MB each, of the accepted types.
    Attachment {
        /// Unique file type specifiers, comma-separated, as in HTML's `accept`: `.pdf`,
        /// `image/*`, `application/pdf`.
        accept: String,
        /// Several files (up to 5) or one.
        #[serde(default)]
        multiple: bool,
    },
}

/// A contact field an answer can fill.
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[derive(Debug, Clone, Copy, Serialize, Deserialize, PartialEq, Eq, PartialOrd, Ord)]
#[serde(rename_all = "snake_case")]
pub enum ContactField {
    /// First name.
    FirstName,
    /// Last name.
    LastName,
    /// E-mail.
    Email,
    /// Mobile phone.
    Phone,
    /// The message (offline forms).
    Message,
}

/// Where an answer goes besides the stored form.
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "snake_case")]
pub enum MapsTo {
    /// A field of the contact (checked as that field is: a name, an e-mail, a phone).
    Contact(ContactField),
    /// A routing variable passed to the router (its name).
    Variable(String),
}

/// One field of a form.
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct FormField {
    /// The field's key in the answers: 1 to 40 of `a-z 0-9 _`, unique in the form.
    pub id: String,
    /// What the shopper sees (up to 200 characters).
    pub label: String,
    /// What kind of field.
    #[serde(flatten)]
    pub kind: FieldKind,
    /// Must be answered (an agreement always must).
    #[serde(default)]
    pub required: bool,
    /// Where the answer goes besides the form.
    #[serde(default)]
    pub maps_to: Option<MapsTo>,
}

/// A form: its fields in order.
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct Form {
    /// The fields, in the order shown.
    pub fields: Vec<FormField>,
}

fn is_key(s: &str, max: usize) -> bool {
    !s.is_empty()
        && s.len() <= max
        && s.chars()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_')
}

/// Whether an `accept` list is well formed: comma-separated `.ext`, `type/*` or `type/subtype`.
pub fn accept_is_valid(accept: &str) -> bool {
    let specs: Vec<&str> = accept.split(',').map(str::trim).collect();
    !specs.is_empty()
        && specs.iter().all(|s| {
            if let Some(ext) = s.strip_prefix('.') {
                !ext.is_empty() && ext.chars().all(|c| c.is_ascii_alphanumeric())
            } else if let Some((t, sub)) = s.split_once('/') {
                let ok = |p: &str| {
                    !p.is_empty()
                        && p.chars()
                            .all(|c| c.is_ascii_alphanumeric() || "+-.".contains(c))
                };
                ok(t) && (sub == "*" || ok(sub))
            } else {
                false
            }
        })
}

/// Whether a file whose real type is `mime` (sniffed from its bytes; `extension` the one that
/// type has) and whose name is `filename` matches an `accept` list. An extension specifier
/// needs both the name and the real type to agree: a PNG named `scan.pdf` is not a PDF.
pub fn accepts(accept: &str, mime: &str, extension: &str, filename: &str) -> bool {
    let name_ext = filename
        .rsplit_once('.')
        .map(|(_, e)| e.to_ascii_lowercase())
        .unwrap_or_default();
    accept.split(',').map(str::trim).any(|spec| {
        let spec = spec.to_ascii_lowercase();
        if let Some(ext) = spec.strip_prefix('.') {
            let same =
                |a: &str, b: &str| a == b || matches!((a, b), ("jpg", "jpeg") | ("jpeg", "jpg"));
            same(ext, &name_ext) && same(ext, extension)
        } else if let Some(t) = spec.strip_suffix("/*") {
            mime.split('/').next() == Some(t)
        } else {
            spec == mime
        }
    })
}

impl Form {
    /// Checks a form a manager sends; the error names the field (`fields[2].options`).
    pub fn check(&self, kind: FormKind) -> Result<(), (String, String)> {
        if self.fields.len() > MAX_FIELDS {
            return Err(("fields".into(), format!("at most {MAX_FIELDS} fields")));
        }
        let mut ids = BTreeSet::new();
        let mut mapped = BTreeSet::new();
        for (i, f) in self.fields.iter().enumerate() {
            let at = |what: &str| format!("fields[{i}].{what}");
            if !is_key(&f.id, 40) {
                return Err((at("id"), "1 to 40 of a-z, 0-9 and _".into()));
            }
            if !ids.insert(f.id.as_str()) {
                return Err((at("id"), format!("`{}` is used twice", f.id)));
            }
            if f.label.trim().is_empty() || f.label.chars().count() > 200 {
                return Err((at("label"), "1 to 200 characters".into()));
            }
            match &f.kind {
                FieldKind::Select { options }
                | FieldKind::Radio { options }
                | FieldKind::Checkboxes { options } => {
                    let distinct: BTreeSet<&String> = options.iter().collect();
                    if options.is_empty()
                        || options.len() > MAX_OPTIONS
                        || distinct.len() != options.len()
                        || options
                            .iter()
                            .any(|o| o.trim().is_empty() || o.chars().count() > 100)
                    {
                        return Err((
                            at("options"),
                            format!("1 to {MAX_OPTIONS} different options of 1 to 100 characters"),
                        ));
                    }
                }
                FieldKind::Agreement { text } => {
                    if text.trim().is_empty() || text.chars().count() > 2000 {
                        return Err((at("text"), "1 to 2000 characters".into()));
                    }
                }
                FieldKind::Attachment { accept, .. } => {
                    if !accept_is_valid(accept) {
                        return Err((
                            at("accept"),
                            "comma-separated .ext, type/* or type/subtype".into(),
                        ));
                    }
                }
                FieldKind::Label | FieldKind::Input { .. } | FieldKind::Textarea => {}
            }
            match (&f.maps_to, &f.kind) {
                (None, _) => {}
                (
                    Some(_),
                    FieldKind::Label | FieldKind::Attachment { .. } | FieldKind::Agreement { .. },
                ) => {
                    return Err((at("maps_to"), "this kind of field takes no mapping".into()));
                }
                (Some(MapsTo::Variable(v)), _) => {
                    if v.is_empty()
                        || v.len() > 64
                        || !v
                            .chars()
                            .all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-')
                    {
                        return Err((
                            at("maps_to"),
                            "a variable name of 1 to 64 of A-Z a-z 0-9 _ -".into(),
                        ));
                    }
                }
                (Some(MapsTo::Contact(c)), k) => {
                    if !mapped.insert(*c) {
                        return Err((
                            at("maps_to"),
                            "two fields fill the same contact field".into(),
                        ));
                    }
                    if matches!(k, FieldKind::Checkboxes { .. }) {
                        return Err((
                            at("maps_to"),
                            "checkboxes cannot fill a contact field".into(),
                        ));
                    }
                    if *c == ContactField::Message && kind == FormKind::PreChat {
                        return Err((at("maps_to"), "a pre-chat form has no message".into()));
                    }
                }
            }
        }
        if kind == FormKind::Offline
            && !(mapped.contains(&ContactField::FirstName)
                && mapped.contains(&ContactField::LastName)
                && mapped.contains(&ContactField::Email)
                && mapped.contains(&ContactField::Message))
        {
            return Err((
                "fields".into(),
                "an offline form must fill the contact's first_name, last_name, email and message"
                    .into(),
            ));
        }
        Ok(())
    }
}

/// A file a shopper attached, as stored.
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct AttachmentRef {
    /// Its id (`GET /api/v1/attachments/{id}` for agents of the group).
    pub id: Uuid,
    /// The name the shopper's file had.
    pub filename: String,
    /// Its real type, from its bytes.
    pub content_type: String,
    /// Its size in bytes.
    pub size: i64,
}

/// One checked answer, as stored and shown to agents.
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct Answer {
    /// The field's key.
    pub field: String,
    /// The field's label when answered.
    pub label: String,
    /// The answer: a string, a list of strings (checkboxes), `true` (an agreement, with
    /// `agreement_text`), or a list of attachments.
    #[cfg_attr(feature = "openapi", schema(value_type = Object))]
    pub value: Value,
    /// For an agreement: the text agreed to.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub agreement_text: Option<String>,
}

/// What a shopper sends for a form: field key → value.
pub type Answers = BTreeMap<String, Value>;

/// The bot's checked reading of a form's answers.
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq)]
pub struct CheckedForm {
    /// The stored submission's id.
    pub id: Uuid,
    /// Every answer given, in the form's order.
    pub answers: Vec<Answer>,
    /// Contact fields the answers filled (already checked as names, e-mail, E.164 phone).
    pub contact: BTreeMap<ContactField, String>,
    /// Routing variables the answers filled.
    pub variables: BTreeMap<String, String>,
    /// The consent shown with a phone number the form filled.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub consent: Option<crate::contact::Consent>,
}

/// The gateway asks the bot to check and store a form's answers. Replied with
/// [`CheckedForm`], or `bad_request` naming each wrong field.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct SubmitForm {
    /// The website.
    pub website_id: Uuid,
    /// Which form.
    pub kind: FormKind,
    /// The visitor (attachments must be theirs).
    pub visitor_id: Uuid,
    /// The answers.
    pub answers: Answers,
    /// The shopper's language (for the consent text shown with a phone field).
    #[serde(default)]
    pub language: crate::contact::Language,
    /// The page the form is on.
    #[serde(default)]
    pub page_url: Option<String>,
    /// The shopper's address, for the consent record.
    #[serde(default)]
    pub ip: Option<String>,
    /// How `ip` was worked out.
    #[serde(default)]
    pub ip_source: Option<crate::contact::AddressSource>,
}

/// A manager replaces one of a website's forms (an empty `fields` removes it).
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct PutForm {
    /// The website.
    pub website_id: Uuid,
    /// Which form.
    pub kind: FormKind,
    /// The form.
    pub form: Form,
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn accept_lists_match_the_real_type() {
        assert!(accept_is_valid(".pdf, image/*,application/pdf"));
        assert!(!accept_is_valid("pdf"));
        assert!(!accept_is_valid(".p df"));
        assert!(accepts(
            ".pdf,image/*",
            "application/pdf",
            "pdf",
            "quote.PDF"
        ));
        assert!(accepts(".pdf,image/*", "image/png", "png", "car.png"));
        assert!(
            !accepts(".pdf", "image/png", "png", "scan.pdf"),
            "a PNG named .pdf"
        );
        assert!(!accepts("image/*", "application/pdf", "pdf", "a.pdf"));
        assert!(accepts(".jpg", "image/jpeg", "jpg", "a.jpeg"));
    }

    #[test]
    fn forms_are_checked_field_by_field() {
        let form: Form = serde_json::from_value(json!({"fields": [
            {"id": "first", "label": "First name", "type": "input", "input": "text", "required": true,
             "maps_to": {"contact": "first_name"}},
            {"id": "interest", "label": "Interest", "type": "select", "options": ["New", "Trade-in"],
             "maps_to": {"variable": "interest"}},
            {"id": "docs", "label": "Documents", "type": "attachment", "accept": ".pdf,image/*", "multiple": true},
            {"id": "ok", "label": "Terms", "type": "agreement", "text": "I agree"},
        ]}))
        .unwrap();
        assert_eq!(form.check(FormKind::PreChat), Ok(()));
        assert_eq!(form.check(FormKind::Offline).unwrap_err().0, "fields");
        let mut twice = form.clone();
        twice.fields[1].id = "first".into();
        assert_eq!(
            twice.check(FormKind::PreChat).unwrap_err().0,
            "fields[1].id"
        );
        let mut bad = form.clone();
        bad.fields[2].kind = FieldKind::Attachment {
            accept: "pdf".into(),
            multiple: false,
        };
        assert_eq!(
            bad.check(FormKind::PreChat).unwrap_err().0,
            "fields[2].accept"
        );
        let mut mapped = form;
        mapped.fields[3].maps_to = Some(MapsTo::Variable("x".into()));
        assert_eq!(
            mapped.check(FormKind::PreChat).unwrap_err().0,
            "fields[3].maps_to"
        );
    }
}
