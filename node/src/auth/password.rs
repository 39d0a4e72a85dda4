//! The password policy, in one place: every way of setting a password (API
//! user creation, `vivier-node user add` / `user password`, the web form to
//! change one's password) goes through [`PasswordPolicy::check`].
//!
//! Strength is zxcvbn's estimate (score 0–4, configurable minimum, 3 by
//! default). Words the attacker knows count against it: the account's
//! e-mail (whole, local part, domain words), its display and employer
//! names, "vivier", and the node's id and name. Passwords are never trimmed
//! or normalised: what is typed is what is hashed. A maximum length (bytes)
//! bounds the hashing work.

use zxcvbn::feedback::{Suggestion, Warning};

use crate::auth::settings::PasswordConfig;
use crate::config::Config;
use crate::error::{Error, FieldError};

/// Why a password is refused.
#[derive(Debug, Clone, PartialEq)]
pub enum PasswordProblem {
    /// Shorter than the minimum (characters).
    TooShort {
        /// The minimum.
        min_chars: usize,
    },
    /// Longer than the maximum (bytes).
    TooLong {
        /// The maximum.
        max_bytes: usize,
    },
    /// Too easy to guess.
    TooWeak {
        /// zxcvbn's score.
        score: u8,
        /// The minimum score.
        min_score: u8,
        /// What zxcvbn found wrong, if anything in particular.
        warning: Option<Warning>,
        /// Its suggestions.
        suggestions: Vec<Suggestion>,
        /// The password is (or contains little more than) the e-mail, a
        /// name or the node's name.
        personal: bool,
    },
}

impl PasswordProblem {
    /// Stable machine code (the field error's `code`).
    pub fn code(&self) -> &'static str {
        match self {
            PasswordProblem::TooShort { .. } => "password_too_short",
            PasswordProblem::TooLong { .. } => "password_too_long",
            PasswordProblem::TooWeak { .. } => "password_too_weak",
        }
    }

    /// The explanation in English (API field message, CLI).
    pub fn english(&self) -> String {
        match self {
            PasswordProblem::TooShort { min_chars } => {
                format!("must be at least {min_chars} characters")
            }
            PasswordProblem::TooLong { max_bytes } => format!("must be at most {max_bytes} bytes"),
            PasswordProblem::TooWeak {
                score,
                min_score,
                warning,
                suggestions,
                personal,
            } => {
                let mut s =
                    format!("too easy to guess (strength {score}/4, at least {min_score} needed)");
                if *personal {
                    s.push_str(": it is built from the e-mail, a name or the node's name");
                } else if let Some(w) = warning {
                    s.push_str(&format!(": {}", w.to_string().trim_end_matches('.')));
                }
                s.push_str(". ");
                s.push_str(&hint_en(suggestions));
                s
            }
        }
    }

    /// The explanation in French (web UI).
    pub fn french(&self) -> String {
        match self {
            PasswordProblem::TooShort { min_chars } => {
                format!("Le mot de passe doit comporter au moins {min_chars} caractères.")
            }
            PasswordProblem::TooLong { max_bytes } => format!(
                "Le mot de passe est trop long ({max_bytes} octets au plus, soit environ \
                 {max_bytes} caractères sans accents)."
            ),
            PasswordProblem::TooWeak {
                warning,
                suggestions,
                personal,
                ..
            } => {
                let mut s = String::from("Mot de passe trop facile à deviner");
                if *personal {
                    s.push_str(" : il reprend l'adresse e-mail, un nom ou le nom du nœud Vivier.");
                } else if let Some(w) = warning {
                    s.push_str(" : ");
                    s.push_str(warning_fr(*w));
                } else {
                    s.push('.');
                }
                s.push(' ');
                s.push_str(&hint_fr(suggestions));
                s
            }
        }
    }

    /// As a validation error on `field`.
    pub fn field_error(&self, field: &str) -> FieldError {
        FieldError::coded(field, self.code(), self.english())
    }

    /// As a node error on `field`.
    pub fn into_error(self, field: &str) -> Error {
        Error::Validation(vec![self.field_error(field)])
    }
}

fn warning_fr(w: Warning) -> &'static str {
    match w {
        Warning::StraightRowsOfKeysAreEasyToGuess => {
            "une rangée de touches du clavier se devine facilement."
        }
        Warning::ShortKeyboardPatternsAreEasyToGuess => {
            "un court motif de touches du clavier se devine facilement."
        }
        Warning::RepeatsLikeAaaAreEasyToGuess => {
            "une répétition comme « aaa » se devine facilement."
        }
        Warning::RepeatsLikeAbcAbcAreOnlySlightlyHarderToGuess => {
            "une répétition comme « abcabcabc » n'est guère plus sûre que « abc »."
        }
        Warning::ThisIsATop10Password => "c'est l'un des 10 mots de passe les plus courants.",
        Warning::ThisIsATop100Password => "c'est l'un des 100 mots de passe les plus courants.",
        Warning::ThisIsACommonPassword => "c'est un mot de passe très courant.",
        Warning::ThisIsSimilarToACommonlyUsedPassword => {
            "il ressemble à un mot de passe très courant."
        }
        Warning::SequencesLikeAbcAreEasyToGuess => {
            "une suite comme « abc » ou « 6543 » se devine facilement."
        }
        Warning::RecentYearsAreEasyToGuess => "une année récente se devine facilement.",
        Warning::AWordByItselfIsEasyToGuess => "un mot seul se devine facilement.",
        Warning::DatesAreOftenEasyToGuess => "une date se devine souvent facilement.",
        Warning::NamesAndSurnamesByThemselvesAreEasyToGuess => {
            "un nom ou un prénom seul se devine facilement."
        }
        Warning::CommonNamesAndSurnamesAreEasyToGuess => {
            "un nom ou un prénom courant se devine facilement."
        }
    }
}

/// What, beyond length, the suggestion insists on.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Avoid {
    Repeats,
    Sequences,
    Dates,
    Nothing,
}

fn avoid(suggestions: &[Suggestion]) -> Avoid {
    if suggestions.contains(&Suggestion::AvoidRepeatedWordsAndCharacters) {
        Avoid::Repeats
    } else if suggestions.contains(&Suggestion::AvoidSequences) {
        Avoid::Sequences
    } else if suggestions.iter().any(|x| {
        matches!(
            x,
            Suggestion::AvoidRecentYears
                | Suggestion::AvoidYearsThatAreAssociatedWithYou
                | Suggestion::AvoidDatesAndYearsThatAreAssociatedWithYou
        )
    }) {
        Avoid::Dates
    } else {
        Avoid::Nothing
    }
}

/// The one suggestion we give, in English.
fn hint_en(suggestions: &[Suggestion]) -> String {
    let extra = match avoid(suggestions) {
        Avoid::Repeats => ", without repeated words or characters",
        Avoid::Sequences => ", without sequences such as abc or 1234",
        Avoid::Dates => ", without dates or years",
        Avoid::Nothing => "",
    };
    format!("Use a longer passphrase of several uncommon words{extra} (e.g. four unrelated words).")
}

/// The one suggestion we give, in French.
fn hint_fr(suggestions: &[Suggestion]) -> String {
    let extra = match avoid(suggestions) {
        Avoid::Repeats => ", sans mots ni caractères répétés",
        Avoid::Sequences => ", sans suites comme « abc » ou « 1234 »",
        Avoid::Dates => ", sans dates ni années",
        Avoid::Nothing => "",
    };
    format!(
        "Choisissez une phrase de passe plus longue, de plusieurs mots peu courants{extra} \
         (par exemple quatre mots sans rapport entre eux)."
    )
}

/// Who the password is for: words that must not make it up.
#[derive(Debug, Clone, Default)]
pub struct PasswordOwner<'a> {
    /// Login e-mail.
    pub email: &'a str,
    /// Display name.
    pub display_name: &'a str,
    /// Employer name, for employers.
    pub employer_name: Option<&'a str>,
}

/// The node's password policy.
#[derive(Debug, Clone)]
pub struct PasswordPolicy {
    config: PasswordConfig,
    /// Node-wide context words ("vivier", node id and name).
    node_words: Vec<String>,
}

impl PasswordPolicy {
    /// The policy of a node.
    pub fn from_config(config: &Config) -> PasswordPolicy {
        let mut node_words = vec![
            "vivier".to_string(),
            config.node_id.clone(),
            config.display_name.clone(),
        ];
        node_words.extend(words(&config.node_id));
        node_words.extend(words(&config.display_name));
        PasswordPolicy {
            config: config.auth.passwords.clone(),
            node_words,
        }
    }

    /// Check a password for `owner`. Never trims: spaces count as typed.
    /// CPU-bound (a few ms): call from `spawn_blocking` in request paths.
    pub fn check(&self, password: &str, owner: &PasswordOwner<'_>) -> Result<(), PasswordProblem> {
        if password.len() > self.config.max_bytes {
            return Err(PasswordProblem::TooLong {
                max_bytes: self.config.max_bytes,
            });
        }
        if password.chars().count() < self.config.min_chars {
            return Err(PasswordProblem::TooShort {
                min_chars: self.config.min_chars,
            });
        }
        let mut inputs: Vec<String> = self.node_words.clone();
        let email = owner.email.trim().to_lowercase();
        inputs.push(email.clone());
        if let Some((local, domain)) = email.split_once('@') {
            inputs.push(local.to_string());
            inputs.push(domain.to_string());
            inputs.extend(words(local));
            inputs.extend(words(domain));
        }
        inputs.push(owner.display_name.to_string());
        inputs.extend(words(owner.display_name));
        if let Some(e) = owner.employer_name {
            inputs.push(e.to_string());
            inputs.extend(words(e));
        }
        inputs.retain(|w| !w.trim().is_empty());
        let personal = is_personal(password, &inputs);
        let refs: Vec<&str> = inputs.iter().map(String::as_str).collect();
        let entropy = zxcvbn::zxcvbn(password, &refs);
        let score = u8::from(entropy.score());
        if personal || score < self.config.min_score {
            let (warning, suggestions) = entropy
                .feedback()
                .map(|f| (f.warning(), f.suggestions().to_vec()))
                .unwrap_or_default();
            return Err(PasswordProblem::TooWeak {
                score: if personal { 0 } else { score },
                min_score: self.config.min_score,
                warning,
                suggestions,
                personal,
            });
        }
        Ok(())
    }
}

/// Fewest letters or digits a password must keep once the context words
/// are taken out of it.
const MIN_OWN_CHARS: usize = 6;

/// Whether the password is (little more than) context words: what is left
/// after taking them out has fewer than [`MIN_OWN_CHARS`] letters or digits
/// ("ClaireMartin2024" for Claire Martin).
fn is_personal(password: &str, inputs: &[String]) -> bool {
    let mut rest: String = password
        .to_lowercase()
        .chars()
        .filter(|c| c.is_alphanumeric())
        .collect();
    let mut words: Vec<String> = inputs
        .iter()
        .map(|w| {
            w.to_lowercase()
                .chars()
                .filter(|c| c.is_alphanumeric())
                .collect()
        })
        .filter(|w: &String| w.chars().count() >= 3)
        .collect();
    // Longest first, so "mission-emploi" goes before "mission".
    words.sort_by_key(|w| std::cmp::Reverse(w.len()));
    for w in &words {
        rest = rest.replace(w.as_str(), "");
    }
    words
        .iter()
        .any(|w| password.to_lowercase().contains(w.as_str()))
        && rest.chars().count() < MIN_OWN_CHARS
}

/// The words of a name or address (split on anything not a letter or
/// digit), at least three characters long.
fn words(s: &str) -> Vec<String> {
    s.split(|c: char| !c.is_alphanumeric())
        .filter(|w| w.chars().count() >= 3)
        .map(str::to_lowercase)
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn policy() -> PasswordPolicy {
        PasswordPolicy::from_config(&Config {
            node_id: "ml-tours".into(),
            display_name: "Mission locale de Tours".into(),
            ..Config::default()
        })
    }

    fn owner() -> PasswordOwner<'static> {
        PasswordOwner {
            email: "claire.martin@ml-tours.fr",
            display_name: "Claire Martin",
            employer_name: None,
        }
    }

    #[test]
    fn weak_passwords_are_refused_with_a_code() {
        let p = policy();
        for weak in [
            "aaaaaaaaaa",
            "0123456789",
            "          ",
            "azertyuiop",
            "motdepasse",
            "password123",
            "claire.martin@ml-tours.fr",
            "ClaireMartin2024",
            "vivier-ml-tours",
            "Mission locale de Tours",
        ] {
            let err = p.check(weak, &owner()).expect_err(weak);
            assert!(
                matches!(err, PasswordProblem::TooWeak { .. }),
                "{weak:?}: {err:?}"
            );
            assert_eq!(err.code(), "password_too_weak");
            assert!(err.french().starts_with("Mot de passe trop facile"));
            assert!(err.english().starts_with("too easy to guess"));
        }
    }

    #[test]
    fn length_limits() {
        let p = policy();
        assert_eq!(
            p.check("Zq9!x", &owner()),
            Err(PasswordProblem::TooShort { min_chars: 10 })
        );
        let long = "k".repeat(1025);
        assert_eq!(
            p.check(&long, &owner()),
            Err(PasswordProblem::TooLong { max_bytes: 1024 })
        );
        assert_eq!(
            PasswordProblem::TooLong { max_bytes: 1024 }.code(),
            "password_too_long"
        );
    }

    #[test]
    fn strong_passwords_pass_untrimmed() {
        let p = policy();
        for strong in [
            "  cheval agrafe batterie correcte  ",
            "motdepasse-solide",
            "motdepasse-de-banc",
            "Ornithorynque-Lavande-42-Brouette",
        ] {
            p.check(strong, &owner())
                .unwrap_or_else(|e| panic!("{strong:?}: {}", e.english()));
        }
    }

    #[test]
    fn the_email_itself_is_refused_even_when_long() {
        let p = policy();
        let long_owner = PasswordOwner {
            email: "jean-baptiste.delacroix-fontaine@departement41.fr",
            display_name: "Jean-Baptiste Delacroix-Fontaine",
            employer_name: None,
        };
        let err = p
            .check(
                "jean-baptiste.delacroix-fontaine@departement41.fr",
                &long_owner,
            )
            .expect_err("e-mail as password");
        assert!(err.french().contains("adresse e-mail"), "{}", err.french());
    }
}
