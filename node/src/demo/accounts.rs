//! The demo accounts: passwords generated once (they must pass the node's
//! own password policy), kept in `<dir>/accounts.json` (mode 0600: a demo
//! convenience, printed in the table at every start), and the users created
//! in each node's database with the node's library before it starts.

use std::path::{Path, PathBuf};

use anyhow::Context as _;
use rand::Rng;
use serde::{Deserialize, Serialize};

use super::network::{AccountSpec, MemberSpec};
use crate::auth::{NewUser, PasswordOwner, PasswordPolicy};
use crate::config::Config;

/// An account and its password, as kept between runs.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Account {
    /// Node the account lives on.
    pub node_id: String,
    /// `admin`, `counsellor` or `employer`.
    pub role: String,
    /// Login.
    pub email: String,
    /// The generated password.
    pub password: String,
}

/// Every demo account, in the order of the network (node, then admin,
/// counsellor, employer).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Accounts {
    /// The accounts.
    pub accounts: Vec<Account>,
}

impl Accounts {
    /// `<dir>/accounts.json`.
    pub fn path(dir: &Path) -> PathBuf {
        dir.join("accounts.json")
    }

    /// The accounts kept in `dir` (none yet: empty).
    pub fn load(dir: &Path) -> anyhow::Result<Accounts> {
        let path = Accounts::path(dir);
        match std::fs::read(&path) {
            Ok(bytes) => serde_json::from_slice(&bytes)
                .with_context(|| format!("{} is not a demo accounts file", path.display())),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(Accounts::default()),
            Err(e) => Err(e).with_context(|| format!("reading {}", path.display())),
        }
    }

    /// Writes them to `dir`, readable by the owner only.
    pub fn save(&self, dir: &Path) -> anyhow::Result<()> {
        use std::io::Write as _;
        use std::os::unix::fs::OpenOptionsExt as _;
        let path = Accounts::path(dir);
        let tmp = dir.join(".accounts.json.tmp");
        let mut f = std::fs::OpenOptions::new()
            .create(true)
            .write(true)
            .truncate(true)
            .mode(0o600)
            .open(&tmp)
            .with_context(|| format!("writing {}", tmp.display()))?;
        f.write_all(&serde_json::to_vec_pretty(self)?)?;
        f.sync_all()?;
        std::fs::rename(&tmp, &path).with_context(|| format!("writing {}", path.display()))?;
        Ok(())
    }

    /// The account `email` of `node_id`.
    pub fn get(&self, node_id: &str, email: &str) -> Option<&Account> {
        self.accounts
            .iter()
            .find(|a| a.node_id == node_id && a.email == email)
    }
}

/// Letters and digits that cannot be mistaken for one another when read
/// from a terminal (no l/1, o/0).
const ALPHABET: &[u8] = b"abcdefghijkmnpqrstuvwxyz23456789";

/// A password of four groups of four characters (`k7rm-2qzt-9fhx-w3np`,
/// about 80 bits) that `policy` accepts for `spec`.
pub fn generate_password(
    policy: &PasswordPolicy,
    spec: &AccountSpec,
    rng: &mut impl Rng,
) -> anyhow::Result<String> {
    let owner = PasswordOwner {
        email: spec.email,
        display_name: spec.name,
        employer_name: spec.employer,
    };
    for _ in 0..20 {
        let groups: Vec<String> = (0..4)
            .map(|_| {
                (0..4)
                    .map(|_| char::from(ALPHABET[rng.gen_range(0..ALPHABET.len())]))
                    .collect()
            })
            .collect();
        let password = groups.join("-");
        if policy.check(&password, &owner).is_ok() {
            return Ok(password);
        }
    }
    anyhow::bail!(
        "no generated password passed the password policy of the node for {}",
        spec.email
    )
}

/// Makes sure every account of `member` exists in its node's database
/// (`config`), creating the missing ones with a generated password that is
/// added to `accounts` and saved in `dir` at once.
pub async fn ensure(
    dir: &Path,
    member: &MemberSpec,
    config: &Config,
    accounts: &mut Accounts,
) -> anyhow::Result<()> {
    let db = crate::cli::open_db(config).await?;
    let policy = PasswordPolicy::from_config(config);
    let result = async {
        for spec in &member.accounts {
            let exists = crate::auth::user_by_email(&db, spec.email)
                .await
                .map_err(|e| anyhow::anyhow!("{e}"))?
                .is_some();
            let known = accounts.get(member.node_id, spec.email).cloned();
            let password = match (exists, known) {
                (true, Some(_)) => continue,
                (true, None) => anyhow::bail!(
                    "{} exists on node {} but its password is not in {}: start again with --reset",
                    spec.email,
                    member.node_id,
                    Accounts::path(dir).display()
                ),
                (false, Some(a)) => a.password,
                (false, None) => {
                    let p = generate_password(&policy, spec, &mut rand::thread_rng())?;
                    accounts.accounts.push(Account {
                        node_id: member.node_id.to_string(),
                        role: spec.role.as_str().to_string(),
                        email: spec.email.to_string(),
                        password: p.clone(),
                    });
                    // Saved before the user exists: a password is never lost.
                    accounts.save(dir)?;
                    p
                }
            };
            crate::auth::create_user(
                &db,
                &policy,
                NewUser {
                    email: spec.email.to_string(),
                    display_name: spec.name.to_string(),
                    role: spec.role,
                    password,
                    employer_name: spec.employer.map(str::to_string),
                    employer_siret: None,
                },
            )
            .await
            .map_err(|e| anyhow::anyhow!("creating {} on {}: {e}", spec.email, member.node_id))?;
        }
        Ok(())
    }
    .await;
    db.close().await;
    result
}

#[cfg(test)]
mod tests {
    use rand::SeedableRng;

    use super::*;
    use crate::demo::network::MEMBERS;

    #[test]
    fn generated_passwords_pass_the_policy_of_each_node() {
        let mut rng = rand::rngs::StdRng::seed_from_u64(1);
        for m in MEMBERS {
            let config = Config {
                node_id: m.node_id.into(),
                display_name: m.display_name.into(),
                ..Config::default()
            };
            let policy = PasswordPolicy::from_config(&config);
            for spec in &m.accounts {
                let p = generate_password(&policy, spec, &mut rng).expect("password");
                assert_eq!(p.len(), 19);
                assert_eq!(p.split('-').count(), 4);
                assert!(p.bytes().all(|b| b == b'-' || ALPHABET.contains(&b)));
                let owner = PasswordOwner {
                    email: spec.email,
                    display_name: spec.name,
                    employer_name: spec.employer,
                };
                assert!(policy.check(&p, &owner).is_ok());
            }
        }
    }

    #[test]
    fn accounts_round_trip_privately() {
        use std::os::unix::fs::PermissionsExt as _;
        let dir = tempfile::tempdir().expect("tempdir");
        assert_eq!(
            Accounts::load(dir.path()).expect("none"),
            Accounts::default()
        );
        let a = Accounts {
            accounts: vec![Account {
                node_id: "cd41".into(),
                role: "admin".into(),
                email: "admin@cd41.demo.test".into(),
                password: "abcd-efgh-ijkm-npqr".into(),
            }],
        };
        a.save(dir.path()).expect("save");
        assert_eq!(Accounts::load(dir.path()).expect("load"), a);
        let mode = std::fs::metadata(Accounts::path(dir.path()))
            .expect("meta")
            .permissions()
            .mode();
        assert_eq!(mode & 0o077, 0, "{mode:o}");
        std::fs::write(Accounts::path(dir.path()), b"not json").expect("write");
        let e = Accounts::load(dir.path()).expect_err("garbage");
        assert!(e.to_string().contains("accounts file"), "{e}");
    }
}
