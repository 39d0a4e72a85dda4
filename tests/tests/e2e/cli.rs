//! The `vivier-node` command line on a real data directory: user creation,
//! candidate import with rejected rows, idempotent re-import, reindex, and
//! the automatic rebuild of a missing index at start.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use crate::support;

use support::*;

const CSV: &str = "\
external_id,first_name,last_name,email,commune_insee,driving_licences,has_vehicle,contract_types,rome_codes,job_titles,skills,cv_text,consent_scope
ML-1,Léa,Martin,lea@example.org,41018,B|C,oui,CDI|CDD,N1101,Cariste,CACES 3,\"Cariste, 5 ans d'entrepôt\",network
ML-2,Paul,Durand,,41269,,non,MIS,N1101,Cariste,,Préparateur de commandes et cariste,local
ML-3,Zoé,Blanc,zoe@example.org,99999,,non,CDI,N1101,Cariste,,Commune inconnue,local
ML-4,Yann,Petit,pas-une-adresse,41018,,non,CDI,N1101,Cariste,,Adresse fausse,local
ML-5,Inès,Roux,,45234,B,oui,CDI,N1101,Cariste de nuit,,Cariste de nuit à Orléans,network
";

fn out_text(o: &std::process::Output) -> (String, String) {
    (
        String::from_utf8_lossy(&o.stdout).into_owned(),
        String::from_utf8_lossy(&o.stderr).into_owned(),
    )
}

#[tokio::test]
async fn import_reindex_and_automatic_rebuild() {
    let root = tempfile::tempdir().unwrap();
    let mut node = NodeProcess::start(root.path(), "cd41", None, &NodeOptions::default());
    let counsellor = node.user("counsellor", "conseil@cd41.fr", None);
    node.stop();

    let csv = root.path().join("candidats.csv");
    std::fs::write(&csv, CSV).unwrap();
    let file = csv.to_str().unwrap();
    let o = node.cli(
        &[
            "import",
            "candidates",
            file,
            "--counsellor",
            "conseil@cd41.fr",
        ],
        &[],
    );
    let (out, err) = out_text(&o);
    assert!(o.status.success(), "{out}\n{err}");
    assert!(
        out.contains("3 imported (3 created, 0 updated), 2 rejected"),
        "{out}"
    );
    assert!(
        err.contains("line 4:") && err.contains("commune_insee"),
        "{err}"
    );
    assert!(err.contains("line 5:") && err.contains("email"), "{err}");

    // Idempotent on external_id.
    let o = node.cli(&["import", "candidates", file], &[]);
    let (out, _) = out_text(&o);
    assert!(
        out.contains("3 imported (0 created, 3 updated), 2 rejected"),
        "{out}"
    );

    // A file with no good row fails.
    let bad = root.path().join("bad.csv");
    std::fs::write(
        &bad,
        "first_name,last_name,commune_insee,rome_codes\nA,B,00000,N1101\n",
    )
    .unwrap();
    let o = node.cli(&["import", "candidates", bad.to_str().unwrap()], &[]);
    assert!(!o.status.success());

    // Unknown column: the whole file is refused with a clear message.
    std::fs::write(&bad, "first_name,nom\nA,B\n").unwrap();
    let o = node.cli(&["import", "candidates", bad.to_str().unwrap()], &[]);
    assert!(!o.status.success());
    assert!(out_text(&o).1.contains("nom"), "{:?}", out_text(&o));

    let o = node.cli(&["reindex"], &[]);
    let (out, err) = out_text(&o);
    assert!(o.status.success(), "{out}\n{err}");

    // The index is derived: remove it, and the node rebuilds it at start.
    std::fs::remove_dir_all(node.dir.join("data").join("index")).unwrap();
    node.restart();
    let (s, v) = node
        .get(&counsellor, "/api/v1/candidates/search?q=cariste")
        .await;
    assert_eq!(s, 200, "{v}");
    assert_eq!(v["total"], 3, "{v}");
    let (_, v) = node
        .get(
            &counsellor,
            "/api/v1/candidates/search?q=cariste&commune=41018&radius_km=40",
        )
        .await;
    assert_eq!(v["total"], 2, "Blois and Vendôme within 40 km: {v}");
}

#[test]
fn help_texts_are_there() {
    for args in [
        vec!["--help"],
        vec!["serve", "--help"],
        vec!["import", "candidates", "--help"],
        vec!["user", "add", "--help"],
    ] {
        let o = std::process::Command::new(NODE_BIN)
            .args(&args)
            .output()
            .unwrap();
        assert!(o.status.success(), "{args:?}");
        assert!(!o.stdout.is_empty());
    }
    let o = std::process::Command::new(NODE_BIN)
        .args([
            "user", "add", "--email", "x@y.fr", "--name", "X", "--role", "boss",
        ])
        .output()
        .unwrap();
    assert!(!o.status.success());
    assert!(String::from_utf8_lossy(&o.stderr).contains("unknown role"));
}

/// `import` and `reindex` against a running node: no lock error, progress
/// shown, and the imported rows searchable without a restart.
#[tokio::test]
async fn import_and_reindex_while_the_node_runs() {
    let root = tempfile::tempdir().unwrap();
    let node = NodeProcess::start(root.path(), "cd41", None, &NodeOptions::default());
    let counsellor = node.user("counsellor", "conseil@cd41.fr", None);
    let csv = root.path().join("candidats.csv");
    std::fs::write(&csv, CSV).unwrap();
    let o = node.cli(
        &["import", "candidates", csv.to_str().unwrap()],
        &[("VIVIER_LOG", "warn")],
    );
    let (out, err) = out_text(&o);
    assert!(o.status.success(), "{out}\n{err}");
    assert!(
        out.contains("3 imported (3 created, 0 updated), 2 rejected"),
        "{out}"
    );
    assert!(!err.contains("Lock"), "{err}");
    // The running node's index follows the journal: searchable at once.
    let v = wait_for(20, "imported rows searchable", || async {
        let (s, v) = node
            .get(&counsellor, "/api/v1/candidates/search?q=cariste")
            .await;
        (s == 200 && v["total"] == 3).then_some(v)
    })
    .await;
    assert_eq!(v["total"], 3);
    // A full rebuild asked of the running node.
    let o = node.cli(&["reindex"], &[]);
    let (out, err) = out_text(&o);
    assert!(o.status.success(), "{out}\n{err}");
    assert!(err.contains("the node is running"), "{err}");
    let (_, v) = node
        .get(&counsellor, "/api/v1/candidates/search?q=cariste")
        .await;
    assert_eq!(v["total"], 3, "{v}");
}
