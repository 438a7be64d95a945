//! The form builder's server side: each website's pre-chat and offline forms (`forms`, owned
//! here), and every answer checked against its form before it counts: kinds, options,
//! lengths, required fields, agreements, contact fields (names, e-mail, E.164 phone) and
//! attachments (the shopper's own uploads for that field, stored by the gateway).

use std::collections::BTreeMap;

use chrono::Utc;
use serde_json::{Value, json};
use showroom_proto::bot::{GetForm, TextKey, fill};
use showroom_proto::contact::{AddressSource, Consent, Language};
use showroom_proto::forms::{
    Answer, Answers, AttachmentRef, CheckedForm, ContactField, FieldKind, Form, FormKind,
    InputKind, MAX_ANSWER, MAX_FILES, MapsTo, PutForm, SubmitForm,
};
use showroom_proto::{CommandError, ErrorCode};
use showroom_store::read;
use showroom_store::sqlx::{self, PgPool};
use uuid::Uuid;

use crate::settings::db_error;
use crate::validate;

async fn website(
    pool: &PgPool,
    group: Uuid,
    website: Uuid,
) -> Result<(String, String), CommandError> {
    let found: Option<(String, String)> = sqlx::query_as(
        "SELECT r.name, r.country FROM websites w JOIN rooftops r ON r.id = w.rooftop_id \
         WHERE w.id = $1 AND w.group_id = $2",
    )
    .bind(website)
    .bind(group)
    .fetch_optional(pool)
    .await
    .map_err(db_error)?;
    found.ok_or_else(|| CommandError::new(ErrorCode::NotFound, "no such website"))
}

/// A website's form of one kind (no fields when it has none).
pub async fn get(pool: &PgPool, group: Uuid, q: GetForm) -> Result<Form, CommandError> {
    website(pool, group, q.website_id).await?;
    Ok(read::form(pool, q.website_id, q.kind)
        .await
        .map_err(db_error)?
        .unwrap_or_default())
}

/// Replaces a website's form after checking it; no fields removes it (the built-in flow
/// returns).
pub async fn put(pool: &PgPool, group: Uuid, cmd: PutForm) -> Result<Form, CommandError> {
    website(pool, group, cmd.website_id).await?;
    if cmd.form.fields.is_empty() {
        sqlx::query("DELETE FROM forms WHERE website_id = $1 AND kind = $2")
            .bind(cmd.website_id)
            .bind(cmd.kind.as_str())
            .execute(pool)
            .await
            .map_err(db_error)?;
        return Ok(cmd.form);
    }
    cmd.form.check(cmd.kind).map_err(|(field, problem)| {
        CommandError::invalid_fields([(field, problem)].into_iter().collect())
    })?;
    sqlx::query(
        "INSERT INTO forms (website_id, kind, group_id, fields, updated_at) VALUES ($1, $2, $3, $4, now()) \
         ON CONFLICT (website_id, kind) DO UPDATE SET fields = EXCLUDED.fields, updated_at = now()",
    )
    .bind(cmd.website_id)
    .bind(cmd.kind.as_str())
    .bind(group)
    .bind(sqlx::types::Json(&cmd.form))
    .execute(pool)
    .await
    .map_err(db_error)?;
    Ok(cmd.form)
}

/// Checks a pre-chat (or offline) form's answers against the website's form and stores them.
pub async fn submit(
    pool: &PgPool,
    group: Uuid,
    cmd: SubmitForm,
) -> Result<CheckedForm, CommandError> {
    let (rooftop, country) = website(pool, group, cmd.website_id).await?;
    let form = read::form(pool, cmd.website_id, cmd.kind)
        .await
        .map_err(db_error)?
        .ok_or_else(|| CommandError::new(ErrorCode::NotFound, "this website has no such form"))?;
    let checked = check(
        pool,
        &Target {
            website: cmd.website_id,
            visitor: cmd.visitor_id,
            kind: cmd.kind,
            country: &country,
        },
        &form,
        &cmd.answers,
    )
    .await?
    .map_err(CommandError::invalid_fields)?;
    let consent = if checked.contact.contains_key(&ContactField::Phone) {
        let settings = read::bot_settings(pool, cmd.website_id)
            .await
            .map_err(db_error)?;
        Some(consent_of(
            &settings,
            cmd.language,
            &rooftop,
            cmd.page_url.clone(),
            cmd.ip.clone().map(|ip| (ip, cmd.ip_source)),
        ))
    } else {
        None
    };
    let id = Uuid::now_v7();
    let out = CheckedForm {
        id,
        answers: checked.answers,
        contact: checked.contact,
        variables: checked.variables,
        consent,
    };
    sqlx::query(
        "INSERT INTO form_submissions (id, group_id, website_id, kind, visitor_id, answers, contact, variables) \
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8)",
    )
    .bind(id)
    .bind(group)
    .bind(cmd.website_id)
    .bind(cmd.kind.as_str())
    .bind(cmd.visitor_id)
    .bind(sqlx::types::Json(&out.answers))
    .bind(sqlx::types::Json(json!({"fields": out.contact, "consent": out.consent})))
    .bind(sqlx::types::Json(&out.variables))
    .execute(pool)
    .await
    .map_err(db_error)?;
    Ok(out)
}

/// The bot's own consent text as shown to the shopper (the website's, else built in).
pub fn consent_of(
    settings: &showroom_proto::bot::BotSettings,
    lang: Language,
    rooftop: &str,
    page_url: Option<String>,
    ip: Option<(String, Option<AddressSource>)>,
) -> Consent {
    Consent {
        text: fill(
            settings.text(TextKey::Consent, lang),
            &[("rooftop", rooftop)],
        ),
        version: settings.consent_version_tag(lang),
        at: Utc::now(),
        page_url,
        ip_source: ip.as_ref().and_then(|(_, source)| *source),
        ip: ip.map(|(ip, _)| ip),
    }
}

/// Whose answers these are, to which form.
pub struct Target<'a> {
    /// The website.
    pub website: Uuid,
    /// The visitor (their own uploads only).
    pub visitor: Uuid,
    /// Which form.
    pub kind: FormKind,
    /// The rooftop's country, for phone numbers.
    pub country: &'a str,
}

/// Answers checked against a form: what they say, or each wrong field.
pub struct Checked {
    /// Every answer given, in the form's order.
    pub answers: Vec<Answer>,
    /// Contact fields filled.
    pub contact: BTreeMap<ContactField, String>,
    /// Routing variables filled.
    pub variables: BTreeMap<String, String>,
}

fn text_of(v: &Value) -> Option<String> {
    match v {
        Value::String(s) => Some(s.trim().to_string()),
        Value::Number(n) => Some(n.to_string()),
        _ => None,
    }
}

/// Checks `answers` against `form`. The outer error is the store failing; the inner one
/// names each wrong field by its key.
pub async fn check(
    pool: &PgPool,
    target: &Target<'_>,
    form: &Form,
    answers: &Answers,
) -> Result<Result<Checked, BTreeMap<String, String>>, CommandError> {
    let mut wrong = BTreeMap::new();
    let mut out = Checked {
        answers: Vec::new(),
        contact: BTreeMap::new(),
        variables: BTreeMap::new(),
    };
    for key in answers.keys() {
        if !form
            .fields
            .iter()
            .any(|f| &f.id == key && f.kind != FieldKind::Label)
        {
            wrong.insert(key.clone(), "is not a field of this form".to_string());
        }
    }
    for f in &form.fields {
        let given = answers
            .get(&f.id)
            .filter(|v| !v.is_null() && v.as_str().is_none_or(|s| !s.trim().is_empty()))
            .filter(|v| v.as_array().is_none_or(|a| !a.is_empty()))
            .filter(|v| **v != Value::Bool(false));
        let Some(v) = given else {
            let required = f.required || matches!(f.kind, FieldKind::Agreement { .. });
            if required && f.kind != FieldKind::Label {
                wrong.insert(f.id.clone(), "is required".to_string());
            }
            continue;
        };
        let mut agreement_text = None;
        let value: Result<Value, String> = match &f.kind {
            FieldKind::Label => continue,
            FieldKind::Select { options } | FieldKind::Radio { options } => match text_of(v) {
                Some(s) if options.contains(&s) => Ok(Value::String(s)),
                _ => Err("must be one of the field's options".to_string()),
            },
            FieldKind::Input { input } => match (input, text_of(v)) {
                (_, None) => Err("must be text".to_string()),
                (InputKind::Text, Some(s)) if s.chars().count() > 500 => {
                    Err("is longer than 500 characters".to_string())
                }
                (InputKind::Text, Some(s)) => Ok(Value::String(s)),
                (InputKind::Number, Some(s)) => match s.parse::<f64>() {
                    Ok(n) if n.is_finite() => Ok(Value::String(s)),
                    _ => Err("must be a number".to_string()),
                },
                (InputKind::Email, Some(s)) => validate::email(&s)
                    .map(Value::String)
                    .map_err(|e| e.to_string()),
            },
            FieldKind::Textarea => match text_of(v) {
                Some(s) if s.chars().count() <= MAX_ANSWER => Ok(Value::String(s)),
                Some(_) => Err(format!("is longer than {MAX_ANSWER} characters")),
                None => Err("must be text".to_string()),
            },
            FieldKind::Checkboxes { options } => match v.as_array() {
                Some(items) => {
                    let picked: Vec<String> = items.iter().filter_map(text_of).collect();
                    let mut distinct = picked.clone();
                    distinct.sort();
                    distinct.dedup();
                    if picked.len() != items.len()
                        || distinct.len() != picked.len()
                        || picked.iter().any(|p| !options.contains(p))
                    {
                        Err("must be a list of the field's options, each once".to_string())
                    } else {
                        Ok(json!(picked))
                    }
                }
                None => Err("must be a list of the field's options".to_string()),
            },
            FieldKind::Agreement { text } => {
                if *v == Value::Bool(true) {
                    agreement_text = Some(text.clone());
                    Ok(Value::Bool(true))
                } else {
                    Err("must be ticked (true)".to_string())
                }
            }
            FieldKind::Attachment { accept, multiple } => {
                attachments(pool, target, &f.id, accept, *multiple, v).await?
            }
        };
        let value = match value {
            Ok(v) => v,
            Err(problem) => {
                wrong.insert(f.id.clone(), problem);
                continue;
            }
        };
        match &f.maps_to {
            Some(MapsTo::Contact(c)) => {
                let s = text_of(&value).unwrap_or_default();
                let checked = match c {
                    ContactField::FirstName | ContactField::LastName => validate::name(&s),
                    ContactField::Email => validate::email(&s),
                    ContactField::Phone => validate::phone(&s, target.country),
                    ContactField::Message => validate::message(&s),
                };
                match checked {
                    Ok(s) => {
                        out.contact.insert(*c, s);
                    }
                    Err(e) => {
                        wrong.insert(f.id.clone(), e.to_string());
                        continue;
                    }
                }
            }
            Some(MapsTo::Variable(name)) => {
                let s = text_of(&value).unwrap_or_default();
                out.variables
                    .insert(name.clone(), s.chars().take(256).collect());
            }
            None => {}
        }
        out.answers.push(Answer {
            field: f.id.clone(),
            label: f.label.clone(),
            value,
            agreement_text,
        });
    }
    Ok(if wrong.is_empty() {
        Ok(out)
    } else {
        Err(wrong)
    })
}

/// Checks an attachment answer: ids of files this visitor uploaded for this field, as many as
/// the field takes, each still matching its `accept` list.
async fn attachments(
    pool: &PgPool,
    target: &Target<'_>,
    field: &str,
    accept: &str,
    multiple: bool,
    v: &Value,
) -> Result<Result<Value, String>, CommandError> {
    let ids: Option<Vec<Uuid>> = match v {
        Value::String(s) => s.parse().ok().map(|id| vec![id]),
        Value::Array(items) => items
            .iter()
            .map(|i| i.as_str().and_then(|s| s.parse().ok()))
            .collect(),
        _ => None,
    };
    let Some(ids) = ids else {
        return Ok(Err("must be the ids of uploaded files".to_string()));
    };
    let most = if multiple { MAX_FILES } else { 1 };
    if ids.len() > most {
        return Ok(Err(format!("takes at most {most} file(s)")));
    }
    let rows: Vec<(Uuid, String, String, i64)> = sqlx::query_as(
        "SELECT id, filename, content_type, size FROM attachments \
         WHERE id = ANY($1) AND website_id = $2 AND visitor_id = $3 AND field = $4",
    )
    .bind(&ids)
    .bind(target.website)
    .bind(target.visitor)
    .bind(format!("{}:{field}", target.kind.as_str()))
    .fetch_all(pool)
    .await
    .map_err(db_error)?;
    let mut refs = Vec::new();
    for id in &ids {
        let Some((id, filename, content_type, size)) = rows.iter().find(|r| r.0 == *id).cloned()
        else {
            return Ok(Err(format!(
                "{id} is not a file you uploaded for this field"
            )));
        };
        let ext = content_type
            .rsplit('/')
            .next()
            .unwrap_or_default()
            .to_string();
        let ext = match content_type.as_str() {
            "image/jpeg" => "jpg".to_string(),
            "text/plain" => "txt".to_string(),
            _ => ext,
        };
        if !showroom_proto::forms::accepts(accept, &content_type, &ext, &filename) {
            return Ok(Err(format!(
                "{filename} is {content_type}, which this field does not take"
            )));
        }
        refs.push(AttachmentRef {
            id,
            filename,
            content_type,
            size,
        });
    }
    Ok(Ok(json!(refs)))
}
