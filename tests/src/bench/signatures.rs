//! `vivier-bench signatures`: batches of signed messages verified three ways
//! in one run, interleaved round after round — each on its own
//! (`verify_strict`), with ed25519-dalek's `verify_batch` after the checks
//! it does not make (the node's previous path), and with the node's
//! [`vivier_protocol::verify_strict_many`] — for a batch from one member
//! (the inbox's case: a txn comes from one sender) and a batch from as many
//! members as messages.

use std::time::Instant;

use curve25519_dalek::edwards::CompressedEdwardsY;
use rand::RngCore;
use serde::Serialize;
use vivier_protocol::{KeyId, PublicKey, Signature64, SignedBytes, SigningKeyPair};

#[derive(Serialize)]
pub struct SignatureRow {
    pub keys: usize,
    pub batch: usize,
    pub method: String,
    pub rounds: usize,
    /// Median over the rounds of the time per signature.
    pub us_per_signature: f64,
    pub min_us: f64,
    pub max_us: f64,
}

/// A way to verify a batch: whether every signature holds.
type Verify = dyn Fn(&[SignedBytes<'_>]) -> bool;

/// The previous path: the same pre-checks, then ed25519-dalek's batch.
fn dalek_batch(items: &[SignedBytes<'_>]) -> bool {
    let mut msgs = Vec::with_capacity(items.len());
    let mut sigs = Vec::with_capacity(items.len());
    let mut keys = Vec::with_capacity(items.len());
    for it in items {
        let Ok(r) = <[u8; 32]>::try_from(&it.sig[..32]) else {
            return false;
        };
        let r_fine = CompressedEdwardsY(r)
            .decompress()
            .is_some_and(|p| !p.is_small_order());
        let s_fine = <[u8; 32]>::try_from(&it.sig[32..]).ok().is_some_and(|s| {
            bool::from(curve25519_dalek::Scalar::from_canonical_bytes(s).is_some())
        });
        if !r_fine || !s_fine || it.key.inner().is_weak() {
            return false;
        }
        msgs.push(it.msg);
        sigs.push(ed25519_dalek::Signature::from_bytes(it.sig));
        keys.push(*it.key.inner());
    }
    ed25519_dalek::verify_batch(&msgs, &sigs, &keys).is_ok()
}

/// `batches` batches of `batch` messages of 2.5 KB signed by `keys` keys
/// (round-robin), each verified by the three methods, `rounds` times.
pub fn run(keys: usize, batch: usize, batches: usize, rounds: usize) -> Vec<SignatureRow> {
    let pairs: Vec<SigningKeyPair> = (0..keys.max(1))
        .map(|_| SigningKeyPair::generate(KeyId::parse("ed25519:1").expect("key id")))
        .collect();
    let publics: Vec<PublicKey> = pairs.iter().map(SigningKeyPair::public_key).collect();
    let mut rng = rand::thread_rng();
    let signed: Vec<Vec<(usize, Vec<u8>, Signature64)>> = (0..batches)
        .map(|_| {
            (0..batch)
                .map(|i| {
                    let k = i % pairs.len();
                    let mut msg = vec![0u8; 2500];
                    rng.fill_bytes(&mut msg);
                    let sig = pairs[k].sign(&msg);
                    (k, msg, sig)
                })
                .collect()
        })
        .collect();
    let items: Vec<Vec<SignedBytes<'_>>> = signed
        .iter()
        .map(|b| {
            b.iter()
                .map(|(k, msg, sig)| SignedBytes {
                    key: &publics[*k],
                    msg,
                    sig,
                })
                .collect()
        })
        .collect();
    let methods: [(&str, &Verify); 3] = [
        ("each alone (verify_strict)", &|b| {
            b.iter().all(|it| it.key.verify_strict(it.msg, it.sig))
        }),
        ("ed25519-dalek verify_batch (previous)", &dalek_batch),
        (
            "verify_strict_many (one R decompression, keys' terms added)",
            &|b| vivier_protocol::verify_strict_many(b).iter().all(|&ok| ok),
        ),
    ];
    let mut times: Vec<Vec<f64>> = vec![Vec::new(); methods.len()];
    for _ in 0..rounds.max(1) {
        for (m, (_, verify)) in methods.iter().enumerate() {
            let t = Instant::now();
            for b in &items {
                assert!(verify(b), "a good batch was refused");
            }
            times[m].push(t.elapsed().as_secs_f64() * 1e6 / (batches * batch) as f64);
        }
    }
    methods
        .iter()
        .zip(times)
        .map(|((name, _), mut t)| {
            t.sort_by(f64::total_cmp);
            SignatureRow {
                keys: pairs.len(),
                batch,
                method: (*name).into(),
                rounds: t.len(),
                us_per_signature: t[t.len() / 2],
                min_us: t[0],
                max_us: t[t.len() - 1],
            }
        })
        .collect()
}

pub fn table(rows: &[SignatureRow]) -> String {
    let mut s = String::from(
        "| keys | batch | method | rounds | µs per signature (median) | min | max |\n|---:|---:|---|---:|---:|---:|---:|\n",
    );
    for r in rows {
        s.push_str(&format!(
            "| {} | {} | {} | {} | {:.1} | {:.1} | {:.1} |\n",
            r.keys, r.batch, r.method, r.rounds, r.us_per_signature, r.min_us, r.max_us
        ));
    }
    s
}
