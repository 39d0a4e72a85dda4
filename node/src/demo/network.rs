//! What the demo network is made of: three members with French names and
//! real territories, their accounts, the offers of a fictional national
//! employer and of two local ones, and the referrals loaded at first start.
//! Pure data and look-ups in the embedded referentials; no I/O.

use vivier_gen::{Homes, Place};
use vivier_protocol::{MemberKind, Territory};

use crate::auth::Role;
use crate::geo::haversine_km;
use crate::referentials::{Commune, Referentials};

/// One demo account.
#[derive(Debug, Clone, Copy)]
pub struct AccountSpec {
    /// Admin, counsellor or employer.
    pub role: Role,
    /// Login (a reserved `.test` domain).
    pub email: &'static str,
    /// Display name (a fictional person).
    pub name: &'static str,
    /// Company, for employers.
    pub employer: Option<&'static str>,
}

/// One member of the demo network.
#[derive(Debug, Clone, Copy)]
pub struct MemberSpec {
    /// Node id.
    pub node_id: &'static str,
    /// Name shown in the UI and in the membership document.
    pub display_name: &'static str,
    /// Département council, PETR or city mission.
    pub kind: MemberKind,
    /// The département its candidates live in.
    pub departement: &'static str,
    /// INSEE code of the main town, centre of the territory.
    pub centre_insee: &'static str,
    /// Candidates live within this distance of the centre (km).
    pub radius_km: f64,
    /// Admin, counsellor, employer.
    pub accounts: [AccountSpec; 3],
}

/// The three members: a département, a PETR, a city mission. The first one
/// hosts the national employer.
pub const MEMBERS: [MemberSpec; 3] = [
    MemberSpec {
        node_id: "cd41",
        display_name: "Conseil départemental de Loir-et-Cher",
        kind: MemberKind::Departement,
        departement: "41",
        centre_insee: "41018",
        radius_km: 20.0,
        accounts: [
            AccountSpec {
                role: Role::Admin,
                email: "admin@cd41.demo.test",
                name: "Hélène Garnier",
                employer: None,
            },
            AccountSpec {
                role: Role::Counsellor,
                email: "conseiller@cd41.demo.test",
                name: "Julien Marchand",
                employer: None,
            },
            AccountSpec {
                role: Role::Employer,
                email: "recrutement@logivia.demo.test",
                name: "Sophie Lambert",
                employer: Some(NATIONAL_EMPLOYER),
            },
        ],
    },
    MemberSpec {
        node_id: "petr-montlucon",
        display_name: "PETR du Pays de la Vallée de Montluçon et du Cher",
        kind: MemberKind::Petr,
        departement: "03",
        centre_insee: "03185",
        radius_km: 20.0,
        accounts: [
            AccountSpec {
                role: Role::Admin,
                email: "admin@petr-montlucon.demo.test",
                name: "Marc Delorme",
                employer: None,
            },
            AccountSpec {
                role: Role::Counsellor,
                email: "conseillere@petr-montlucon.demo.test",
                name: "Amandine Roux",
                employer: None,
            },
            AccountSpec {
                role: Role::Employer,
                email: "contact@aide-presence.demo.test",
                name: "Karim Benali",
                employer: Some("Aide et Présence Vallée du Cher"),
            },
        ],
    },
    MemberSpec {
        node_id: "ml-tours",
        display_name: "Mission locale de Tours",
        kind: MemberKind::CityMission,
        departement: "37",
        centre_insee: "37261",
        radius_km: 12.0,
        accounts: [
            AccountSpec {
                role: Role::Admin,
                email: "admin@ml-tours.demo.test",
                name: "Isabelle Fontaine",
                employer: None,
            },
            AccountSpec {
                role: Role::Counsellor,
                email: "conseiller@ml-tours.demo.test",
                name: "Thomas Renaud",
                employer: None,
            },
            AccountSpec {
                role: Role::Employer,
                email: "emploi@brasserie-vieux-tours.demo.test",
                name: "Camille Petit",
                employer: Some("Brasserie du Vieux-Tours"),
            },
        ],
    },
];

/// The fictional national employer (an account of the first member).
pub const NATIONAL_EMPLOYER: &str = "Logivia";

/// Operator's network id.
pub const NETWORK_ID: &str = "vivier-demo";

/// An offer loaded at first start, posted by the employer of `owner`.
#[derive(Debug, Clone, Copy)]
pub struct OfferSpec {
    /// Short name used by the referral plan.
    pub key: &'static str,
    /// Index in [`MEMBERS`] of the node whose employer posts it.
    pub owner: usize,
    pub title: &'static str,
    pub description: &'static str,
    pub rome_code: &'static str,
    pub contract_type: &'static str,
    pub duration_months: Option<i64>,
    pub weekly_hours: i64,
    /// Monthly gross salary range, in cents.
    pub salary_cents: (i64, i64),
    /// Workplaces: INSEE code and positions.
    pub workplaces: &'static [(&'static str, i64)],
}

/// The national employer's two offers (a workplace in each territory), and
/// one local offer for each other member.
pub const OFFERS: [OfferSpec; 4] = [
    OfferSpec {
        key: "cariste",
        owner: 0,
        title: "Cariste H/F",
        description: "Logivia, réseau national de plateformes logistiques, recrute des caristes \
            pour ses entrepôts de Blois, Montluçon et Tours. Chargement et déchargement de \
            camions, mise en stock, inventaires. CACES 1, 3 ou 5 apprécié (formation possible). \
            Travail en équipe, horaires en 2x8. Débutants acceptés si motivés.",
        rome_code: "N1101",
        contract_type: "CDI",
        duration_months: None,
        weekly_hours: 35,
        salary_cents: (190_000, 215_000),
        workplaces: &[("41018", 2), ("03185", 2), ("37261", 2)],
    },
    OfferSpec {
        key: "preparateur",
        owner: 0,
        title: "Préparateur / Préparatrice de commandes",
        description: "Logivia recrute des préparateurs et préparatrices de commandes en mission \
            de six mois dans ses entrepôts de Blois, Montluçon et Tours. Préparation en commande \
            vocale, contrôle des colis, emballage. Formation assurée à l'arrivée.",
        rome_code: "N1103",
        contract_type: "MIS",
        duration_months: Some(6),
        weekly_hours: 35,
        salary_cents: (180_200, 195_000),
        workplaces: &[("41018", 3), ("03185", 2), ("37261", 3)],
    },
    OfferSpec {
        key: "aide-domicile",
        owner: 1,
        title: "Aide à domicile H/F",
        description: "Aide et Présence accompagne des personnes âgées à Montluçon et dans les \
            communes voisines : aide aux repas, entretien du logement, courses, compagnie. \
            Permis B apprécié, temps partiel choisi.",
        rome_code: "K1304",
        contract_type: "CDI",
        duration_months: None,
        weekly_hours: 28,
        salary_cents: (150_000, 170_000),
        workplaces: &[("03185", 2)],
    },
    OfferSpec {
        key: "serveur",
        owner: 2,
        title: "Serveur / Serveuse",
        description: "Brasserie du centre historique de Tours cherche un serveur ou une \
            serveuse pour la saison : accueil, service en salle et en terrasse, encaissement. \
            Débutant accepté, sens du contact indispensable.",
        rome_code: "G1803",
        contract_type: "CDD",
        duration_months: Some(6),
        weekly_hours: 35,
        salary_cents: (180_200, 190_000),
        workplaces: &[("37261", 1)],
    },
];

/// Where a referral loaded at first start ends up.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Outcome {
    /// Left as it arrives (`new`).
    New,
    /// The employer is looking at it (`processing`).
    Processing,
    /// Interview planned (`prior_to_hire`).
    PriorToHire,
    /// Hired on a CDI (`accepted`).
    Hired,
    /// Refused: position filled (`refused`).
    Refused,
}

impl Outcome {
    /// The referral status it ends in.
    pub fn status(self) -> &'static str {
        match self {
            Outcome::New => "new",
            Outcome::Processing => "processing",
            Outcome::PriorToHire => "prior_to_hire",
            Outcome::Hired => "accepted",
            Outcome::Refused => "refused",
        }
    }
}

/// A referral loaded at first start: the counsellor of `member` refers the
/// best-ranked candidate not yet referred to `offer`'s workplace in its
/// territory; the offer's employer then answers with `outcome`.
#[derive(Debug, Clone, Copy)]
pub struct ReferralSpec {
    /// Index in [`MEMBERS`] of the referring node.
    pub member: usize,
    /// [`OfferSpec::key`].
    pub offer: &'static str,
    /// Where it ends up.
    pub outcome: Outcome,
    /// The counsellor's recommendation.
    pub endorsement: &'static str,
}

/// The referrals loaded at first start, one of each stage.
pub const REFERRALS: [ReferralSpec; 5] = [
    ReferralSpec {
        member: 1,
        offer: "cariste",
        outcome: Outcome::Hired,
        endorsement: "Suivi depuis huit mois, CACES à jour, très fiable sur ses missions \
            d'intérim. Disponible immédiatement.",
    },
    ReferralSpec {
        member: 1,
        offer: "cariste",
        outcome: Outcome::Processing,
        endorsement: "Motivé et ponctuel, habite à quelques minutes de l'entrepôt. \
            Souhaite un poste stable.",
    },
    ReferralSpec {
        member: 2,
        offer: "cariste",
        outcome: Outcome::New,
        endorsement: "Jeune accompagné par la mission locale, a terminé une formation \
            logistique avec de très bons retours de stage.",
    },
    ReferralSpec {
        member: 2,
        offer: "preparateur",
        outcome: Outcome::Refused,
        endorsement: "Expérience en préparation de commandes en drive, rigoureuse, \
            cherche une mission à temps plein.",
    },
    ReferralSpec {
        member: 0,
        offer: "preparateur",
        outcome: Outcome::PriorToHire,
        endorsement: "Accompagnée par le Département dans le cadre de son parcours \
            d'insertion, prête à reprendre un emploi, mobile en bus.",
    },
];

/// The offer of [`OFFERS`] named `key`.
pub fn offer(key: &str) -> Option<&'static OfferSpec> {
    OFFERS.iter().find(|o| o.key == key)
}

impl MemberSpec {
    /// The communes of the member's département within its radius of the
    /// centre, the centre first, in the referential's order otherwise.
    pub fn communes(&self) -> Vec<&'static Commune> {
        let global = Referentials::global();
        let Some(centre) = global.commune(self.centre_insee) else {
            return Vec::new();
        };
        let Some(at) = centre.point else {
            return vec![centre];
        };
        let mut out = vec![centre];
        out.extend(global.communes().iter().filter(|c| {
            c.insee != centre.insee
                && c.departement == self.departement
                && c.point
                    .is_some_and(|p| haversine_km(at, p) <= self.radius_km)
        }));
        out
    }

    /// Where the member's candidates live: the centre weighs 60 % of all
    /// the other communes together (it is the main town), each other
    /// commune 1.
    pub fn homes(&self) -> anyhow::Result<Homes> {
        let communes = self.communes();
        let others = communes.len().saturating_sub(1).max(1) as f64;
        Homes::new(
            communes
                .iter()
                .enumerate()
                .map(|(i, c)| {
                    let place = Place {
                        insee: c.insee.clone(),
                        name: c.name.clone(),
                        postcodes: c.postcodes.len(),
                    };
                    (place, if i == 0 { 0.6 * others } else { 1.0 })
                })
                .collect(),
        )
    }

    /// The territory in the membership document: the département for a
    /// département council, the communes of the radius otherwise.
    pub fn territory(&self) -> Territory {
        match self.kind {
            MemberKind::Departement => Territory {
                departements: vec![self.departement.to_string()],
                communes: Vec::new(),
            },
            _ => Territory {
                departements: Vec::new(),
                communes: self.communes().iter().map(|c| c.insee.clone()).collect(),
            },
        }
    }

    /// Index of this member's workplace in `offer` (the one in its
    /// territory).
    pub fn workplace_in(&self, offer: &OfferSpec) -> Option<usize> {
        offer
            .workplaces
            .iter()
            .position(|(insee, _)| *insee == self.centre_insee)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn territories_are_real_and_around_their_town() {
        let refs = Referentials::global();
        for m in MEMBERS {
            let communes = m.communes();
            assert!(communes.len() >= 10, "{}: {}", m.node_id, communes.len());
            assert_eq!(communes[0].insee, m.centre_insee);
            assert!(communes.iter().all(|c| c.departement == m.departement));
            let homes = m.homes().expect("homes");
            assert_eq!(homes.places().len(), communes.len());
            let t = m.territory();
            assert!(!t.departements.is_empty() || t.communes.contains(&m.centre_insee.into()));
        }
        assert_eq!(
            refs.commune("03185").map(|c| c.name.as_str()),
            Some("Montluçon")
        );
    }

    #[test]
    fn every_offer_and_referral_fits_the_network() {
        for o in OFFERS {
            assert!(o.owner < MEMBERS.len());
            assert!(
                Referentials::global().rome_exists(o.rome_code),
                "{}",
                o.rome_code
            );
            for (insee, _) in o.workplaces {
                assert!(Referentials::global().commune(insee).is_some(), "{insee}");
            }
        }
        // The national offers have a workplace in every territory.
        for key in ["cariste", "preparateur"] {
            let o = offer(key).expect("offer");
            for m in MEMBERS {
                assert!(m.workplace_in(o).is_some(), "{key} in {}", m.node_id);
            }
        }
        for r in REFERRALS {
            let o = offer(r.offer).expect("offer of a referral");
            assert!(MEMBERS[r.member].workplace_in(o).is_some());
        }
        // One referral of each stage.
        for s in ["new", "processing", "prior_to_hire", "accepted", "refused"] {
            assert!(REFERRALS.iter().any(|r| r.outcome.status() == s), "{s}");
        }
        // Accounts: one of each role per node, e-mails unique.
        let mut emails: Vec<&str> = MEMBERS
            .iter()
            .flat_map(|m| m.accounts.iter().map(|a| a.email))
            .collect();
        emails.sort_unstable();
        emails.dedup();
        assert_eq!(emails.len(), 9);
        for m in MEMBERS {
            let roles: Vec<Role> = m.accounts.iter().map(|a| a.role).collect();
            assert_eq!(roles, vec![Role::Admin, Role::Counsellor, Role::Employer]);
            assert!(crate::auth::valid_email(m.accounts[0].email));
        }
    }
}
