//! Who is acting. Every domain operation takes an [`Actor`], decides what it
//! may do from it (before any change) and records it in the audit log in
//! the same transaction as the change. The HTTP API, the web UI, the
//! federation inbox and the CLI only say who is calling.

use serde::Serialize;
use vivier_protocol::NodeId;

use crate::auth::{Role, User};
use crate::error::{Error, Result};

/// The caller of a domain operation.
#[derive(Debug, Clone)]
pub enum Actor {
    /// A signed-in user (API token, web session, CLI acting as a user).
    User(User),
    /// Another member node, after its request and message signatures
    /// verified.
    Peer(NodeId),
    /// The node itself: a sweep, a cascade, an import run by the operator.
    System(&'static str),
    /// A person signed in to their candidate space: their own record only
    /// (`crate::space`). Never staff, never an employer.
    Candidate(crate::space::CandidateUser),
}

impl Actor {
    /// The user, if a user acts.
    pub fn user(&self) -> Option<&User> {
        match self {
            Actor::User(u) => Some(u),
            _ => None,
        }
    }

    /// The role of the acting user.
    pub fn role(&self) -> Option<Role> {
        self.user().map(|u| u.role)
    }

    /// The acting user if they are staff (admin or counsellor): the only
    /// people who may see candidates. Anyone else gets `Forbidden`.
    pub fn staff(&self) -> Result<&User> {
        match self {
            Actor::User(u) if matches!(u.role, Role::Admin | Role::Counsellor) => Ok(u),
            _ => Err(Error::Forbidden),
        }
    }

    /// Who may change a candidate record: this node's staff, or the person
    /// on their own record (any other record is `NotFound` to them).
    pub fn on_candidate(&self, candidate_id: &str) -> Result<()> {
        match self {
            Actor::User(_) => self.staff().map(|_| ()),
            Actor::Candidate(_) => self.own_record(candidate_id).map(|_| ()),
            Actor::Peer(_) | Actor::System(_) => Err(Error::Forbidden),
        }
    }

    /// The acting user if they have one of `roles`.
    pub fn user_with(&self, roles: &[Role]) -> Result<&User> {
        match self {
            Actor::User(u) if roles.contains(&u.role) => Ok(u),
            _ => Err(Error::Forbidden),
        }
    }

    /// The signed-in person of a candidate space; anyone else gets
    /// `Forbidden`.
    pub fn candidate(&self) -> Result<&crate::space::CandidateUser> {
        match self {
            Actor::Candidate(c) => Ok(c),
            _ => Err(Error::Forbidden),
        }
    }

    /// The signed-in person if they act on record `candidate_id`, their
    /// own; anyone else (staff included) gets `NotFound`, another person's
    /// record being none of their business.
    pub fn own_record(&self, candidate_id: &str) -> Result<&crate::space::CandidateUser> {
        match self {
            Actor::Candidate(c) if c.candidate_id == candidate_id => Ok(c),
            _ => Err(Error::NotFound("candidate")),
        }
    }

    /// What the audit log records as the actor: (id, role).
    pub fn audit_fields(&self) -> (Option<String>, Option<String>) {
        match self {
            Actor::User(u) => (Some(u.id.clone()), Some(u.role.as_str().to_string())),
            Actor::Peer(n) => (Some(n.to_string()), Some("peer".into())),
            Actor::System(job) => (Some((*job).to_string()), Some("system".into())),
            Actor::Candidate(c) => (Some(c.account_id.clone()), Some("candidate".into())),
        }
    }
}

/// A serialisable description (for logs and API answers).
#[derive(Debug, Clone, Serialize)]
pub struct ActorRef {
    /// `user`, `peer` or `system`.
    pub kind: &'static str,
    /// User id, node id or job name.
    pub id: String,
}

impl From<&Actor> for ActorRef {
    fn from(a: &Actor) -> ActorRef {
        match a {
            Actor::User(u) => ActorRef {
                kind: "user",
                id: u.id.clone(),
            },
            Actor::Peer(n) => ActorRef {
                kind: "peer",
                id: n.to_string(),
            },
            Actor::System(j) => ActorRef {
                kind: "system",
                id: (*j).to_string(),
            },
            Actor::Candidate(c) => ActorRef {
                kind: "candidate",
                id: c.account_id.clone(),
            },
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn user(role: Role) -> User {
        User {
            id: "u1".into(),
            email: "a@b.fr".into(),
            display_name: "A".into(),
            role,
            employer_name: None,
            employer_siret: None,
            disabled: false,
        }
    }

    #[test]
    fn staff_is_admin_or_counsellor_only() {
        assert!(Actor::User(user(Role::Admin)).staff().is_ok());
        assert!(Actor::User(user(Role::Counsellor)).staff().is_ok());
        assert!(matches!(
            Actor::User(user(Role::Employer)).staff(),
            Err(Error::Forbidden)
        ));
        assert!(matches!(
            Actor::System("sweep").staff(),
            Err(Error::Forbidden)
        ));
        let person = Actor::Candidate(crate::space::CandidateUser {
            account_id: "a1".into(),
            candidate_id: "c1".into(),
            email: "p@exemple.fr".into(),
        });
        assert!(matches!(person.staff(), Err(Error::Forbidden)));
        assert!(person.user_with(&[Role::Employer]).is_err());
        assert!(person.own_record("c1").is_ok());
        assert!(matches!(
            person.own_record("c2"),
            Err(Error::NotFound("candidate"))
        ));
        assert_eq!(
            person.audit_fields(),
            (Some("a1".into()), Some("candidate".into()))
        );
        assert_eq!(
            Actor::System("retention").audit_fields(),
            (Some("retention".into()), Some("system".into()))
        );
    }
}
