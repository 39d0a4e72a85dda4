//! The embedded referentials as the synthetic data generator's source
//! ([`vivier_gen::Referential`]): the `demo` command and the benchmarks
//! draw homes and workplaces from the node's own communes.

use super::{fold, Referentials};

impl vivier_gen::Referential for Referentials {
    fn places(&self) -> Vec<vivier_gen::Place> {
        self.communes()
            .iter()
            .map(|c| vivier_gen::Place {
                insee: c.insee.clone(),
                name: c.name.clone(),
                postcodes: c.postcodes.len(),
            })
            .collect()
    }

    fn rome_exists(&self, code: &str) -> bool {
        Referentials::rome_exists(self, code)
    }

    fn fold(&self, s: &str) -> String {
        fold(s)
    }
}

#[cfg(test)]
mod tests {
    use vivier_gen::Referential;

    use super::*;

    #[test]
    fn every_commune_in_the_referential_order() {
        let refs = Referentials::global();
        let places = refs.places();
        assert_eq!(places.len(), refs.communes().len());
        for (p, c) in places.iter().zip(refs.communes()) {
            assert_eq!(p.insee, c.insee);
            assert_eq!(p.postcodes, c.postcodes.len());
        }
        assert!(Referential::rome_exists(refs, "N1101"));
        assert!(!Referential::rome_exists(refs, "Z9999"));
        assert_eq!(Referential::fold(refs, "Élodie Le Gall"), "elodie le gall");
    }
}
