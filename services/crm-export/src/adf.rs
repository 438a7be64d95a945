//! The ADF 1.0 XML of a lead (Auto-lead Data Format, what dealer CRMs read from their intake
//! mailbox). It validates against `services/crm-export/adf/adf-1.0.dtd`.
//!
//! The DTD asks for things a lead may lack; this is how each is met:
//! - `vehicle` (year, make, model required): the lead's vehicle, or one with those three
//!   empty when the shopper was not looking at one.
//! - the customer's `contact` needs a name and an e-mail or phone: an empty `name part="full"`
//!   when the lead has no name, an empty `email` when it has neither (a lead always has one of
//!   the two in practice: the Lead Gate and the forms require it).
//! - the vendor's `contact`: the dealership's name and the destination's vendor address.
//! - a trade-in (issue 20) is a second `vehicle interest="trade-in" status="used"` with its
//!   year, make, model, VIN, `odometer units="mi|km"`, and the condition in its `comments`.
//!
//! Every text goes through [`text`]: characters XML 1.0 cannot carry are dropped, markup
//! characters escaped by quick-xml, so a name like `<b>O'Hara & Sons</b>` arrives as text.

use std::borrow::Cow;
use std::fmt::Write as _;

use chrono_tz::Tz;
use serde_json::Value;
use showroom_proto::contact::Language;
use showroom_proto::delivery::AdfEmail;
use showroom_proto::lead::{Lead, LeadOrigin};
use showroom_proto::trade_in::TradeIn;

/// What the ADF `provider` says.
const PROVIDER: &str = "Showroom";
const SERVICE: &str = "Website live chat";

/// Whether XML 1.0 allows `c` in a document at all (escaped or not).
fn xml_char(c: char) -> bool {
    matches!(c, '\t' | '\n' | '\r' | '\u{20}'..='\u{D7FF}' | '\u{E000}'..='\u{FFFD}' | '\u{10000}'..)
}

/// `s` as XML character data (or an attribute value): forbidden characters dropped, `<`, `>`,
/// `&`, `'` and `"` escaped.
pub fn text(s: &str) -> Cow<'_, str> {
    if s.chars().all(xml_char) {
        quick_xml::escape::escape(s)
    } else {
        let kept: String = s.chars().filter(|c| xml_char(*c)).collect();
        Cow::Owned(quick_xml::escape::escape(&kept).into_owned())
    }
}

/// A small indenting writer: every element's text is escaped on the way in.
struct Doc {
    out: String,
    depth: usize,
}

impl Doc {
    fn indent(&mut self) {
        for _ in 0..self.depth {
            self.out.push_str("  ");
        }
    }

    fn attrs(&mut self, attrs: &[(&str, &str)]) {
        for (k, v) in attrs {
            let _ = write!(self.out, " {k}=\"{}\"", text(v));
        }
    }

    fn open(&mut self, name: &str, attrs: &[(&str, &str)]) {
        self.indent();
        self.out.push('<');
        self.out.push_str(name);
        self.attrs(attrs);
        self.out.push_str(">\n");
        self.depth += 1;
    }

    fn close(&mut self, name: &str) {
        self.depth -= 1;
        self.indent();
        let _ = writeln!(self.out, "</{name}>");
    }

    fn leaf(&mut self, name: &str, attrs: &[(&str, &str)], value: &str) {
        self.indent();
        self.out.push('<');
        self.out.push_str(name);
        self.attrs(attrs);
        let _ = writeln!(self.out, ">{}</{name}>", text(value));
    }

    fn leaf_opt(&mut self, name: &str, attrs: &[(&str, &str)], value: Option<&str>) {
        if let Some(v) = value.map(str::trim).filter(|v| !v.is_empty()) {
            self.leaf(name, attrs, v);
        }
    }
}

/// Everything the ADF of one lead for one destination needs.
pub struct AdfLead<'a> {
    /// The lead.
    pub lead: &'a Lead,
    /// The destination's settings.
    pub dest: &'a AdfEmail,
    /// The rooftop's time zone (the request date is written in it).
    pub tz: Tz,
    /// A test send: said in the comments.
    pub test: bool,
}

impl AdfLead<'_> {
    /// The dealership's name: the destination's, else the rooftop's.
    pub fn dealership(&self) -> &str {
        self.dest
            .dealership_name
            .as_deref()
            .map(str::trim)
            .filter(|n| !n.is_empty())
            .unwrap_or(&self.lead.rooftop.name)
    }

    /// The ADF document.
    pub fn xml(&self) -> String {
        let lead = self.lead;
        let mut d = Doc {
            out: String::with_capacity(2048),
            depth: 0,
        };
        d.out
            .push_str("<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<?adf version=\"1.0\"?>\n");
        d.open("adf", &[]);
        d.open("prospect", &[("status", "new")]);
        let id = lead.conversation_id.unwrap_or(lead.id).to_string();
        d.leaf("id", &[("sequence", "1"), ("source", PROVIDER)], &id);
        let date = lead.created_at.with_timezone(&self.tz);
        d.leaf(
            "requestdate",
            &[],
            &date.format("%Y-%m-%dT%H:%M:%S%:z").to_string(),
        );

        // A booked test drive says so where the DTD allows (`interest`).
        let test_drive = crate::adf_appointments::test_drive(lead);
        d.open(
            "vehicle",
            if test_drive {
                &[("interest", "test-drive")]
            } else {
                &[]
            },
        );
        let v = lead.vehicle.clone().unwrap_or_default();
        d.leaf(
            "year",
            &[],
            &v.year.map(|y| y.to_string()).unwrap_or_default(),
        );
        d.leaf("make", &[], v.make.as_deref().unwrap_or(""));
        d.leaf("model", &[], v.model.as_deref().unwrap_or(""));
        d.leaf_opt("vin", &[], v.vin.as_deref());
        d.leaf_opt("stock", &[], v.stock_number.as_deref());
        d.leaf_opt("trim", &[], v.trim.as_deref());
        if let Some(price) = v.price {
            d.leaf("price", &[("type", "asking")], &price.to_string());
        }
        if let Some(p) = &lead.payment {
            finance(&mut d, p);
        }
        if let Some(url) = v.url.as_deref() {
            d.leaf("comments", &[], &format!("Vehicle page: {url}"));
        }
        d.close("vehicle");
        if let Some(t) = &lead.trade_in {
            trade_in_vehicle(&mut d, t);
        }

        d.open("customer", &[]);
        d.open("contact", &[]);
        let c = &lead.contact;
        let (first, last) = (c.first_name.trim(), c.last_name.trim());
        if first.is_empty() && last.is_empty() {
            d.leaf("name", &[("part", "full")], "");
        } else {
            d.leaf_opt("name", &[("part", "first")], Some(first));
            d.leaf_opt("name", &[("part", "last")], Some(last));
        }
        let email = c.email.as_deref().map(str::trim).filter(|e| !e.is_empty());
        let phone = c.phone.as_deref().map(str::trim).filter(|p| !p.is_empty());
        match (email, phone) {
            (None, None) => d.leaf("email", &[], ""),
            _ => {
                d.leaf_opt("email", &[], email);
                // Lead phones are mobiles (the Lead Gate asks for one), in E.164.
                d.leaf_opt("phone", &[("type", "cellphone")], phone);
            }
        }
        d.close("contact");
        // The next booked appointment as the customer's timeframe (issue 20).
        if let Some(t) = crate::adf_appointments::timeframe(lead) {
            d.open("timeframe", &[]);
            d.leaf("description", &[], &t.description);
            d.leaf("earliestdate", &[], &t.earliest);
            d.leaf("latestdate", &[], &t.latest);
            d.close("timeframe");
        }
        d.leaf("comments", &[], &self.comments());
        d.close("customer");

        d.open("vendor", &[]);
        let dealership = self.dealership();
        d.leaf("vendorname", &[], dealership);
        d.open("contact", &[]);
        d.leaf(
            "name",
            &[("part", "full"), ("type", "business")],
            dealership,
        );
        let vendor_email = self.dest.vendor_email.as_deref().unwrap_or(&self.dest.to);
        d.leaf("email", &[], vendor_email);
        d.close("contact");
        d.close("vendor");

        d.open("provider", &[]);
        d.leaf("name", &[("part", "full")], PROVIDER);
        d.leaf("service", &[], SERVICE);
        d.close("provider");
        d.close("prospect");
        d.close("adf");
        d.out
    }

    /// The customer comments: what kind of lead, the department, the language, the message,
    /// the transcript link and the form's answers, one per line.
    fn comments(&self) -> String {
        let lead = self.lead;
        let mut lines = Vec::new();
        if self.test {
            lines.push(
                "TEST LEAD sent from Showroom to check this destination; please ignore."
                    .to_string(),
            );
        }
        let origin = match lead.origin {
            LeadOrigin::MissedChat => "Missed chat",
            LeadOrigin::MessageLeft => "Message left",
            LeadOrigin::Offline => "Chat after hours",
            LeadOrigin::Agent => "Lead from a chat",
        };
        let mut first = match &lead.department {
            Some(dep) => format!("{origin}, {}.", dep.label),
            None => format!("{origin}."),
        };
        let language = match lead.contact.language {
            Language::En => "English",
            Language::Es => "Spanish",
        };
        let _ = write!(first, " Preferred language: {language}.");
        lines.push(first);
        if let Some(m) = lead
            .message
            .as_deref()
            .map(str::trim)
            .filter(|m| !m.is_empty())
        {
            lines.push(format!("Message: {m}"));
        }
        if let Some(url) = lead.transcript_url.as_deref() {
            lines.push(format!("Transcript: {url}"));
        }
        // Files sent in the chat: links the dealer's staff open with their console login.
        for f in &lead.files {
            lines.push(format!("File: {} ({}): {}", f.name, f.content_type, f.url));
        }
        lines.extend(crate::adf_appointments::comment_lines(lead));
        for a in &lead.form {
            if let Some(value) = answer_text(&a.value, a.agreement_text.as_deref()) {
                lines.push(format!("{}: {value}", a.label));
            }
        }
        lines.join("\n")
    }
}

/// An amount of cents in whole units with two decimals (`533.36`).
fn money(cents: i64) -> String {
    format!("{}.{:02}", cents / 100, cents % 100)
}

/// The vehicle's `<finance>`: the last payment estimate the shopper saw (DTD: `method`,
/// `amount+`, `balance?`), amounts in whole units with cents (`533.36`): the monthly payment
/// and the down payment, exactly as estimated; a lease's residual as its `balance`.
fn finance(d: &mut Doc, p: &showroom_proto::payment::PaymentEstimate) {
    let units = money;
    let cur = p.currency.as_str();
    d.open("finance", &[]);
    d.leaf("method", &[], p.kind.as_str());
    d.leaf(
        "amount",
        &[("type", "monthly"), ("limit", "exact"), ("currency", cur)],
        &units(p.monthly_cents),
    );
    d.leaf(
        "amount",
        &[
            ("type", "downpayment"),
            ("limit", "exact"),
            ("currency", cur),
        ],
        &units(p.down_cents),
    );
    if let Some(r) = p.residual_cents {
        d.leaf(
            "balance",
            &[("type", "residual"), ("currency", cur)],
            &units(r),
        );
    }
    d.close("finance");
}

/// The shopper's trade-in as a second vehicle (`interest="trade-in" status="used"`), its
/// children in the DTD's order: year, make, model, vin, odometer (with its units), then the
/// condition, payoff and comments in `comments`.
fn trade_in_vehicle(d: &mut Doc, t: &TradeIn) {
    d.open("vehicle", &[("interest", "trade-in"), ("status", "used")]);
    d.leaf(
        "year",
        &[],
        &t.year.map(|y| y.to_string()).unwrap_or_default(),
    );
    d.leaf("make", &[], t.make.as_deref().unwrap_or(""));
    d.leaf("model", &[], t.model.as_deref().unwrap_or(""));
    d.leaf_opt("vin", &[], t.vin.as_deref());
    if let Some(m) = t.mileage {
        d.leaf(
            "odometer",
            &[("units", t.mileage_unit.as_str())],
            &m.to_string(),
        );
    }
    let mut notes = Vec::new();
    if let Some(c) = t.condition {
        notes.push(format!("Condition: {}.", c.as_str()));
    }
    if let Some(p) = t.payoff_cents {
        notes.push(format!("Payoff: {}.", money(p)));
    }
    if let Some(c) = t.comments.as_deref() {
        notes.push(c.to_string());
    }
    d.leaf_opt("comments", &[], Some(&notes.join(" ")));
    d.close("vehicle");
}

/// A form answer as one line of text: strings, lists, an agreement, file names.
fn answer_text(value: &Value, agreement: Option<&str>) -> Option<String> {
    match value {
        Value::String(s) if !s.trim().is_empty() => Some(s.trim().to_string()),
        Value::Number(n) => Some(n.to_string()),
        Value::Bool(true) => Some(agreement.map_or("yes".into(), |t| format!("agreed: {t}"))),
        Value::Array(items) => {
            let parts: Vec<String> = items
                .iter()
                .filter_map(|i| match i {
                    Value::String(s) => Some(s.clone()),
                    Value::Object(o) => o.get("filename").and_then(Value::as_str).map(String::from),
                    _ => None,
                })
                .collect();
            (!parts.is_empty()).then(|| parts.join(", "))
        }
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn escapes_markup_and_drops_what_xml_cannot_carry() {
        assert_eq!(
            text("<b>O'Hara & Sons</b>"),
            "&lt;b&gt;O&apos;Hara &amp; Sons&lt;/b&gt;"
        );
        assert_eq!(text("a\u{0}b\u{1b}c\u{FFFE}\"d\""), "abc&quot;d&quot;");
        assert_eq!(text("línea\nñ — ok"), "línea\nñ — ok");
        assert!(matches!(text("plain"), Cow::Borrowed(_)));
    }
}
