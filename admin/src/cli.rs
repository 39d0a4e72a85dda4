//! The `vivier-admin` command line.

use std::collections::BTreeSet;
use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Duration;

use anyhow::{anyhow, bail, Context, Result};
use clap::{ArgGroup, Args, Parser, Subcommand, ValueEnum};
use vivier_protocol::{
    sign_message, verify_message, KeyResolver, Member, MemberKey, MemberKind, MemberStatus,
    MessageKind, OperatorKey, Recipient, SignedMembershipDocument, StaticKeys, Trust,
    VerifyOptions,
};

use crate::display::{format_duration, format_ms, now_ms, table};
use crate::keystore::{self, PassphraseSource, Protection, TerminalPassphrase};
use crate::network::{
    self, parse_key_id, parse_node_id, parse_public_key, read_key_file, NetworkDir, DAY_MS,
};
use crate::remote::{Client, PublishOutcome};

/// vivier-admin: the network operator's tool for Vivier membership.
///
/// The operator decides who belongs to the network. Every change produces
/// the next signed membership document (higher serial, signed with the
/// operator key); `publish` pushes it to every member node.
///
/// Typical session: `init` → `member add` (once per node) → `publish` →
/// `status`; later `member suspend|revoke|rotate-key|update` → `publish`.
#[derive(Debug, Parser)]
#[command(
    name = "vivier-admin",
    version,
    propagate_version = true,
    after_long_help = "Example:\n  \
    vivier-admin init --network-id vivier-centre-val-de-loire\n  \
    vivier-admin member add cd41 --kind departement --departement 41 --from-node https://vivier.cd41.fr\n  \
    vivier-admin publish\n  \
    vivier-admin status\n  \
    vivier-admin member revoke cd41 --reason \"left the network\" && vivier-admin publish\n\n\
    Passphrase-encrypted operator key (init --passphrase, operator passphrase):\n  \
    commands that sign read the passphrase from VIVIER_OPERATOR_PASSPHRASE, else\n  \
    prompt on the terminal (no echo), else read one line of standard input."
)]
pub struct Cli {
    /// Network directory holding operator.key (0600, optionally encrypted
    /// with a passphrase), network.json (the current signed document) and
    /// documents/<serial>.json (history).
    #[arg(
        long,
        global = true,
        env = "VIVIER_NETWORK_DIR",
        default_value = "./vivier-network",
        value_name = "DIR"
    )]
    pub dir: PathBuf,

    /// What to do.
    #[command(subcommand)]
    pub command: Command,
}

/// Top-level commands.
#[derive(Debug, Subcommand)]
pub enum Command {
    /// Create a network: an operator key pair (operator.key, mode 0600,
    /// encrypted with a passphrase if --passphrase) and the first document
    /// (serial 1, no members). Prints the operator public key to put in each
    /// node's `[federation] operator_keys`.
    Init(InitArgs),
    /// Add, update, suspend, revoke, re-key or reactivate a member; each
    /// change writes the next signed document (asks for the operator key's
    /// passphrase if it is encrypted).
    #[command(subcommand)]
    Member(MemberCommand),
    /// Operator key management (rotation, passphrase).
    #[command(subcommand)]
    Operator(OperatorCommand),
    /// Re-issue the current document unchanged with the next serial and a
    /// fresh expiry (do this before the document expires).
    Renew(RenewArgs),
    /// Set the network search's abuse limits every member applies (the
    /// document's `network_search`): quotas, answer cap, largest radius,
    /// commune threshold. Only the limits given change; `--clear` removes
    /// them all. A node applies the tighter of these and its own
    /// `[network_search]` settings. Writes the next signed document.
    NetworkSearch(NetworkSearchArgs),
    /// Print the current document: serial, dates, operator keys and members.
    Show(ShowArgs),
    /// Check a membership document file: strict parse, operator signatures
    /// against trusted keys, validity rules and expiry. Explains any failure
    /// and exits non-zero.
    Verify(VerifyArgs),
    /// Check or produce signed federation messages (debugging and
    /// interoperability checks).
    #[command(subcommand)]
    Message(MessageCommand),
    /// POST network.json to every member's /federation/v1/membership
    /// (suspended and revoked members too, so they learn their status) and
    /// print the result per node. Exits non-zero if any node did not accept.
    Publish(RemoteArgs),
    /// Ask every member at once (each bounded by --timeout-secs) and print
    /// one table: reachability, the serial it runs (vs the current one),
    /// whether its published key matches the document, protocol versions
    /// and — from its operator-signed report — membership expiry, log head,
    /// lag (messages the others hold for it), outbox depth and dead letters.
    /// Exits non-zero if an active member is unreachable, behind, has a key
    /// mismatch or dead letters.
    Status(StatusArgs),
}

/// `init`.
#[derive(Debug, Args)]
pub struct InitArgs {
    /// Network identifier, e.g. vivier-centre-val-de-loire.
    #[arg(long, value_name = "ID")]
    pub network_id: String,
    /// How long each document stays valid; every later change keeps this
    /// validity period.
    #[arg(long, default_value_t = 365, value_name = "DAYS")]
    pub validity_days: i64,
    /// Encrypt operator.key with a passphrase (Argon2id + XChaCha20-Poly1305;
    /// format vivier-key-v1-encrypted). The passphrase comes from
    /// VIVIER_OPERATOR_PASSPHRASE, else is asked twice on the terminal, else
    /// read as one line of standard input. Every command that signs will
    /// need it; a forgotten passphrase cannot be recovered.
    #[arg(long)]
    pub passphrase: bool,
}

/// `renew`.
#[derive(Debug, Args)]
pub struct RenewArgs {
    /// New validity period (default: keep the current one).
    #[arg(long, value_name = "DAYS")]
    pub validity_days: Option<i64>,
}

/// `network-search`.
#[derive(Debug, Args)]
pub struct NetworkSearchArgs {
    /// Searches one user may make per hour.
    #[arg(long, value_name = "N")]
    pub per_user_per_hour: Option<i64>,
    /// Searches one node's users may make per hour, together.
    #[arg(long, value_name = "N")]
    pub per_node_per_hour: Option<i64>,
    /// Queries a node answers per hour for one asking member.
    #[arg(long, value_name = "N")]
    pub answers_per_member_per_hour: Option<i64>,
    /// Most results in one answer (1 to 200).
    #[arg(long, value_name = "N")]
    pub max_results_per_answer: Option<i64>,
    /// Largest radius of a searched place (1 to 100 km).
    #[arg(long, value_name = "KM")]
    pub max_radius_km: Option<i64>,
    /// A result shows its commune only when at least this many of the
    /// answering node's records live there.
    #[arg(long, value_name = "N")]
    pub commune_min_candidates: Option<i64>,
    /// Remove every limit from the document (each node's settings apply).
    #[arg(long, conflicts_with_all = ["per_user_per_hour", "per_node_per_hour",
        "answers_per_member_per_hour", "max_results_per_answer", "max_radius_km",
        "commune_min_candidates"])]
    pub clear: bool,
}

/// `show`.
#[derive(Debug, Args)]
pub struct ShowArgs {
    /// Print the signed document as JSON instead of a table.
    #[arg(long)]
    pub json: bool,
}

/// `verify`.
#[derive(Debug, Args)]
pub struct VerifyArgs {
    /// The document file to check (e.g. a node's copy, or documents/7.json).
    #[arg(value_name = "FILE")]
    pub file: PathBuf,
    /// Trust this operator public key (unpadded base64url, optionally
    /// prefixed by its key id: `ed25519:1=<key>`) instead of the operator
    /// keys of the network directory's network.json. Repeatable.
    #[arg(long, value_name = "[KEY_ID=]B64", allow_hyphen_values = true)]
    pub trust_key: Vec<String>,
    /// Signatures required with --trust-key.
    #[arg(long, default_value_t = 1, requires = "trust_key")]
    pub threshold: u32,
}

/// `publish` / `status`.
#[derive(Debug, Args)]
pub struct RemoteArgs {
    /// PEM file of extra CA certificate(s) to trust for the nodes' HTTPS
    /// (a private CA).
    #[arg(long, env = "VIVIER_CA_CERT", value_name = "PEM")]
    pub ca_cert: Option<PathBuf>,
    /// Timeout per node.
    #[arg(long, default_value_t = 15, value_name = "SECS")]
    pub timeout_secs: u64,
}

/// Arguments of `status`.
#[derive(Debug, Args)]
pub struct StatusArgs {
    #[command(flatten)]
    /// Connection settings.
    pub remote: RemoteArgs,
    /// Also write the table as a self-contained HTML page to this file.
    #[arg(long, value_name = "FILE")]
    pub html: Option<PathBuf>,
    /// Only the public columns (well-known): do not unlock the operator key
    /// nor ask for the signed reports.
    #[arg(long)]
    pub public_only: bool,
    /// Print the table as JSON (one object per member, keyed by column)
    /// instead of text, for scripts and monitoring.
    #[arg(long)]
    pub json: bool,
}

/// Member kinds on the command line.
#[derive(Debug, Clone, Copy, ValueEnum)]
pub enum KindArg {
    /// A département council.
    Departement,
    /// A PETR (pôle d'équilibre territorial et rural).
    Petr,
    /// A mission locale / city employment body.
    #[value(name = "city_mission", alias = "city-mission")]
    CityMission,
    /// Anything else.
    Other,
}

impl From<KindArg> for MemberKind {
    fn from(k: KindArg) -> MemberKind {
        match k {
            KindArg::Departement => MemberKind::Departement,
            KindArg::Petr => MemberKind::Petr,
            KindArg::CityMission => MemberKind::CityMission,
            KindArg::Other => MemberKind::Other,
        }
    }
}

/// `member …`.
#[derive(Debug, Subcommand)]
pub enum MemberCommand {
    /// Add a member node, with its key given directly (--public-key) or
    /// read from the node's /.well-known/vivier (--from-node).
    Add(MemberAddArgs),
    /// Change a member's name, URL, kind or territory.
    Update(MemberUpdateArgs),
    /// Suspend a member: nodes refuse its messages until `reactivate`.
    Suspend(ReasonArgs),
    /// Revoke a member permanently: nodes refuse its messages from the
    /// moment they hold the document.
    Revoke(ReasonArgs),
    /// Add a new key for a member; its current keys stay valid for an
    /// overlap period, then expire.
    RotateKey(RotateKeyArgs),
    /// Make a suspended member active again.
    Reactivate(NodeArg),
}

/// `member add`.
#[derive(Debug, Args)]
#[command(group(ArgGroup::new("key_source").required(true).args(["public_key", "from_node"])))]
pub struct MemberAddArgs {
    /// Node id, e.g. cd41, petr-montlucon.
    #[arg(value_name = "NODE_ID")]
    pub node_id: String,
    /// Display name (default with --from-node: the name the node publishes).
    #[arg(long, required_unless_present = "from_node")]
    pub name: Option<String>,
    /// Kind of body.
    #[arg(long, value_enum)]
    pub kind: KindArg,
    /// Base URL of the node (https; http only for loopback). Default with
    /// --from-node: the URL given there.
    #[arg(long, required_unless_present = "from_node")]
    pub url: Option<String>,
    /// Département code served (repeatable), e.g. 41, 2A, 974.
    #[arg(long = "departement", value_name = "CODE")]
    pub departements: Vec<String>,
    /// INSEE commune code served (repeatable), e.g. 41018.
    #[arg(long = "commune", value_name = "INSEE")]
    pub communes: Vec<String>,
    /// The node's public key (unpadded base64url), as printed by the node.
    #[arg(long, value_name = "B64", allow_hyphen_values = true)]
    pub public_key: Option<String>,
    /// Key id of --public-key.
    #[arg(long, default_value = "ed25519:1", conflicts_with = "from_node")]
    pub key_id: String,
    /// Start of validity of --public-key (unix ms; default 0: always).
    #[arg(long, value_name = "MS", conflicts_with = "from_node")]
    pub valid_from_ms: Option<i64>,
    /// Read node id, keys (key id, public key, valid_from) from
    /// URL/.well-known/vivier. Check the fingerprint with the node's
    /// administrator out of band.
    #[arg(long, value_name = "URL")]
    pub from_node: Option<String>,
    /// PEM file of extra CA certificate(s) for --from-node.
    #[arg(
        long,
        env = "VIVIER_CA_CERT",
        value_name = "PEM",
        requires = "from_node"
    )]
    pub ca_cert: Option<PathBuf>,
}

/// `member update`.
#[derive(Debug, Args)]
pub struct MemberUpdateArgs {
    /// Node id of the member.
    #[arg(value_name = "NODE_ID")]
    pub node_id: String,
    /// New display name.
    #[arg(long)]
    pub name: Option<String>,
    /// New base URL.
    #[arg(long)]
    pub url: Option<String>,
    /// New kind.
    #[arg(long, value_enum)]
    pub kind: Option<KindArg>,
    /// Replace the département codes (repeatable).
    #[arg(long = "departement", value_name = "CODE")]
    pub departements: Vec<String>,
    /// Replace the commune codes (repeatable).
    #[arg(long = "commune", value_name = "INSEE")]
    pub communes: Vec<String>,
}

/// `member suspend` / `member revoke`.
#[derive(Debug, Args)]
pub struct ReasonArgs {
    /// Node id of the member.
    #[arg(value_name = "NODE_ID")]
    pub node_id: String,
    /// Why (recorded in the document, visible to every node).
    #[arg(long)]
    pub reason: String,
}

/// A node id.
#[derive(Debug, Args)]
pub struct NodeArg {
    /// Node id of the member.
    #[arg(value_name = "NODE_ID")]
    pub node_id: String,
}

/// `member rotate-key`.
#[derive(Debug, Args)]
pub struct RotateKeyArgs {
    /// Node id of the member.
    #[arg(value_name = "NODE_ID")]
    pub node_id: String,
    /// The new public key (unpadded base64url).
    #[arg(long, value_name = "B64", allow_hyphen_values = true)]
    pub public_key: String,
    /// Key id of the new key (must be new for this member), e.g. ed25519:2.
    #[arg(long)]
    pub key_id: String,
    /// How long the current keys stay valid after the new key's start
    /// (days from `--valid-from-ms`, or from now), as `vivier-node key
    /// rotate --overlap-days` counts it.
    #[arg(long, default_value_t = 7, value_name = "DAYS")]
    pub overlap_days: i64,
    /// Start of validity of the new key (unix ms; default: now).
    #[arg(long, value_name = "MS")]
    pub valid_from_ms: Option<i64>,
}

/// `operator …`.
#[derive(Debug, Subcommand)]
pub enum OperatorCommand {
    /// Replace the operator key. The next document lists the new key and is
    /// signed by both the old and the new key (nodes require both); then the
    /// new key becomes operator.key and the old one is kept as
    /// operator.key.old. Publish right after.
    ///
    /// If operator.key is encrypted, the new key is encrypted with the same
    /// passphrase (and operator.key.old stays encrypted).
    Rotate(OperatorRotateArgs),
    /// Set, change or remove the passphrase of operator.key.
    ///
    /// Current passphrase: VIVIER_OPERATOR_PASSPHRASE, else a prompt. New
    /// passphrase: VIVIER_OPERATOR_NEW_PASSPHRASE, else (when the key is not
    /// encrypted yet) VIVIER_OPERATOR_PASSPHRASE, else asked twice on the
    /// terminal (one line of standard input when it is not a terminal). The
    /// key itself does not change: the document and the nodes are not
    /// affected.
    Passphrase(OperatorPassphraseArgs),
}

/// `operator passphrase`.
#[derive(Debug, Args)]
pub struct OperatorPassphraseArgs {
    /// Remove the passphrase: write operator.key unencrypted (mode 0600).
    #[arg(long)]
    pub remove: bool,
}

/// `operator rotate`.
#[derive(Debug, Args)]
pub struct OperatorRotateArgs {
    /// The new operator key file (vivier-key-v1 or vivier-key-v1-encrypted,
    /// 0600). Default: generate one into operator.next.key (reused if a
    /// rotation was interrupted).
    #[arg(long, value_name = "FILE")]
    pub new_key: Option<PathBuf>,
    /// Encrypt the new operator key with a new passphrase (as `init
    /// --passphrase`) even though the current one is not encrypted.
    #[arg(long)]
    pub passphrase: bool,
}

/// `message …`.
#[derive(Debug, Subcommand)]
pub enum MessageCommand {
    /// Verify a signed envelope; prints `valid: <kind> from <sender>
    /// (message <id>)` or `invalid: <error kind>: <message>` (exit code 1).
    /// Keys come from network.json unless --public-key or --membership is
    /// given.
    Verify(MessageVerifyArgs),
    /// Sign a payload with a node key file and print the envelope
    /// (canonical JSON).
    Sign(MessageSignArgs),
}

/// `message verify`.
#[derive(Debug, Args)]
pub struct MessageVerifyArgs {
    /// The envelope file (exact bytes as received).
    #[arg(value_name = "FILE")]
    pub file: PathBuf,
    /// Verify with this public key (unpadded base64url) instead of a
    /// membership document.
    #[arg(
        long,
        value_name = "B64",
        allow_hyphen_values = true,
        conflicts_with = "membership"
    )]
    pub public_key: Option<String>,
    /// With --public-key: the node the key belongs to (default: the
    /// message's sender).
    #[arg(long, value_name = "NODE_ID", requires = "public_key")]
    pub sender: Option<String>,
    /// With --public-key: its key id (default: the message's key id).
    #[arg(long, requires = "public_key")]
    pub key_id: Option<String>,
    /// Resolve keys with this membership document file (e.g. a node's copy
    /// from GET /federation/v1/membership) instead of network.json. The
    /// file's operator signatures are not checked here (use `verify`).
    #[arg(long, value_name = "FILE")]
    pub membership: Option<PathBuf>,
    /// Check as the node NODE_ID would (messages addressed to another node
    /// are refused).
    #[arg(long, value_name = "NODE_ID")]
    pub local_node: Option<String>,
}

/// `message sign`.
#[derive(Debug, Args)]
pub struct MessageSignArgs {
    /// The node key file (vivier-key-v1, 0600); its node id is the sender.
    #[arg(long, value_name = "KEYFILE")]
    pub key: PathBuf,
    /// Message kind, e.g. offer.published, offer.closed, referral.submitted.
    #[arg(long)]
    pub kind: String,
    /// JSON file with the payload.
    #[arg(long, value_name = "FILE")]
    pub payload: PathBuf,
    /// Recipient: a node id or `*` (the whole network).
    #[arg(long, default_value = "*", value_name = "NODE|*")]
    pub to: String,
    /// membership_serial to put in the envelope (default: network.json's
    /// serial, or 0 without a network directory).
    #[arg(long, value_name = "N")]
    pub serial: Option<i64>,
    /// Lifetime of the message.
    #[arg(long, default_value_t = 30, value_name = "DAYS")]
    pub ttl_days: i64,
}

/// Runs the command line and exits: status 0 on success, 1 with
/// `error: …` on stderr on failure (2 for usage errors, from clap).
pub fn main() {
    let cli = Cli::parse();
    let code = match run(cli) {
        Ok(code) => code,
        Err(e) => {
            eprintln!("error: {e:#}");
            ExitCode::FAILURE
        }
    };
    std::process::exit(if code == ExitCode::SUCCESS { 0 } else { 1 });
}

/// Runs a parsed command; `Ok(FAILURE)` when the command ran but its
/// verdict is negative (invalid document, failed publish…).
pub fn run(cli: Cli) -> Result<ExitCode> {
    let nd = NetworkDir::new(&cli.dir);
    let now = now_ms();
    match cli.command {
        Command::Init(a) => init(&nd, a, now),
        Command::Member(m) => member(&nd, m, now),
        Command::Operator(OperatorCommand::Rotate(a)) => operator_rotate(&nd, a, now),
        Command::Operator(OperatorCommand::Passphrase(a)) => operator_passphrase(&nd, a),
        Command::Renew(a) => renew(&nd, a, now),
        Command::NetworkSearch(a) => network_search(&nd, a, now),
        Command::Show(a) => show(&nd, a, now),
        Command::Verify(a) => verify(&nd, a, now),
        Command::Message(MessageCommand::Verify(a)) => message_verify(&nd, a, now),
        Command::Message(MessageCommand::Sign(a)) => message_sign(&nd, a, now),
        Command::Publish(a) => publish(&nd, a),
        Command::Status(a) => status(&nd, a),
    }
}

fn issued(nd: &NetworkDir, doc: &SignedMembershipDocument, what: &str) {
    println!(
        "serial {} issued ({what}), expires {}; written to {}",
        doc.document.serial,
        format_ms(doc.document.expires_at),
        nd.document_path().display()
    );
    println!("run `vivier-admin publish` to push it to the members");
}

fn init(nd: &NetworkDir, a: InitArgs, now: i64) -> Result<ExitCode> {
    if a.network_id.trim().is_empty() {
        bail!("--network-id must not be empty");
    }
    let protection = if a.passphrase {
        // Refuse bad arguments before asking for a passphrase.
        nd.check_new(a.validity_days)?;
        let source = TerminalPassphrase {
            new_from_current_env: true,
        };
        Protection::Passphrase(source.choose(&nd.operator_key_path())?)
    } else {
        Protection::Plain
    };
    let (doc, key) = nd.init(a.network_id.trim(), a.validity_days, &protection, now)?;
    println!(
        "network {} created in {} (serial 1, expires {})",
        doc.document.network_id,
        nd.root.display(),
        format_ms(doc.document.expires_at)
    );
    println!(
        "operator key {}: {}{}",
        key.key_id(),
        nd.operator_key_path().display(),
        if protection.is_encrypted() {
            " (encrypted with the passphrase)"
        } else {
            ""
        }
    );
    println!("operator public key (for each node's [federation] operator_keys):");
    println!("{}", key.public_key());
    Ok(ExitCode::SUCCESS)
}

/// The passphrase source of commands that only unlock the operator key.
const UNLOCK: TerminalPassphrase = TerminalPassphrase {
    new_from_current_env: false,
};

fn member(nd: &NetworkDir, cmd: MemberCommand, now: i64) -> Result<ExitCode> {
    let (doc, what) = match cmd {
        MemberCommand::Add(a) => {
            let m = build_member(a, now)?;
            let what = format!("added {} with key(s) {}", m.node_id, key_ids(&m));
            (
                nd.change(now, &UNLOCK, |d| network::add_member(d, m))?,
                what,
            )
        }
        MemberCommand::Update(a) => {
            let node = parse_node_id(&a.node_id)?;
            let u = network::MemberUpdate {
                display_name: a.name,
                base_url: a.url,
                kind: a.kind.map(Into::into),
                departements: (!a.departements.is_empty()).then_some(a.departements),
                communes: (!a.communes.is_empty()).then_some(a.communes),
            };
            (
                nd.change(now, &UNLOCK, |d| network::update_member(d, &node, u))?,
                format!("updated {node}"),
            )
        }
        MemberCommand::Suspend(a) => {
            let node = parse_node_id(&a.node_id)?;
            (
                nd.change(now, &UNLOCK, |d| {
                    network::suspend_member(d, &node, &a.reason, now)
                })?,
                format!("suspended {node}"),
            )
        }
        MemberCommand::Revoke(a) => {
            let node = parse_node_id(&a.node_id)?;
            (
                nd.change(now, &UNLOCK, |d| {
                    network::revoke_member(d, &node, &a.reason, now)
                })?,
                format!("revoked {node}"),
            )
        }
        MemberCommand::Reactivate(a) => {
            let node = parse_node_id(&a.node_id)?;
            (
                nd.change(now, &UNLOCK, |d| network::reactivate_member(d, &node))?,
                format!("reactivated {node}"),
            )
        }
        MemberCommand::RotateKey(a) => {
            let node = parse_node_id(&a.node_id)?;
            let key = MemberKey {
                key_id: parse_key_id(&a.key_id)?,
                public_key: parse_public_key(&a.public_key)?,
                valid_from: a.valid_from_ms.unwrap_or(now),
                valid_until: None,
            };
            let overlap = a
                .overlap_days
                .checked_mul(DAY_MS)
                .ok_or_else(|| anyhow!("--overlap-days is too large"))?;
            let what = format!(
                "new key {} for {node} from {}; older keys valid until {}",
                key.key_id,
                format_ms(key.valid_from),
                format_ms(key.valid_from.max(now).saturating_add(overlap))
            );
            (
                nd.change(now, &UNLOCK, |d| {
                    network::rotate_member_key(d, &node, key, overlap, now)
                })?,
                what,
            )
        }
    };
    issued(nd, &doc, &what);
    Ok(ExitCode::SUCCESS)
}

fn key_ids(m: &Member) -> String {
    m.keys
        .iter()
        .map(|k| k.key_id.to_string())
        .collect::<Vec<_>>()
        .join(", ")
}

fn build_member(a: MemberAddArgs, now: i64) -> Result<Member> {
    let node_id = parse_node_id(&a.node_id)?;
    let territory = network::territory(&a.departements, &a.communes)?;
    let (name, url, keys) = if let Some(from) = &a.from_node {
        let from = network::check_base_url(from)
            .with_context(|| "--from-node must be the node's base URL")?;
        let client = Client::new(a.ca_cert.as_deref(), Duration::from_secs(15))?;
        let wk = client.well_known(&from)?;
        if wk.node_id != node_id.as_str() {
            bail!(
                "{from} is node {:?}, not {node_id}: check the node id or the URL",
                wk.node_id
            );
        }
        let keys = crate::remote::member_keys(&from, &wk, now)?;
        let name = match a.name {
            Some(n) => n,
            None if !wk.display_name.trim().is_empty() => wk.display_name.clone(),
            None => bail!("{from} publishes no display name: give --name"),
        };
        let url = match a.url {
            Some(u) => u,
            None => from.clone(),
        };
        if !wk.base_url.is_empty() && wk.base_url.trim_end_matches('/') != url.trim_end_matches('/')
        {
            eprintln!(
                "note: the node describes its own base URL as {}; the document will use {url} \
                 (check the node's public_url setting, or pass --url)",
                wk.base_url
            );
        }
        for k in &keys {
            eprintln!(
                "fetched from {from}: {} {} (compare with the node's administrator)",
                k.key_id, k.public_key
            );
        }
        (name, url, keys)
    } else {
        let pk = a
            .public_key
            .as_deref()
            .ok_or_else(|| anyhow!("give --public-key or --from-node"))?;
        let key = MemberKey {
            key_id: parse_key_id(&a.key_id)?,
            public_key: parse_public_key(pk)?,
            valid_from: a.valid_from_ms.unwrap_or(0),
            valid_until: None,
        };
        let name = a.name.ok_or_else(|| anyhow!("--name is required"))?;
        let url = a.url.ok_or_else(|| anyhow!("--url is required"))?;
        (name, url, vec![key])
    };
    let base_url = network::check_base_url(&url)?;
    if name.trim().is_empty() {
        bail!("--name must not be empty");
    }
    Ok(Member {
        node_id,
        display_name: name.trim().to_string(),
        kind: a.kind.into(),
        territory,
        base_url,
        keys,
        status: MemberStatus::Active,
    })
}

fn operator_rotate(nd: &NetworkDir, a: OperatorRotateArgs, now: i64) -> Result<ExitCode> {
    let source = TerminalPassphrase {
        new_from_current_env: !keystore::is_encrypted(&nd.operator_key_path()),
    };
    let (doc, old, new) = nd.rotate_operator(a.new_key.as_deref(), a.passphrase, &source, now)?;
    issued(
        nd,
        &doc,
        &format!(
            "operator key {} replaced by {}, signed by both",
            old.key_id(),
            new.key_id()
        ),
    );
    println!(
        "new operator key {} in {} (old one kept in {})",
        new.key_id(),
        nd.operator_key_path().display(),
        nd.old_key_path().display()
    );
    if keystore::is_encrypted(&nd.operator_key_path()) {
        println!(
            "{} is encrypted with the passphrase",
            nd.operator_key_path().display()
        );
    }
    println!("new operator public key: {}", new.public_key());
    println!(
        "nodes that already hold serial {} or later follow the rotation once they get this document; \
         configure new nodes with the new key",
        doc.document.serial - 1
    );
    Ok(ExitCode::SUCCESS)
}

fn operator_passphrase(nd: &NetworkDir, a: OperatorPassphraseArgs) -> Result<ExitCode> {
    let path = nd.operator_key_path();
    let source = TerminalPassphrase {
        new_from_current_env: !keystore::is_encrypted(&path),
    };
    let was_encrypted = nd.set_passphrase(a.remove, &source)?;
    if a.remove {
        println!(
            "{}: passphrase removed (the key is now stored unencrypted, mode 0600)",
            path.display()
        );
    } else if was_encrypted {
        println!("{}: passphrase changed", path.display());
    } else {
        println!("{}: now encrypted with the passphrase", path.display());
    }
    if !a.remove {
        for other in [nd.old_key_path(), nd.next_key_path()] {
            if other.exists() && !keystore::is_encrypted(&other) {
                println!(
                    "note: {} is still unencrypted (delete it once it is no longer needed)",
                    other.display()
                );
            }
        }
    }
    Ok(ExitCode::SUCCESS)
}

fn renew(nd: &NetworkDir, a: RenewArgs, now: i64) -> Result<ExitCode> {
    let validity = match a.validity_days {
        Some(d) if d < 1 => bail!("--validity-days must be at least 1"),
        Some(d) => Some(
            d.checked_mul(DAY_MS)
                .ok_or_else(|| anyhow!("--validity-days is too large"))?,
        ),
        None => None,
    };
    let doc = nd.change(now, &UNLOCK, |d| {
        if let Some(v) = validity {
            d.expires_at = d.issued_at.saturating_add(v);
        }
        Ok(())
    })?;
    issued(nd, &doc, "renewed");
    Ok(ExitCode::SUCCESS)
}

fn network_search(nd: &NetworkDir, a: NetworkSearchArgs, now: i64) -> Result<ExitCode> {
    let given = [
        a.per_user_per_hour,
        a.per_node_per_hour,
        a.answers_per_member_per_hour,
        a.max_results_per_answer,
        a.max_radius_km,
        a.commune_min_candidates,
    ];
    if !a.clear && given.iter().all(Option::is_none) {
        bail!("give at least one limit (e.g. --answers-per-member-per-hour 100), or --clear");
    }
    let doc = nd.change(now, &UNLOCK, |d| {
        if a.clear {
            d.network_search = None;
            return Ok(());
        }
        let mut l = d.network_search.unwrap_or_default();
        let set = |slot: &mut Option<i64>, v: Option<i64>| {
            if v.is_some() {
                *slot = v;
            }
        };
        set(&mut l.per_user_per_hour, a.per_user_per_hour);
        set(&mut l.per_node_per_hour, a.per_node_per_hour);
        set(
            &mut l.answers_per_member_per_hour,
            a.answers_per_member_per_hour,
        );
        set(&mut l.max_results_per_answer, a.max_results_per_answer);
        set(&mut l.max_radius_km, a.max_radius_km);
        set(&mut l.commune_min_candidates, a.commune_min_candidates);
        l.validate().map_err(|e| anyhow!(e))?;
        d.network_search = Some(l);
        Ok(())
    })?;
    issued(nd, &doc, "network search limits");
    Ok(ExitCode::SUCCESS)
}

fn status_str(s: &MemberStatus) -> String {
    match s {
        MemberStatus::Active => "active".into(),
        MemberStatus::Suspended { reason, since } => {
            format!("suspended since {} ({reason})", format_ms(*since))
        }
        MemberStatus::Revoked { reason, at } => {
            format!("revoked {} ({reason})", format_ms(*at))
        }
    }
}

fn kind_str(k: MemberKind) -> &'static str {
    match k {
        MemberKind::Departement => "departement",
        MemberKind::Petr => "petr",
        MemberKind::CityMission => "city_mission",
        MemberKind::Other => "other",
    }
}

fn member_keys_str(m: &Member, now: i64) -> String {
    m.keys
        .iter()
        .map(|k| {
            let mut s = k.key_id.to_string();
            if let Some(u) = k.valid_until {
                if u <= now {
                    s.push_str(" (expired)");
                } else {
                    s.push_str(&format!(" (until {})", format_ms(u)));
                }
            } else if k.valid_from > now {
                s.push_str(&format!(" (from {})", format_ms(k.valid_from)));
            }
            s
        })
        .collect::<Vec<_>>()
        .join(", ")
}

/// The table printed by `show`.
pub fn render_document(doc: &SignedMembershipDocument, now: i64) -> String {
    let d = &doc.document;
    let mut out = String::new();
    out.push_str(&format!("network    {}\n", d.network_id));
    out.push_str(&format!("serial     {}\n", d.serial));
    out.push_str(&format!("issued     {}\n", format_ms(d.issued_at)));
    let left = d.expires_at - now;
    out.push_str(&format!(
        "expires    {} ({})\n",
        format_ms(d.expires_at),
        if left > 0 {
            format!("in {}", format_duration(left))
        } else {
            "EXPIRED: run `vivier-admin renew` and publish".to_string()
        }
    ));
    let ops = d
        .operator_keys
        .iter()
        .map(|k| format!("{} {}", k.key_id, k.public_key))
        .collect::<Vec<_>>()
        .join(", ");
    out.push_str(&format!("operator   {ops} (threshold {})\n", d.threshold));
    if let Some(l) = &d.network_search {
        // The limits as the document holds them (canonical JSON).
        let json = serde_json::to_string(l).unwrap_or_default();
        out.push_str(&format!("search     {json}\n"));
    }
    out.push_str(&format!(
        "signed by  {}\n",
        doc.signatures
            .keys()
            .cloned()
            .collect::<Vec<_>>()
            .join(", ")
    ));
    out.push_str(&format!(
        "members    {} ({} active)\n\n",
        d.members.len(),
        d.active_members().count()
    ));
    if d.members.is_empty() {
        out.push_str("no members yet: add one with `vivier-admin member add`\n");
        return out;
    }
    let rows: Vec<Vec<String>> = d
        .members
        .iter()
        .map(|m| {
            let mut terr = m.territory.departements.join(" ");
            if !m.territory.communes.is_empty() {
                if !terr.is_empty() {
                    terr.push_str("; ");
                }
                let n = m.territory.communes.len();
                terr.push_str(&format!("{n} commune{}", if n > 1 { "s" } else { "" }));
            }
            vec![
                m.node_id.to_string(),
                m.display_name.clone(),
                kind_str(m.kind).to_string(),
                m.base_url.clone(),
                terr,
                status_str(&m.status),
                member_keys_str(m, now),
            ]
        })
        .collect();
    out.push_str(&table(
        &["node", "name", "kind", "url", "territory", "status", "keys"],
        &rows,
    ));
    out
}

fn show(nd: &NetworkDir, a: ShowArgs, now: i64) -> Result<ExitCode> {
    let doc = nd.load()?;
    if a.json {
        let v = serde_json::to_value(&doc)?;
        println!("{}", serde_json::to_string_pretty(&v)?);
    } else {
        print!("{}", render_document(&doc, now));
    }
    Ok(ExitCode::SUCCESS)
}

/// What an operator should understand from a membership error kind.
pub fn explain_membership(kind: &str) -> &'static str {
    match kind {
        "malformed" => "the file is not a membership document: truncated, not strict JSON (duplicate keys, floats), or fields missing / unknown",
        "bad_signature" => "a signature under a trusted key id does not verify: the document was altered after signing, or signed with another key under that key id",
        "insufficient_signatures" => "not enough valid signatures by the trusted operator keys: the document was signed by another key (a foreign network, or a new operator key nodes do not trust yet)",
        "invalid" => "the document breaks a structural rule (threshold, duplicate members or keys, base URL, dates)",
        "rotation_not_signed_by_new_keys" => "the operator keys change but the document is not signed by the new keys as well: a rotation must be signed by both the old and the new key (`vivier-admin operator rotate`)",
        "rollback" => "the serial is lower than the one already held: nodes never go back to an older document",
        "same_serial" => "the node already holds this serial",
        "expired" => "the document's expires_at is in the past: issue a fresh one (`vivier-admin renew`) and publish it",
        _ => "see the message above",
    }
}

fn trust_from_args(
    keys: &[String],
    threshold: u32,
    doc: Option<&SignedMembershipDocument>,
) -> Result<Trust> {
    let mut operator_keys: Vec<OperatorKey> = Vec::new();
    for spec in keys {
        let (kid, b64) = match spec.split_once('=') {
            Some((k, v)) if k.starts_with("ed25519:") => (Some(parse_key_id(k)?), v),
            _ => (None, spec.as_str()),
        };
        let pk = parse_public_key(b64)?;
        let key_id = match kid {
            Some(k) => k,
            None => {
                // The key id under which this key signed, else the one the
                // document lists it under, else ed25519:1.
                let signed = doc.and_then(|d| {
                    let bytes = d.document.signing_bytes().ok()?;
                    d.signatures
                        .iter()
                        .find(|(_, s)| pk.verify_b64(&bytes, s))
                        .and_then(|(k, _)| parse_key_id(k).ok())
                });
                let listed = doc.and_then(|d| {
                    d.document
                        .operator_keys
                        .iter()
                        .find(|k| k.public_key == pk)
                        .map(|k| k.key_id.clone())
                });
                match signed.or(listed) {
                    Some(k) => k,
                    None => parse_key_id("ed25519:1")?,
                }
            }
        };
        operator_keys.push(OperatorKey {
            key_id,
            public_key: pk,
        });
    }
    Ok(Trust {
        operator_keys,
        threshold,
    })
}

fn verify(nd: &NetworkDir, a: VerifyArgs, now: i64) -> Result<ExitCode> {
    let bytes = std::fs::read(&a.file).with_context(|| format!("reading {}", a.file.display()))?;
    let parsed = SignedMembershipDocument::from_bytes(&bytes);
    let (trust, source) = if a.trust_key.is_empty() {
        let current = nd.load().context(
            "no --trust-key given, so the operator keys of the network directory are used",
        )?;
        (
            Trust::from_document(&current.document),
            format!("operator keys of {}", nd.document_path().display()),
        )
    } else {
        (
            trust_from_args(&a.trust_key, a.threshold, parsed.as_ref().ok())?,
            "--trust-key".to_string(),
        )
    };
    let result = parsed.and_then(|doc| trust.accept(None, &doc, now).map(|()| doc));
    match result {
        Ok(doc) => {
            let d = &doc.document;
            println!(
                "valid: network {}, serial {}, issued {}, expires {} (in {})",
                d.network_id,
                d.serial,
                format_ms(d.issued_at),
                format_ms(d.expires_at),
                format_duration(d.expires_at - now)
            );
            println!(
                "signed by {} (threshold {} of the keys trusted: {source})",
                doc.signatures
                    .keys()
                    .cloned()
                    .collect::<Vec<_>>()
                    .join(", "),
                trust.threshold
            );
            println!(
                "{} members, {} active",
                d.members.len(),
                d.active_members().count()
            );
            Ok(ExitCode::SUCCESS)
        }
        Err(e) => {
            println!("invalid: {}: {e}", e.kind());
            println!("  {}", explain_membership(e.kind()));
            println!("  (trusted keys: {source})");
            Ok(ExitCode::FAILURE)
        }
    }
}

fn message_verify(nd: &NetworkDir, a: MessageVerifyArgs, now: i64) -> Result<ExitCode> {
    let raw = std::fs::read(&a.file).with_context(|| format!("reading {}", a.file.display()))?;
    let mut opts = VerifyOptions::new(now);
    if let Some(n) = &a.local_node {
        opts = opts.for_node(parse_node_id(n)?);
    }
    let resolver: Box<dyn KeyResolver> = if let Some(pk) = &a.public_key {
        let pk = parse_public_key(pk)?;
        // Defaults from the message itself (if it parses at all).
        let hint: Option<serde_json::Value> = serde_json::from_slice(&raw).ok();
        let field = |name: &str| {
            hint.as_ref()
                .and_then(|v| v.get(name))
                .and_then(|v| v.as_str())
                .map(str::to_string)
        };
        let sender = match a.sender.clone().or_else(|| field("sender")) {
            Some(s) => parse_node_id(&s)?,
            None => bail!("give --sender (the message has no readable sender)"),
        };
        let key_id = match a.key_id.clone().or_else(|| field("key_id")) {
            Some(k) => parse_key_id(&k)?,
            None => parse_key_id("ed25519:1")?,
        };
        Box::new(StaticKeys::new().with(sender, key_id, pk))
    } else {
        let doc = match &a.membership {
            Some(p) => {
                let b = std::fs::read(p).with_context(|| format!("reading {}", p.display()))?;
                SignedMembershipDocument::from_bytes(&b)
                    .map_err(|e| anyhow!("{}: {e}", p.display()))?
            }
            None => nd.load()?,
        };
        Box::new(doc)
    };
    match verify_message(&raw, resolver.as_ref(), &opts) {
        Ok(m) => {
            println!(
                "valid: {} from {} (message {})",
                m.envelope.kind, m.envelope.sender, m.envelope.id
            );
            Ok(ExitCode::SUCCESS)
        }
        Err(e) => {
            println!("invalid: {}: {e}", e.kind());
            Ok(ExitCode::FAILURE)
        }
    }
}

fn message_sign(nd: &NetworkDir, a: MessageSignArgs, now: i64) -> Result<ExitCode> {
    if keystore::is_encrypted(&a.key) {
        bail!(
            "{} is an encrypted operator key; messages are signed with a node key",
            a.key.display()
        );
    }
    let kf = read_key_file(&a.key)?;
    let sender = kf.node_id.clone().ok_or_else(|| {
        anyhow!(
            "{} is the operator key; messages are signed with a node key",
            a.key.display()
        )
    })?;
    let kind: MessageKind = a.kind.parse().map_err(|_| {
        anyhow!(
            "unknown message kind {:?}; known kinds: {}",
            a.kind,
            MessageKind::ALL.map(|k| k.as_str()).join(", ")
        )
    })?;
    let payload_bytes =
        std::fs::read(&a.payload).with_context(|| format!("reading {}", a.payload.display()))?;
    let payload = vivier_protocol::parse_strict(&payload_bytes)
        .map_err(|e| anyhow!("{}: {e}", a.payload.display()))?;
    let recipient = if a.to == "*" {
        Recipient::Network
    } else {
        Recipient::Node(parse_node_id(&a.to)?)
    };
    let serial = match a.serial {
        Some(s) => s,
        None if nd.document_path().exists() => nd.load()?.document.serial,
        None => 0,
    };
    if a.ttl_days < 1 {
        bail!("--ttl-days must be at least 1");
    }
    let signed = sign_message(
        kind,
        &payload,
        &sender,
        &kf.key,
        recipient,
        serial,
        now,
        a.ttl_days.saturating_mul(DAY_MS),
    )
    .map_err(|e| anyhow!("cannot sign ({}): {e}", e.kind()))?;
    println!("{}", String::from_utf8_lossy(&signed.bytes));
    Ok(ExitCode::SUCCESS)
}

fn publish(nd: &NetworkDir, a: RemoteArgs) -> Result<ExitCode> {
    let doc = nd.load()?;
    let bytes = std::fs::read(nd.document_path())
        .with_context(|| format!("reading {}", nd.document_path().display()))?;
    if doc.document.members.is_empty() {
        println!("no members: nothing to publish");
        return Ok(ExitCode::SUCCESS);
    }
    if doc.document.expires_at <= now_ms() {
        bail!(
            "{} expired on {}: nodes refuse an expired document; run `vivier-admin renew`, then \
             publish",
            nd.document_path().display(),
            format_ms(doc.document.expires_at)
        );
    }
    let client = Client::new(a.ca_cert.as_deref(), Duration::from_secs(a.timeout_secs))?;
    let serial = doc.document.serial;
    let mut rows = Vec::new();
    let mut failed = 0;
    let answers = in_parallel(&doc.document.members, |m| {
        client.post_membership(&m.base_url, &bytes)
    });
    for (m, answer) in doc.document.members.iter().zip(answers) {
        let (ok, result) = match answer {
            PublishOutcome::Accepted {
                serial,
                active_members,
            } => (
                true,
                format!("accepted serial {serial} ({active_members} active members)"),
            ),
            PublishOutcome::Refused { kind, .. } if kind == "same_serial" => {
                (true, format!("already at serial {serial}"))
            }
            PublishOutcome::Refused {
                status,
                kind,
                detail,
            } => (false, format!("REFUSED {status} {kind}: {detail}")),
            PublishOutcome::Unreachable(e) => (false, format!("UNREACHABLE: {e}")),
        };
        if !ok {
            failed += 1;
        }
        rows.push(vec![
            m.node_id.to_string(),
            status_word(&m.status).to_string(),
            m.base_url.clone(),
            result,
        ]);
    }
    print!("{}", table(&["node", "status", "url", "result"], &rows));
    if failed > 0 {
        println!(
            "serial {serial}: {failed} of {} node(s) did not accept it",
            rows.len()
        );
        Ok(ExitCode::FAILURE)
    } else {
        println!("serial {serial}: published to all {} node(s)", rows.len());
        Ok(ExitCode::SUCCESS)
    }
}

/// `f` for every member, at most 32 at a time, results in member order.
fn in_parallel<T: Send>(members: &[Member], f: impl Fn(&Member) -> T + Sync) -> Vec<T> {
    let mut out = Vec::with_capacity(members.len());
    for chunk in members.chunks(32) {
        std::thread::scope(|s| {
            let handles: Vec<_> = chunk.iter().map(|m| s.spawn(|| f(m))).collect();
            for h in handles {
                match h.join() {
                    Ok(v) => out.push(v),
                    Err(p) => std::panic::resume_unwind(p),
                }
            }
        });
    }
    out
}

fn status_word(s: &MemberStatus) -> &'static str {
    match s {
        MemberStatus::Active => "active",
        MemberStatus::Suspended { .. } => "suspended",
        MemberStatus::Revoked { .. } => "revoked",
    }
}

/// Compares the keys a node publishes with the member's keys in the
/// document: "yes", or "NO (…)" naming the difference.
pub fn key_match(m: &Member, published: &[crate::remote::WellKnownKey]) -> (bool, String) {
    if published.is_empty() {
        return (false, "NO (no key published)".into());
    }
    let mut problems = BTreeSet::new();
    for p in published {
        match m.keys.iter().find(|k| k.key_id.as_str() == p.key_id) {
            None => {
                problems.insert(format!("{} not in document", p.key_id));
            }
            Some(k) if k.public_key.to_b64() != p.public_key => {
                problems.insert(format!("{} differs", p.key_id));
            }
            Some(_) => {}
        }
    }
    if problems.is_empty() {
        (true, "yes".into())
    } else {
        (
            false,
            format!(
                "NO ({})",
                problems.into_iter().collect::<Vec<_>>().join(", ")
            ),
        )
    }
}

fn status(nd: &NetworkDir, a: StatusArgs) -> Result<ExitCode> {
    let doc = nd.load()?;
    let current = doc.document.serial;
    if doc.document.members.is_empty() {
        println!("no members (current serial {current})");
        return Ok(ExitCode::SUCCESS);
    }
    let client = Client::new(
        a.remote.ca_cert.as_deref(),
        Duration::from_secs(a.remote.timeout_secs),
    )?;
    // The operator key signs the report requests; without it (an encrypted
    // key and no passphrase at hand) the table keeps its public columns.
    let key = if a.public_only {
        None
    } else {
        match nd.operator_key(&doc.document, &UNLOCK) {
            Ok(k) => Some(k),
            Err(e) => {
                eprintln!("note: operator key not unlocked ({e:#}): lag, outbox, dead letters and expiry are not shown");
                None
            }
        }
    };
    let now = now_ms();
    // Every member at once, each bounded by --timeout-secs: a hung node
    // costs one timeout, not one per node (nor two: an unreachable node is
    // not asked for its report).
    let answers = in_parallel(&doc.document.members, |m| {
        let well_known = client.well_known(&m.base_url);
        let report = match (&well_known, &key) {
            (Ok(_), Some(k)) => {
                Some(client.operator_report(&m.base_url, &m.node_id, k.key(), now / 1000))
            }
            _ => None,
        };
        crate::status::Answer { well_known, report }
    });
    let o = crate::status::overview(
        &doc,
        &answers,
        |m, wk| key_match(m, &wk.keys),
        |m| status_word(&m.status),
        now,
    );
    if a.json {
        println!("{}", crate::status::json(&o, current));
    } else {
        print!("{}", table(&o.header, &o.rows));
        for l in &o.footer {
            println!("{l}");
        }
    }
    if let Some(path) = &a.html {
        let page = crate::status::html(&o, &doc.document.network_id, current, &format_ms(now));
        crate::atomic::write_atomic(path, page.as_bytes())
            .with_context(|| format!("writing {}", path.display()))?;
        eprintln!("HTML page written to {}", path.display());
    }
    let verdict = if o.problems > 0 {
        format!(
            "current serial {current}: {} active member(s) unreachable, behind, mismatched or with dead letters",
            o.problems
        )
    } else {
        format!("current serial {current}: every active member is up to date")
    };
    if a.json {
        eprintln!("{verdict}");
    } else {
        println!("{verdict}");
    }
    Ok(if o.problems > 0 {
        ExitCode::FAILURE
    } else {
        ExitCode::SUCCESS
    })
}

/// For unit tests and callers: checks that `doc` would be accepted by a node
/// trusting `doc`'s own operator keys.
pub fn self_check(
    doc: &SignedMembershipDocument,
    now: i64,
) -> Result<(), vivier_protocol::MembershipError> {
    Trust::from_document(&doc.document).accept(None, doc, now)
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;
    use clap::CommandFactory;
    use vivier_protocol::MembershipDocument;

    #[test]
    fn clap_definition_is_consistent() {
        Cli::command().debug_assert();
    }

    #[test]
    fn help_mentions_every_subcommand() {
        let help = Cli::command().render_long_help().to_string();
        for c in [
            "init", "member", "operator", "renew", "show", "verify", "message", "publish", "status",
        ] {
            assert!(help.contains(c), "{c} missing from help:\n{help}");
        }
        let mut cmd = Cli::command();
        let member = cmd.find_subcommand_mut("member").unwrap();
        let help = member.render_long_help().to_string();
        for c in [
            "add",
            "update",
            "suspend",
            "revoke",
            "rotate-key",
            "reactivate",
        ] {
            assert!(help.contains(c), "{c} missing from member help:\n{help}");
        }
    }

    #[test]
    fn member_add_requires_a_key_source() {
        let r = Cli::try_parse_from([
            "vivier-admin",
            "member",
            "add",
            "cd41",
            "--name",
            "x",
            "--kind",
            "departement",
            "--url",
            "https://a.fr",
        ]);
        assert!(r.is_err());
        let r = Cli::try_parse_from([
            "vivier-admin",
            "member",
            "add",
            "cd41",
            "--kind",
            "city_mission",
            "--from-node",
            "https://a.fr",
        ]);
        assert!(r.is_ok(), "{r:?}");
        let r = Cli::try_parse_from([
            "vivier-admin",
            "member",
            "add",
            "cd41",
            "--kind",
            "petr",
            "--public-key",
            "k",
        ]);
        assert!(r.is_err(), "--name and --url required without --from-node");
        // Base64url keys may start with '-'.
        let r = Cli::try_parse_from([
            "vivier-admin",
            "member",
            "add",
            "cd41",
            "--name",
            "x",
            "--kind",
            "petr",
            "--url",
            "https://a.fr",
            "--public-key",
            "-abc",
        ]);
        assert!(r.is_ok(), "{r:?}");
    }

    #[test]
    fn key_match_reports_differences() {
        use vivier_protocol::{KeyId, NodeId, SigningKeyPair};
        let k = SigningKeyPair::generate(KeyId::parse("ed25519:1").unwrap());
        let other = SigningKeyPair::generate(KeyId::parse("ed25519:1").unwrap());
        let m = Member {
            node_id: NodeId::parse("cd41").unwrap(),
            display_name: "CD 41".into(),
            kind: MemberKind::Departement,
            territory: Default::default(),
            base_url: "https://a.fr".into(),
            keys: vec![MemberKey {
                key_id: k.key_id().clone(),
                public_key: k.public_key(),
                valid_from: 0,
                valid_until: None,
            }],
            status: MemberStatus::Active,
        };
        let wk = |id: &str, pk: &SigningKeyPair| crate::remote::WellKnownKey {
            key_id: id.into(),
            public_key: pk.public_key().to_b64(),
            valid_from: 0,
            valid_until: None,
        };
        assert_eq!(key_match(&m, &[wk("ed25519:1", &k)]), (true, "yes".into()));
        assert!(key_match(&m, &[wk("ed25519:1", &other)])
            .1
            .contains("differs"));
        assert!(key_match(&m, &[wk("ed25519:2", &k)])
            .1
            .contains("not in document"));
        assert!(!key_match(&m, &[]).0);
    }

    #[test]
    fn trust_key_infers_key_id_from_signature() {
        use vivier_protocol::{KeyId, SigningKeyPair};
        let op = SigningKeyPair::generate(KeyId::parse("ed25519:7").unwrap());
        let doc = MembershipDocument {
            network_id: "n".into(),
            serial: 3,
            issued_at: 1,
            expires_at: 1 << 50,
            operator_keys: vec![OperatorKey {
                key_id: op.key_id().clone(),
                public_key: op.public_key(),
            }],
            threshold: 1,
            members: vec![],
            network_search: None,
        };
        let signed = SignedMembershipDocument::sign(doc, &[&op]).unwrap();
        let t = trust_from_args(&[op.public_key().to_b64()], 1, Some(&signed)).unwrap();
        assert_eq!(t.operator_keys[0].key_id.as_str(), "ed25519:7");
        t.accept(None, &signed, 2).unwrap();
        let t = trust_from_args(
            &[format!("ed25519:9={}", op.public_key())],
            1,
            Some(&signed),
        )
        .unwrap();
        assert_eq!(
            t.accept(None, &signed, 2).unwrap_err().kind(),
            "insufficient_signatures"
        );
        assert!(self_check(&signed, 2).is_ok());
    }

    #[test]
    fn show_renders_members() {
        use vivier_protocol::{KeyId, NodeId, SigningKeyPair};
        let op = SigningKeyPair::generate(KeyId::parse("ed25519:1").unwrap());
        let k = SigningKeyPair::generate(KeyId::parse("ed25519:1").unwrap());
        let doc = MembershipDocument {
            network_id: "vivier-cvl".into(),
            serial: 4,
            issued_at: 1_750_000_000_000,
            expires_at: 1_750_000_000_000 + 365 * DAY_MS,
            operator_keys: vec![OperatorKey {
                key_id: op.key_id().clone(),
                public_key: op.public_key(),
            }],
            threshold: 1,
            members: vec![Member {
                node_id: NodeId::parse("cd41").unwrap(),
                display_name: "CD 41".into(),
                kind: MemberKind::Departement,
                territory: network::territory(&["41".into()], &[]).unwrap(),
                base_url: "https://vivier.cd41.fr".into(),
                keys: vec![MemberKey {
                    key_id: k.key_id().clone(),
                    public_key: k.public_key(),
                    valid_from: 0,
                    valid_until: None,
                }],
                status: MemberStatus::Revoked {
                    reason: "left".into(),
                    at: 1_750_000_000_000,
                },
            }],
            network_search: None,
        };
        let signed = SignedMembershipDocument::sign(doc, &[&op]).unwrap();
        let s = render_document(&signed, 1_750_000_000_000);
        assert!(s.contains("serial     4"), "{s}");
        assert!(s.contains("2025-06-15 15:06 UTC"), "{s}");
        assert!(s.contains("in 365 days"), "{s}");
        assert!(s.contains("cd41"), "{s}");
        assert!(s.contains("departement"), "{s}");
        assert!(s.contains("revoked 2025-06-15 15:06 UTC (left)"), "{s}");
        assert!(s.contains("ed25519:1"), "{s}");
    }
}
