//! The watcher's pieces: what a reload compares, and what a scan sees.

use super::*;

const MAIN: &str = "[kafka]\nbrokers = \"127.0.0.1:9\"\n";

#[test]
fn fingerprint_sees_restart_only_changes_but_not_tenants() {
    let a = config::load_str(MAIN).unwrap();
    let b = config::load_str(&format!("{MAIN}partitions = 12\n")).unwrap();
    assert_ne!(Fingerprint::of(&a), Fingerprint::of(&b));
    let c = config::load_str(&format!(
        "{MAIN}[[tenants]]\nid = \"t1\"\nprovider = \"zoom\"\naccount_id = \"a\"\n\
         client_id = \"c\"\nclient_secret = \"s\"\n"
    ))
    .unwrap();
    assert_eq!(Fingerprint::of(&a), Fingerprint::of(&c));
    assert!(!format!("{:?}", Fingerprint::of(&c)).contains("\"s\""));
}

#[tokio::test]
async fn scan_sees_added_and_removed_files() {
    let dir = tempfile::tempdir().unwrap();
    let d = Some(dir.path().to_path_buf());
    let files = |w: Watched| w.tenant_files;
    assert!(files(scan(d.clone(), vec![]).await).is_empty());
    std::fs::write(dir.path().join("a.toml"), "id = \"a\"\n").unwrap();
    let one = files(scan(d.clone(), vec![]).await);
    assert_eq!(one.len(), 1);
    std::fs::write(dir.path().join("a.toml"), "id = \"b\"\n").unwrap();
    assert_ne!(files(scan(d.clone(), vec![]).await), one);
    std::fs::remove_file(dir.path().join("a.toml")).unwrap();
    assert!(files(scan(d, vec![]).await).is_empty());
    assert_eq!(scan(None, vec![]).await, Watched::default());
}

#[tokio::test]
async fn scan_sees_a_rotated_secret_file_by_content() {
    let dir = tempfile::tempdir().unwrap();
    let f = dir.path().join("secret");
    std::fs::write(&f, "one").unwrap();
    let before = scan(None, vec![f.clone()]).await;
    assert_eq!(scan(None, vec![f.clone()]).await, before);
    std::fs::write(&f, "two").unwrap();
    let after = scan(None, vec![f.clone()]).await;
    assert_ne!(after, before);
    assert!(!format!("{after:?}").contains("two"));
    std::fs::remove_file(&f).unwrap();
    assert_eq!(scan(None, vec![f.clone()]).await.secret_files, [(f, None)]);
}

#[test]
fn fingerprint_sees_a_rotated_kafka_password() {
    let with = |pw: &str| {
        config::load_str(&format!(
            "{MAIN}[kafka.properties]\n\"sasl.password\" = \"{pw}\"\n"
        ))
        .unwrap()
    };
    let (a, b) = (Fingerprint::of(&with("one")), Fingerprint::of(&with("two")));
    assert_eq!(a.restart_only, b.restart_only, "Debug redacts it");
    assert_ne!(a, b);
}
