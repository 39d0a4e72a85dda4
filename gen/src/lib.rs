//! Deterministic synthetic data for tests, the demo network and the
//! benchmarks: a French candidathèque (candidates in the importer's CSV /
//! JSON Lines format, see `node/src/candidates/import.rs`, which is also the
//! body of `POST /api/v1/candidates`) and offers (the offers API JSON,
//! `POST /api/v1/offers`). The judged query set of the benchmarks is built
//! on top of it in `vivier-tests` (`tests/src/gen.rs`).
//!
//! The crate knows nothing of the node: the communes and ROME codes it draws
//! from come through the [`Referential`] trait, which `vivier-node`
//! implements for its embedded referentials (so that the node binary's
//! `demo` command and the test crate share one generator).
//!
//! Everything is derived from a seed with ChaCha8. Candidate `i` uses its
//! own ChaCha stream (`set_stream(i)`), so the 10k corpus is exactly the
//! first 10k candidates of the 100k and 1M corpora, and candidates can be
//! generated in any order.
//!
//! ## Where people live
//! The communes referential has no population. Homes are drawn as follows:
//! 40 % from a fixed list of 45 large towns weighted by their (rounded,
//! public INSEE 2021) municipal population — Paris, Lyon and Marseille
//! residents get a uniformly drawn municipal arrondissement —, and 60 %
//! from all communes and arrondissements of the referential, weighted by
//! their number of postcodes (so that multi-postcode towns weigh more than
//! villages). About 0.3 % of the communes have no known centre (overseas
//! collectivities): those candidates have "distance unknown", as in real
//! data. [`Generator::candidate_in`] draws homes from a given set of
//! communes instead (one territory, for the demo network).

use std::collections::HashMap;

use rand::seq::SliceRandom;
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use serde::Serialize;

/// What the generator needs from the French referentials. `vivier-node`
/// implements it for its embedded communes and ROME codes.
pub trait Referential {
    /// Every commune and municipal arrondissement, always in the same
    /// order (the draws depend on it).
    fn places(&self) -> Vec<Place>;
    /// Whether `code` is a ROME code of the referential.
    fn rome_exists(&self, code: &str) -> bool;
    /// `s` folded as the node folds text for matching: lower case, accents
    /// stripped, separators turned into spaces (used for e-mail addresses).
    fn fold(&self, s: &str) -> String;
}

/// A commune (or municipal arrondissement) as the generator sees it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Place {
    /// INSEE code.
    pub insee: String,
    /// Name, as written in CVs ("2019–2022 : Cariste (CDI) chez …, Blois").
    pub name: String,
    /// Number of La Poste postcodes (the weight of the commune).
    pub postcodes: usize,
}

/// The home communes of one territory, with a relative weight each.
#[derive(Debug, Clone)]
pub struct Homes {
    places: Vec<Place>,
    cum: Vec<f64>,
}

impl Homes {
    /// Homes drawn from `places` in proportion to their weights (positive
    /// and finite; at least one place).
    pub fn new(places: Vec<(Place, f64)>) -> anyhow::Result<Homes> {
        if places.is_empty() {
            anyhow::bail!("a territory needs at least one home commune");
        }
        let mut acc = 0.0;
        let mut cum = Vec::with_capacity(places.len());
        for (p, w) in &places {
            if !(w.is_finite() && *w > 0.0) {
                anyhow::bail!("weight of {} must be positive, got {w}", p.insee);
            }
            acc += w;
            cum.push(acc);
        }
        Ok(Homes {
            places: places.into_iter().map(|(p, _)| p).collect(),
            cum,
        })
    }

    /// The communes, in the order given.
    pub fn places(&self) -> &[Place] {
        &self.places
    }
}

/// Default seed of `vivier-gen` and `vivier-bench`.
pub const DEFAULT_SEED: u64 = 0x5649_5649_4552; // "VIVIER"

/// A job family the generator knows how to write CVs for.
pub struct Profession {
    /// ROME 4.0 code.
    pub code: &'static str,
    /// Share of the candidathèque (relative weight).
    pub weight: f64,
    /// Masculine job titles (first = main).
    pub titles_m: &'static [&'static str],
    /// Feminine job titles, same order.
    pub titles_f: &'static [&'static str],
    /// Plural, used in running text ("les caristes").
    pub plural: &'static str,
    /// Skills (for the `skills` field and the CV).
    pub skills: &'static [&'static str],
    /// Where the experience was gained ("en entrepôt logistique").
    pub places: &'static [&'static str],
    /// Typical CV sentences; `{n}` = years of experience.
    pub phrases: &'static [&'static str],
    /// Same-domain codes a candidate may also hold.
    pub also: &'static [&'static str],
    /// Typical training levels.
    pub training: &'static [&'static str],
    /// Licence profile.
    pub licences: Licences,
    /// Employers (for offers and past positions).
    pub employers: &'static [&'static str],
    /// Search queries users type for this job (titles, skills, misspellings).
    pub queries: &'static [&'static str],
}

/// What licences a profession usually needs.
#[derive(Clone, Copy, PartialEq, Eq)]
pub enum Licences {
    /// Permis B is common but not needed.
    Usual,
    /// Heavy goods vehicles: C / CE (+ B).
    Heavy,
    /// Driving is the job (permis B required, vehicle frequent).
    Driving,
}

/// The professions, with shares loosely following the public of missions
/// locales / Emploi (mostly low- and mid-qualified jobs).
pub const PROFESSIONS: &[Profession] = &[
    Profession {
        code: "N1101",
        weight: 9.0,
        titles_m: &[
            "Cariste",
            "Cariste magasinier",
            "Conducteur de chariot élévateur",
        ],
        titles_f: &[
            "Cariste",
            "Cariste magasinière",
            "Conductrice de chariot élévateur",
        ],
        plural: "caristes",
        skills: &[
            "CACES 1",
            "CACES 3",
            "CACES 5",
            "Conduite de chariots élévateurs",
            "Gestion des stocks",
            "Chargement et déchargement de camions",
            "Utilisation d'un scanner RF",
            "Inventaire",
            "Gerbage et dégerbage",
        ],
        places: &[
            "en entrepôt logistique",
            "en plateforme de distribution",
            "dans l'industrie agroalimentaire",
            "en magasin de bricolage",
            "en intérim logistique",
        ],
        phrases: &[
            "{n} ans d'expérience en entrepôt.",
            "Titulaire des CACES 1, 3 et 5 à jour.",
            "Habitué au travail en équipe avec d'autres caristes et préparateurs.",
            "Approvisionnement des lignes de production et mise en stock.",
            "Respect strict des règles de sécurité et port des EPI.",
            "Chargement de semi-remorques, contrôle des palettes.",
        ],
        also: &["N1103", "N1105"],
        training: &[
            "CAP Opérateur logistique",
            "Bac pro Logistique",
            "Titre pro Agent magasinier",
            "Sans diplôme",
        ],
        licences: Licences::Usual,
        employers: &[
            "Logistique du Centre",
            "Entrepôts Martin",
            "ID Logistics",
            "Geodis",
            "Intermarché Base",
            "Leroy Merlin",
        ],
        queries: &[
            "cariste",
            "caristes",
            "cariste CACES 3",
            "CACES 5",
            "conducteur chariot élévateur",
            "cariste magasinière",
            "cariste entrepôt",
            "chariot elevateur",
        ],
    },
    Profession {
        code: "N1103",
        weight: 7.0,
        titles_m: &[
            "Préparateur de commandes",
            "Préparateur de commandes en entrepôt",
            "Agent logistique",
        ],
        titles_f: &[
            "Préparatrice de commandes",
            "Préparatrice de commandes en entrepôt",
            "Agente logistique",
        ],
        plural: "préparateurs de commandes",
        skills: &[
            "Préparation de commandes",
            "Commande vocale",
            "Picking",
            "CACES 1",
            "Gestion des stocks",
            "Emballage",
            "Utilisation d'un scanner RF",
            "Contrôle qualité",
        ],
        places: &[
            "en entrepôt logistique",
            "en plateforme e-commerce",
            "en grande distribution",
            "en drive",
            "en intérim logistique",
        ],
        phrases: &[
            "{n} ans d'expérience en préparation de commandes.",
            "Préparation de commandes en froid positif et négatif.",
            "Cadence élevée, travail en commande vocale.",
            "Titulaire du CACES 1 (transpalette électrique).",
            "Rigoureux dans le contrôle des colis et l'emballage.",
        ],
        also: &["N1101", "N1105"],
        training: &[
            "CAP Opérateur logistique",
            "Bac pro Logistique",
            "Sans diplôme",
            "Brevet des collèges",
        ],
        licences: Licences::Usual,
        employers: &[
            "Amazon France Logistique",
            "Logistique du Centre",
            "Carrefour Supply Chain",
            "Geodis",
            "Cdiscount",
        ],
        queries: &[
            "préparateur de commandes",
            "préparatrice de commandes",
            "preparateur commandes",
            "picking",
            "commande vocale",
            "agent logistique",
        ],
    },
    Profession {
        code: "N1105",
        weight: 4.0,
        titles_m: &[
            "Manutentionnaire",
            "Agent de manutention",
            "Manutentionnaire polyvalent",
        ],
        titles_f: &[
            "Manutentionnaire",
            "Agente de manutention",
            "Manutentionnaire polyvalente",
        ],
        plural: "manutentionnaires",
        skills: &[
            "Manutention de charges",
            "Chargement et déchargement",
            "Tri de colis",
            "Port de charges lourdes",
            "Travail en équipe",
        ],
        places: &[
            "sur un quai de chargement",
            "en entrepôt",
            "dans une messagerie",
            "en déménagement",
        ],
        phrases: &[
            "{n} ans d'expérience en manutention.",
            "Déchargement de conteneurs et tri de colis.",
            "Bonne condition physique, habitué au port de charges.",
            "Travail en horaires décalés et de nuit.",
        ],
        also: &["N1101", "N1103"],
        training: &["Sans diplôme", "CAP", "Brevet des collèges"],
        licences: Licences::Usual,
        employers: &[
            "Chronopost",
            "DHL Express",
            "La Poste Colissimo",
            "Déménagements Dupont",
        ],
        queries: &[
            "manutentionnaire",
            "manutention",
            "agent de manutention",
            "tri de colis",
        ],
    },
    Profession {
        code: "K1304",
        weight: 8.0,
        titles_m: &[
            "Aide à domicile",
            "Aide ménager à domicile",
            "Agent à domicile",
        ],
        titles_f: &[
            "Aide à domicile",
            "Aide ménagère à domicile",
            "Agente à domicile",
        ],
        plural: "aides à domicile",
        skills: &[
            "Entretien du logement",
            "Repassage",
            "Préparation des repas",
            "Courses",
            "Accompagnement des personnes âgées",
            "Aide au lever et au coucher",
            "Écoute et bienveillance",
        ],
        places: &[
            "auprès de personnes âgées",
            "en association d'aide à domicile",
            "chez des particuliers employeurs",
            "en CCAS",
        ],
        phrases: &[
            "{n} ans d'expérience comme aide à domicile.",
            "Intervention chez des personnes âgées et dépendantes.",
            "Entretien du logement, du linge et préparation des repas.",
            "Accompagnement aux courses et aux rendez-vous médicaux.",
            "Discrétion, patience et sens de l'écoute.",
            "Déplacements entre plusieurs domiciles dans la journée.",
        ],
        also: &["K1302"],
        training: &[
            "CAP Accompagnant éducatif petite enfance",
            "Titre pro Assistant de vie aux familles",
            "Sans diplôme",
            "BEP Carrières sanitaires et sociales",
        ],
        licences: Licences::Driving,
        employers: &[
            "ADMR",
            "CCAS",
            "Domicile Services 41",
            "O2 Care Services",
            "Shiva",
        ],
        queries: &[
            "aide à domicile",
            "aide a domicile",
            "aide ménagère",
            "aides à domicile",
            "entretien du logement repassage",
            "agente à domicile",
        ],
    },
    Profession {
        code: "K1302",
        weight: 6.0,
        titles_m: &[
            "Assistant de vie",
            "Auxiliaire de vie",
            "Assistant de vie auprès de personnes âgées",
        ],
        titles_f: &[
            "Assistante de vie",
            "Auxiliaire de vie",
            "Assistante de vie auprès de personnes âgées",
        ],
        plural: "auxiliaires de vie",
        skills: &[
            "Aide à la toilette",
            "Aide aux repas",
            "Transferts",
            "Accompagnement de personnes dépendantes",
            "Stimulation cognitive",
            "Titre ADVF",
        ],
        places: &[
            "auprès de personnes âgées dépendantes",
            "en EHPAD",
            "auprès de personnes handicapées",
            "en service d'aide à domicile",
        ],
        phrases: &[
            "{n} ans d'expérience auprès de personnes dépendantes.",
            "Aide à la toilette, à l'habillage et aux transferts.",
            "Titulaire du titre ADVF (assistant de vie aux familles).",
            "Accompagnement de personnes atteintes de la maladie d'Alzheimer.",
            "Travail en lien avec les infirmiers et les familles.",
        ],
        also: &["K1304"],
        training: &[
            "Titre pro ADVF",
            "DEAES",
            "BEP Carrières sanitaires et sociales",
            "Bac pro ASSP",
        ],
        licences: Licences::Driving,
        employers: &[
            "ADMR",
            "EHPAD Les Tilleuls",
            "Petits-fils",
            "APF France handicap",
        ],
        queries: &[
            "auxiliaire de vie",
            "assistante de vie",
            "aide à la toilette",
            "ADVF",
            "personnes âgées dépendantes",
        ],
    },
    Profession {
        code: "K2204",
        weight: 7.0,
        titles_m: &[
            "Agent d'entretien",
            "Agent de nettoyage industriel",
            "Agent de propreté",
        ],
        titles_f: &[
            "Agente d'entretien",
            "Agente de nettoyage industriel",
            "Agente de propreté",
        ],
        plural: "agents d'entretien",
        skills: &[
            "Nettoyage des locaux",
            "Utilisation d'autolaveuse",
            "Monobrosse",
            "Protocoles d'hygiène",
            "Produits d'entretien",
            "Vitrerie",
        ],
        places: &[
            "dans des bureaux",
            "en milieu industriel",
            "en milieu hospitalier",
            "dans des parties communes d'immeubles",
            "en grande surface",
        ],
        phrases: &[
            "{n} ans d'expérience dans le nettoyage.",
            "Utilisation de l'autolaveuse et de la monobrosse.",
            "Respect des protocoles d'hygiène et des dosages des produits.",
            "Travail tôt le matin ou en soirée, en autonomie.",
            "Entretien des sanitaires, vidage des poubelles, lavage des sols.",
        ],
        also: &["K2205"],
        training: &[
            "CAP Agent de propreté et d'hygiène",
            "Sans diplôme",
            "Titre pro Agent de propreté",
        ],
        licences: Licences::Usual,
        employers: &[
            "Onet",
            "Elior Services",
            "Samsic",
            "ISS Facility",
            "Atalian",
        ],
        queries: &[
            "agent d'entretien",
            "agente d'entretien",
            "nettoyage",
            "autolaveuse",
            "monobrosse",
            "agent de nettoyage industriel",
        ],
    },
    Profession {
        code: "K2205",
        weight: 3.0,
        titles_m: &[
            "Agent de propreté de locaux",
            "Agent de ménage",
            "Agent de service",
        ],
        titles_f: &[
            "Agente de propreté de locaux",
            "Agente de ménage",
            "Agente de service",
        ],
        plural: "agents de propreté",
        skills: &[
            "Ménage de bureaux",
            "Nettoyage des sanitaires",
            "Tri des déchets",
            "Produits d'entretien",
        ],
        places: &["dans des bureaux", "dans des écoles", "en collectivité"],
        phrases: &[
            "{n} ans d'expérience en ménage de bureaux.",
            "Nettoyage de locaux administratifs et d'écoles.",
            "Ponctuelle et autonome, habituée aux horaires coupés.",
        ],
        also: &["K2204"],
        training: &["Sans diplôme", "CAP Agent de propreté et d'hygiène"],
        licences: Licences::Usual,
        employers: &["Onet", "Samsic", "Mairie", "Derichebourg Multiservices"],
        queries: &["agent de propreté", "ménage bureaux", "agente de ménage"],
    },
    Profession {
        code: "F1703",
        weight: 6.0,
        titles_m: &["Maçon", "Maçon en rénovation", "Ouvrier de la maçonnerie"],
        titles_f: &[
            "Maçonne",
            "Maçonne en rénovation",
            "Ouvrière de la maçonnerie",
        ],
        plural: "maçons",
        skills: &[
            "Montage de murs en parpaings",
            "Coffrage",
            "Ferraillage",
            "Lecture de plans",
            "Enduits",
            "Chapes",
            "Pose de briques",
            "Rénovation du bâti ancien",
        ],
        places: &[
            "en gros œuvre",
            "en maison individuelle",
            "en rénovation",
            "sur des chantiers de logements collectifs",
        ],
        phrases: &[
            "{n} ans d'expérience en maçonnerie gros œuvre.",
            "Montage de murs en parpaings, briques et pierres.",
            "Réalisation de chapes, dalles et enduits.",
            "Lecture de plans et implantation.",
            "Travail en équipe sur chantier, respect des règles de sécurité.",
        ],
        also: &["F1701"],
        training: &[
            "CAP Maçon",
            "BP Maçon",
            "Titre pro Maçon",
            "Bac pro Technicien du bâtiment",
        ],
        licences: Licences::Usual,
        employers: &[
            "Bouygues Bâtiment",
            "Maçonnerie Lefebvre",
            "Eiffage Construction",
            "Vinci Construction",
            "Artisan maçon",
        ],
        queries: &[
            "maçon",
            "macon",
            "maçonne",
            "maçon rénovation",
            "maçons",
            "parpaings coffrage",
            "gros œuvre",
        ],
    },
    Profession {
        code: "F1701",
        weight: 2.0,
        titles_m: &["Coffreur", "Coffreur bancheur", "Coffreur boiseur"],
        titles_f: &["Coffreuse", "Coffreuse bancheuse", "Coffreuse boiseuse"],
        plural: "coffreurs",
        skills: &[
            "Coffrage bois et métallique",
            "Banches",
            "Ferraillage",
            "Coulage du béton",
            "Lecture de plans",
        ],
        places: &["en génie civil", "en gros œuvre", "sur des ouvrages d'art"],
        phrases: &[
            "{n} ans d'expérience en coffrage.",
            "Mise en place de banches et coulage du béton.",
            "Travaux de génie civil et d'ouvrages d'art.",
        ],
        also: &["F1703"],
        training: &[
            "CAP Constructeur en béton armé",
            "Titre pro Coffreur bancheur",
        ],
        licences: Licences::Usual,
        employers: &["Vinci Construction", "Eiffage Génie Civil", "Razel-Bec"],
        queries: &["coffreur", "coffreur bancheur", "banches"],
    },
    Profession {
        code: "N4101",
        weight: 6.0,
        titles_m: &[
            "Conducteur routier",
            "Chauffeur poids lourd",
            "Conducteur de poids lourd",
        ],
        titles_f: &[
            "Conductrice routière",
            "Chauffeuse poids lourd",
            "Conductrice de poids lourd",
        ],
        plural: "conducteurs routiers",
        skills: &[
            "Permis C",
            "Permis CE",
            "FIMO",
            "FCO",
            "Carte conducteur",
            "Chargement et arrimage",
            "Transport frigorifique",
            "Hayon",
        ],
        places: &[
            "en transport national",
            "en messagerie régionale",
            "en transport frigorifique",
            "en longue distance",
            "en benne TP",
        ],
        phrases: &[
            "{n} ans d'expérience en transport routier de marchandises.",
            "Titulaire des permis C et CE, FIMO et FCO à jour.",
            "Conduite de semi-remorques en national.",
            "Arrimage des charges et utilisation du hayon.",
            "Respect des temps de conduite et de repos.",
        ],
        also: &["N4105"],
        training: &[
            "Titre pro Conducteur du transport routier de marchandises sur porteur",
            "CAP Conducteur routier",
            "FIMO",
        ],
        licences: Licences::Heavy,
        employers: &[
            "Transports Perrenot",
            "XPO Logistics",
            "Transports Dupuis",
            "STEF",
            "Transports Jacky Perrenot",
        ],
        queries: &[
            "conducteur routier",
            "conductrice routière",
            "chauffeur poids lourd",
            "permis CE",
            "FIMO FCO",
            "chauffeur PL",
            "conducteur poids lourd",
        ],
    },
    Profession {
        code: "N4105",
        weight: 4.0,
        titles_m: &["Chauffeur livreur", "Conducteur livreur", "Livreur"],
        titles_f: &["Chauffeuse livreuse", "Conductrice livreuse", "Livreuse"],
        plural: "chauffeurs livreurs",
        skills: &[
            "Permis B",
            "Livraison de colis",
            "Utilisation d'un terminal de livraison",
            "Tournées",
            "Relation client",
        ],
        places: &[
            "en messagerie",
            "en livraison de colis",
            "en livraison de repas",
            "en distribution urbaine",
        ],
        phrases: &[
            "{n} ans d'expérience en livraison.",
            "Tournées de 80 à 120 colis par jour en véhicule utilitaire.",
            "Bonne connaissance du secteur et sens du service client.",
        ],
        also: &["N4101"],
        training: &[
            "Titre pro Conducteur livreur sur véhicule utilitaire léger",
            "Sans diplôme",
            "CAP",
        ],
        licences: Licences::Driving,
        employers: &["DPD France", "Chronopost", "GLS", "La Poste"],
        queries: &[
            "chauffeur livreur",
            "livreur",
            "livreuse",
            "livraison de colis",
        ],
    },
    Profession {
        code: "G1803",
        weight: 7.0,
        titles_m: &["Serveur", "Serveur en restauration", "Commis de salle"],
        titles_f: &["Serveuse", "Serveuse en restauration", "Commise de salle"],
        plural: "serveurs",
        skills: &[
            "Service en salle",
            "Prise de commande",
            "Service au plateau",
            "Encaissement",
            "Accueil de la clientèle",
            "Mise en place",
            "Service du vin",
        ],
        places: &[
            "en brasserie",
            "en restaurant traditionnel",
            "en hôtellerie",
            "en saison estivale",
            "en restauration rapide",
        ],
        phrases: &[
            "{n} ans d'expérience en restauration.",
            "Service en salle et en terrasse, prise de commande sur tablette.",
            "Plusieurs saisons en bord de mer et à la montagne.",
            "Accueil souriant, travail en coupure et le week-end.",
            "Service au plateau et à l'assiette, encaissement.",
        ],
        also: &[],
        training: &[
            "CAP Commercialisation et services en hôtel-café-restaurant",
            "Bac pro Cuisine et commercialisation",
            "Sans diplôme",
        ],
        licences: Licences::Usual,
        employers: &[
            "Brasserie du Château",
            "Le Bistrot",
            "Hôtel de la Gare",
            "Flunch",
            "Courtepaille",
        ],
        queries: &[
            "serveur",
            "serveuse",
            "serveur restaurant",
            "serveurs",
            "service en salle",
            "commis de salle",
            "saisonnier serveur",
        ],
    },
    Profession {
        code: "G1602",
        weight: 4.0,
        titles_m: &["Commis de cuisine", "Aide de cuisine", "Plongeur"],
        titles_f: &["Commise de cuisine", "Aide de cuisine", "Plongeuse"],
        plural: "commis de cuisine",
        skills: &[
            "Préparations froides",
            "Épluchage",
            "Plonge",
            "Normes HACCP",
            "Mise en place",
            "Cuisson",
        ],
        places: &[
            "en restauration traditionnelle",
            "en restauration collective",
            "en cuisine centrale",
        ],
        phrases: &[
            "{n} ans d'expérience en cuisine.",
            "Préparations froides, épluchage et mise en place.",
            "Respect des normes HACCP.",
            "Plonge et entretien de la cuisine.",
        ],
        also: &[],
        training: &["CAP Cuisine", "Sans diplôme", "Bac pro Cuisine"],
        licences: Licences::Usual,
        employers: &["Sodexo", "Elior", "Restaurant La Table", "Compass Group"],
        queries: &["commis de cuisine", "aide de cuisine", "plonge", "HACCP"],
    },
    Profession {
        code: "M1203",
        weight: 3.0,
        titles_m: &["Comptable", "Comptable général", "Aide-comptable"],
        titles_f: &["Comptable", "Comptable générale", "Aide-comptable"],
        plural: "comptables",
        skills: &[
            "Comptabilité générale",
            "Comptabilité fournisseurs",
            "Rapprochements bancaires",
            "Déclarations de TVA",
            "Sage",
            "Excel",
            "Bilan",
            "Paie",
        ],
        places: &[
            "en cabinet d'expertise comptable",
            "en PME",
            "en collectivité territoriale",
            "dans une association",
        ],
        phrases: &[
            "{n} ans d'expérience en comptabilité.",
            "Saisie des factures fournisseurs et clients, lettrage.",
            "Rapprochements bancaires et déclarations de TVA.",
            "Préparation des éléments du bilan.",
            "Maîtrise de Sage et d'Excel (tableaux croisés dynamiques).",
        ],
        also: &[],
        training: &[
            "BTS Comptabilité et gestion",
            "DCG",
            "Bac pro Gestion-administration",
            "Licence",
        ],
        licences: Licences::Usual,
        employers: &[
            "Cabinet Fiducial",
            "In Extenso",
            "KPMG",
            "Mairie",
            "Crédit Agricole",
        ],
        queries: &[
            "comptable",
            "aide-comptable",
            "comptabilité fournisseurs",
            "déclarations de TVA",
            "comptable Sage",
        ],
    },
    Profession {
        code: "M1805",
        weight: 2.0,
        titles_m: &[
            "Développeur informatique",
            "Développeur web",
            "Développeur full stack",
        ],
        titles_f: &[
            "Développeuse informatique",
            "Développeuse web",
            "Développeuse full stack",
        ],
        plural: "développeurs",
        skills: &[
            "Java",
            "JavaScript",
            "PHP",
            "Python",
            "SQL",
            "React",
            "Git",
            "Symfony",
            "Rust",
            "Linux",
        ],
        places: &[
            "en ESN",
            "en startup",
            "dans une collectivité",
            "en agence web",
        ],
        phrases: &[
            "{n} ans d'expérience en développement.",
            "Développement d'applications web en PHP/Symfony et JavaScript.",
            "Conception de bases de données SQL et d'API REST.",
            "Méthodes agiles, intégration continue, Git.",
            "Reconversion après une formation de développeur web.",
        ],
        also: &[],
        training: &[
            "BTS SIO",
            "Licence informatique",
            "Master informatique",
            "Titre pro Développeur web et web mobile",
        ],
        licences: Licences::Usual,
        employers: &[
            "Capgemini",
            "Sopra Steria",
            "Agence Pixel",
            "Atos",
            "Startup locale",
        ],
        queries: &[
            "développeur",
            "développeuse web",
            "developpeur java",
            "PHP Symfony",
            "développeur full stack",
        ],
    },
    Profession {
        code: "J1501",
        weight: 5.0,
        titles_m: &[
            "Aide-soignant",
            "Aide-soignant en EHPAD",
            "Aide-soignant de nuit",
        ],
        titles_f: &[
            "Aide-soignante",
            "Aide-soignante en EHPAD",
            "Aide-soignante de nuit",
        ],
        plural: "aides-soignants",
        skills: &[
            "Soins d'hygiène et de confort",
            "Prise des constantes",
            "Aide à la mobilité",
            "Transmissions",
            "DEAS",
        ],
        places: &[
            "en EHPAD",
            "en service hospitalier",
            "en clinique",
            "en SSIAD",
        ],
        phrases: &[
            "{n} ans d'expérience comme aide-soignant.",
            "Titulaire du DEAS.",
            "Soins d'hygiène et de confort, prise des constantes.",
            "Transmissions écrites et orales à l'équipe infirmière.",
            "Travail en 12 heures, de jour comme de nuit.",
        ],
        also: &[],
        training: &[
            "DEAS",
            "Bac pro ASSP",
            "BEP Carrières sanitaires et sociales",
        ],
        licences: Licences::Usual,
        employers: &[
            "CHU",
            "EHPAD Korian",
            "Clinique Saint-Joseph",
            "Centre hospitalier",
        ],
        queries: &[
            "aide-soignant",
            "aide-soignante",
            "aide soignante EHPAD",
            "DEAS",
            "aides-soignants",
        ],
    },
];

/// Large towns (INSEE code, rounded municipal population in thousands).
/// Paris, Lyon and Marseille are drawn at the arrondissement level.
const BIG_TOWNS: &[(&str, u32)] = &[
    ("75056", 2100),
    ("13055", 870),
    ("69123", 520),
    ("31555", 500),
    ("06088", 340),
    ("44109", 320),
    ("34172", 300),
    ("67482", 290),
    ("33063", 260),
    ("59350", 235),
    ("35238", 225),
    ("51454", 180),
    ("83137", 180),
    ("42218", 173),
    ("76351", 166),
    ("38185", 158),
    ("21231", 160),
    ("49007", 157),
    ("30189", 150),
    ("69266", 150),
    ("63113", 147),
    ("72181", 145),
    ("13001", 145),
    ("29019", 140),
    ("37261", 137),
    ("80021", 134),
    ("87085", 130),
    ("74010", 130),
    ("66136", 120),
    ("57463", 120),
    ("25056", 117),
    ("45234", 116),
    ("76540", 114),
    ("68224", 108),
    ("14118", 106),
    ("54395", 105),
    ("86194", 90),
    ("59599", 99),
    ("64445", 75),
    ("17300", 77),
    ("18033", 64),
    ("56121", 57),
    ("41018", 45),
    ("36044", 43),
    ("28085", 38),
];

const FIRST_M: &[&str] = &[
    "Lucas",
    "Hugo",
    "Louis",
    "Nathan",
    "Mohamed",
    "Thomas",
    "Kevin",
    "Julien",
    "Maxime",
    "Yanis",
    "Enzo",
    "Théo",
    "Mathis",
    "Karim",
    "Nicolas",
    "Alexandre",
    "Romain",
    "Sébastien",
    "Mamadou",
    "Adam",
    "Jérôme",
    "Antoine",
    "Rayan",
    "Dylan",
    "Christophe",
    "Benoît",
    "Loïc",
    "Franck",
    "Ibrahim",
    "Quentin",
];
const FIRST_F: &[&str] = &[
    "Léa",
    "Manon",
    "Camille",
    "Chloé",
    "Emma",
    "Inès",
    "Sarah",
    "Laura",
    "Julie",
    "Fatima",
    "Nadia",
    "Aïcha",
    "Marie",
    "Céline",
    "Sandrine",
    "Nathalie",
    "Océane",
    "Amandine",
    "Élodie",
    "Mélanie",
    "Aurélie",
    "Jade",
    "Lina",
    "Zoé",
    "Clémence",
    "Maëlle",
    "Yasmine",
    "Sophie",
    "Isabelle",
    "Fanny",
];
const LAST: &[&str] = &[
    "Martin",
    "Bernard",
    "Dubois",
    "Thomas",
    "Robert",
    "Richard",
    "Petit",
    "Durand",
    "Leroy",
    "Moreau",
    "Simon",
    "Laurent",
    "Lefèvre",
    "Michel",
    "Garcia",
    "David",
    "Bertrand",
    "Roux",
    "Vincent",
    "Fournier",
    "Morel",
    "Girard",
    "André",
    "Lefebvre",
    "Mercier",
    "Dupont",
    "Lambert",
    "Bonnet",
    "François",
    "Martinez",
    "Benali",
    "Diallo",
    "Nguyen",
    "Da Silva",
    "Rousseau",
    "Blanc",
    "Guérin",
    "Muller",
    "Henry",
    "Roussel",
    "Nicolas",
    "Perrin",
    "Morin",
    "Mathieu",
    "Clément",
    "Gauthier",
    "Dumont",
    "Lopez",
    "Fontaine",
    "Chevalier",
];
const GENERIC: &[&str] = &[
    "Ponctuel, rigoureux et motivé.",
    "Disponible rapidement, y compris en horaires décalés.",
    "Bon relationnel, aime le travail en équipe.",
    "Sérieux et autonome, je souhaite m'investir durablement dans une entreprise.",
    "Accompagné par la mission locale dans mon projet professionnel.",
    "Maîtrise des outils bureautiques de base (Word, Excel).",
    "Recherche un poste en CDI ou une mission longue.",
    "Ouvert à une formation complémentaire.",
    "Titulaire du certificat SST (sauveteur secouriste du travail).",
    "Bénévole dans une association sportive.",
];
const CONTRACTS: &[&str] = &["CDI", "CDD", "MIS", "SAI", "ALT"];

/// Invented employers, by ROME family (first letter of the code), for the
/// past positions of [`Generator::candidate_in`]'s candidates.
const FICTIONAL_EMPLOYERS: &[(char, &[&str])] = &[
    (
        'N',
        &[
            "Entrepôts Martin",
            "Logistique du Centre",
            "Transports Dubreuil",
            "Messageries du Val",
            "Plateforme Ligérienne",
        ],
    ),
    (
        'K',
        &[
            "Domicile Services 41",
            "Présence à Domicile",
            "Propreté du Val",
            "Services Bellevue",
        ],
    ),
    (
        'F',
        &[
            "Maçonnerie Lefebvre",
            "Bâtiment Rivière et Fils",
            "Constructions du Bocage",
        ],
    ),
    (
        'G',
        &[
            "Brasserie du Château",
            "Hôtel de la Gare",
            "Le Bistrot des Halles",
            "Restaurant La Treille",
        ],
    ),
    (
        'M',
        &[
            "Cabinet Morel et Associés",
            "Agence Pixel",
            "Startup locale",
        ],
    ),
    (
        'J',
        &[
            "EHPAD Les Tilleuls",
            "Maison de santé du Parc",
            "Résidence Les Glycines",
        ],
    ),
];

/// The invented employers of `p`'s ROME family.
fn fictional_employers(p: &Profession) -> &'static [&'static str] {
    let family = p.code.chars().next().unwrap_or('N');
    FICTIONAL_EMPLOYERS
        .iter()
        .find(|(f, _)| *f == family)
        .map_or(FICTIONAL_EMPLOYERS[0].1, |(_, e)| e)
}

/// One item of `items`, uniformly (one draw of `rng`).
pub fn pick<'a, T>(rng: &mut ChaCha8Rng, items: &'a [T]) -> &'a T {
    &items[rng.gen_range(0..items.len())]
}

/// A generated candidate, in the importer's shape, plus the ground truth.
#[derive(Debug, Clone, Serialize)]
pub struct GenCandidate {
    pub external_id: String,
    pub first_name: String,
    pub last_name: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub email: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub phone: Option<String>,
    pub commune_insee: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub max_travel_km: Option<i64>,
    pub driving_licences: Vec<String>,
    /// The certifications the skills, diploma and CV name
    /// ([`certifications_named`]).
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub certifications: Vec<String>,
    pub has_vehicle: bool,
    pub public_transport_only: bool,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub available_from: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub weekly_hours: Option<i64>,
    pub contract_types: Vec<String>,
    pub rome_codes: Vec<String>,
    pub job_titles: Vec<String>,
    pub skills: Vec<String>,
    pub languages: Vec<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub experience_years: Option<i64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub training_level: Option<String>,
    pub cv_text: String,
    pub consent_scope: String,
    /// Ground truth: index in [`PROFESSIONS`] of the main job.
    #[serde(skip)]
    pub profession: usize,
}

/// A generated offer: the body of `POST /api/v1/offers`.
#[derive(Debug, Clone, Serialize)]
pub struct GenOffer {
    pub title: String,
    pub description: String,
    pub rome_code: String,
    pub contract_type: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub duration_months: Option<i64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub weekly_hours: Option<i64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub salary: Option<serde_json::Value>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub driving_licence: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub experience_months: Option<i64>,
    pub employer: serde_json::Value,
    pub workplaces: Vec<GenWorkplace>,
}

/// One workplace of a generated offer.
#[derive(Debug, Clone, Serialize)]
pub struct GenWorkplace {
    pub commune_insee: String,
    pub positions: i64,
}

/// The generator: referential look-ups built once (it keeps no reference
/// to the [`Referential`] it was built from).
pub struct Generator {
    pub seed: u64,
    /// Every commune, in the referential's order.
    places: Vec<Place>,
    /// Large towns (index in `places`) and their weight.
    big: Vec<(usize, f64)>,
    big_total: f64,
    /// Paris, Marseille, Lyon → their municipal arrondissements.
    arr: HashMap<&'static str, Vec<usize>>,
    all_cum: Vec<f64>,
    prof_cum: Vec<f64>,
    /// Folded first and last names (for e-mail addresses).
    folded: HashMap<&'static str, String>,
}

impl Generator {
    /// A generator for this seed, drawing from `refs`.
    pub fn new(seed: u64, refs: &dyn Referential) -> anyhow::Result<Generator> {
        let places = refs.places();
        let mut arr: HashMap<&'static str, Vec<usize>> = HashMap::new();
        for (i, c) in places.iter().enumerate() {
            let city = match c.insee.get(..3) {
                Some("751") => "75056",
                Some("132") => "13055",
                Some("693") if c.insee.as_str() >= "69381" && c.insee.as_str() <= "69389" => {
                    "69123"
                }
                _ => continue,
            };
            arr.entry(city).or_default().push(i);
        }
        let by_insee: HashMap<&str, usize> = places
            .iter()
            .enumerate()
            .map(|(i, c)| (c.insee.as_str(), i))
            .collect();
        let mut big = Vec::new();
        for (insee, pop) in BIG_TOWNS {
            let i = by_insee
                .get(insee)
                .copied()
                .ok_or_else(|| anyhow::anyhow!("big town {insee} missing from the referential"))?;
            big.push((i, f64::from(*pop)));
        }
        let big_total = big.iter().map(|b| b.1).sum();
        let mut acc = 0.0;
        let all_cum = places
            .iter()
            .map(|c| {
                acc += c.postcodes.max(1) as f64;
                acc
            })
            .collect();
        for p in PROFESSIONS {
            if !refs.rome_exists(p.code) {
                anyhow::bail!("ROME code {} missing from the referential", p.code);
            }
        }
        let mut acc = 0.0;
        let prof_cum = PROFESSIONS
            .iter()
            .map(|p| {
                acc += p.weight;
                acc
            })
            .collect();
        let folded = FIRST_M
            .iter()
            .chain(FIRST_F)
            .chain(LAST)
            .map(|n| (*n, refs.fold(n).replace(' ', "")))
            .collect();
        Ok(Generator {
            seed,
            places,
            big,
            big_total,
            arr,
            all_cum,
            prof_cum,
            folded,
        })
    }

    /// The random stream of item `stream` of a kind of data (`salt`: 1
    /// candidates, 2 offers, 3 the benchmark's queries, 4 candidates of a
    /// territory).
    pub fn rng(&self, stream: u64, salt: u64) -> ChaCha8Rng {
        let mut r = ChaCha8Rng::seed_from_u64(self.seed ^ salt.wrapping_mul(0x9E37_79B9_7F4A_7C15));
        r.set_stream(stream);
        r
    }

    fn cum_pick(cum: &[f64], x: f64) -> usize {
        let total = cum.last().copied().unwrap_or(0.0);
        let target = x * total;
        cum.partition_point(|v| *v <= target)
            .min(cum.len().saturating_sub(1))
    }

    /// A home commune (see the module documentation).
    pub fn commune(&self, rng: &mut ChaCha8Rng) -> &Place {
        if rng.gen_bool(0.4) {
            let mut x = rng.gen::<f64>() * self.big_total;
            let mut chosen = self.big[0].0;
            for (c, w) in &self.big {
                if x < *w {
                    chosen = *c;
                    break;
                }
                x -= w;
            }
            self.arrondissement(rng, chosen)
        } else {
            let i = Self::cum_pick(&self.all_cum, rng.gen());
            &self.places[i]
        }
    }

    /// `places[i]`, or one of its municipal arrondissements (Paris,
    /// Marseille, Lyon), drawn uniformly.
    fn arrondissement(&self, rng: &mut ChaCha8Rng, i: usize) -> &Place {
        match self.arr.get(self.places[i].insee.as_str()) {
            Some(list) if !list.is_empty() => &self.places[*pick(rng, list)],
            _ => &self.places[i],
        }
    }

    /// Big towns (used as query and offer centres).
    pub fn big_towns(&self) -> Vec<&Place> {
        self.big.iter().map(|b| &self.places[b.0]).collect()
    }

    /// Candidate number `i` (0-based).
    pub fn candidate(&self, i: u64) -> GenCandidate {
        self.person(i, self.rng(i, 1), |rng| self.commune(rng), |p| p.employers)
    }

    /// Candidate number `i` of a territory: the same kind of person, living
    /// in one of `homes` (drawn by weight), whose past employers are all
    /// fictional (the demo network says its companies are). Its own random
    /// streams: the `i`-th candidate of a territory is not the `i`-th of the
    /// country.
    pub fn candidate_in(&self, i: u64, homes: &Homes) -> GenCandidate {
        self.person(
            i,
            self.rng(i, 4),
            |rng| &homes.places[Self::cum_pick(&homes.cum, rng.gen())],
            fictional_employers,
        )
    }

    /// A candidate from its random stream, living where `home` draws, with
    /// past positions at `employers` of their profession.
    fn person<'p>(
        &self,
        i: u64,
        mut rng: ChaCha8Rng,
        home: impl FnOnce(&mut ChaCha8Rng) -> &'p Place,
        employers: fn(&Profession) -> &'static [&'static str],
    ) -> GenCandidate {
        let pi = Self::cum_pick(&self.prof_cum, rng.gen());
        let p = &PROFESSIONS[pi];
        let female = match p.code {
            "K1304" | "K1302" | "J1501" | "K2205" => rng.gen_bool(0.85),
            "N4101" | "F1703" | "F1701" | "N1101" => rng.gen_bool(0.08),
            "M1805" => rng.gen_bool(0.25),
            _ => rng.gen_bool(0.45),
        };
        let first_name = pick(&mut rng, if female { FIRST_F } else { FIRST_M }).to_string();
        let last_name = pick(&mut rng, LAST).to_string();
        let commune = home(&mut rng);
        let titles = if female { p.titles_f } else { p.titles_m };
        let mut job_titles = vec![titles[0].to_string()];
        if rng.gen_bool(0.4) {
            let t = pick(&mut rng, &titles[1..]).to_string();
            job_titles.push(t);
        }
        let mut rome_codes = vec![p.code.to_string()];
        if !p.also.is_empty() && rng.gen_bool(0.3) {
            let code = pick(&mut rng, p.also);
            rome_codes.push((*code).to_string());
            if let Some(q) = PROFESSIONS.iter().find(|q| q.code == *code) {
                job_titles.push((if female { q.titles_f } else { q.titles_m })[0].to_string());
            }
        }
        let years: i64 = match rng.gen_range(0..10) {
            0..=2 => 0,
            3..=5 => rng.gen_range(1..4),
            6..=8 => rng.gen_range(4..12),
            _ => rng.gen_range(12..30),
        };
        let n_skills = rng.gen_range(2..=p.skills.len().min(5));
        let mut skills: Vec<String> = p
            .skills
            .choose_multiple(&mut rng, n_skills)
            .map(|s| s.to_string())
            .collect();
        // Licences and mobility: about 60 % hold the B licence, 80 % of
        // those have a vehicle; many candidates have neither.
        let mut licences: Vec<String> = Vec::new();
        let b = match p.licences {
            Licences::Driving => rng.gen_bool(0.85),
            Licences::Heavy => true,
            Licences::Usual => rng.gen_bool(0.58),
        };
        if b {
            licences.push("B".into());
        }
        if p.licences == Licences::Heavy {
            licences.push("C".into());
            if rng.gen_bool(0.7) {
                licences.push("CE".into());
            }
            skills.push("FIMO".into());
        } else if rng.gen_bool(0.03) {
            licences.push("AM".into());
        }
        let has_vehicle = b && rng.gen_bool(0.8);
        let public_transport_only = !has_vehicle && rng.gen_bool(0.5);
        let max_travel_km = if rng.gen_bool(0.3) {
            None
        } else if has_vehicle {
            Some(*pick(&mut rng, &[10, 15, 20, 30, 40, 50, 80]))
        } else {
            Some(*pick(&mut rng, &[3, 5, 8, 10, 15, 20]))
        };
        let available_from = if rng.gen_bool(0.6) {
            None
        } else {
            let day = 20_454 + rng.gen_range(0..150); // from 2026-01-01
            Some(days_to_date(day))
        };
        let weekly_hours = if rng.gen_bool(0.5) {
            None
        } else {
            Some(*pick(&mut rng, &[15, 20, 24, 28, 30, 35, 35, 35, 39]))
        };
        let contract_types: Vec<String> = if rng.gen_bool(0.35) {
            Vec::new()
        } else {
            let k = rng.gen_range(1..=3);
            let mut c: Vec<String> = CONTRACTS
                .choose_multiple(&mut rng, k)
                .map(|s| s.to_string())
                .collect();
            c.sort();
            c
        };
        let mut languages = vec!["français".to_string()];
        for (l, pr) in [
            ("anglais", 0.3),
            ("espagnol", 0.08),
            ("arabe", 0.08),
            ("portugais", 0.04),
            ("turc", 0.02),
        ] {
            if rng.gen_bool(pr) {
                languages.push(l.to_string());
            }
        }
        let training_level = rng
            .gen_bool(0.85)
            .then(|| pick(&mut rng, p.training).to_string());
        let cv_text = self.cv_text(
            &mut rng,
            p,
            employers(p),
            female,
            years,
            &job_titles,
            &skills,
            commune,
            has_vehicle,
            &licences,
        );
        let email = rng.gen_bool(0.8).then(|| {
            format!(
                "{}.{}{}@exemple.fr",
                self.folded_name(&first_name),
                self.folded_name(&last_name).replace(' ', "-"),
                i
            )
        });
        let phone = rng.gen_bool(0.85).then(|| {
            format!(
                "0{} {:02} {:02} {:02} {:02}",
                *pick(&mut rng, &[6, 7]),
                rng.gen_range(0..100),
                rng.gen_range(0..100),
                rng.gen_range(0..100),
                rng.gen_range(0..100)
            )
        });
        GenCandidate {
            external_id: format!("gen-{i:07}"),
            first_name,
            last_name,
            email,
            phone,
            commune_insee: commune.insee.clone(),
            max_travel_km,
            certifications: certifications_named(
                skills
                    .iter()
                    .map(String::as_str)
                    .chain(training_level.as_deref())
                    .chain(std::iter::once(cv_text.as_str())),
            ),
            driving_licences: licences,
            has_vehicle,
            public_transport_only,
            available_from,
            weekly_hours,
            contract_types,
            rome_codes,
            job_titles,
            skills,
            languages,
            experience_years: Some(years),
            training_level,
            cv_text,
            consent_scope: "network".into(),
            profession: pi,
        }
    }

    #[allow(clippy::too_many_arguments)]
    fn cv_text(
        &self,
        rng: &mut ChaCha8Rng,
        p: &Profession,
        employers: &[&str],
        female: bool,
        years: i64,
        titles: &[String],
        skills: &[String],
        commune: &Place,
        has_vehicle: bool,
        licences: &[String],
    ) -> String {
        let mut s = String::with_capacity(900);
        let e = if female { "e" } else { "" };
        let title = &titles[0];
        if years == 0 {
            s.push_str(&format!("{title} débutant{e}, sorti{e} de formation. "));
        } else {
            let adj = if years >= 5 {
                format!("expérimenté{e}")
            } else {
                format!("motivé{e}")
            };
            let y = if years == 1 {
                "1 an".to_string()
            } else {
                format!("{years} ans")
            };
            s.push_str(&format!(
                "{title} {adj}, {y} d'expérience {}. ",
                pick(rng, p.places)
            ));
        }
        let n = rng.gen_range(2..=4.min(p.phrases.len()));
        let years_text = if years == 1 {
            "1 an".to_string()
        } else {
            format!("{years} ans")
        };
        for ph in p.phrases.choose_multiple(rng, n) {
            if ph.contains("{n}") && years == 0 {
                continue;
            }
            s.push_str(&ph.replace("{n} ans", &years_text));
            s.push(' ');
        }
        s.push_str("Compétences : ");
        s.push_str(&skills.join(", "));
        s.push_str(". ");
        // Past positions.
        let jobs = if years == 0 { 1 } else { rng.gen_range(1..=3) };
        let mut year = 2025 - years.min(20);
        for _ in 0..jobs {
            let len = rng.gen_range(1..=4);
            let kind = *pick(rng, &["CDI", "CDD", "Intérim", "Stage", "Saison"]);
            let to = (year + len).min(2025);
            let span = if to > year {
                format!("{year}–{to}")
            } else {
                year.to_string()
            };
            s.push_str(&format!(
                "{span} : {} ({kind}) chez {}, {}. ",
                pick(rng, titles),
                pick(rng, employers),
                commune.name
            ));
            year += len;
        }
        if rng.gen_bool(0.3) {
            s.push_str(&format!(
                "Je cherche à travailler avec d'autres {} dans une équipe stable. ",
                p.plural
            ));
        }
        let k = rng.gen_range(1..=3);
        for g in GENERIC.choose_multiple(rng, k) {
            s.push_str(g);
            s.push(' ');
        }
        match (licences.iter().any(|l| l == "B"), has_vehicle) {
            (true, true) => s.push_str("Permis B et véhiculé."),
            (true, false) => s.push_str("Permis B, non véhiculé."),
            _ => s.push_str("Sans permis, se déplace en transports en commun ou à vélo."),
        }
        s
    }

    /// Offer number `i` (15 % have 2 to 5 workplaces).
    pub fn offer(&self, i: u64) -> GenOffer {
        let mut rng = self.rng(i, 2);
        let p = &PROFESSIONS[Self::cum_pick(&self.prof_cum, rng.gen())];
        let title = format!("{} / {}", p.titles_m[0], p.titles_f[0]);
        let title = if p.titles_m[0] == p.titles_f[0] {
            p.titles_m[0].to_string()
        } else {
            title
        };
        let contract = *pick(&mut rng, &["CDI", "CDI", "CDD", "CDD", "MIS", "MIS", "SAI"]);
        let employer = pick(&mut rng, p.employers).to_string();
        let big = self.big_towns();
        let n_wp = if rng.gen_bool(0.15) {
            rng.gen_range(2..=5)
        } else {
            1
        };
        let mut workplaces = Vec::new();
        for _ in 0..n_wp {
            let c = if rng.gen_bool(0.6) {
                *pick(&mut rng, &big)
            } else {
                self.commune(&mut rng)
            };
            let c = match self.arr.get(c.insee.as_str()) {
                Some(list) if !list.is_empty() => &self.places[*pick(&mut rng, list)],
                _ => c,
            };
            if workplaces
                .iter()
                .any(|w: &GenWorkplace| w.commune_insee == c.insee)
            {
                continue;
            }
            workplaces.push(GenWorkplace {
                commune_insee: c.insee.clone(),
                positions: rng.gen_range(1..=3),
            });
        }
        let mut description = format!(
            "{employer} recrute un(e) {} {}. ",
            p.titles_m[0].to_lowercase(),
            pick(&mut rng, p.places)
        );
        for ph in p.phrases.choose_multiple(&mut rng, 2) {
            description.push_str(&ph.replace("{n} ans", "Au moins 1 an").replace("{n}", "1"));
            description.push(' ');
        }
        description.push_str("Compétences attendues : ");
        description.push_str(
            &p.skills
                .choose_multiple(&mut rng, 3)
                .copied()
                .collect::<Vec<_>>()
                .join(", "),
        );
        description.push_str(". Débutants acceptés si motivés. Poste à pourvoir rapidement.");
        let driving_licence = match p.licences {
            Licences::Heavy => Some("CE".to_string()),
            Licences::Driving => Some("B".to_string()),
            Licences::Usual => rng.gen_bool(0.15).then(|| "B".to_string()),
        };
        GenOffer {
            title,
            description,
            rome_code: p.code.to_string(),
            contract_type: contract.to_string(),
            duration_months: matches!(contract, "CDD" | "MIS" | "SAI").then(|| rng.gen_range(1..=12)),
            weekly_hours: Some(*pick(&mut rng, &[20, 24, 28, 35, 35, 39])),
            salary: rng.gen_bool(0.7).then(|| {
                let min = rng.gen_range(180_200..240_000);
                serde_json::json!({"min_cents": min, "max_cents": min + rng.gen_range(0..60_000), "period": "month"})
            }),
            driving_licence,
            experience_months: rng.gen_bool(0.5).then(|| *pick(&mut rng, &[6, 12, 24, 36])),
            employer: serde_json::json!({"name": employer}),
            workplaces,
        }
    }

    /// ASCII-folded lower-case name without spaces (for e-mail addresses).
    fn folded_name(&self, s: &str) -> String {
        self.folded.get(s).cloned().unwrap_or_default()
    }
}

/// `YYYY-MM-DD` of a day number since 1970-01-01.
pub fn days_to_date(days: i64) -> String {
    // Civil-from-days (Howard Hinnant).
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let y = yoe + era * 400;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = doy - (153 * mp + 2) / 5 + 1;
    let m = if mp < 10 { mp + 3 } else { mp - 9 };
    let y = if m <= 2 { y + 1 } else { y };
    format!("{y:04}-{m:02}-{d:02}")
}

/// The certification codes (the node's referential) that `texts` name:
/// « CACES 1, 3 et 5 », « FIMO », « DEAS », « Titre ADVF », « HACCP »,
/// « SST »… A record then holds what its CV says it holds, and offers
/// requiring a certification find them. Derived from the text, no draw:
/// the rest of the corpus is the same with or without it.
pub fn certifications_named<'a>(texts: impl IntoIterator<Item = &'a str>) -> Vec<String> {
    let mut out: Vec<String> = Vec::new();
    let mut add = |code: &str| {
        if !out.iter().any(|c| c == code) {
            out.push(code.to_string());
        }
    };
    for text in texts {
        let words: Vec<&str> = text
            .split(|c: char| !c.is_alphanumeric())
            .filter(|w| !w.is_empty())
            .collect();
        for (i, w) in words.iter().enumerate() {
            match *w {
                "CACES" => {
                    // « CACES 1, 3 et 5 »: the categories that follow.
                    for next in words[i + 1..]
                        .iter()
                        .take_while(|n| **n == "et" || n.chars().all(|c| c.is_ascii_digit()))
                    {
                        match *next {
                            "1" => add("CACES_R489_1A"),
                            "3" => add("CACES_R489_3"),
                            "5" => add("CACES_R489_5"),
                            _ => {}
                        }
                    }
                }
                "FIMO" => add("FIMO_M"),
                "FCO" => add("FCO_M"),
                "DEAS" => add("DEAS"),
                "DEAES" => add("DEAES"),
                "ADVF" => add("ADVF"),
                "HACCP" => add("HACCP"),
                "SST" => add("SST"),
                _ => {}
            }
        }
    }
    out.sort();
    out
}

/// The CSV header of the import format (the columns written).
pub const CSV_COLUMNS: &[&str] = &[
    "external_id",
    "first_name",
    "last_name",
    "email",
    "phone",
    "commune_insee",
    "max_travel_km",
    "driving_licences",
    "certifications",
    "has_vehicle",
    "public_transport_only",
    "available_from",
    "weekly_hours",
    "contract_types",
    "rome_codes",
    "job_titles",
    "skills",
    "languages",
    "experience_years",
    "training_level",
    "cv_text",
    "consent_scope",
];

/// One CSV record of the import format (lists `|`-separated).
pub fn csv_record(c: &GenCandidate) -> Vec<String> {
    let opt = |v: &Option<i64>| v.map(|x| x.to_string()).unwrap_or_default();
    vec![
        c.external_id.clone(),
        c.first_name.clone(),
        c.last_name.clone(),
        c.email.clone().unwrap_or_default(),
        c.phone.clone().unwrap_or_default(),
        c.commune_insee.clone(),
        opt(&c.max_travel_km),
        c.driving_licences.join("|"),
        c.certifications.join("|"),
        c.has_vehicle.to_string(),
        c.public_transport_only.to_string(),
        c.available_from.clone().unwrap_or_default(),
        opt(&c.weekly_hours),
        c.contract_types.join("|"),
        c.rome_codes.join("|"),
        c.job_titles.join("|"),
        c.skills.join("|"),
        c.languages.join("|"),
        opt(&c.experience_years),
        c.training_level.clone().unwrap_or_default(),
        c.cv_text.clone(),
        c.consent_scope.clone(),
    ]
}

/// Writes `n` candidates as CSV.
pub fn write_csv(gen: &Generator, n: u64, w: impl std::io::Write) -> anyhow::Result<()> {
    let mut wtr = csv::Writer::from_writer(w);
    wtr.write_record(CSV_COLUMNS)?;
    for i in 0..n {
        wtr.write_record(csv_record(&gen.candidate(i)))?;
    }
    wtr.flush()?;
    Ok(())
}

/// Writes `n` candidates as JSON Lines.
pub fn write_jsonl(gen: &Generator, n: u64, mut w: impl std::io::Write) -> anyhow::Result<()> {
    for i in 0..n {
        serde_json::to_writer(&mut w, &gen.candidate(i))?;
        w.write_all(b"\n")?;
    }
    w.flush()?;
    Ok(())
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn certifications_are_those_the_texts_name() {
        assert_eq!(
            certifications_named([
                "Titulaire des CACES 1, 3 et 5 à jour.",
                "Titulaire des permis C et CE, FIMO et FCO à jour.",
                "DEAS",
            ]),
            [
                "CACES_R489_1A",
                "CACES_R489_3",
                "CACES_R489_5",
                "DEAS",
                "FCO_M",
                "FIMO_M"
            ]
        );
        assert!(certifications_named(["Cariste confirmé, inventaires."]).is_empty());
        assert_eq!(
            certifications_named(["Normes HACCP", "certificat SST"]),
            ["HACCP", "SST"]
        );
        // Generated records hold what they name: every lorry driver FIMO.
        let g = Generator::new(7, &Tiny).unwrap();
        let drivers: Vec<GenCandidate> = (0..2000)
            .map(|i| g.candidate(i))
            .filter(|c| c.skills.iter().any(|s| s == "FIMO"))
            .collect();
        assert!(!drivers.is_empty());
        assert!(drivers
            .iter()
            .all(|c| c.certifications.contains(&"FIMO_M".to_string())));
        let header = CSV_COLUMNS
            .iter()
            .position(|c| *c == "certifications")
            .unwrap();
        assert_eq!(
            csv_record(&drivers[0])[header],
            drivers[0].certifications.join("|")
        );
    }

    /// A referential of the large towns, the Paris arrondissements and a
    /// few villages (the real one is the node's, see `vivier-tests`).
    struct Tiny;

    impl Referential for Tiny {
        fn places(&self) -> Vec<Place> {
            let mut v: Vec<Place> = BIG_TOWNS
                .iter()
                .map(|(insee, _)| Place {
                    insee: (*insee).to_string(),
                    name: format!("Ville {insee}"),
                    postcodes: 2,
                })
                .collect();
            for n in 1..=20 {
                v.push(Place {
                    insee: format!("751{n:02}"),
                    name: format!("Paris {n}e Arrondissement"),
                    postcodes: 1,
                });
            }
            for n in 0..10 {
                v.push(Place {
                    insee: format!("410{n:02}"),
                    name: format!("Village {n}"),
                    postcodes: 1,
                });
            }
            v
        }
        fn rome_exists(&self, _code: &str) -> bool {
            true
        }
        fn fold(&self, s: &str) -> String {
            s.to_lowercase()
        }
    }

    /// A referential without one of the ROME codes the professions use.
    struct NoRome;

    impl Referential for NoRome {
        fn places(&self) -> Vec<Place> {
            Tiny.places()
        }
        fn rome_exists(&self, code: &str) -> bool {
            code != "N1101"
        }
        fn fold(&self, s: &str) -> String {
            s.to_string()
        }
    }

    fn place(insee: &str) -> Place {
        Place {
            insee: insee.into(),
            name: format!("Commune {insee}"),
            postcodes: 1,
        }
    }

    #[test]
    fn deterministic_and_prefix_stable() {
        let g = Generator::new(7, &Tiny).unwrap();
        let a = g.candidate(42);
        let b = Generator::new(7, &Tiny).unwrap().candidate(42);
        assert_eq!(
            serde_json::to_string(&a).unwrap(),
            serde_json::to_string(&b).unwrap()
        );
        assert_ne!(
            serde_json::to_string(&a).unwrap(),
            serde_json::to_string(&Generator::new(8, &Tiny).unwrap().candidate(42)).unwrap()
        );
        assert_eq!(a.external_id, "gen-0000042");
        assert_eq!(days_to_date(20_454), "2026-01-01");
    }

    #[test]
    fn territory_candidates_live_in_the_territory() {
        let g = Generator::new(7, &Tiny).unwrap();
        let homes = Homes::new(vec![(place("41018"), 5.0), (place("41269"), 1.0)]).unwrap();
        let mut seen = std::collections::HashSet::new();
        for i in 0..200 {
            let c = g.candidate_in(i, &homes);
            assert!(
                c.commune_insee == "41018" || c.commune_insee == "41269",
                "{}",
                c.commune_insee
            );
            assert!(c.cv_text.contains("Commune 41") || !c.cv_text.contains("chez"));
            seen.insert(c.commune_insee.clone());
            // Same stream, same person.
            assert_eq!(
                serde_json::to_string(&c).unwrap(),
                serde_json::to_string(&g.candidate_in(i, &homes)).unwrap()
            );
        }
        assert_eq!(seen.len(), 2, "both communes drawn");
        // A territory's candidate is not the country's candidate of the
        // same number.
        let local = g.candidate_in(3, &homes);
        let national = g.candidate(3);
        assert_ne!(
            (local.first_name, local.last_name, local.cv_text),
            (national.first_name, national.last_name, national.cv_text)
        );
    }

    #[test]
    fn territory_candidates_worked_for_fictional_employers_only() {
        for p in PROFESSIONS {
            let family = p.code.chars().next().unwrap();
            assert!(
                FICTIONAL_EMPLOYERS.iter().any(|(f, _)| *f == family),
                "{}",
                p.code
            );
        }
        let g = Generator::new(7, &Tiny).unwrap();
        let homes = Homes::new(vec![(place("41018"), 1.0)]).unwrap();
        let real: Vec<&str> = PROFESSIONS
            .iter()
            .flat_map(|p| p.employers.iter().copied())
            .filter(|e| !FICTIONAL_EMPLOYERS.iter().any(|(_, f)| f.contains(e)))
            .collect();
        for i in 0..300 {
            let c = g.candidate_in(i, &homes);
            for e in &real {
                assert!(
                    !c.cv_text.contains(&format!("chez {e},")),
                    "{e} in {}",
                    c.cv_text
                );
            }
        }
    }

    #[test]
    fn homes_refuse_empty_and_bad_weights() {
        assert!(Homes::new(vec![]).is_err());
        for w in [0.0, -1.0, f64::NAN, f64::INFINITY] {
            let e = Homes::new(vec![(place("41018"), w)]).unwrap_err();
            assert!(e.to_string().contains("41018"), "{e}");
        }
    }

    #[test]
    fn missing_referential_data_is_an_error() {
        let e = Generator::new(1, &NoRome).err().unwrap();
        assert!(e.to_string().contains("N1101"), "{e}");
        struct NoTowns;
        impl Referential for NoTowns {
            fn places(&self) -> Vec<Place> {
                vec![place("41018")]
            }
            fn rome_exists(&self, _: &str) -> bool {
                true
            }
            fn fold(&self, s: &str) -> String {
                s.into()
            }
        }
        let e = Generator::new(1, &NoTowns).err().unwrap();
        assert!(e.to_string().contains("big town"), "{e}");
    }

    #[test]
    fn offers_have_workplaces_from_the_referential() {
        let g = Generator::new(7, &Tiny).unwrap();
        let known: std::collections::HashSet<String> =
            Tiny.places().into_iter().map(|p| p.insee).collect();
        for i in 0..100 {
            let o = g.offer(i);
            assert!(!o.workplaces.is_empty());
            for w in &o.workplaces {
                assert!(known.contains(&w.commune_insee), "{}", w.commune_insee);
                // Paris itself is never a workplace: its arrondissements are.
                assert_ne!(w.commune_insee, "75056");
            }
        }
    }
}
