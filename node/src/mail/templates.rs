//! The messages a node sends, in French: one typed [`Mail`] per kind, and
//! three minijinja templates per kind in `node/templates/mail/` (embedded):
//! `<kind>.subject.txt`, `<kind>.txt` (plain text) and `<kind>.html` (a
//! simple HTML alternative, auto-escaped, inside `layout.html`).
//!
//! Messages carry no personal data about candidates (no names, no CV):
//! they say that something happened and link to the node, where access is
//! checked and audited.

use minijinja::{context, Environment};
use serde::Serialize;
use std::sync::OnceLock;

use crate::error::{Error, Result};

/// One message to send, with what its template needs.
#[derive(Clone, Debug, Serialize, PartialEq, Eq)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum Mail {
    /// A new account: a link to choose its password.
    AccountCreated {
        /// The account holder's name.
        display_name: String,
        /// The login e-mail.
        email: String,
        /// The role, in French (« conseiller », « employeur »…).
        role: String,
        /// Link to set the password.
        link: String,
        /// How long the link is valid (hours).
        valid_hours: i64,
    },
    /// A password reset link.
    PasswordReset {
        /// The account holder's name.
        display_name: String,
        /// The signed, single-use link.
        link: String,
        /// How long it is valid (minutes).
        valid_minutes: i64,
    },
    /// To an employer (or a training's or immersion's owner): a candidate
    /// was proposed for one of their offers (trainings, immersions).
    ReferralNew {
        /// The employer contact's name.
        display_name: String,
        /// What was proposed for, in French: « offre », « formation »,
        /// « immersion ».
        what: String,
        /// The offer's (training's, immersion's) title.
        offer_title: String,
        /// Who proposed (mission or node name).
        referred_by: String,
        /// Link to the referral.
        link: String,
    },
    /// To a counsellor: the employer answered a referral.
    ReferralAnswered {
        /// The counsellor's name.
        display_name: String,
        /// The offer's title.
        offer_title: String,
        /// The answer, in French (« Embauché », « Refusé »…).
        status: String,
        /// The employer's comment with the answer (an interview's day…).
        #[serde(default)]
        comment: Option<String>,
        /// Link to the referral.
        link: String,
    },
    /// To a user: something the node did that concerns them (a referral the
    /// network refused, an offer a peer would not take, a member that left).
    Notice {
        /// The user's name.
        display_name: String,
        /// One line, in French (the subject).
        title: String,
        /// What happened, in French (no candidate named).
        message: String,
        /// Link to the object.
        link: String,
    },
    /// To a person in the candidathèque: their mission invites them to
    /// their candidate space (no name, no record data).
    CandidateInvitation {
        /// The single-use invitation link.
        link: String,
        /// How long it is valid (hours).
        valid_hours: i64,
    },
    /// To a person with a candidate space: a passwordless login link.
    CandidateLoginLink {
        /// The single-use link.
        link: String,
        /// How long it is valid (minutes).
        valid_minutes: i64,
    },
    /// To a counsellor: records about to be anonymised for inactivity.
    RetentionReminder {
        /// The counsellor's name.
        display_name: String,
        /// How many records.
        records: i64,
        /// When they will be anonymised, in French (« 12 mars 2027 »).
        due_on: String,
        /// Link to the list.
        link: String,
    },
}

impl Mail {
    /// The template name (`password_reset`, …), also stored in the outbox.
    pub fn kind(&self) -> &'static str {
        match self {
            Mail::AccountCreated { .. } => "account_created",
            Mail::PasswordReset { .. } => "password_reset",
            Mail::ReferralNew { .. } => "referral_new",
            Mail::ReferralAnswered { .. } => "referral_answered",
            Mail::Notice { .. } => "notice",
            Mail::RetentionReminder { .. } => "retention_reminder",
            Mail::CandidateInvitation { .. } => "candidate_invitation",
            Mail::CandidateLoginLink { .. } => "candidate_login_link",
        }
    }
}

/// A rendered message.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Rendered {
    /// One line.
    pub subject: String,
    /// text/plain.
    pub text: String,
    /// text/html.
    pub html: String,
}

macro_rules! mail_templates {
    ($($kind:literal),* $(,)?) => {
        &[
            ("layout.html", include_str!("../../templates/mail/layout.html")),
            $(
                (concat!($kind, ".subject.txt"), include_str!(concat!("../../templates/mail/", $kind, ".subject.txt"))),
                (concat!($kind, ".txt"), include_str!(concat!("../../templates/mail/", $kind, ".txt"))),
                (concat!($kind, ".html"), include_str!(concat!("../../templates/mail/", $kind, ".html"))),
            )*
        ]
    };
}

const TEMPLATES: &[(&str, &str)] = mail_templates!(
    "account_created",
    "password_reset",
    "referral_new",
    "referral_answered",
    "retention_reminder",
    "notice",
    "candidate_invitation",
    "candidate_login_link",
);

static ENV: OnceLock<Environment<'static>> = OnceLock::new();

fn environment() -> &'static Environment<'static> {
    ENV.get_or_init(|| {
        let mut env = Environment::new();
        // HTML parts are escaped; text parts and subjects are not HTML.
        env.set_auto_escape_callback(|name| {
            if name.ends_with(".html") {
                minijinja::AutoEscape::Html
            } else {
                minijinja::AutoEscape::None
            }
        });
        env.set_keep_trailing_newline(true);
        for (name, source) in TEMPLATES {
            if let Err(e) = env.add_template(name, source) {
                tracing::error!(template = name, error = %e, "mail template does not compile");
            }
        }
        env
    })
}

fn render_one(name: &str, ctx: &minijinja::Value) -> Result<String> {
    environment()
        .get_template(name)
        .and_then(|t| t.render(ctx))
        .map_err(|e| Error::Internal(anyhow::anyhow!("rendering mail template {name}: {e:#}")))
}

/// Render `mail` as sent by the node called `node_name`.
pub fn render(mail: &Mail, node_name: &str) -> Result<Rendered> {
    let kind = mail.kind();
    let ctx = context! { node_name => node_name, ..minijinja::Value::from_serialize(mail) };
    // A subject is one header line: no line breaks, however the data reads.
    let subject = render_one(&format!("{kind}.subject.txt"), &ctx)?
        .split_whitespace()
        .collect::<Vec<_>>()
        .join(" ");
    Ok(Rendered {
        subject,
        text: render_one(&format!("{kind}.txt"), &ctx)?,
        html: render_one(&format!("{kind}.html"), &ctx)?,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn samples() -> Vec<Mail> {
        let link = "https://vivier.cd41.fr/ui/x?jeton=a.1.b".to_string();
        vec![
            Mail::AccountCreated {
                display_name: "Claire Martin".into(),
                email: "claire@mission-emploi.fr".into(),
                role: "conseillère".into(),
                link: link.clone(),
                valid_hours: 72,
            },
            Mail::PasswordReset {
                display_name: "Claire Martin".into(),
                link: link.clone(),
                valid_minutes: 30,
            },
            Mail::ReferralNew {
                display_name: "Paul <script>".into(),
                what: "offre".into(),
                offer_title: "Cariste CACES 3 & magasinier".into(),
                referred_by: "Mission locale de Blois".into(),
                link: link.clone(),
            },
            Mail::ReferralAnswered {
                display_name: "Claire Martin".into(),
                offer_title: "Aide à domicile".into(),
                status: "Embauché".into(),
                comment: Some("Entretien le mardi 3 mars à 10 h".into()),
                link: link.clone(),
            },
            Mail::RetentionReminder {
                display_name: "Claire Martin".into(),
                records: 3,
                due_on: "12 mars 2027".into(),
                link,
            },
        ]
    }

    #[test]
    fn every_kind_renders_a_subject_a_text_and_an_html_part() {
        for mail in samples() {
            let r = render(&mail, "Vivier du Loir-et-Cher").expect("render");
            assert!(!r.subject.is_empty() && !r.subject.contains('\n'), "{r:?}");
            assert!(
                r.text.contains("https://vivier.cd41.fr/ui/x?jeton=a.1.b"),
                "{}: {}",
                mail.kind(),
                r.text
            );
            // minijinja writes `/` as `&#x2f;` in HTML (the same URL once decoded).
            let html = r.html.replace("&#x2f;", "/");
            assert!(
                html.contains("href=\"https://vivier.cd41.fr/ui/x?jeton=a.1.b\""),
                "{}: {html}",
                mail.kind()
            );
            assert!(r.html.contains("<html lang=\"fr\">"), "{}", r.html);
            assert!(r.text.contains("Vivier du Loir-et-Cher"), "{}", r.text);
        }
    }

    #[test]
    fn html_is_escaped_text_is_not_and_subjects_stay_on_one_line() {
        let mail = Mail::ReferralNew {
            display_name: "Paul <script>".into(),
            what: "formation".into(),
            offer_title: "Cariste\r\nBcc: x@evil.example & co".into(),
            referred_by: "Mission".into(),
            link: "https://x.fr/".into(),
        };
        let r = render(&mail, "Nœud").expect("render");
        assert!(r.html.contains("Paul &lt;script&gt;"), "{}", r.html);
        assert!(!r.html.contains("<script>"));
        assert!(r.text.contains("Paul <script>"));
        assert!(
            !r.subject.contains('\r') && !r.subject.contains('\n'),
            "{:?}",
            r.subject
        );
        assert!(
            r.subject.contains("Cariste Bcc: x@evil.example & co"),
            "{:?}",
            r.subject
        );
    }

    #[test]
    fn password_reset_reads_in_french() {
        let r = render(&samples()[1], "Vivier").expect("render");
        assert_eq!(r.subject, "Réinitialisation de votre mot de passe Vivier");
        assert!(r.text.contains("30 minutes"), "{}", r.text);
        assert!(r.text.contains("Bonjour Claire Martin"), "{}", r.text);
    }
}
