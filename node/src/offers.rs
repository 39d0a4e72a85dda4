//! Offers: this node's own offers (posted by employers, or by counsellors on
//! behalf of a local employer, or imported from France Travail's JSON) and
//! the copies of other members' offers received through the federation.
//!
//! - The database row is the truth (`offers.payload` holds the protocol's
//!   [`OfferPayload`] as JSON); the tantivy offer index is derived from it
//!   (a journal entry in each change's transaction, which the index follows;
//!   [`reindex`] to rebuild).
//! - A local change writes its federation message (`offer.published`,
//!   `offer.updated`, `offer.closed`) in the same transaction, then wakes
//!   the delivery workers.
//! - Network offers (origin ≠ this node) are read-only here.
//! - Workplace coordinates always come from the communes referential; a
//!   commune without known centre gives `lat_micro`/`lon_micro` = `None`
//!   ("distance unknown"), never `0,0`.
//!
//! Endpoints (all need a logged-in user):
//!
//! | method | path | who |
//! |---|---|---|
//! | POST | `/api/v1/offers` | employer (for its own company), counsellor, admin |
//! | GET | `/api/v1/offers` | anyone; employers see their own offers only |
//! | GET | `/api/v1/offers/search` | anyone |
//! | GET | `/api/v1/offers/{id}` | anyone |
//! | PUT | `/api/v1/offers/{id}` | the owner, counsellor, admin; local offers only |
//! | DELETE | `/api/v1/offers/{id}` (`?reason=`) | same: closes the offer |
//! | GET | `/api/v1/offers/{id}/jobposting` | anyone: schema.org `JobPosting` JSON-LD |
//!
//! The folder (dependencies point down: http / `crate::ui` / the federation
//! inbox / the CLI's import → service → store → model): [`model`] (types,
//! input normalisation, the status's stored names, `OfferRow` as
//! `sqlx::FromRow`, index documents; no I/O), `store` (every statement on
//! `offers` and `offer_delivery_refusals`), `service` (create / update /
//! close / import / received-from-peer take an [`Actor`]: policy first,
//! then change + audit + journal + broadcast in one transaction; what it
//! needs of the node is its `Env` trait, implemented below for `AppState`),
//! `query` (the index search, read-audited), `index` (documents for the
//! journal follower, the full rebuild), `http` (the API), `france_travail`
//! (the import's parsing) and `validation` (the one content check, local
//! and received offers).

mod france_travail;
mod http;
mod index;
mod jobposting;
pub mod model;
mod query;
mod service;
pub(crate) mod store;
pub mod validation;

use sqlx::{Any, Transaction};

use crate::error::Result;
use crate::server::AppState;

pub use france_travail::{
    import_france_travail_file, parse_france_travail, OfferImportReport, RejectedOffer,
};
pub use http::routes;
pub(crate) use http::Doc;
pub use index::{index_docs, index_rows, reindex, reindex_at};
pub use jobposting::job_posting;
pub(crate) use model::validate_input;
pub use model::{
    docs_of_rows, licence_satisfies, offer_doc, prepare_remote_offer, workplace_points,
    DeliveryRefusal, ListQuery, OfferDetail, OfferHit, OfferInput, OfferList, OfferRow,
    OfferSearchResults, OfferStatus, RemoteOffer, SearchParams, StoredOffer, WorkplaceInput,
    LICENCE_CATEGORIES,
};
pub use query::{search_offers, search_offers_as};
pub use service::{
    close_offer, close_remote_offer, create_offer, delivery_refusals, editable, get_offer,
    get_offers, list_offers, store_remote_offer, store_remote_offers, update_offer,
};
pub(crate) use service::{close_offers_of_departed, hires_changed, store_remote_offer_direct};
pub use service::{Broadcast, Env};

/// The node as the offers' services see it.
impl Env for AppState {
    fn db(&self) -> &crate::db::Db {
        &self.db
    }

    fn node_id(&self) -> &vivier_protocol::NodeId {
        &self.identity.node_id
    }

    fn refs(&self) -> &'static crate::referentials::Referentials {
        self.refs
    }

    fn ensure_member(&self) -> Result<()> {
        crate::federation::ensure_member(self)
    }

    async fn broadcast<'a>(
        &'a self,
        tx: &'a mut Transaction<'_, Any>,
        msg: Broadcast<'a>,
    ) -> Result<String> {
        match msg {
            Broadcast::Published(p) | Broadcast::Updated(p) => {
                crate::federation::enqueue_broadcast(self, tx, msg.kind(), p).await
            }
            Broadcast::Closed(c) => {
                crate::federation::enqueue_broadcast(self, tx, msg.kind(), c).await
            }
        }
    }

    fn refuse_pending_referrals<'a>(
        &'a self,
        tx: &'a mut Transaction<'_, Any>,
        offer_id: &'a str,
        comment: &'a str,
    ) -> impl std::future::Future<Output = Result<u64>> + Send + 'a {
        crate::referrals::refuse_pending_on_closed_offer(self, tx, offer_id, comment)
    }

    fn wake(&self) {
        crate::federation::wake(self);
        crate::journal::wake(self);
    }
}
