//! The bot: a website's bot settings and texts in every language, the leave-a-message
//! request, and the event a message left publishes.

use std::collections::BTreeMap;

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use uuid::Uuid;

use crate::contact::{Contact, Language};
use crate::conversation::{DepartmentRef, Named, Vehicle};

/// Every text a shopper can see from the bot, each with a built-in English and Spanish
/// version a website may replace. `{name}` placeholders are filled in when the text is used.
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[derive(Debug, Clone, Copy, Serialize, Deserialize, PartialEq, Eq, PartialOrd, Ord, Hash)]
#[serde(rename_all = "snake_case")]
pub enum TextKey {
    /// The first thing the bot says (`{bot}`, `{rooftop}`).
    Greeting,
    /// Which department (`{options}`).
    AskDepartment,
    /// The answer matched no department (`{options}`).
    BadDepartment,
    /// First name.
    AskFirstName,
    /// Last name (`{first_name}`).
    AskLastName,
    /// A name that is empty, too long, or not a name.
    BadName,
    /// E-mail or mobile number.
    AskContact,
    /// An e-mail address that is not well formed.
    BadEmail,
    /// A phone number that is not a valid number (`{country}`).
    BadPhone,
    /// Shown with the contact question and the form's phone field (`{rooftop}`): what the
    /// shopper agrees to by giving a phone number.
    Consent,
    /// The gate is done and an agent is sought (`{first_name}`).
    Online,
    /// The wait time ran out, or nobody took the chat.
    Offline,
    /// Outside the department's hours.
    AfterHours,
    /// Nobody who could take it is online, or the website is full.
    Unavailable,
    /// The leave-a-message form was sent.
    MessageLeft,
    /// An agent took the chat (`{agent}`).
    AgentJoined,
    /// The trade-in's year, make and model (asked when the shopper's interest is a trade-in).
    AskTradeVehicle,
    /// An answer without a model year, a make and a model.
    BadTradeVehicle,
    /// The trade-in's mileage.
    AskTradeMileage,
    /// An answer that is not a mileage.
    BadTradeMileage,
    /// The trade-in's condition.
    AskTradeCondition,
    /// An answer that is not one of the conditions.
    BadTradeCondition,
    /// The trade-in's VIN, which the shopper may skip.
    AskTradeVin,
    /// A VIN with a wrong length, character or check digit, or of another model year.
    BadTradeVin,
}

impl TextKey {
    /// Every key.
    pub const ALL: [Self; 24] = [
        Self::Greeting,
        Self::AskDepartment,
        Self::BadDepartment,
        Self::AskFirstName,
        Self::AskLastName,
        Self::BadName,
        Self::AskContact,
        Self::BadEmail,
        Self::BadPhone,
        Self::Consent,
        Self::Online,
        Self::Offline,
        Self::AfterHours,
        Self::Unavailable,
        Self::MessageLeft,
        Self::AgentJoined,
        Self::AskTradeVehicle,
        Self::BadTradeVehicle,
        Self::AskTradeMileage,
        Self::BadTradeMileage,
        Self::AskTradeCondition,
        Self::BadTradeCondition,
        Self::AskTradeVin,
        Self::BadTradeVin,
    ];

    /// The built-in text in `lang`.
    pub fn default_text(self, lang: Language) -> &'static str {
        use Language::{En, Es};
        match (self, lang) {
            (Self::Greeting, En) => {
                "Hi, I'm {bot} from {rooftop}. A few quick questions and I'll connect you with the right person."
            }
            (Self::Greeting, Es) => {
                "Hola, soy {bot} de {rooftop}. Unas preguntas rápidas y le comunico con la persona indicada."
            }
            (Self::AskDepartment, En) => "Which department can we help you with? {options}",
            (Self::AskDepartment, Es) => "¿Con qué departamento podemos ayudarle? {options}",
            (Self::BadDepartment, En) => {
                "Sorry, I didn't find that department. Please choose one of: {options}."
            }
            (Self::BadDepartment, Es) => {
                "Perdón, no encontré ese departamento. Elija uno de estos: {options}."
            }
            (Self::AskFirstName, En) => "What's your first name?",
            (Self::AskFirstName, Es) => "¿Cuál es su nombre?",
            (Self::AskLastName, En) => "Thanks, {first_name}. And your last name?",
            (Self::AskLastName, Es) => "Gracias, {first_name}. ¿Y su apellido?",
            (Self::BadName, En) => "Please type just your name, in letters (up to 60 characters).",
            (Self::BadName, Es) => "Escriba solo su nombre, con letras (hasta 60 caracteres).",
            (Self::AskContact, En) => {
                "What's the best e-mail address or mobile number to reach you?"
            }
            (Self::AskContact, Es) => {
                "¿Cuál es el mejor correo electrónico o número de celular para contactarle?"
            }
            (Self::BadEmail, En) => {
                "That e-mail address doesn't look complete. Please check it, like jane@example.com."
            }
            (Self::BadEmail, Es) => {
                "Ese correo electrónico no parece completo. Revíselo, por ejemplo ana@ejemplo.com."
            }
            (Self::BadPhone, En) => {
                "That doesn't look like a valid phone number for {country}. Please include the area code, or start with + and the country code."
            }
            (Self::BadPhone, Es) => {
                "Ese número no parece válido para {country}. Incluya la lada, o empiece con + y el código del país."
            }
            (Self::Consent, En) => {
                "By giving your mobile number you agree that {rooftop} may call or text you about your inquiry. Message and data rates may apply; reply STOP to opt out."
            }
            (Self::Consent, Es) => {
                "Al darnos su número de celular acepta que {rooftop} le llame o le envíe mensajes sobre su consulta. Pueden aplicar tarifas de mensajes y datos; responda STOP para no recibir más."
            }
            (Self::Online, En) => "Thanks, {first_name}! Someone will be right with you.",
            (Self::Online, Es) => "¡Gracias, {first_name}! Alguien le atenderá en un momento.",
            (Self::Offline, En) => {
                "Sorry, no one could answer in time. Leave us a message and we'll get back to you."
            }
            (Self::Offline, Es) => {
                "Perdón, nadie pudo contestar a tiempo. Déjenos un mensaje y le responderemos."
            }
            (Self::AfterHours, En) => {
                "We're closed right now. Leave us a message and we'll get back to you when we open."
            }
            (Self::AfterHours, Es) => {
                "En este momento estamos cerrados. Déjenos un mensaje y le responderemos cuando abramos."
            }
            (Self::Unavailable, En) => {
                "No one is available to chat right now. Leave us a message and we'll get back to you."
            }
            (Self::Unavailable, Es) => {
                "No hay nadie disponible para chatear ahora. Déjenos un mensaje y le responderemos."
            }
            (Self::MessageLeft, En) => "Thanks! We got your message and will get back to you soon.",
            (Self::MessageLeft, Es) => "¡Gracias! Recibimos su mensaje y le responderemos pronto.",
            (Self::AgentJoined, En) => "{agent} joined the chat.",
            (Self::AgentJoined, Es) => "{agent} se unió al chat.",
            (Self::AskTradeVehicle, En) => {
                "About your trade-in: what year, make and model is it? For example: 2018 Honda Civic."
            }
            (Self::AskTradeVehicle, Es) => {
                "Sobre su vehículo a cuenta: ¿de qué año, marca y modelo es? Por ejemplo: 2018 Honda Civic."
            }
            (Self::BadTradeVehicle, En) => {
                "Please give the year, make and model, like 2018 Honda Civic."
            }
            (Self::BadTradeVehicle, Es) => "Indique año, marca y modelo, como 2018 Honda Civic.",
            (Self::AskTradeMileage, En) => "About how many miles (or km) does it have?",
            (Self::AskTradeMileage, Es) => "¿Cuántos kilómetros (o millas) tiene, más o menos?",
            (Self::BadTradeMileage, En) => "Please give the mileage as a number, like 42000 miles.",
            (Self::BadTradeMileage, Es) => "Indique el kilometraje con un número, como 42000 km.",
            (Self::AskTradeCondition, En) => {
                "What condition is it in: excellent, good, fair or poor?"
            }
            (Self::AskTradeCondition, Es) => {
                "¿En qué estado está: excelente, bueno, regular o malo?"
            }
            (Self::BadTradeCondition, En) => "Please choose excellent, good, fair or poor.",
            (Self::BadTradeCondition, Es) => "Elija excelente, bueno, regular o malo.",
            (Self::AskTradeVin, En) => {
                "If you have the VIN (17 characters) handy, type it; otherwise write skip."
            }
            (Self::AskTradeVin, Es) => {
                "Si tiene a mano el VIN o número de serie (17 caracteres), escríbalo; si no, escriba omitir."
            }
            (Self::BadTradeVin, En) => {
                "That VIN doesn't check out ({reason}). Please check it, or write skip."
            }
            (Self::BadTradeVin, Es) => {
                "Ese VIN no es válido ({reason}). Revíselo, o escriba omitir."
            }
        }
    }
}

/// Longest text a website may set, in characters.
pub const MAX_TEXT: usize = 1000;

/// Replaces each `{key}` of `text` by its value.
pub fn fill(text: &str, values: &[(&str, &str)]) -> String {
    let mut out = text.to_string();
    for (k, v) in values {
        out = out.replace(&format!("{{{k}}}"), v);
    }
    out
}

/// A website's bot settings. A website nobody configured has [`BotSettings::default`]: the
/// Lead Gate on, the leave-a-message form on, the built-in texts.
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct BotSettings {
    /// Ask department, names and a way to reach the shopper before an agent is sought.
    #[serde(default = "yes")]
    pub lead_gate: bool,
    /// When the chat cannot go live, show the leave-a-message form (instead of the bot only
    /// saying why; with the Lead Gate on, what it collected still makes a lead).
    #[serde(default = "yes")]
    pub leave_message_form: bool,
    /// The bot's name as shoppers see it ("Assistant", "Asistente" when unset).
    #[serde(default)]
    pub bot_name: Option<String>,
    /// An https address of the bot's picture.
    #[serde(default)]
    pub avatar_url: Option<String>,
    /// Texts replacing the built-in ones, per language.
    #[serde(default)]
    pub texts: BTreeMap<Language, BTreeMap<TextKey, String>>,
    /// The version of the consent text; raised by the bot whenever a consent text changes.
    #[serde(default = "one")]
    pub consent_version: i32,
}

/// The bot as the shopper's widget sees it (`welcome.bot`).
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct BotView {
    /// Its name in the welcome's language.
    pub name: String,
    /// An https address of its picture.
    pub avatar_url: Option<String>,
    /// Whether the Lead Gate asks before an agent is sought.
    pub lead_gate: bool,
    /// Whether the leave-a-message form is offered when no agent can chat.
    pub leave_message_form: bool,
    /// The consent text's version.
    pub consent_version: i32,
    /// Every text, in every language.
    pub texts: BTreeMap<Language, BTreeMap<TextKey, String>>,
}

fn yes() -> bool {
    true
}

fn one() -> i32 {
    1
}

impl Default for BotSettings {
    fn default() -> Self {
        Self {
            lead_gate: true,
            leave_message_form: true,
            bot_name: None,
            avatar_url: None,
            texts: BTreeMap::new(),
            consent_version: 1,
        }
    }
}

impl BotSettings {
    /// The text for `key` in `lang`: the website's own, else the built-in one.
    pub fn text(&self, key: TextKey, lang: Language) -> &str {
        self.texts
            .get(&lang)
            .and_then(|t| t.get(&key))
            .map(String::as_str)
            .filter(|t| !t.trim().is_empty())
            .unwrap_or_else(|| key.default_text(lang))
    }

    /// The bot's name to show, in `lang` when the website named none.
    pub fn name(&self, lang: Language) -> &str {
        self.bot_name
            .as_deref()
            .filter(|n| !n.trim().is_empty())
            .unwrap_or(match lang {
                Language::En => "Assistant",
                Language::Es => "Asistente",
            })
    }

    /// The consent version as stored with each consent: `v<n>-<lang>`, since each language's
    /// text is what was shown.
    pub fn consent_version_tag(&self, lang: Language) -> String {
        format!("v{}-{}", self.consent_version, lang.as_str())
    }

    /// Every text in `lang` (the website's own where set), for the widget.
    pub fn texts_in(&self, lang: Language) -> BTreeMap<TextKey, String> {
        TextKey::ALL
            .iter()
            .map(|k| (*k, self.text(*k, lang).to_string()))
            .collect()
    }

    /// What the widget gets of it in `welcome`: the name in `lang`, the picture, which
    /// steps are on, and every text in both languages.
    pub fn view(&self, lang: Language) -> BotView {
        BotView {
            name: self.name(lang).to_string(),
            avatar_url: self.avatar_url.clone(),
            lead_gate: self.lead_gate,
            leave_message_form: self.leave_message_form,
            consent_version: self.consent_version,
            texts: Language::ALL
                .iter()
                .map(|l| (*l, self.texts_in(*l)))
                .collect(),
        }
    }

    /// Checks what a manager sends; the error names the field.
    pub fn check(&self) -> Result<(), (String, String)> {
        if let Some(n) = &self.bot_name
            && (n.chars().count() > 60 || n.chars().any(char::is_control))
        {
            return Err((
                "bot_name".into(),
                "at most 60 characters, no control characters".into(),
            ));
        }
        if let Some(u) = &self.avatar_url
            && (!u.starts_with("https://") || u.len() > 2000)
        {
            return Err((
                "avatar_url".into(),
                "must be an https address of at most 2000 characters".into(),
            ));
        }
        for (lang, texts) in &self.texts {
            for (key, text) in texts {
                if text.chars().count() > MAX_TEXT {
                    return Err((
                        format!("texts.{}.{}", lang.as_str(), key_name(*key)),
                        format!("at most {MAX_TEXT} characters"),
                    ));
                }
            }
        }
        Ok(())
    }
}

fn key_name(k: TextKey) -> String {
    serde_json::to_value(k)
        .ok()
        .and_then(|v| v.as_str().map(str::to_string))
        .unwrap_or_default()
}

/// The bot's request subjects.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BotCommand {
    /// [`LeaveMessage`], replied with [`MessageReceipt`].
    LeaveMessage,
    /// A website's [`BotSettings`] ([`WebsiteRef`]).
    GetSettings,
    /// Replaces a website's [`BotSettings`] ([`PutBotSettings`]).
    PutSettings,
    /// Checks and stores a form's answers ([`crate::forms::SubmitForm`]).
    SubmitForm,
    /// A website's form of one kind ([`GetForm`]).
    GetForm,
    /// Replaces a website's form of one kind ([`crate::forms::PutForm`]).
    PutForm,
}

/// Names one of a website's forms.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct GetForm {
    /// The website.
    pub website_id: Uuid,
    /// Which form.
    pub kind: crate::forms::FormKind,
}

impl BotCommand {
    /// Every command.
    pub const ALL: [Self; 6] = [
        Self::LeaveMessage,
        Self::GetSettings,
        Self::PutSettings,
        Self::SubmitForm,
        Self::GetForm,
        Self::PutForm,
    ];

    /// The subject token.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::LeaveMessage => "leave_message",
            Self::GetSettings => "get_settings",
            Self::PutSettings => "put_settings",
            Self::SubmitForm => "submit_form",
            Self::GetForm => "get_form",
            Self::PutForm => "put_form",
        }
    }
}

/// Names a website of the group.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct WebsiteRef {
    /// The website.
    pub website_id: Uuid,
}

/// A manager replaces a website's bot settings.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct PutBotSettings {
    /// The website.
    pub website_id: Uuid,
    /// The new settings (`consent_version` is ignored: the bot raises it itself).
    pub settings: BotSettings,
}

/// Why a message was left.
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[derive(Debug, Clone, Copy, Serialize, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "snake_case")]
pub enum LeftBecause {
    /// Outside the department's hours.
    AfterHours,
    /// Nobody who could take the chat was online.
    NobodyAvailable,
    /// The shopper waited the whole wait time.
    WaitExpired,
    /// The website's maximum of sessions was reached.
    MaxSessions,
    /// Nobody took the chat in time.
    Missed,
    /// The widget's form, with no chat before it.
    Form,
    /// The widget's form after its chat could not start because everyone was busy (the
    /// socket's last `start` was answered `unavailable`).
    Busy,
    /// A dealer's own form, posted to the REST call.
    Rest,
}

impl LeftBecause {
    /// The wire and database name.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::AfterHours => "after_hours",
            Self::NobodyAvailable => "nobody_available",
            Self::WaitExpired => "wait_expired",
            Self::MaxSessions => "max_sessions",
            Self::Missed => "missed",
            Self::Form => "form",
            Self::Busy => "busy",
            Self::Rest => "rest",
        }
    }

    /// Parses the database name.
    pub fn parse(s: &str) -> Option<Self> {
        Some(match s {
            "after_hours" => Self::AfterHours,
            "nobody_available" => Self::NobodyAvailable,
            "wait_expired" => Self::WaitExpired,
            "max_sessions" => Self::MaxSessions,
            "missed" => Self::Missed,
            "form" => Self::Form,
            "busy" => Self::Busy,
            "rest" => Self::Rest,
            _ => return None,
        })
    }
}

/// The consent text a dealer's own form showed with its phone field.
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct ConsentShown {
    /// The text exactly as shown.
    pub text: String,
    /// Its version.
    pub version: String,
}

/// What a leave-a-message form sends (the widget's, or a dealer's own through REST). Every
/// field is checked by the bot; the error names each wrong one.
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq)]
pub struct LeaveMessageForm {
    /// The department the message is for (one of the website's rooftop).
    #[serde(default)]
    pub department_id: Option<Uuid>,
    /// First name (required).
    #[serde(default)]
    pub first_name: String,
    /// Last name (required).
    #[serde(default)]
    pub last_name: String,
    /// E-mail (required).
    #[serde(default)]
    pub email: String,
    /// Mobile phone (optional); read in the rooftop's country unless it starts with `+`.
    #[serde(default)]
    pub phone: Option<String>,
    /// The message (required, up to 4000 characters).
    #[serde(default)]
    pub message: String,
    /// `en` or `es` (default: the conversation's, else `en`).
    #[serde(default)]
    pub language: Option<String>,
    /// The page the form was on.
    #[serde(default)]
    pub page_url: Option<String>,
    /// The consent the form showed with its phone field. The widget's form leaves it out: the
    /// bot records its own consent text.
    #[serde(default)]
    pub consent: Option<ConsentShown>,
    /// The vehicle on the page, if any.
    #[serde(default)]
    pub vehicle: Option<Vehicle>,
    /// The answers to the website's own offline form (field key → value), when it has one:
    /// they fill the names, e-mail, phone and message instead of the fields above.
    #[serde(default)]
    #[cfg_attr(feature = "openapi", schema(value_type = Option<Object>))]
    pub answers: Option<crate::forms::Answers>,
}

/// A message left, as the gateway forwards it to the bot.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct LeaveMessage {
    /// The website (from its key).
    pub website_id: Uuid,
    /// The form's fields.
    pub form: LeaveMessageForm,
    /// The shopper's conversation, when the widget's form follows a chat that could not go
    /// live (its trigger and vehicle come from it).
    #[serde(default)]
    pub conversation_id: Option<Uuid>,
    /// The visitor (from the signed token), when the widget sent it.
    #[serde(default)]
    pub visitor_id: Option<Uuid>,
    /// The client's address, for the consent record.
    #[serde(default)]
    pub ip: Option<String>,
    /// How `ip` was worked out.
    #[serde(default)]
    pub ip_source: Option<crate::contact::AddressSource>,
    /// A retry with the same key stores nothing new and answers the same id.
    #[serde(default)]
    pub idempotency_key: Option<String>,
    /// The widget's form follows a start refused because everyone was busy
    /// ([`LeftBecause::Busy`]); `conversation_id` is then empty.
    #[serde(default)]
    pub busy: bool,
}

/// The answer to a message left.
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct MessageReceipt {
    /// The message's id (also the event's id, and the lead's source).
    pub id: Uuid,
}

/// `bot.message_left`: a shopper left a message; lead-capture makes a lead of it.
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct MessageLeft {
    /// The message's id.
    pub id: Uuid,
    /// The dealer group.
    pub group_id: Uuid,
    /// The website it came from.
    pub website_id: Uuid,
    /// The dealership.
    pub rooftop: Named,
    /// The department it is for, when one was chosen.
    pub department: Option<DepartmentRef>,
    /// The chat it follows, if any.
    pub conversation_id: Option<Uuid>,
    /// Why it was left.
    pub trigger: LeftBecause,
    /// Who left it.
    pub contact: Contact,
    /// What they wrote.
    pub message: String,
    /// Their language.
    pub language: Language,
    /// The page they were on.
    pub page_url: Option<String>,
    /// The vehicle they were looking at.
    pub vehicle: Option<Vehicle>,
    /// Every answer of the website's own offline form, when it was used.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub answers: Vec<crate::forms::Answer>,
    /// When it was left.
    pub at: DateTime<Utc>,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_text_exists_in_both_languages_and_a_website_may_replace_it() {
        for k in TextKey::ALL {
            for l in Language::ALL {
                assert!(!k.default_text(l).is_empty());
            }
            assert_ne!(
                k.default_text(Language::En),
                k.default_text(Language::Es),
                "{k:?}"
            );
        }
        let mut s = BotSettings::default();
        s.texts
            .entry(Language::Es)
            .or_default()
            .insert(TextKey::Greeting, "¡Bienvenido!".into());
        assert_eq!(s.text(TextKey::Greeting, Language::Es), "¡Bienvenido!");
        assert_eq!(
            s.text(TextKey::Greeting, Language::En),
            TextKey::Greeting.default_text(Language::En)
        );
        assert_eq!(
            fill("Thanks, {first_name}!", &[("first_name", "Maria")]),
            "Thanks, Maria!"
        );
    }

    #[test]
    fn settings_name_the_bad_field() {
        let mut s = BotSettings::default();
        s.texts
            .entry(Language::En)
            .or_default()
            .insert(TextKey::Online, "x".repeat(MAX_TEXT + 1));
        assert_eq!(s.check().unwrap_err().0, "texts.en.online");
        let s = BotSettings {
            avatar_url: Some("javascript:alert(1)".into()),
            ..Default::default()
        };
        assert_eq!(s.check().unwrap_err().0, "avatar_url");
        let s: Result<BotSettings, _> = serde_json::from_str(r#"{"lead_gat": false}"#);
        assert!(s.is_err(), "unknown fields are refused");
    }
}
