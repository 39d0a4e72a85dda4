//! Referrals (co-optation): a counsellor vouches for a consented candidate
//! for an offer; the node owning the offer shows the referral to the
//! employer, whose answers flow back.
//!
//! One `referrals` row per referral and node, with a `direction`:
//! - `outbound`: this node referred its candidate to another node's offer
//!   (`candidate_id` set, no stored profile: the candidate record is here);
//! - `inbound`: another node referred a candidate to one of this node's
//!   offers (`profile` holds the minimal profile received, no candidate id);
//! - `local`: this node's candidate for this node's offer (both).
//!
//! The status machine is [`ReferralStatus::can_transition_to`]. The offer's
//! side sets `processing`, `prior_to_hire`, `accepted`, `refused`,
//! `postponed`; the referring side sets `cancelled` (and `obsolete`, when
//! the candidate is hired through another referral). Every change writes a
//! `referral_events` row and, when the other side is another node, sends
//! `referral.status_changed` to it through the outbox, in the same
//! transaction. A hire writes a `placements` row on both nodes.
//!
//! Personal data: the minimal profile ([`crate::candidates::minimal_profile`])
//! is the only candidate data that leaves the home node, only to the
//! offer's origin, and only with a `network` consent. The referral id is
//! the `candidate_ref`, so the internal candidate id never leaves.
//!
//! The folder: [`model`] (types, status rules, the enums' stored names),
//! `store` (all the SQL on `referrals` / `referral_events`), `service`
//! (the operations users ask for, with an [`crate::actor::Actor`]: policy,
//! change, audit, journal and outbox in one transaction), `cascades` (what
//! the node itself does to referrals: delivery outcomes, departures,
//! erasure, closed offers, the no-answer sweep), `inbound` (the federation
//! inbox's messages), `http` (the API), `checks` (received payloads) and
//! `mails`. Dependencies point down: http / inbound / `crate::ui` →
//! service / cascades → store → model.

mod cascades;
mod checks;
mod http;
mod inbound;
mod mails;
pub mod model;
pub(crate) mod service;
pub(crate) mod store;

pub(crate) use cascades::{
    mark_undeliverable, on_offer_member_left, on_this_node_left, purge_profiles_from,
    refuse_pending_on_closed_offer,
};
pub use cascades::{no_answer_sweep, on_candidate_erased, spawn_sweeps};
pub use http::routes;
pub(crate) use http::Doc;
pub use inbound::{receive_status_changed, receive_submitted, receive_withdrawn};
pub use model::{
    parse_contract, parse_reason, parse_status, placement_outcome, reason_str, set_by_offer_side,
    set_by_referring_side, undoes_employer_decision, Change, DeliveryError, Direction, ListQuery,
    NewReferral, ReferralEvent, ReferralList, ReferralView, StatusInput, StoredReferral,
    TrainingBefore, CANCEL_REASON_REQUIRED, MAX_COMMENT_CHARS, MAX_ENDORSEMENT_CHARS, SYSTEM_ACTOR,
};
pub use service::{change_status, create, events, get_referral, list, read};
